//! HTTP/1.1 request framing for the front (RFC 9112): finding and parsing a request head,
//! and decoding a chunked body, with every size bounded.
//!
//! The front reads a whole request (head and body) before tiny_http sees a byte of it, so
//! slow clients only ever occupy a front thread. What the front forwards is re-framed:
//! the request line, `Content-Length` of the decoded body and the connection decision;
//! the parsed header fields go to the worker beside it ([`Head::forward`]).

use std::io::Write;

/// The largest request head accepted (request line plus headers); beyond it, 431.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Most header fields in one head.
pub const MAX_HEADER_COUNT: usize = 100;
/// Longest chunk-size line (with extensions) or trailer line in a chunked body.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    pub expect_continue: bool,
    /// The client asked to close after this request (or speaks HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Why a head or body cannot be accepted; each maps to one status in the front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// 431: head over [`MAX_HEAD_BYTES`] or too many fields.
    HeadTooLarge,
    /// 400: not HTTP/1.x framing we can trust.
    Malformed(&'static str),
    /// 501: a transfer coding other than chunked.
    UnsupportedCoding,
    /// 413: the body is over the cap.
    BodyTooLarge,
}

/// The offset just past the `\r\n\r\n` that ends the head, if `buf` holds a whole head.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete head (as delimited by [`head_end`]).
pub fn parse(bytes: &[u8]) -> Result<Head, FramingError> {
    // tiny_http reads heads as ASCII and drops the connection without a word on any other
    // byte, so the front answers 400 here instead (RFC 9110 §5.5 lets it reject obs-text).
    if !bytes.is_ascii() {
        return Err(FramingError::Malformed("non-ASCII request head"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| FramingError::Malformed("non-UTF-8 head"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(FramingError::Malformed("bad request line"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || !target.starts_with(['/', '*']) {
        return Err(FramingError::Malformed("bad request line"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(FramingError::Malformed("unsupported HTTP version"));
    }
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(FramingError::Malformed("header line without ':'"))?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(FramingError::Malformed("bad header name"));
        }
        if headers.len() == MAX_HEADER_COUNT {
            return Err(FramingError::HeadTooLarge);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut head = Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        framing: Framing::Length(0),
        expect_continue: false,
        close: false,
    };
    head.framing = framing(&head)?;
    head.expect_continue = head
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let connection = head
        .get("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    head.close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    Ok(head)
}

/// RFC 9112 §6.3: chunked wins; conflicting or invalid lengths are errors (smuggling guard).
fn framing(head: &Head) -> Result<Framing, FramingError> {
    if let Some(coding) = head.get("transfer-encoding") {
        if !coding.eq_ignore_ascii_case("chunked") {
            return Err(FramingError::UnsupportedCoding);
        }
        if head.get("content-length").is_some() {
            return Err(FramingError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(FramingError::Malformed("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(FramingError::Malformed("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// A token character (RFC 9110 §5.6.2): what field names and methods are made of.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Head {
    /// The first value of a header (names compare case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head as forwarded to tiny_http: the request line, what tiny_http needs to frame
    /// the request (`Content-Length` of the body the caller appends) and to keep the
    /// connection open (`Connection: keep-alive` for HTTP/1.0), nothing else. A client's
    /// `close` is not passed on: the front closes the client connection itself once its
    /// answers are out, and the private connection serves the next client (backend.rs).
    /// The header fields travel beside it, already parsed, in the connection's queue of
    /// heads (`ConnEntry::forwarded`): tiny_http reads a head a byte at a time, and parsing
    /// every field a second time was a fifth of a request's instructions. `Upgrade` never reaches it (we never switch protocols,
    /// RFC 9110 §7.8), nor `Expect` and `Transfer-Encoding`, which the front dealt with.
    pub fn forward(&self, body_len: usize) -> Vec<u8> {
        let line = self.method.len() + self.target.len() + self.version.len() + 4;
        let mut out = Vec::with_capacity(line + 64 + body_len);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(b"\r\n");
        if self.version == "HTTP/1.0" {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        // Writing to a Vec cannot fail.
        let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
        out
    }
}

/// An incremental decoder of a chunked body held in a growing buffer.
#[derive(Debug, Default)]
pub struct Chunked {
    /// Offset of the next unparsed byte in the buffer.
    pos: usize,
    state: ChunkState,
    pub body: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailers,
    Done,
}

impl Chunked {
    /// Parses what `buf` holds so far. `Ok(Some(n))` once the body is complete: `n` bytes
    /// of `buf` belonged to it. `Ok(None)` means more bytes are needed.
    pub fn advance(&mut self, buf: &[u8], max_body: u64) -> Result<Option<usize>, FramingError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = self.line(buf)? else {
                        return Ok(None);
                    };
                    let size_text = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size_text, 16)
                        .map_err(|_| FramingError::Malformed("bad chunk size"))?;
                    if (self.body.len() as u64).saturating_add(size as u64) > max_body {
                        return Err(FramingError::BodyTooLarge);
                    }
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    let available = buf.len() - self.pos;
                    if available == 0 {
                        return Ok(None);
                    }
                    let take = remaining.min(available);
                    self.body.extend_from_slice(&buf[self.pos..self.pos + take]);
                    self.pos += take;
                    self.state = if take == remaining {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - take)
                    };
                }
                ChunkState::DataEnd => {
                    let Some(line) = self.line(buf)? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(FramingError::Malformed("chunk data longer than its size"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = self.line(buf)? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => return Ok(Some(self.pos)),
            }
        }
    }

    /// The next CRLF-terminated line from `pos`, bounded in length.
    fn line<'a>(&mut self, buf: &'a [u8]) -> Result<Option<&'a str>, FramingError> {
        let rest = &buf[self.pos..];
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) if i <= MAX_CHUNK_LINE_BYTES => {
                self.pos += i + 2;
                std::str::from_utf8(&rest[..i])
                    .map(Some)
                    .map_err(|_| FramingError::Malformed("non-UTF-8 chunk line"))
            }
            Some(_) => Err(FramingError::Malformed("chunk line too long")),
            None if rest.len() > MAX_CHUNK_LINE_BYTES => {
                Err(FramingError::Malformed("chunk line too long"))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, FramingError> {
        let bytes = text.as_bytes();
        let end = head_end(bytes).expect("complete head");
        parse(&bytes[..end])
    }

    #[test]
    fn parses_a_post_and_reframes_it() {
        let h = head(
            "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.expect_continue && !h.close);
        assert_eq!(h.get("HOST"), Some("x"));
        assert_eq!(
            String::from_utf8(h.forward(5)).expect("ascii"),
            "POST /mcp HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
        );
    }

    /// Regression (found by the `http_request` fuzz target): with `Connection: upgrade`
    /// tiny_http gave the worker the raw connection as the request body, so one POST
    /// pinned a worker until its client closed the connection.
    #[test]
    fn upgrades_are_not_forwarded() {
        let h = head(
            "POST /mcp HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\
             Content-Length: 2\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(
            String::from_utf8(h.forward(2)).expect("ascii"),
            "POST /mcp HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
        );
        let only = head("GET / HTTP/1.1\r\nconnection: x-upgrade\r\n\r\n").expect("valid");
        assert_eq!(
            String::from_utf8(only.forward(0)).expect("ascii"),
            "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        );
    }

    /// tiny_http is always asked to keep the connection, whatever the client asked: the
    /// front closes client connections itself and reuses the private one.
    #[test]
    fn the_forwarded_head_keeps_the_private_connection_open() {
        let cases = [
            ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", ""),
            ("GET / HTTP/1.0\r\n\r\n", "Connection: keep-alive\r\n"),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                "Connection: keep-alive\r\n",
            ),
            ("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", ""),
        ];
        for (given, connection) in cases {
            let h = head(given).expect("valid");
            let line = given.split("\r\n").next().expect("request line");
            assert_eq!(
                String::from_utf8(h.forward(0)).expect("ascii"),
                format!("{line}\r\n{connection}Content-Length: 0\r\n\r\n"),
                "{given:?}"
            );
        }
    }

    /// Regression (found by the `http_request` fuzz target): a non-ASCII byte anywhere in
    /// the head (`Mcp-Name: 15°C`) made tiny_http close the connection with no response.
    #[test]
    fn non_ascii_heads_are_refused() {
        let err = head("POST /mcp HTTP/1.1\r\nMcp-Name: 15\u{b0}C\r\n\r\n");
        assert!(matches!(err, Err(FramingError::Malformed(_))));
        let err = head("GET /caf\u{e9} HTTP/1.1\r\n\r\n");
        assert!(matches!(err, Err(FramingError::Malformed(_))));
    }

    #[test]
    fn smuggling_shapes_are_rejected() {
        let both =
            head("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(both, Err(FramingError::Malformed(_))));
        let twice = head("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(matches!(twice, Err(FramingError::Malformed(_))));
        let signed = head("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n");
        assert!(matches!(signed, Err(FramingError::Malformed(_))));
        let gzip = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(gzip, Err(FramingError::UnsupportedCoding));
        assert!(matches!(
            head("GET / HTTP/2.0\r\n\r\n"),
            Err(FramingError::Malformed(_))
        ));
        assert!(matches!(
            head("GET  / HTTP/1.1\r\n\r\n"),
            Err(FramingError::Malformed(_))
        ));
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        assert!(head("GET / HTTP/1.0\r\n\r\n").expect("valid").close);
        assert!(
            !head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .expect("valid")
                .close
        );
        assert!(
            head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .expect("valid")
                .close
        );
    }

    #[test]
    fn chunked_body_fed_byte_by_byte() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut decoder = Chunked::default();
        let mut done = None;
        for end in 1..=wire.len() {
            if let Some(n) = decoder.advance(&wire[..end], 100).expect("valid") {
                done = Some(n);
                break;
            }
        }
        assert_eq!(done, Some(wire.len() - 4));
        assert_eq!(decoder.body, b"Wikipedia");
    }

    #[test]
    fn chunked_body_over_the_cap() {
        let mut decoder = Chunked::default();
        assert_eq!(
            decoder.advance(b"ff\r\n", 100),
            Err(FramingError::BodyTooLarge)
        );
        let mut decoder = Chunked::default();
        let long = vec![b'1'; MAX_CHUNK_LINE_BYTES + 1];
        assert!(matches!(
            decoder.advance(&long, 100),
            Err(FramingError::Malformed(_))
        ));
    }
}
