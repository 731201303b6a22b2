//! The path sandbox: whatever string a client sends, a resolved path must lie inside the
//! workspace root, and reading it must not panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_server_spec::workspace::Workspace;

fn workspace() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mcp-fuzz-sandbox-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("specs/sub")).expect("fuzz workspace");
        let _ = std::os::unix::fs::symlink("/etc", dir.join("etc-link"));
        let _ = std::fs::write(dir.join("specs/a.md"), "a");
        Workspace::new(&dir, 1 << 16).expect("workspace")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let ws = workspace();
    if let Ok(resolved) = ws.resolve(path) {
        assert!(
            resolved.starts_with(ws.root()) && resolved != Path::new("/"),
            "{path:?} resolved outside the root: {}",
            resolved.display()
        );
    }
    let _ = ws.read_text(path);
});
