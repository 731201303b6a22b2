//! The prompt table and `prompts/list` / `prompts/get`.
//!
//! The seed's three prompts keep their names, titles, descriptions and arguments, and each
//! message still opens with the seed's exact sentence; an optional `name` argument picks
//! the spec (default: `default`, the seed's flat `specs/` layout). After that sentence
//! every prompt embeds what the assistant needs to do the step well: the effective
//! template, the steering documents, the spec's current diagnostics or next task. Prompts
//! render from the files on disk and never write, except the two review prompts
//! (`review_prompts.rs`): choosing one is the user's decision, and it is recorded.

use serde_json::{json, Map, Value};

use crate::mcp::error::McpError;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::Server;
use crate::spec::gates;
use crate::spec::store::{DocKind, Kind, Store, DEFAULT_SPEC};
use crate::spec::workflow::{evaluate, Loaded};

/// One argument of a prompt.
pub struct PromptArg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
}

type Render = fn(&Server, &Args<'_>) -> Result<String, McpError>;

/// One prompt: metadata plus a renderer from arguments to the user message text.
pub struct PromptDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub arguments: &'static [PromptArg],
    pub render: Render,
}

/// Validated prompt arguments (all strings).
pub struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// The spec name argument, defaulting to the seed's flat layout.
    fn spec(&self) -> &str {
        self.get("name").unwrap_or(DEFAULT_SPEC)
    }
}

const NAME_ARG: PromptArg = PromptArg {
    name: "name",
    description: "Spec name (kebab-case); default: 'default', the flat specs/ folder",
    required: false,
};

/// Every prompt, in the order `prompts/list` returns them (deterministic).
pub const PROMPTS: &[PromptDef] = &[
    PromptDef {
        name: "generate-requirements",
        title: "Generate Requirements Document",
        description: "Generate requirements.md using EARS format",
        arguments: &[
            PromptArg {
                name: "requirements",
                description: "High-level requirements of the application. Example: 'A Vue.js todo \
                              application with task creation, completion tracking, and local \
                              storage persistence'",
                required: true,
            },
            NAME_ARG,
        ],
        render: generate_requirements,
    },
    PromptDef {
        name: "generate-design-from-requirements",
        title: "Generate Design Document from Requirements Document",
        description: "Generate design.md from requirements.md",
        arguments: &[NAME_ARG],
        render: generate_design,
    },
    PromptDef {
        name: "generate-code-from-design",
        title: "Generate Code from Design Document",
        description: "Generate code from design.md",
        arguments: &[NAME_ARG],
        render: generate_code,
    },
    PromptDef {
        name: "spec-new",
        title: "Start a new spec",
        description: "Turn a rough idea into a new spec and its requirements, step by step",
        arguments: &[
            PromptArg { name: "idea", description: "The rough idea, in your words", required: true },
            PromptArg { name: "name", description: "kebab-case spec name (derived from the idea if omitted)", required: false },
            PromptArg { name: "kind", description: "feature (default) or bugfix", required: false },
        ],
        render: spec_new,
    },
    PromptDef {
        name: "spec-continue",
        title: "Continue a spec",
        description: "Pick up a spec where it stands: its phase, its open problems and the next document",
        arguments: &[PromptArg { name: "name", description: "Spec name", required: true }],
        render: spec_continue,
    },
    PromptDef {
        name: "spec-implement-next",
        title: "Implement the next task",
        description: "Implement the next actionable task of a spec with exactly its context",
        arguments: &[
            PromptArg { name: "name", description: "Spec name", required: true },
            PromptArg { name: "task", description: "Task ID to implement instead of the next actionable one", required: false },
        ],
        render: spec_implement_next,
    },
    PromptDef {
        name: "spec-bugfix",
        title: "Fix a bug with a spec",
        description: "Start a bugfix spec: current, expected and unchanged behaviour first, then the fix",
        arguments: &[
            PromptArg { name: "description", description: "What goes wrong, and how to trigger it", required: true },
            PromptArg { name: "name", description: "kebab-case spec name", required: false },
        ],
        render: spec_bugfix,
    },
    PromptDef {
        name: "spec-approve",
        title: "Approve a spec document",
        description: "Record your approval of a spec document (or its open change request) exactly as it is now",
        arguments: &[
            PromptArg { name: "name", description: "Spec name", required: true },
            PromptArg { name: "doc", description: "requirements, bugfix, design, tasks, or change", required: true },
            PromptArg { name: "note", description: "An optional comment", required: false },
        ],
        render: crate::mcp::review_prompts::spec_approve,
    },
    PromptDef {
        name: "spec-request-changes",
        title: "Request changes to a spec document",
        description: "Send a spec document (or its open change request) back to the assistant with what to change",
        arguments: &[
            PromptArg { name: "name", description: "Spec name", required: true },
            PromptArg { name: "doc", description: "requirements, bugfix, design, tasks, or change", required: true },
            PromptArg { name: "note", description: "What should change", required: true },
        ],
        render: crate::mcp::review_prompts::spec_request_changes,
    },
    PromptDef {
        name: "steering-setup",
        title: "Set up steering documents",
        description: "Write the project's product, tech and structure steering documents once, for every spec",
        arguments: &[],
        render: steering_setup,
    },
];

/// A prompt's listing entry, shaped for the given revision (`title` from 2025-06-18 on).
pub fn describe(prompt: &PromptDef, version: ProtocolVersion) -> Value {
    let arguments: Vec<Value> = prompt
        .arguments
        .iter()
        .map(|a| json!({ "name": a.name, "description": a.description, "required": a.required }))
        .collect();
    let mut entry =
        json!({ "name": prompt.name, "description": prompt.description, "arguments": arguments });
    if version.has_titles() {
        entry["title"] = json!(prompt.title);
    }
    entry
}

pub fn find(name: &str) -> Option<&'static PromptDef> {
    PROMPTS.iter().find(|p| p.name == name)
}

/// `prompts/get`: validates arguments and renders the messages.
pub fn get(server: &Server, params: &Map<String, Value>) -> Result<Value, McpError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params("prompts/get: missing string parameter 'name'"))?;
    let prompt =
        find(name).ok_or_else(|| McpError::invalid_params(format!("unknown prompt: {name}")))?;
    let empty = Map::new();
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(McpError::invalid_params(
                "prompts/get: 'arguments' must be an object",
            ))
        }
    };
    for (key, value) in args {
        if !value.is_string() {
            return Err(McpError::invalid_params(format!(
                "argument '{key}' of prompt '{name}' must be a string"
            )));
        }
    }
    let args = Args(args);
    for arg in prompt.arguments.iter().filter(|a| a.required) {
        if args.get(arg.name).is_none() {
            return Err(McpError::invalid_params(format!(
                "missing required argument '{}' for prompt '{name}'",
                arg.name
            )));
        }
    }
    let text = (prompt.render)(server, &args)?;
    Ok(json!({
        "description": prompt.description,
        "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
    }))
}

/// `specs` for the default spec, `specs/<name>` otherwise.
fn folder(spec: &str) -> String {
    if spec == DEFAULT_SPEC {
        "specs".to_string()
    } else {
        format!("specs/{spec}")
    }
}

/// The effective template and steering documents, as Markdown sections.
fn context(server: &Server, doc: Option<DocKind>) -> String {
    let store = Store::new(&server.workspace);
    let mut out = String::new();
    for (name, text) in store.steering().unwrap_or_default() {
        out.push_str(&format!("\n\n## Steering: {name}\n\n{}", text.trim_end()));
    }
    if let Some(doc) = doc {
        let (template, source) = store.template(doc);
        out.push_str(&format!(
            "\n\n## Template for {} ({source})\n\n{}",
            doc.file_name(),
            template.trim_end()
        ));
    }
    out
}

/// The current phase and the first diagnostics of a spec, if it exists.
fn diagnostics(server: &Server, spec: &str) -> String {
    let store = Store::new(&server.workspace);
    let Ok(found) = store.find(spec) else {
        return String::new();
    };
    let Ok(loaded) = Loaded::load(&store, found) else {
        return String::new();
    };
    let e = evaluate(&loaded);
    let mut out = format!(
        "\n\n## Current state of '{spec}'\n\nPhase: {}; {} error(s).",
        e.phase.as_str(),
        e.errors()
    );
    for d in e.diagnostics.iter().take(15) {
        out.push_str(&format!(
            "\n- {:?} line {} [{}]: {}",
            d.document,
            d.line,
            d.code.as_str(),
            d.message
        ));
    }
    out
}

const WORKFLOW: &str = "Write the document, check it with spec_validate (or the diagnostics spec_write returns) and fix every error, then stop and ask the user to review it before the next phase.";

fn generate_requirements(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let spec = args.spec();
    let requirements = args.get("requirements").unwrap_or_default();
    let place = if spec == DEFAULT_SPEC {
        "'specs' folder".to_string()
    } else {
        format!("'{}' folder", folder(spec))
    };
    Ok(format!(
        "Based on below requirements, generate requirements.md using EARS format in {place}:\n\n{requirements}\n\n{WORKFLOW}{}",
        context(server, Some(DocKind::Requirements))
    ))
}

fn generate_design(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let dir = folder(args.spec());
    Ok(format!(
        "Based on {dir}/requirements.md, generate {dir}/design.md\n\nCite the acceptance criteria each component satisfies (_Requirements: 1.1, 2.3_). {WORKFLOW}{}{}",
        diagnostics(server, args.spec()),
        context(server, Some(DocKind::Design))
    ))
}

fn generate_code(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let dir = folder(args.spec());
    Ok(format!(
        "Based on {dir}/design.md, generate code on the root folder\n\nWork task by task when {dir}/tasks.md exists (task_next, then task_update with evidence). Never mark a task done without passing tests.{}{}",
        diagnostics(server, args.spec()),
        context(server, None)
    ))
}

/// A kebab-case name from free text: lowercase words, at most five, joined by hyphens.
fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "new-spec".to_string()
    } else {
        words.join("-")
    }
}

fn spec_new(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let idea = args.get("idea").unwrap_or_default();
    let name = args
        .get("name")
        .map(str::to_string)
        .unwrap_or_else(|| slug(idea));
    let kind = match args.get("kind") {
        None => Kind::Feature,
        Some(k) => Kind::parse(k).ok_or_else(|| {
            McpError::invalid_params(format!(
                "argument 'kind' must be feature or bugfix, not {k:?}"
            ))
        })?,
    };
    let first = kind.documents()[0];
    let kind_text = if kind == Kind::Bugfix {
        "bugfix"
    } else {
        "feature"
    };
    Ok(format!(
        "Start a new {kind_text} spec named '{name}' for this idea:\n\n{idea}\n\n\
         1. Call spec_init(name=\"{name}\", idea=<the idea>, kind=\"{kind_text}\").\n\
         2. Ask the user the questions the idea leaves open (users, limits, failure cases) before writing; never invent numbers.\n\
         3. Write {} with spec_write(name=\"{name}\", doc=\"{}\", content=...), following the template below.\n\
         4. {WORKFLOW}{}",
        first.file_name(),
        first.as_str(),
        context(server, Some(first))
    ))
}

fn spec_continue(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let name = args.get("name").unwrap_or_default();
    let store = Store::new(&server.workspace);
    let spec = store
        .find(name)
        .map_err(|e| McpError::invalid_params(e.to_string()))?;
    let loaded = Loaded::load(&store, spec).map_err(|e| McpError::invalid_params(e.to_string()))?;
    let e = evaluate(&loaded);
    let doc = DocKind::parse(e.phase.as_str());
    let (mut next, gate) = match doc {
        Some(d) => (
            format!("Continue with {}: write or fix it with spec_write. {WORKFLOW}", d.file_name()),
            gates::before_write(&e, d, server.gates()),
        ),
        None => (
            "All documents are in place: implement the tasks one at a time with task_next and task_update.".to_string(),
            gates::before_implement(&e, server.gates()),
        ),
    };
    if !gate.clear() {
        next = format!("{}\n\n{next}", gate.explain(name, "the next step"));
    }
    Ok(format!(
        "Continue the spec '{name}'.\n\n{next}{}{}",
        diagnostics(server, name),
        context(server, doc)
    ))
}

fn spec_implement_next(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let name = args.get("name").unwrap_or_default();
    let store = Store::new(&server.workspace);
    let spec = store
        .find(name)
        .map_err(|e| McpError::invalid_params(e.to_string()))?;
    let loaded = Loaded::load(&store, spec).map_err(|e| McpError::invalid_params(e.to_string()))?;
    let e = evaluate(&loaded);
    let chosen = args
        .get("task")
        .map(str::to_string)
        .or_else(|| e.next_task.clone());
    if let (Some(id), Some(tasks)) = (args.get("task"), &e.parsed.tasks) {
        if tasks.task(id).is_none() {
            return Err(McpError::invalid_params(format!(
                "spec '{name}' has no task {id}"
            )));
        }
    }
    let task = match (&e.parsed.tasks, &chosen) {
        (Some(tasks), Some(id)) => tasks.task(id).map(|t| {
            let cites: Vec<&str> = t.requirements.iter().map(|c| c.id.as_str()).collect();
            format!(
                "Task {} \"{}\" (requirements: {}; files: {}).",
                t.id,
                t.title,
                if cites.is_empty() {
                    "none".to_string()
                } else {
                    cites.join(", ")
                },
                if t.files.is_empty() {
                    "not listed".to_string()
                } else {
                    t.files.join(", ")
                }
            )
        }),
        _ => None,
    };
    let task = task.unwrap_or_else(|| {
        "There is no actionable task: tell the user why (see the state below).".to_string()
    });
    Ok(format!(
        "Implement the next task of the spec '{name}'.\n\n{task}\n\n\
         1. Call task_update(name=\"{name}\", task_ids=[<id>], status=\"in_progress\").\n\
         2. Call task_next(name=\"{name}\") for the criteria and design sections it must satisfy; implement only this task.\n\
         3. Run the tests. Only when they pass, call task_update with status=\"done\" and the evidence in note.{}",
        diagnostics(server, name)
    ))
}

fn spec_bugfix(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let description = args.get("description").unwrap_or_default();
    let name = args
        .get("name")
        .map(str::to_string)
        .unwrap_or_else(|| format!("fix-{}", slug(description)));
    Ok(format!(
        "Fix this bug with a bugfix spec named '{name}':\n\n{description}\n\n\
         1. Call spec_init(name=\"{name}\", idea=<the description>, kind=\"bugfix\").\n\
         2. Reproduce the bug first. Write bugfix.md with spec_write: current behaviour, expected behaviour, \
         the behaviour that must not change (regression guard), reproduction steps, and the root cause once found.\n\
         3. {WORKFLOW}{}",
        context(server, Some(DocKind::Bugfix))
    ))
}

fn steering_setup(server: &Server, _args: &Args<'_>) -> Result<String, McpError> {
    let existing: Vec<String> = Store::new(&server.workspace)
        .steering()
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(format!(
        "Set up the steering documents every spec of this project follows, under specs/_steering/ (use create_file):\n\n\
         - product.md: the product's purpose, users, and what is out of scope.\n\
         - tech.md: languages, frameworks, libraries, build and test commands, constraints.\n\
         - structure.md: the repository layout, naming conventions, where new code goes.\n\n\
         Read the repository first (README, build files, source tree) and keep each document under a page. \
         Existing steering documents: {}.",
        if existing.is_empty() { "none".to_string() } else { existing.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    fn with_server(check: impl FnOnce(&Server)) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mcp-prompts-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        check(&Server::new(
            Workspace::new(&dir, 1 << 20).expect("workspace"),
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn text(server: &Server, value: Value) -> String {
        let r = get(server, value.as_object().expect("object")).expect("renders");
        assert_eq!(r["messages"][0]["role"], "user");
        r["messages"][0]["content"]["text"]
            .as_str()
            .expect("text")
            .to_string()
    }

    #[test]
    fn seed_prompts_open_with_the_seed_text() {
        with_server(|s| {
            let t = text(
                s,
                json!({"name": "generate-requirements", "arguments": {"requirements": "A todo app"}}),
            );
            assert!(t.starts_with("Based on below requirements, generate requirements.md using EARS format in 'specs' folder:\n\nA todo app\n\n"), "{t}");
            assert!(t.contains("## Template for requirements.md (built-in)"));
            let t = text(s, json!({"name": "generate-design-from-requirements"}));
            assert!(
                t.starts_with("Based on specs/requirements.md, generate specs/design.md\n"),
                "{t}"
            );
            let t = text(
                s,
                json!({"name": "generate-code-from-design", "arguments": {}}),
            );
            assert!(
                t.starts_with("Based on specs/design.md, generate code on the root folder\n"),
                "{t}"
            );
            let t = text(
                s,
                json!({"name": "generate-design-from-requirements", "arguments": {"name": "auth"}}),
            );
            assert!(
                t.starts_with("Based on specs/auth/requirements.md, generate specs/auth/design.md"),
                "{t}"
            );
        });
    }

    #[test]
    fn errors_name_the_problem() {
        with_server(|s| {
            let get = |v: Value| get(s, v.as_object().expect("object"));
            assert_eq!(
                get(json!({"name": "nope"})),
                Err(McpError::invalid_params("unknown prompt: nope"))
            );
            assert_eq!(
                get(json!({"name": "generate-requirements"})),
                Err(McpError::invalid_params(
                    "missing required argument 'requirements' for prompt 'generate-requirements'"
                ))
            );
            let typed =
                get(json!({"name": "generate-requirements", "arguments": {"requirements": 1}}));
            assert!(
                matches!(typed, Err(McpError::InvalidParams(m)) if m.contains("must be a string"))
            );
            let missing = get(json!({"name": "spec-continue", "arguments": {"name": "ghost"}}));
            assert!(
                matches!(missing, Err(McpError::InvalidParams(m)) if m.contains("no spec named"))
            );
            let kind = get(json!({"name": "spec-new", "arguments": {"idea": "x", "kind": "epic"}}));
            assert!(matches!(kind, Err(McpError::InvalidParams(_))));
        });
    }

    #[test]
    fn new_prompts_embed_templates_and_names() {
        with_server(|s| {
            let t = text(
                s,
                json!({"name": "spec-new", "arguments": {"idea": "Offline todo list, with sync!"}}),
            );
            assert!(
                t.contains("spec_init(name=\"offline-todo-list-with-sync\""),
                "{t}"
            );
            assert!(t.contains("#### Acceptance Criteria"));
            let t = text(
                s,
                json!({"name": "spec-bugfix", "arguments": {"description": "Crash on save"}}),
            );
            assert!(
                t.contains("fix-crash-on-save") && t.contains("## Unchanged Behaviour"),
                "{t}"
            );
            let t = text(s, json!({"name": "steering-setup"}));
            assert!(t.contains("Existing steering documents: none"));
        });
    }

    #[test]
    fn titles_only_from_2025_06_18() {
        let p = find("generate-requirements").expect("exists");
        assert!(describe(p, ProtocolVersion::V2025_03_26)
            .get("title")
            .is_none());
        assert_eq!(
            describe(p, ProtocolVersion::V2025_06_18)["title"],
            "Generate Requirements Document"
        );
    }
}
