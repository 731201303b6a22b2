//! The prompt table and `prompts/list` / `prompts/get`.
//!
//! The seed's three prompts keep their names, titles, descriptions, arguments and message
//! texts exactly as the original Python server had them, so existing users see no change.

use serde_json::{json, Map, Value};

use crate::mcp::error::McpError;
use crate::mcp::version::ProtocolVersion;

/// One argument of a prompt.
pub struct PromptArg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
}

/// One prompt: metadata plus a pure renderer from arguments to the user message text.
pub struct PromptDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub arguments: &'static [PromptArg],
    pub render: fn(&Map<String, Value>) -> String,
}

/// Every prompt, in the order `prompts/list` returns them (deterministic).
pub const PROMPTS: &[PromptDef] = &[
    PromptDef {
        name: "generate-requirements",
        title: "Generate Requirements Document",
        description: "Generate requirements.md using EARS format",
        arguments: &[PromptArg {
            name: "requirements",
            description: "High-level requirements of the application. Example: 'A Vue.js todo \
                          application with task creation, completion tracking, and local \
                          storage persistence'",
            required: true,
        }],
        render: |args| {
            let requirements = args
                .get("requirements")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!(
                "Based on below requirements, generate requirements.md using EARS format in \
                 'specs' folder:\n\n{requirements}"
            )
        },
    },
    PromptDef {
        name: "generate-design-from-requirements",
        title: "Generate Design Document from Requirements Document",
        description: "Generate design.md from requirements.md",
        arguments: &[],
        render: |_| "Based on specs/requirements.md, generate specs/design.md".to_string(),
    },
    PromptDef {
        name: "generate-code-from-design",
        title: "Generate Code from Design Document",
        description: "Generate code from design.md",
        arguments: &[],
        render: |_| "Based on specs/design.md, generate code on the root folder".to_string(),
    },
];

/// A prompt's listing entry, shaped for the given revision (`title` from 2025-06-18 on).
pub fn describe(prompt: &PromptDef, version: ProtocolVersion) -> Value {
    let arguments: Vec<Value> = prompt
        .arguments
        .iter()
        .map(|a| json!({ "name": a.name, "description": a.description, "required": a.required }))
        .collect();
    let mut entry = json!({
        "name": prompt.name,
        "description": prompt.description,
        "arguments": arguments,
    });
    if version.has_titles() {
        entry["title"] = json!(prompt.title);
    }
    entry
}

pub fn find(name: &str) -> Option<&'static PromptDef> {
    PROMPTS.iter().find(|p| p.name == name)
}

/// `prompts/get`: validates arguments and renders the messages.
pub fn get(params: &Map<String, Value>) -> Result<Value, McpError> {
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
    for arg in prompt.arguments.iter().filter(|a| a.required) {
        let present = args
            .get(arg.name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !present {
            return Err(McpError::invalid_params(format!(
                "missing required argument '{}' for prompt '{name}'",
                arg.name
            )));
        }
    }
    Ok(json!({
        "description": prompt.description,
        "messages": [{ "role": "user", "content": { "type": "text", "text": (prompt.render)(args) } }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn seed_texts_are_exact() {
        let r = get(&params(
            json!({"name": "generate-requirements", "arguments": {"requirements": "A todo app"}}),
        ))
        .expect("renders");
        assert_eq!(
            r["messages"][0]["content"]["text"],
            "Based on below requirements, generate requirements.md using EARS format in 'specs' folder:\n\nA todo app"
        );
        assert_eq!(r["messages"][0]["role"], "user");
        let r = get(&params(
            json!({"name": "generate-design-from-requirements"}),
        ))
        .expect("renders");
        assert_eq!(
            r["messages"][0]["content"]["text"],
            "Based on specs/requirements.md, generate specs/design.md"
        );
        let r = get(&params(
            json!({"name": "generate-code-from-design", "arguments": {}}),
        ))
        .expect("renders");
        assert_eq!(
            r["messages"][0]["content"]["text"],
            "Based on specs/design.md, generate code on the root folder"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let unknown = get(&params(json!({"name": "nope"}))).expect_err("unknown");
        assert_eq!(unknown, McpError::invalid_params("unknown prompt: nope"));
        let missing = get(&params(json!({"name": "generate-requirements"}))).expect_err("missing");
        assert_eq!(
            missing,
            McpError::invalid_params(
                "missing required argument 'requirements' for prompt 'generate-requirements'"
            )
        );
        let typed = get(&params(
            json!({"name": "generate-requirements", "arguments": {"requirements": 1}}),
        ));
        assert!(matches!(typed, Err(McpError::InvalidParams(m)) if m.contains("must be a string")));
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
