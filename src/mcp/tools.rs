//! The tool table and `tools/list` / `tools/call`.
//!
//! Tools are plain functions of (server, request context, arguments) returning a
//! [`ToolOutput`]; failures the model can fix are tool results with `isError: true`,
//! never protocol errors (docs/2026-07-28/server/tools.mdx, "Error Handling").

use serde_json::{json, Map, Value};

use crate::mcp::ask::{self, Answer, Asked, Step};
use crate::mcp::error::McpError;
use crate::mcp::meta::{self, LogLevel};
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{schema, Reply, RequestCtx, Server};

/// What a tool returns: content blocks, optional structured content, error flag.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub structured: Option<Value>,
    pub is_error: bool,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            structured: None,
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            structured: None,
            is_error: true,
        }
    }

    /// The `CallToolResult` for the given revision.
    pub fn into_result(self, version: ProtocolVersion) -> Value {
        let mut result = json!({
            "content": [{ "type": "text", "text": self.text }],
            "isError": self.is_error,
        });
        if let (Some(structured), true) = (self.structured, version.has_structured_content()) {
            result["structuredContent"] = structured;
        }
        result
    }
}

/// Hints a client may show or use to decide on confirmation (2025-03-26 on).
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
}

type ToolFn = fn(&Server, &mut RequestCtx<'_>, &Map<String, Value>) -> ToolOutput;
/// A tool that builds its whole `CallToolResult` (any content blocks: image, audio,
/// embedded resources), for library users; the product's tools use [`Run::Now`].
type ResultFn = fn(&Server, &mut RequestCtx<'_>, &Map<String, Value>) -> Value;
/// An interactive tool: called with `None` first, then again with the user's answer.
type AskFn = fn(&Server, &mut RequestCtx<'_>, &Map<String, Value>, Option<Answer<'_>>) -> Step;

/// How a tool runs.
pub enum Run {
    /// To completion, in one call.
    Now(ToolFn),
    /// May ask the client first (elicitation or sampling, see `ask.rs`); `key` names its
    /// request.
    Asks { key: &'static str, run: AskFn },
    /// To completion, returning the `CallToolResult` as it goes on the wire.
    Result(ResultFn),
}

/// One tool: metadata, schemas and its implementation.
pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: Option<fn() -> Value>,
    pub annotations: Annotations,
    pub call: Run,
}

/// The seed's file tools (listed after the spec tools).
pub const FILE_TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "create_file",
        title: "Create or overwrite a file",
        description: "Create or overwrite a UTF-8 text file inside the workspace. Parent \
                      directories are created. The write is atomic: readers see the old or \
                      the new content, never a mix. Paths are relative to the workspace root.",
        input_schema: || {
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1, "description": "File path relative to the workspace root, e.g. specs/requirements.md"},
                    "content": {"type": "string", "description": "Full UTF-8 text content of the file"}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            })
        },
        output_schema: Some(|| {
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "bytes": {"type": "integer"},
                    "created": {"type": "boolean"}
                },
                "required": ["path", "bytes", "created"]
            })
        }),
        annotations: Annotations {
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        call: Run::Now(create_file),
    },
    ToolDef {
        name: "read_file",
        title: "Read a file",
        description: "Read a UTF-8 text file inside the workspace. Paths are relative to the \
                      workspace root.",
        input_schema: || {
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1, "description": "File path relative to the workspace root"}
                },
                "required": ["path"],
                "additionalProperties": false
            })
        },
        output_schema: None,
        annotations: Annotations {
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        call: Run::Now(read_file),
    },
];

/// Every tool, in the order `tools/list` returns them (deterministic, for client caches).
pub fn all() -> impl Iterator<Item = &'static ToolDef> {
    crate::mcp::spec_tools::SPEC_TOOLS
        .iter()
        .chain(crate::mcp::review_tools::REVIEW_TOOLS)
        .chain(FILE_TOOLS)
}

/// The smallest useful set, for clients that cap how many tools they load.
pub const CORE_PROFILE: &[&str] = &[
    "spec_init",
    "spec_status",
    "spec_guide",
    "spec_write",
    "spec_validate",
    "spec_review",
    "task_next",
    "task_update",
];

/// Resolves `MCP_TOOLS` / `--tools`: `all`, `core`, or a comma-separated list of names.
pub fn select(profile: &str) -> Result<Vec<&'static ToolDef>, String> {
    let names: Vec<&str> = match profile.trim() {
        "" | "all" => return Ok(all().collect()),
        "core" => CORE_PROFILE.to_vec(),
        list => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect(),
    };
    if let Some(unknown) = names.iter().find(|n| all().all(|t| t.name != **n)) {
        let known: Vec<&str> = all().map(|t| t.name).collect();
        return Err(format!(
            "unknown tool '{unknown}' (known: {})",
            known.join(", ")
        ));
    }
    Ok(all().filter(|t| names.contains(&t.name)).collect())
}

/// A tool's listing entry, shaped for the given revision.
pub fn describe(tool: &ToolDef, version: ProtocolVersion) -> Value {
    let mut entry = json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": (tool.input_schema)(),
    });
    if version.has_titles() {
        entry["title"] = json!(tool.title);
    }
    if version.has_tool_annotations() {
        let a = &tool.annotations;
        entry["annotations"] = json!({
            "readOnlyHint": a.read_only,
            "destructiveHint": a.destructive,
            "idempotentHint": a.idempotent,
            "openWorldHint": false,
        });
    }
    if let (Some(output), true) = (tool.output_schema, version.has_structured_content()) {
        entry["outputSchema"] = output();
    }
    entry
}

/// `tools/call`: finds the tool, checks arguments against its schema, runs it. An
/// interactive tool may end in [`Reply::Ask`], which `route` delivers.
pub(super) fn call(
    server: &Server,
    ctx: &mut RequestCtx<'_>,
    params: &Map<String, Value>,
) -> Result<Reply, McpError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params("tools/call: missing string parameter 'name'"))?;
    let tool = server
        .tool(name)
        .ok_or_else(|| McpError::invalid_params(format!("Unknown tool: {name}")))?;
    let empty = Value::Object(Map::new());
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(a) => a,
    };
    let built;
    let input_schema = match server.input_schema(tool.name) {
        Some(cached) => cached,
        None => {
            built = (tool.input_schema)();
            &built
        }
    };
    if let Err(problem) = schema::check(args, input_schema) {
        let message = format!("invalid arguments for tool '{name}': {problem}");
        if ctx.version.input_errors_are_tool_errors() {
            return Ok(Reply::Now(
                ToolOutput::error(message).into_result(ctx.version),
            ));
        }
        return Err(McpError::InvalidParams(message));
    }
    let args = args
        .as_object()
        .unwrap_or_else(|| unreachable!("schema requires an object"));
    let output = match tool.call {
        Run::Now(run) => run(server, ctx, args),
        Run::Result(run) => return Ok(Reply::Now(run(server, ctx, args))),
        Run::Asks { key, run } => {
            let answer = if ctx.version.is_modern() {
                ask::answer_from_params(server, tool.name, key, args, params)?
            } else {
                None
            };
            match run(server, ctx, args, answer).outcome() {
                Ok(output) => output,
                Err(request) => {
                    return Ok(Reply::Ask(Asked {
                        tool: tool.name,
                        args: args.clone(),
                        request,
                        modern_caps: ctx.version.is_modern().then(|| client_caps(params)),
                    }))
                }
            }
        }
    };
    Ok(Reply::Now(output.into_result(ctx.version)))
}

/// The client capabilities a 2026-07-28 request declares in `_meta` (route already
/// checked they are an object).
fn client_caps(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .get("_meta")
        .and_then(|m| m.get(meta::KEY_CLIENT_CAPABILITIES))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    // Only called after the schema check, which guarantees the string is present.
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn create_file(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let path = str_arg(args, "path");
    match server.workspace.write_text(path, str_arg(args, "content")) {
        Ok(written) => {
            let verb = if written.created {
                "Created"
            } else {
                "Overwrote"
            };
            ctx.log(
                LogLevel::Info,
                "create_file",
                json!({"path": written.path, "bytes": written.bytes}),
            );
            ToolOutput {
                text: format!("{verb} {} ({} bytes)", written.path, written.bytes),
                structured: Some(
                    json!({"path": written.path, "bytes": written.bytes, "created": written.created}),
                ),
                is_error: false,
            }
        }
        Err(e) => {
            ctx.log(
                LogLevel::Warning,
                "create_file",
                json!({"path": path, "error": e.to_string()}),
            );
            ToolOutput::error(e.to_string())
        }
    }
}

fn read_file(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let path = str_arg(args, "path");
    match server.workspace.read_text(path) {
        Ok(text) => {
            ctx.log(
                LogLevel::Debug,
                "read_file",
                json!({"path": path, "bytes": text.len()}),
            );
            ToolOutput::text(text)
        }
        Err(e) => ToolOutput::error(e.to_string()),
    }
}
