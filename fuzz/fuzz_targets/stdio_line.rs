//! Arbitrary bytes as one stdio line (and HTTP body): decode, then the protocol core, in
//! a fresh session and in a session initialized for each legacy revision. The core must
//! never panic past its own isolation, and every answer must serialize to one line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_server_spec::jsonrpc::{decode, encode};
use mcp_server_spec::mcp::{Outgoing, Server, Session};
use mcp_server_spec::workspace::Workspace;

const VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mcp-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz workspace");
        Server::new(Workspace::new(&dir, 1 << 16).expect("workspace"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, line)) = data.split_first() else {
        return;
    };
    let server = server();
    let mut session = Session::default();
    if let Some(version) = VERSIONS.get(usize::from(mode % 5)) {
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"fuzz","version":"0"}}}}}}"#
        );
        let incoming = decode(init.as_bytes()).expect("valid initialize");
        server.handle(&mut session, incoming, &mut |_| {});
    }
    let reply = match decode(line) {
        Ok(incoming) => server.handle(&mut session, incoming, &mut |n| {
            assert!(!encode(&n).contains('\n'))
        }),
        Err(response) => Some(Outgoing::Single(response)),
    };
    let text = match reply {
        None => return,
        Some(Outgoing::Single(r)) => encode(&r),
        Some(Outgoing::Batch(rs)) => encode(&rs),
    };
    assert!(!text.contains('\n'), "one message, one line");
    let _: serde_json::Value = serde_json::from_str(&text).expect("answers are JSON");
});
