//! Logging: our own small `log` backend (no logger crate), to stderr or an append-only
//! `--log-file`, in one of two formats (`--log-format`):
//!
//! - `text`: `[2026-11-25T06:21:48.123Z INFO  target] message`;
//! - `json`: one object per line for ELK and similar pipelines: `timestamp`, `level`,
//!   `target`, `message`, then the record's structured fields (`log` key-values). Access
//!   lines (target `access`) carry `remote_addr`, `method`, `path`, `mcp_method`, `status`,
//!   `duration_ms` and `transport`.
//!
//! [`reopen`] (SIGHUP in the HTTP transports) opens `--log-file` again by its path: after
//! logrotate renames the file, the next line goes to a new one and the old descriptor is
//! released, so `postrotate kill -HUP` works without `copytruncate`.
//!
//! stdout is never a log target: in stdio mode it belongs to the protocol. Every line is
//! formatted first and written with one `write_all` under a lock, so lines from different
//! threads never interleave.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use log::kv::{self, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

use crate::clock::push_rfc3339;
use crate::config::Config;
use crate::error::Error;

/// How log lines look (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Keys every JSON line has; structured fields with these names are dropped.
const RESERVED_KEYS: [&str; 4] = ["timestamp", "level", "target", "message"];

struct Logger {
    level: LevelFilter,
    format: LogFormat,
    sink: Sink,
}

enum Sink {
    Stderr,
    File { path: PathBuf, file: Mutex<File> },
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the global logger. Call once, before serving.
pub fn init(config: &Config) -> Result<(), Error> {
    let sink = match &config.log_file {
        Some(path) => Sink::File {
            path: path.clone(),
            file: Mutex::new(open_append(path).map_err(|e| {
                Error::usage(format!("--log-file: cannot open '{}': {e}", path.display()))
            })?),
        },
        None => Sink::Stderr,
    };
    let logger = Logger {
        level: config.log_level,
        format: config.log_format,
        sink,
    };
    if LOGGER.set(logger).is_err() {
        return Err(Error::usage("cannot install the logger: already installed"));
    }
    let installed: &'static Logger = LOGGER.get().expect("set just above");
    log::set_logger(installed)
        .map_err(|e| Error::usage(format!("cannot install the logger: {e}")))?;
    log::set_max_level(config.log_level);
    Ok(())
}

/// Opens `--log-file` again by path (after logrotate moved it). `Ok(false)` when logging
/// goes to stderr; on error the old file stays in use.
pub fn reopen() -> io::Result<bool> {
    let Some(Logger {
        sink: Sink::File { path, file },
        ..
    }) = LOGGER.get()
    else {
        return Ok(false);
    };
    let fresh = open_append(path)?;
    *file.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    Ok(true)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = SystemTime::now();
        let line = match self.format {
            LogFormat::Text => text_line(record, now),
            LogFormat::Json => json_line(record, now),
        };
        // A failed log write has nowhere to be reported; the server goes on.
        let _ = match &self.sink {
            Sink::Stderr => io::stderr().lock().write_all(line.as_bytes()),
            Sink::File { file, .. } => file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {}
}

/// `[timestamp LEVEL target] message\n`. Built in one buffer: every request writes one
/// (the access log), so nested `format!` calls showed in its profile.
pub fn text_line(record: &Record<'_>, now: SystemTime) -> String {
    let mut line = String::with_capacity(160);
    line.push('[');
    push_rfc3339(&mut line, now, true);
    // Writing to a String cannot fail.
    let _ = writeln!(
        line,
        " {:<5} {}] {}",
        record.level(),
        record.target(),
        record.args()
    );
    line
}

/// One JSON object and a newline: the fixed keys, then the structured fields.
pub fn json_line(record: &Record<'_>, now: SystemTime) -> String {
    let mut line = String::with_capacity(320);
    line.push_str("{\"timestamp\":\"");
    push_rfc3339(&mut line, now, true);
    line.push_str("\",\"level\":");
    push_json_str(&mut line, record.level().as_str());
    line.push_str(",\"target\":");
    push_json_str(&mut line, record.target());
    line.push_str(",\"message\":");
    match record.args().as_str() {
        Some(text) => push_json_str(&mut line, text),
        None => push_json_str(&mut line, &record.args().to_string()),
    }
    let _ = record.key_values().visit(&mut JsonFields(&mut line));
    line.push_str("}\n");
    line
}

/// Appends `text` as a JSON string (RFC 8259 §7: quote, backslash and control characters
/// escaped), without building a `serde_json::Value` for it.
fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `,"key":value` for each structured field; numbers and booleans stay typed.
struct JsonFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        if RESERVED_KEYS.contains(&key) {
            return Ok(());
        }
        self.0.push(',');
        push_json_str(self.0, key);
        self.0.push(':');
        if let Some(n) = value.to_u64() {
            let _ = write!(self.0, "{n}");
        } else if let Some(n) = value.to_i64() {
            let _ = write!(self.0, "{n}");
        } else if let Some(b) = value.to_bool() {
            let _ = write!(self.0, "{b}");
        } else {
            push_json_str(self.0, &value.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;
    use std::time::{Duration, UNIX_EPOCH};

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_000_000_123)
    }

    #[test]
    fn text_lines() {
        let record = Record::builder()
            .level(Level::Info)
            .target("access")
            .args(format_args!("GET /health 200"))
            .build();
        assert_eq!(
            text_line(&record, at()),
            "[2026-11-18T11:06:40.123Z INFO  access] GET /health 200\n"
        );
    }

    #[test]
    fn json_lines_carry_typed_fields() {
        let fields: &[(&str, kv::Value<'_>)] = &[
            ("remote_addr", kv::Value::from("127.0.0.1:5000")),
            ("status", kv::Value::from(404u16)),
            ("duration_ms", kv::Value::from(3u64)),
            ("message", kv::Value::from("dropped: reserved")),
        ];
        let record = Record::builder()
            .level(Level::Warn)
            .target("access")
            .args(format_args!("say \"hi\"\n"))
            .key_values(&fields)
            .build();
        let line = json_line(&record, at());
        assert!(line.ends_with("}\n") && !line.trim_end().contains('\n'));
        assert_eq!(
            line.trim_end(),
            r#"{"timestamp":"2026-11-18T11:06:40.123Z","level":"WARN","target":"access","message":"say \"hi\"\n","remote_addr":"127.0.0.1:5000","status":404,"duration_ms":3}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(parsed["status"], 404);
    }

    #[test]
    fn json_strings_survive_every_character_that_needs_escaping() {
        let tricky =
            "quote \" backslash \\ nl \n cr \r tab \t bell \u{7} nul \u{0} unit \u{1f} é ✓";
        let mut out = String::new();
        push_json_str(&mut out, tricky);
        let back: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(back, tricky);
        assert!(!out.chars().any(|c| u32::from(c) < 0x20), "{out}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("xml"), None);
    }
}
