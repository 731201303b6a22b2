//! Raw HTTP/1.1 for the soak clients: 2026-07-28 stateless `POST /mcp` requests (the same
//! headers and bodies as `benches/http.rs`) and a response reader that tells apart the
//! three ways an exchange can end badly, because the fault modes judge them differently:
//! no response byte at all (a clean close), a response cut short, and a timeout.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

/// The `_meta` every 2026-07-28 request carries (no session, no initialize).
pub const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
/// How long a client waits for a response: longer than the server's drain time.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One complete `POST /mcp` request for `method` (and `Mcp-Name`, where the binding
/// requires it), with `params` spliced after `_meta`.
pub fn mcp_request(host: &str, method: &str, name: Option<&str>, params: &str) -> Vec<u8> {
    let sep = if params.is_empty() { "" } else { "," };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{{META}{sep}{params}}}}}"#
    );
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: {method}\r\n"
    );
    if let Some(name) = name {
        head.push_str(&format!("Mcp-Name: {name}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// The three requests of the mixed load: `tools/list`, `prompts/get
/// generate-requirements` and `tools/call read_file` on `specs/small.md`.
pub fn mix(host: &str) -> Vec<Vec<u8>> {
    vec![
        mcp_request(host, "tools/list", None, ""),
        mcp_request(
            host,
            "prompts/get",
            Some("generate-requirements"),
            r#""name":"generate-requirements","arguments":{"requirements":"A todo app"}"#,
        ),
        mcp_request(
            host,
            "tools/call",
            Some("read_file"),
            r#""name":"read_file","arguments":{"path":"specs/small.md"}"#,
        ),
    ]
}

/// The small file the `read_file` request reads.
pub const SMALL_FILE: (&str, &str) = ("specs/small.md", "# Small\n\nA small file for read_file.\n");

/// Why an exchange produced no usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection ended (EOF or reset) before a single response byte.
    NoResponse,
    /// Some response bytes, then the connection ended: never acceptable.
    Partial,
    /// No complete response within [`READ_TIMEOUT`].
    Timeout,
}

/// A complete response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with a JSON-RPC result that is not a tool error. The server writes `"result"`
    /// right after `"id"` and a tool's `"isError"` near the end (keys are sorted), so only
    /// the ends of the body are searched: the clients share two cores with the server.
    pub fn ok(&self) -> bool {
        let n = self.body.len();
        let (head, tail) = (&self.body[..n.min(64)], &self.body[n.saturating_sub(256)..]);
        self.status == 200 && contains(head, b"\"result\"") && !contains(tail, b"\"isError\":true")
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads one `Content-Length` response (the server sends JSON that way).
pub fn read_response(reader: &mut BufReader<TcpStream>) -> Result<Response, Failure> {
    match reader.fill_buf() {
        Ok([]) => return Err(Failure::NoResponse),
        Ok(_) => {}
        Err(e) if is_timeout(&e) => return Err(Failure::Timeout),
        Err(_) => return Err(Failure::NoResponse),
    }
    let cut = |e: io::Error| {
        if is_timeout(&e) {
            Failure::Timeout
        } else {
            Failure::Partial
        }
    };
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(cut)? == 0 {
        return Err(Failure::Partial);
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(cut)? == 0 {
            return Err(Failure::Partial);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; length.ok_or(Failure::Partial)?];
    reader.read_exact(&mut body).map_err(cut)?;
    Ok(Response { status, body })
}

/// A keep-alive connection: the write half and a buffered read half.
pub fn connect(addr: &str) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok((s.try_clone()?, BufReader::new(s)))
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
