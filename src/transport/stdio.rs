//! The stdio transport: newline-delimited JSON-RPC on the main thread
//! (docs/2026-07-28/basic/transports/stdio.mdx).
//!
//! One message per line; `\r\n` is tolerated. A line longer than the cap is skipped
//! without buffering it and answered with -32600; a line that is not JSON gets -32700 and
//! the loop goes on. EOF on stdin ends the loop (the spec's graceful shutdown). Output is
//! flushed whenever no further input is already buffered, so a pipelined client gets
//! batched writes and an interactive one gets each answer at once. Server→client
//! requests (legacy elicitation) are written after each message's answer; the client's
//! responses arrive as ordinary lines and complete the parked call.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::jsonrpc::{self, code, ErrorObject, Response};
use crate::mcp::{Outgoing, Server, Session};

/// Read buffer size: big enough that typical messages take one read.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves one client until EOF. A closed stdout (`BrokenPipe`) also ends it cleanly:
/// the client has gone.
pub fn serve<R: Read, W: Write>(
    server: &Server,
    input: R,
    output: W,
    max_line_bytes: u64,
) -> io::Result<()> {
    match serve_inner(server, input, output, max_line_bytes) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            log::info!("stdout closed by the client; stopping");
            Ok(())
        }
        other => other,
    }
}

fn serve_inner<R: Read, W: Write>(
    server: &Server,
    input: R,
    mut output: W,
    max_line_bytes: u64,
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, input);
    let mut session = Session::default();
    // One peer, one pipe each way: server→client requests (elicitation) can always go
    // out, and the client's responses come back on stdin into this same session.
    session.set_server_requests(true);
    let mut line = Vec::new();
    loop {
        if reader.buffer().is_empty() {
            output.flush()?;
        }
        line.clear();
        match read_line(&mut reader, &mut line, max_line_bytes)? {
            Line::Eof => break,
            Line::TooLong(len) => {
                log::warn!("stdio: dropped a {len}-byte line over the {max_line_bytes}-byte limit");
                let message = format!("invalid request: message of {len} bytes exceeds the {max_line_bytes}-byte limit");
                write_line(
                    &mut output,
                    &Response::err(None, ErrorObject::new(code::INVALID_REQUEST, message)),
                )?;
            }
            Line::Complete => handle_line(server, &mut session, trim(&line), &mut output)?,
        }
    }
    output.flush()?;
    log::info!("stdin closed; exiting");
    Ok(())
}

fn handle_line<W: Write>(
    server: &Server,
    session: &mut Session,
    line: &[u8],
    output: &mut W,
) -> io::Result<()> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    log::trace!("stdio <- {}", String::from_utf8_lossy(line));
    let incoming = match jsonrpc::decode(line) {
        Ok(incoming) => incoming,
        Err(response) => return write_line(output, &response),
    };
    let mut write_error = None;
    let reply = server.handle(session, incoming, &mut |notification| {
        if write_error.is_none() {
            write_error = write_line(output, &notification).err();
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    match reply {
        None => {}
        Some(Outgoing::Single(response)) => write_line(output, &response)?,
        Some(Outgoing::Batch(responses)) => write_line(output, &responses)?,
    }
    for pending in session.take_server_requests() {
        write_line(output, &pending.request)?;
    }
    Ok(())
}

fn write_line<W: Write, T: serde::Serialize + ?Sized>(
    output: &mut W,
    message: &T,
) -> io::Result<()> {
    let mut text = jsonrpc::encode(message);
    log::trace!("stdio -> {text}");
    text.push('\n');
    output.write_all(text.as_bytes())
}

enum Line {
    Eof,
    Complete,
    /// The line was longer than the cap; this many bytes were read and discarded.
    TooLong(u64),
}

/// Reads one line (without the newline) into `buf`, never holding more than `max` bytes:
/// past the cap the rest of the line is consumed and dropped.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, max: u64) -> io::Result<Line> {
    let mut total: u64 = 0;
    let mut overflow = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (total, overflow) {
                (0, _) => Line::Eof,
                (n, true) => Line::TooLong(n),
                _ => Line::Complete,
            });
        }
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], true),
            None => (available, false),
        };
        total += chunk.len() as u64;
        if total > max {
            overflow = true;
            buf.clear();
        } else {
            buf.extend_from_slice(chunk);
        }
        let consumed = chunk.len() + usize::from(found_newline);
        reader.consume(consumed);
        if found_newline {
            return Ok(if overflow {
                Line::TooLong(total)
            } else {
                Line::Complete
            });
        }
    }
}

/// Drops one trailing `\r` (CRLF framing).
fn trim(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;
    use serde_json::Value;

    fn run(input: &str, max: u64) -> Vec<Value> {
        let dir = std::env::temp_dir().join(format!(
            "mcp-stdio-test-{}-{}",
            std::process::id(),
            input.len()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let server = Server::new(Workspace::new(&dir, 1024).expect("workspace"));
        let mut out = Vec::new();
        serve(&server, input.as_bytes(), &mut out, max).expect("serve");
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
            .collect()
    }

    #[test]
    fn garbage_then_valid_request() {
        let out = run(
            "not json\r\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n",
            1 << 20,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["error"]["code"], -32700);
        assert_eq!(out[0]["id"], Value::Null);
        assert_eq!(out[1]["id"], 1);
        assert_eq!(out[1]["result"], serde_json::json!({}));
    }

    #[test]
    fn oversized_line_is_rejected_and_the_loop_goes_on() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
            "a".repeat(500)
        );
        let input = format!("{big}\n{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}}");
        let out = run(&input, 100);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["error"]["code"], -32600);
        assert!(out[0]["error"]["message"]
            .as_str()
            .expect("message")
            .contains("exceeds the 100-byte limit"));
        assert_eq!(
            out[1]["id"], 2,
            "last line without a newline is still served"
        );
    }

    #[test]
    fn read_line_bounds_memory() {
        let data = vec![b'x'; 10_000];
        let mut reader = BufReader::with_capacity(16, &data[..]);
        let mut buf = Vec::new();
        let line = read_line(&mut reader, &mut buf, 64).expect("read");
        assert!(matches!(line, Line::TooLong(10_000)));
        assert!(
            buf.capacity() <= 64 + 16,
            "buffer stayed bounded: {}",
            buf.capacity()
        );
        assert!(matches!(
            read_line(&mut reader, &mut buf, 64).expect("read"),
            Line::Eof
        ));
    }

    #[test]
    fn eof_on_empty_input() {
        assert!(run("", 100).is_empty());
    }
}
