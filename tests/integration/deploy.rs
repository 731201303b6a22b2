//! Deployment features through the real binary: systemd socket activation (an inherited
//! listener survives a restart without refusing a connection), the `healthcheck`
//! subcommand over HTTP and HTTPS, and instance-prefixed legacy session ids.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::http_client::{HttpServer, JSON_POST};
use crate::support::{initialize, run, TempDir, BIN, DEADLINE};

/// The binary started as systemd would: `listener` as fd 3, `LISTEN_PID` naming the
/// process (a shell sets it to its own pid, then `exec`s the server, keeping the pid).
fn activated(listener: &TcpListener, workspace: &Path) -> HttpServer {
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@""#,
        BIN,
    ])
    .args([
        "--transport",
        "http-stream",
        "--log-level",
        "info",
        "--workspace",
    ])
    .arg(workspace);
    // SAFETY: dup2 in the forked child before exec; async-signal-safe, touches only fds.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC, so clear it explicitly in that case.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    HttpServer::spawn(cmd)
}

fn get_health(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn socket_activation_keeps_the_port_across_a_restart() {
    let dir = TempDir::new("activation");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();

    let mut first = activated(&listener, dir.path());
    assert_eq!(
        first.port, port,
        "serves the inherited socket, not a new one"
    );
    assert!(first.log_text().contains("socket inherited from systemd"));
    assert!(get_health(port).starts_with("HTTP/1.1 200"));
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(), Some(0));

    // Between the two servers the socket stays open (held here, as systemd holds it): a
    // client connecting now waits in the backlog instead of being refused...
    let waiting = std::thread::spawn(move || get_health(port));
    let mut second = activated(&listener, dir.path());
    assert_eq!(second.port, port);
    // ...and is answered by the restarted server.
    let answer = waiting.join().expect("client thread");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    second.signal(libc::SIGTERM);
    assert_eq!(second.wait_exit(), Some(0));
}

#[test]
fn activation_variables_for_another_process_are_ignored() {
    let dir = TempDir::new("activation-other");
    let mut cmd = Command::new(BIN);
    cmd.env("LISTEN_PID", "1").env("LISTEN_FDS", "1");
    cmd.args([
        "--transport",
        "http-stream",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workspace",
    ])
    .arg(dir.path());
    let s = HttpServer::spawn(cmd);
    assert!(!s.log_text().contains("socket inherited"));
    assert_eq!(s.get("/health", &[]).status, 200);
}

#[test]
fn healthcheck_subcommand() {
    let dir = TempDir::new("healthcheck");
    let s = HttpServer::start(dir.path(), &[]);
    let url = format!("http://127.0.0.1:{}/health", s.port);
    let (code, out, _) = run(&["healthcheck", "--url", &url]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("healthy:"), "{out}");

    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "http://127.0.0.1:{}/health",
        closed.local_addr().expect("addr").port()
    );
    drop(closed);
    let (code, _, err) = run(&["healthcheck", "--url", &dead, "--timeout", "2s"]);
    assert_eq!(code, Some(1), "nobody listening: unhealthy");
    assert!(err.contains("unhealthy"), "{err}");

    let (code, _, _) = run(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{}/nope", s.port),
    ]);
    assert_eq!(code, Some(1), "a 404 is unhealthy");
    let (code, _, err) = run(&["healthcheck", "--url", "gopher://x"]);
    assert_eq!(code, Some(2), "a bad URL is a usage error: {err}");
    let (code, _, _) = run(&["status", "--insecure"]);
    assert_eq!(code, Some(2), "--insecure belongs to healthcheck only");
}

#[test]
fn healthcheck_over_https() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key) = (fixtures.join("a.crt"), fixtures.join("a.key"));
    let dir = TempDir::new("healthcheck-tls");
    let s = HttpServer::start(
        dir.path(),
        &[
            "--ssl-certfile",
            cert.to_str().expect("utf-8"),
            "--ssl-keyfile",
            key.to_str().expect("utf-8"),
        ],
    );
    let url = format!("https://localhost:{}/health", s.port);
    let (code, out, err) = run(&[
        "healthcheck",
        "--url",
        &url,
        "--cacert",
        cert.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "trusted via --cacert: {out}{err}");
    let (code, _, err) = run(&[
        "healthcheck",
        "--url",
        &url,
        "--cacert",
        fixtures.join("b.crt").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1), "another certificate is not trusted: {err}");
    let (code, _, _) = run(&["healthcheck", "--url", &url, "--insecure"]);
    assert_eq!(
        code,
        Some(0),
        "--insecure accepts the self-signed certificate"
    );
}

#[test]
fn instance_id_prefixes_session_ids() {
    let dir = TempDir::new("instance");
    let s = HttpServer::start(dir.path(), &["--instance-id", "b"]);
    let r = s.post(&JSON_POST, &initialize(1, "2025-11-25"));
    let id = r.header("Mcp-Session-Id").expect("session id");
    assert!(id.starts_with("b."), "{id}");
    let (code, _, err) = run(&["--transport", "http-stream", "--instance-id", "a.b"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--instance-id"), "{err}");
}
