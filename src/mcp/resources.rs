//! Resources: the specs as readable documents, for clients that browse rather than call
//! tools. Everything is read from disk at request time; nothing is cached.
//!
//! URIs: `spec://index`; `spec://{name}/{requirements|bugfix|design|tasks|status|trace}`;
//! `steering://{doc}`; `template://{doc}`. A missing resource is -32602 in 2026-07-28 and
//! -32002 in the legacy revisions (docs/2026-07-28/server/resources.mdx, "Error Handling").

use serde_json::{json, Value};

use crate::mcp::error::McpError;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::Server;
use crate::spec::store::{DocKind, Store, StoreError};
use crate::spec::workflow::{evaluate, Loaded};

const MARKDOWN: &str = "text/markdown";
const JSON: &str = "application/json";

/// The parts of a spec a `spec://{name}/{part}` URI can name besides its documents.
const DERIVED: [&str; 2] = ["status", "trace"];

fn entry(
    uri: String,
    name: String,
    title: String,
    description: &str,
    mime: &str,
    version: ProtocolVersion,
) -> Value {
    let mut v = json!({"uri": uri, "name": name, "description": description, "mimeType": mime});
    if version.has_titles() {
        v["title"] = json!(title);
    }
    v
}

/// Every concrete resource, in a stable order.
pub fn list(server: &Server, version: ProtocolVersion) -> Result<Vec<Value>, McpError> {
    let store = Store::new(&server.workspace);
    let mut out = vec![entry(
        "spec://index".into(),
        "index".into(),
        "All specs".into(),
        "Every spec with its kind, phase and error count",
        JSON,
        version,
    )];
    for spec in store.list().map_err(internal)? {
        let loaded = Loaded::load(&store, spec.clone()).map_err(internal)?;
        for (doc, text) in &loaded.texts {
            if text.is_some() {
                let uri = format!("spec://{}/{}", spec.name, doc.as_str());
                let title = format!("{} of {}", doc.file_name(), spec.name);
                out.push(entry(
                    uri,
                    format!("{}/{}", spec.name, doc.as_str()),
                    title,
                    "Spec document",
                    MARKDOWN,
                    version,
                ));
            }
        }
        for part in DERIVED {
            let uri = format!("spec://{}/{part}", spec.name);
            let title = format!("{part} of {}", spec.name);
            out.push(entry(
                uri,
                format!("{}/{part}", spec.name),
                title,
                "Computed from the documents",
                JSON,
                version,
            ));
        }
    }
    for (name, _) in store.steering().map_err(internal)? {
        let title = format!("Steering: {name}");
        out.push(entry(
            format!("steering://{name}"),
            format!("steering/{name}"),
            title,
            "Steering document",
            MARKDOWN,
            version,
        ));
    }
    for doc in DocKind::ALL {
        let title = format!("Template for {}", doc.file_name());
        out.push(entry(
            format!("template://{}", doc.as_str()),
            format!("template/{}", doc.as_str()),
            title,
            "The effective template (workspace override or built-in)",
            MARKDOWN,
            version,
        ));
    }
    Ok(out)
}

/// The resource templates (RFC 6570 level 1).
pub fn templates(version: ProtocolVersion) -> Vec<Value> {
    let t = |uri: &str, name: &str, title: &str, description: &str, mime: &str| {
        let mut v =
            json!({"uriTemplate": uri, "name": name, "description": description, "mimeType": mime});
        if version.has_titles() {
            v["title"] = json!(title);
        }
        v
    };
    vec![
        t(
            "spec://{name}/{doc}",
            "spec-document",
            "Spec document",
            "doc: requirements, bugfix, design or tasks",
            MARKDOWN,
        ),
        t(
            "spec://{name}/status",
            "spec-status",
            "Spec status",
            "Phase, documents, diagnostics, coverage, progress",
            JSON,
        ),
        t(
            "spec://{name}/trace",
            "spec-trace",
            "Spec traceability",
            "Requirement -> design -> task matrix",
            JSON,
        ),
        t(
            "steering://{doc}",
            "steering",
            "Steering document",
            "specs/_steering/{doc}.md",
            MARKDOWN,
        ),
        t(
            "template://{doc}",
            "template",
            "Document template",
            "doc: requirements, bugfix, design or tasks",
            MARKDOWN,
        ),
    ]
}

/// `resources/read`.
pub fn read(server: &Server, version: ProtocolVersion, uri: &str) -> Result<Value, McpError> {
    let not_found = || McpError::ResourceNotFound {
        uri: uri.to_string(),
        modern: version.is_modern(),
    };
    let store = Store::new(&server.workspace);
    let (text, mime) = if uri == "spec://index" {
        (index_json(&store)?, JSON)
    } else if let Some(rest) = uri.strip_prefix("spec://") {
        let (name, part) = rest.split_once('/').ok_or_else(not_found)?;
        let spec = match store.find(name) {
            Ok(spec) => spec,
            Err(StoreError::NotFound(_) | StoreError::InvalidName(_)) => return Err(not_found()),
            Err(e) => return Err(internal(e)),
        };
        if let Some(doc) = DocKind::parse(part) {
            (
                store
                    .read_doc(&spec, doc)
                    .map_err(internal)?
                    .ok_or_else(not_found)?,
                MARKDOWN,
            )
        } else if DERIVED.contains(&part) {
            let e = evaluate(&Loaded::load(&store, spec).map_err(internal)?);
            let body = if part == "status" {
                json!(e)
            } else {
                trace_json(&e)
            };
            (
                serde_json::to_string_pretty(&body).expect("serializes"),
                JSON,
            )
        } else {
            return Err(not_found());
        }
    } else if let Some(name) = uri.strip_prefix("steering://") {
        let docs = store.steering().map_err(internal)?;
        (
            docs.into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(not_found)?,
            MARKDOWN,
        )
    } else if let Some(doc) = uri.strip_prefix("template://") {
        (
            store.template(DocKind::parse(doc).ok_or_else(not_found)?).0,
            MARKDOWN,
        )
    } else {
        return Err(not_found());
    };
    Ok(json!({"contents": [{"uri": uri, "mimeType": mime, "text": text}]}))
}

fn index_json(store: &Store<'_>) -> Result<String, McpError> {
    let mut specs = Vec::new();
    for spec in store.list().map_err(internal)? {
        let e = evaluate(&Loaded::load(store, spec).map_err(internal)?);
        specs.push(json!({"name": e.name, "source": e.source, "kind": e.kind, "phase": e.phase, "errors": e.errors()}));
    }
    Ok(serde_json::to_string_pretty(&json!({"specs": specs})).expect("serializes"))
}

fn trace_json(e: &crate::spec::workflow::Evaluation) -> Value {
    match (&e.parsed.requirements, &e.parsed.design, &e.parsed.tasks) {
        (Some(r), Some(d), Some(t)) => json!(crate::spec::trace(r, d, t)),
        _ => json!({"error": "tracing needs requirements, design and tasks"}),
    }
}

fn internal(e: StoreError) -> McpError {
    McpError::Internal(e.to_string())
}

/// Spec names for completion.
pub fn spec_names(server: &Server) -> Vec<String> {
    Store::new(&server.workspace)
        .list()
        .map(|specs| specs.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}
