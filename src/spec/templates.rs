//! Built-in document templates, in the formats the checks understand (Kiro-compatible).
//!
//! A workspace may override any of them with `specs/_templates/<doc>.md`; the store picks
//! the override, this module only holds the defaults.

/// `requirements.md`: numbered requirements, a user story each, EARS criteria `N.M`.
pub const REQUIREMENTS: &str = "# Requirements Document

## Introduction

<One paragraph: the feature, who it is for, and what is out of scope.>

## Requirements

### Requirement 1: <short title>

**User Story:** As a <role>, I want <capability>, so that <benefit>.

#### Acceptance Criteria

1. WHEN <trigger> THEN the <system> SHALL <response>
2. IF <unwanted condition> THEN the <system> SHALL <response>
3. WHILE <state> the <system> SHALL <response>
4. The <system> SHALL <always-true behaviour>

### Requirement 2: <short title>

**User Story:** As a <role>, I want <capability>, so that <benefit>.

#### Acceptance Criteria

1. WHEN <trigger> THEN the <system> SHALL <response>
";

/// `design.md`: the six required sections; components cite requirement IDs.
pub const DESIGN: &str = "# Design Document

## Overview

<What is built and how it satisfies the requirements, in a few sentences.>

## Architecture

<Main parts and how data flows between them.>

## Components and Interfaces

### <Component name>

<Responsibility, public interface, collaborators.>

_Requirements: 1.1, 1.2_

## Data Models

<Entities, fields, invariants.>

## Error Handling

<Each failure mode and the system's response.>

## Testing Strategy

<Unit, integration and end-to-end tests; which criteria each covers.>
";

/// `tasks.md`: checkbox tasks with requirement citations, dependencies and files.
pub const TASKS: &str = "# Implementation Plan

- [ ] 1. <First deliverable>
  - [ ] 1.1 <Small, testable step>
    - _Requirements: 1.1_
    - _Files: src/example.rs_
  - [ ] 1.2 <Next step>
    - _Requirements: 1.2_
    - _Depends: 1.1_

- [ ] 2. <Second deliverable>
  - _Requirements: 2.1_
  - _Depends: 1_
";

/// `bugfix.md`: the defect, the fix's target, what must not change, how to reproduce it
/// and why it happens. Behaviour items are numbered per section: `1.M` current, `2.M`
/// expected, `3.M` unchanged (design and tasks cite them like acceptance criteria).
pub const BUGFIX: &str = "# Bugfix

## Current Behaviour

1. WHEN <trigger, with the exact inputs> THEN the <system> <does the wrong thing>

## Expected Behaviour

1. WHEN <trigger> THEN the <system> SHALL <correct response>

## Unchanged Behaviour

1. WHEN <related trigger> THEN the <system> SHALL CONTINUE TO <behaviour that must not regress>

## Reproduction

1. <step>

## Root Cause

<why it happens: the faulty code path, found before the fix is designed>
";
