//! Comparison MCP server on the official Rust SDK (rmcp), for benchmarks only.
//!
//! `rmcp-bench-server --port PORT --root DIR [--tools FILE]`: Streamable HTTP at
//! `/mcp` on 127.0.0.1, stateless, plain JSON responses. `tools/list` answers the
//! tools in FILE; `tools/call read_file {"path"}` reads `DIR/path`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    session::never::NeverSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, RoleServer, ServerHandler};

#[derive(Clone)]
struct BenchServer {
    tools: Arc<Vec<Tool>>,
    root: Arc<PathBuf>,
}

impl BenchServer {
    async fn read_file(&self, arguments: Option<JsonObject>) -> Result<String, String> {
        let path = arguments
            .as_ref()
            .and_then(|args| args.get("path"))
            .and_then(|path| path.as_str())
            .ok_or("missing string argument: path")?;
        let path = Path::new(path);
        if !path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!(
                "path must be relative, without '..': {}",
                path.display()
            ));
        }
        tokio::fs::read_to_string(self.root.join(path))
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

impl ServerHandler for BenchServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|tool| tool.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match request.name.as_ref() {
            "read_file" => match self.read_file(request.arguments).await {
                Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
                Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
            },
            _ => CallToolResult::error(vec![ContentBlock::text(
                "not implemented in the comparison server",
            )]),
        };
        Ok(result.into())
    }
}

fn usage() -> ! {
    eprintln!("usage: rmcp-bench-server --port PORT --root DIR [--tools FILE]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut root, mut tools) = (None, None, "benches/alternatives/tools.json".into());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => port = Some(value.parse::<u16>()?),
            "--root" => root = Some(PathBuf::from(value)),
            "--tools" => tools = value,
            _ => usage(),
        }
    }
    let (Some(port), Some(root)) = (port, root) else {
        usage()
    };

    let tools: Vec<Tool> = serde_json::from_str(&std::fs::read_to_string(&tools)?)?;
    let server = BenchServer {
        tools: Arc::new(tools),
        root: Arc::new(root),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
