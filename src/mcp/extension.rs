//! The one hook a library user has into the method table: an [`Extension`] answers
//! methods before the core's own table does, and may add to the advertised capabilities.
//!
//! The product binary installs none, so its behaviour is exactly the core's. A test
//! harness (the conformance fixture server in `tests/conformance/fixture/`) uses it to
//! serve the prompts, resources and completions a test suite expects, while era
//! selection, sessions, `_meta`, logging, progress, tools, error mapping and every
//! transport stay the core's. Extra tools need no hook: they are [`super::tools::ToolDef`]s
//! given to [`super::Server::with_tools`].

use serde_json::{Map, Value};

use super::error::McpError;
use super::RequestCtx;

/// Methods a library user serves in addition to (or instead of) the core's.
pub trait Extension: Send + Sync {
    /// Answers `method`, or `None` to let the core's table answer it. Called for every
    /// request after era selection (never for `initialize`, `ping` before initialization
    /// or `logging/setLevel`), with the same context the core's handlers get.
    fn handle(
        &self,
        ctx: &mut RequestCtx<'_>,
        method: &str,
        params: Option<&Value>,
    ) -> Option<Result<Value, McpError>>;

    /// Adjusts the capabilities sent in `initialize` and `server/discover` (for example
    /// `resources.subscribe` when `handle` serves `resources/subscribe`).
    fn capabilities(&self, capabilities: &mut Map<String, Value>) {
        let _ = capabilities;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::jsonrpc::{self, Incoming};
    use crate::mcp::{Outgoing, Server, Session};
    use crate::workspace::Workspace;

    /// Serves `test/echo`, replaces `prompts/list`, and advertises `resources.subscribe`.
    struct Echo;

    impl Extension for Echo {
        fn handle(
            &self,
            ctx: &mut RequestCtx<'_>,
            method: &str,
            params: Option<&Value>,
        ) -> Option<Result<Value, McpError>> {
            match method {
                "test/echo" => Some(Ok(
                    json!({ "version": ctx.version.as_str(), "params": params }),
                )),
                "prompts/list" => Some(Ok(json!({ "prompts": [] }))),
                "test/fail" => Some(Err(McpError::invalid_params("bad echo"))),
                _ => None,
            }
        }

        fn capabilities(&self, capabilities: &mut Map<String, Value>) {
            capabilities.insert("resources".into(), json!({ "subscribe": true }));
        }
    }

    fn server(with: bool) -> (std::path::PathBuf, Server) {
        let dir = std::env::temp_dir().join(format!(
            "mcp-ext-{}-{}",
            std::process::id(),
            if with { "with" } else { "without" }
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ws = Workspace::new(&dir, 1 << 20).expect("workspace");
        let server = Server::new(ws);
        let server = if with {
            server.with_extension(Box::new(Echo))
        } else {
            server
        };
        (dir, server)
    }

    fn call(server: &Server, session: &mut Session, line: &str) -> Value {
        let incoming: Incoming = jsonrpc::decode(line.as_bytes()).expect("valid line");
        let Some(Outgoing::Single(r)) = server.handle(session, incoming, &mut |_| {}) else {
            panic!("no single response to {line}");
        };
        serde_json::from_str(&jsonrpc::encode(&r)).expect("json")
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;

    #[test]
    fn an_extension_answers_first_and_adds_capabilities() {
        let (dir, s) = server(true);
        let mut session = Session::default();
        let init = call(&s, &mut session, INIT);
        assert_eq!(
            init["result"]["capabilities"]["resources"],
            json!({"subscribe": true})
        );
        let echo = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"a":1}}"#,
        );
        assert_eq!(
            echo["result"],
            json!({"version": "2025-06-18", "params": {"a": 1}})
        );
        let prompts = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":2,"method":"prompts/list"}"#,
        );
        assert_eq!(prompts["result"], json!({"prompts": []}));
        let fail = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":3,"method":"test/fail"}"#,
        );
        assert_eq!(fail["error"]["code"], -32602);
        // Methods it declines fall through to the core.
        let tools = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#,
        );
        assert!(tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A library user's tool that returns non-text content goes through the core's
    /// `tools/call` (lookup, schema check) and comes back exactly as built.
    #[test]
    fn a_result_tool_returns_its_own_content_blocks() {
        use crate::mcp::tools::{Annotations, Run, ToolDef};
        static IMAGE: ToolDef = ToolDef {
            name: "image",
            title: "Image",
            description: "Returns an image",
            input_schema: || json!({"type": "object", "additionalProperties": false}),
            output_schema: None,
            annotations: Annotations {
                read_only: true,
                destructive: false,
                idempotent: true,
            },
            call: Run::Result(
                |_, _, _| json!({"content": [{"type": "image", "data": "AA==", "mimeType": "image/png"}]}),
            ),
        };
        let (dir, s) = server(false);
        let s = s.with_tools(vec![&IMAGE]);
        let mut session = Session::default();
        call(&s, &mut session, INIT);
        let r = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"image"}}"#,
        );
        assert_eq!(
            jsonrpc::encode(&r["result"]),
            r#"{"content":[{"data":"AA==","mimeType":"image/png","type":"image"}]}"#
        );
        let bad = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"image","arguments":{"x":1}}}"#,
        );
        assert_eq!(bad["error"]["code"], -32602);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_an_extension_the_core_is_unchanged() {
        let (dir, s) = server(false);
        let mut session = Session::default();
        let init = call(&s, &mut session, INIT);
        assert_eq!(
            init["result"]["capabilities"]["resources"],
            json!({"listChanged": true})
        );
        let echo = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":1,"method":"test/echo"}"#,
        );
        assert_eq!(echo["error"]["code"], -32601);
        let prompts = call(
            &s,
            &mut session,
            r#"{"jsonrpc":"2.0","id":2,"method":"prompts/list"}"#,
        );
        assert!(prompts["result"]["prompts"]
            .as_array()
            .is_some_and(|p| !p.is_empty()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
