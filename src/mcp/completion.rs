//! `completion/complete`: argument suggestions for prompts and resource templates (spec
//! names, document kinds, spec kinds, steering documents), filtered by the typed prefix.

use serde_json::{json, Map, Value};

use crate::mcp::error::McpError;
use crate::mcp::{prompts, resources, Server};
use crate::spec::store::{DocKind, Store};

/// Most values one completion returns (the spec's limit).
const MAX_VALUES: usize = 100;

pub fn complete(server: &Server, params: &Map<String, Value>) -> Result<Value, McpError> {
    let reference = params
        .get("ref")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            McpError::invalid_params("completion/complete: missing object parameter 'ref'")
        })?;
    let argument = params
        .get("argument")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            McpError::invalid_params("completion/complete: missing object parameter 'argument'")
        })?;
    let arg_name = argument
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = argument
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let candidates = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let name = reference
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if prompts::find(name).is_none() {
                return Err(McpError::invalid_params(format!("unknown prompt: {name}")));
            }
            let spec = params
                .get("context")
                .and_then(|c| c.get("arguments"))
                .and_then(|a| a.get("name"))
                .and_then(Value::as_str);
            for_argument(server, arg_name, spec)
        }
        Some("ref/resource") => {
            let uri = reference
                .get("uri")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for_template(server, uri, arg_name)?
        }
        other => {
            return Err(McpError::invalid_params(format!(
            "completion/complete: unknown ref type {other:?} (expected ref/prompt or ref/resource)"
        )))
        }
    };
    let matching: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .collect();
    let total = matching.len();
    let values: Vec<String> = matching.into_iter().take(MAX_VALUES).collect();
    Ok(json!({"completion": {"values": values, "total": total, "hasMore": total > MAX_VALUES}}))
}

/// Task IDs of the spec named in the completion context, in document order.
fn task_ids(server: &Server, name: &str) -> Vec<String> {
    let store = Store::new(&server.workspace);
    let Ok(spec) = store.find(name) else {
        return Vec::new();
    };
    match store.read_doc(&spec, DocKind::Tasks) {
        Ok(Some(text)) => crate::spec::parse_tasks(&text)
            .tasks
            .into_iter()
            .map(|t| t.id)
            .collect(),
        _ => Vec::new(),
    }
}

fn doc_kinds() -> Vec<String> {
    DocKind::ALL
        .iter()
        .map(|d| d.as_str().to_string())
        .collect()
}

fn for_argument(server: &Server, arg: &str, spec: Option<&str>) -> Vec<String> {
    match arg {
        "task" => spec.map(|name| task_ids(server, name)).unwrap_or_default(),
        "name" => resources::spec_names(server),
        "kind" => vec!["feature".into(), "bugfix".into()],
        "doc" => crate::spec::review::Target::NAMES
            .iter()
            .map(|d| d.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn for_template(server: &Server, uri: &str, arg: &str) -> Result<Vec<String>, McpError> {
    Ok(match (uri, arg) {
        (u, "name") if u.starts_with("spec://") => resources::spec_names(server),
        ("spec://{name}/{doc}", "doc") => doc_kinds(),
        ("steering://{doc}", "doc") => Store::new(&server.workspace)
            .steering()
            .unwrap_or_default()
            .into_iter()
            .map(|(n, _)| n)
            .collect(),
        ("template://{doc}", "doc") => doc_kinds(),
        (u, _)
            if resources::templates(crate::mcp::version::ProtocolVersion::V2026_07_28)
                .iter()
                .any(|t| t["uriTemplate"] == u) =>
        {
            Vec::new()
        }
        _ => {
            return Err(McpError::invalid_params(format!(
                "unknown resource template: {uri}"
            )))
        }
    })
}
