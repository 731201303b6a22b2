//! Command-line parsing with lexopt into plain values; no validation beyond syntax.
//!
//! Shape: `mcp-server-spec [SUBCOMMAND] [OPTIONS]`. Serving is the default subcommand.
//! Every option lives in one table, [`OPTIONS`], that also names its environment
//! variable and feeds `--help`, so a new option is one row. `--help` and `--version` are
//! returned as values, never exits, so `main` stays the only place that prints.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::error::Error;

/// One row of the option table.
#[derive(Debug)]
pub struct OptSpec {
    /// Long flag name without the leading dashes.
    pub long: &'static str,
    /// Environment variable read when the flag is absent (the flag wins).
    pub env: &'static str,
    /// Placeholder shown in `--help`; empty for a switch, which takes no value
    /// (`--disable-rest`; `--disable-rest=false` and the variable set to `false` also work).
    pub value: &'static str,
    /// Default shown in `--help` (the real default lives in `config`).
    pub default: &'static str,
    pub help: &'static str,
    /// May be given more than once (values accumulate).
    pub repeatable: bool,
}

const fn opt(
    long: &'static str,
    env: &'static str,
    value: &'static str,
    default: &'static str,
    help: &'static str,
) -> OptSpec {
    OptSpec {
        long,
        env,
        value,
        default,
        help,
        repeatable: false,
    }
}

/// Every option the server understands.
pub const OPTIONS: &[OptSpec] = &[
    opt(
        "transport",
        "MCP_TRANSPORT",
        "stdio|http-stream|sse",
        "stdio",
        "transport to serve",
    ),
    opt(
        "host",
        "MCP_SERVER_HOST",
        "ADDR",
        "127.0.0.1",
        "address to bind (HTTP)",
    ),
    opt(
        "port",
        "MCP_SERVER_PORT",
        "PORT",
        "3001",
        "port to bind, 0 for any free port (HTTP)",
    ),
    opt(
        "log-level",
        "MCP_LOG_LEVEL",
        "error|warn|info|debug|trace",
        "info",
        "minimum level of log lines",
    ),
    opt(
        "log-file",
        "MCP_LOG_FILE",
        "PATH",
        "stderr",
        "append log lines to this file",
    ),
    opt(
        "workspace",
        "MCP_WORKSPACE",
        "DIR",
        "current directory",
        "root directory; no file outside it is ever read or written",
    ),
    opt(
        "ssl-keyfile",
        "MCP_SSL_KEYFILE",
        "PATH",
        "",
        "PEM private key for HTTPS",
    ),
    opt(
        "ssl-certfile",
        "MCP_SSL_CERTFILE",
        "PATH",
        "",
        "PEM certificate chain for HTTPS",
    ),
    opt(
        "max-file-bytes",
        "MCP_MAX_FILE_BYTES",
        "SIZE",
        "10MiB",
        "largest file create_file writes or read_file reads",
    ),
    opt(
        "url",
        "MCP_HEALTHCHECK_URL",
        "URL",
        "http://127.0.0.1:3001/health",
        "healthcheck: the URL to probe (http or https)",
    ),
    opt(
        "timeout",
        "MCP_HEALTHCHECK_TIMEOUT",
        "DURATION",
        "5s",
        "healthcheck: time the whole probe may take",
    ),
    opt(
        "cacert",
        "MCP_HEALTHCHECK_CACERT",
        "PATH",
        "system bundle",
        "healthcheck: PEM certificates to trust for https",
    ),
    opt(
        "instance-id",
        "MCP_INSTANCE_ID",
        "ID",
        "",
        "prefix of legacy HTTP session ids, for proxies that pin sessions",
    ),
    opt(
        "tools",
        "MCP_TOOLS",
        "core|all|NAME,...",
        "all",
        "tools to offer: all, the core profile, or a comma-separated list",
    ),
    opt(
        "gates",
        "MCP_GATES",
        "strict|advisory|off",
        "strict",
        "review gates: strict holds work until earlier documents are approved, advisory warns",
    ),
    opt(
        "state-key-file",
        "MCP_STATE_KEY_FILE",
        "PATH",
        "random per process",
        "secret sealing 2026-07-28 requestState; share it across replicas of one endpoint",
    ),
    opt(
        "max-line-bytes",
        "MCP_MAX_LINE_BYTES",
        "SIZE",
        "16MiB",
        "largest stdio message line accepted",
    ),
    OptSpec {
        long: "allowed-origin",
        env: "MCP_ALLOWED_ORIGINS",
        value: "ORIGIN",
        default: "localhost origins of the port",
        help:
            "Origin allowed to call the HTTP endpoint (repeatable; env: comma-separated; * = any)",
        repeatable: true,
    },
    opt(
        "workers",
        "MCP_WORKERS",
        "N",
        "4 x cores",
        "HTTP request worker threads",
    ),
    opt(
        "max-streams",
        "MCP_MAX_STREAMS",
        "N",
        "256",
        "concurrent SSE streams (HTTP)",
    ),
    opt(
        "max-connections",
        "MCP_MAX_CONNECTIONS",
        "N",
        "1024",
        "concurrent HTTP connections",
    ),
    opt(
        "max-body-bytes",
        "MCP_MAX_BODY_BYTES",
        "SIZE",
        "4MiB",
        "largest HTTP request body",
    ),
    opt(
        "session-timeout",
        "MCP_SESSION_TIMEOUT",
        "DURATION",
        "30m",
        "idle expiry of legacy HTTP sessions",
    ),
    opt(
        "shutdown-timeout",
        "MCP_SHUTDOWN_TIMEOUT",
        "DURATION",
        "10s",
        "time in-flight requests get after SIGTERM",
    ),
    opt(
        "header-timeout",
        "MCP_HEADER_TIMEOUT",
        "DURATION",
        "10s",
        "time a client has to send a request head",
    ),
    opt(
        "send-timeout",
        "MCP_SEND_TIMEOUT",
        "DURATION",
        "30s",
        "time a client may take no answer bytes (then it must read 32 KiB/s)",
    ),
    opt(
        "log-format",
        "MCP_LOG_FORMAT",
        "text|json",
        "text",
        "log line format (json: one object per line, for ELK)",
    ),
    opt(
        "auth-token-file",
        "MCP_AUTH_TOKEN_FILE",
        "PATH",
        "",
        "bearer tokens (one per line) required on every HTTP endpoint but /health",
    ),
    opt(
        "disable-rest",
        "MCP_DISABLE_REST",
        "",
        "",
        "turn off the REST mirror and the connection API (MCP only)",
    ),
];

/// The subcommands. Serving is the default; later work adds more here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subcommand {
    Serve,
    /// Lint specs: `validate [SPEC] [--json]`, exit 1 on errors.
    Validate,
    /// Phase and progress: `status [SPEC] [--json]`.
    Status,
    /// Traceability matrix: `trace SPEC [--json]`, exit 1 on errors.
    Trace,
    /// Probe `/health`: `healthcheck [--url URL] [--timeout S] [--insecure]`, exit 0 or 1.
    Healthcheck,
    /// Record the user's approval: `approve SPEC DOC [--note TEXT]` (a terminal only).
    Approve,
    /// Record the user's request for changes: `request-changes SPEC DOC --note TEXT`.
    RequestChanges,
}

impl Subcommand {
    /// Whether the subcommand reads specs (takes a SPEC operand and `--json`).
    pub fn takes_spec(self) -> bool {
        matches!(
            self,
            Subcommand::Validate | Subcommand::Status | Subcommand::Trace
        )
    }

    /// Whether the subcommand records a review decision (`SPEC DOC` operands, `--note`).
    pub fn reviews(self) -> bool {
        matches!(self, Subcommand::Approve | Subcommand::RequestChanges)
    }

    fn parse(name: &str) -> Option<Subcommand> {
        match name {
            "serve" => Some(Subcommand::Serve),
            "validate" => Some(Subcommand::Validate),
            "status" => Some(Subcommand::Status),
            "trace" => Some(Subcommand::Trace),
            "healthcheck" => Some(Subcommand::Healthcheck),
            "approve" => Some(Subcommand::Approve),
            "request-changes" => Some(Subcommand::RequestChanges),
            _ => None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Args),
    Help,
    Version,
}

/// Parsed but unvalidated arguments: option values keyed by long name.
#[derive(Debug)]
pub struct Args {
    pub subcommand: Subcommand,
    /// The SPEC operand of `validate`, `status` and `trace`.
    pub spec: Option<String>,
    /// `--json`: machine-readable output for the spec subcommands.
    pub json: bool,
    /// `--insecure`: healthcheck accepts any TLS certificate.
    pub insecure: bool,
    /// The DOC operand of `approve` and `request-changes`.
    pub doc: Option<String>,
    /// `--note`: the reviewer's comment for `approve` and `request-changes`.
    pub note: Option<String>,
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Args {
    /// The last value given for `long` on the command line, if any.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value given for a repeatable option, in order.
    pub fn get_all(&self, long: &str) -> &[String] {
        self.values.get(long).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut subcommand: Option<Subcommand> = None;
    let mut positional = None;
    let mut json = false;
    let mut insecure = false;
    let mut review_operands: Vec<String> = Vec::new();
    let mut note = None;
    let mut values: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") => json = true,
            Long("insecure") => insecure = true,
            Long("note") => {
                let text = parser.value()?.string();
                note = Some(text.map_err(|_| Error::usage("--note: value is not valid UTF-8"))?);
            }
            Long(name) => {
                let Some(spec) = OPTIONS.iter().find(|o| o.long == name) else {
                    return Err(Error::usage(format!("unknown option '--{name}'")));
                };
                let value = if spec.value.is_empty() {
                    parser.optional_value()
                } else {
                    Some(parser.value()?)
                };
                let value = match value {
                    None => "true".to_string(),
                    Some(v) => v.string().map_err(|_| {
                        Error::usage(format!("--{}: value is not valid UTF-8", spec.long))
                    })?,
                };
                let slot = values.entry(spec.long).or_default();
                if !spec.repeatable {
                    slot.clear();
                }
                slot.push(value);
            }
            Value(name) if subcommand.is_none() && values.is_empty() => {
                let name = name
                    .string()
                    .map_err(|_| Error::usage("subcommand is not valid UTF-8"))?;
                subcommand = Some(Subcommand::parse(&name).ok_or_else(|| {
                    Error::usage(format!("unknown subcommand '{name}' (try --help)"))
                })?);
            }
            Value(spec)
                if subcommand.is_some_and(Subcommand::takes_spec) && positional.is_none() =>
            {
                let spec = spec
                    .string()
                    .map_err(|_| Error::usage("spec name is not valid UTF-8"))?;
                positional = Some(spec);
            }
            Value(operand)
                if subcommand.is_some_and(Subcommand::reviews) && review_operands.len() < 2 =>
            {
                let operand = operand
                    .string()
                    .map_err(|_| Error::usage("operand is not valid UTF-8"))?;
                review_operands.push(operand);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    let subcommand = subcommand.unwrap_or(Subcommand::Serve);
    if json && !subcommand.takes_spec() {
        return Err(Error::usage(
            "--json: only validate, status and trace print JSON",
        ));
    }
    if insecure && subcommand != Subcommand::Healthcheck {
        return Err(Error::usage("--insecure: only healthcheck takes it"));
    }
    if subcommand == Subcommand::Trace && positional.is_none() {
        return Err(Error::usage("trace: missing SPEC (the spec name to trace)"));
    }
    let mut doc = None;
    if subcommand.reviews() {
        let verb = if subcommand == Subcommand::Approve {
            "approve"
        } else {
            "request-changes"
        };
        let mut operands = review_operands.into_iter();
        positional = operands.next();
        doc = operands.next();
        if doc.is_none() {
            return Err(Error::usage(format!(
                "{verb}: expected SPEC DOC (DOC: requirements, bugfix, design, tasks or change)"
            )));
        }
        if subcommand == Subcommand::RequestChanges
            && note.as_deref().is_none_or(|n| n.trim().is_empty())
        {
            return Err(Error::usage(
                "request-changes: --note TEXT is required (what should change)",
            ));
        }
    } else if note.is_some() {
        return Err(Error::usage(
            "--note: only approve and request-changes take it",
        ));
    }
    Ok(Command::Run(Args {
        subcommand,
        spec: positional,
        json,
        insecure,
        doc,
        note,
        values,
    }))
}

const SUBCOMMANDS: &str = concat!(
    "    serve            serve MCP on the chosen transport (default)\n",
    "    validate [SPEC]  check specs (EARS, structure, traceability); exit 1 on errors\n",
    "    status [SPEC]    phase, documents and task progress of specs\n",
    "    trace SPEC       requirement -> design -> task matrix; exit 1 on errors\n",
    "    (validate, status and trace take --json for machine-readable output)\n",
    "    healthcheck      GET /health (--url, --timeout, --cacert, --insecure); exit 0 if 200, else 1\n",
    "    approve SPEC DOC [--note TEXT]\n",
    "                     record your approval of a document (DOC: requirements, bugfix, design,\n",
    "                     tasks or change) as it is now; only from a terminal, never a script\n",
    "    request-changes SPEC DOC --note TEXT\n",
    "                     send a document back with what should change\n",
);

/// The `--help` text, generated from [`OPTIONS`].
pub fn help_text() -> String {
    let mut text = format!(
        "mcp-server-spec {}\nModel Context Protocol server for spec-driven development.\n\n\
         USAGE:\n    mcp-server-spec [SUBCOMMAND] [OPTIONS]\n\n\
         SUBCOMMANDS:\n{SUBCOMMANDS}\n\
         OPTIONS (each also read from its environment variable; the flag wins):\n",
        env!("CARGO_PKG_VERSION")
    );
    for o in OPTIONS {
        let flag = if o.value.is_empty() {
            format!("--{}", o.long)
        } else {
            format!("--{} <{}>", o.long, o.value)
        };
        text.push_str(&format!("    {flag:<44} {}\n", o.help));
        let default = if o.default.is_empty() {
            String::new()
        } else {
            format!(", default {}", o.default)
        };
        text.push_str(&format!("    {:<44} [env {}{default}]\n", "", o.env));
    }
    text.push_str("    -h, --help                                   print this help\n");
    text.push_str("    -V, --version                                print the version\n");
    text
}

/// The `--version` line.
pub fn version_text() -> String {
    format!("mcp-server-spec {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        match parse(args.iter().copied()) {
            Ok(Command::Run(a)) => a,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(e) => e.to_string(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_serve_with_no_values() {
        let args = run(&[]);
        assert_eq!(args.subcommand, Subcommand::Serve);
        assert_eq!(args.get("port"), None);
    }

    #[test]
    fn switches_take_no_value() {
        let args = run(&["--disable-rest", "--port", "0"]);
        assert_eq!(args.get("disable-rest"), Some("true"));
        assert_eq!(args.get("port"), Some("0"));
        let args = run(&["--disable-rest=false"]);
        assert_eq!(args.get("disable-rest"), Some("false"));
        assert!(help_text().contains("--disable-rest "));
    }

    #[test]
    fn flag_forms() {
        let args = run(&["serve", "--port", "0", "--host=::1", "--port", "7"]);
        assert_eq!(args.get("port"), Some("7"));
        assert_eq!(args.get("host"), Some("::1"));
    }

    #[test]
    fn help_and_version_are_values() {
        assert!(matches!(parse(["--help"]), Ok(Command::Help)));
        assert!(matches!(parse(["-V"]), Ok(Command::Version)));
        assert_eq!(
            version_text(),
            format!("mcp-server-spec {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(help_text().contains("MCP_WORKSPACE"));
    }

    #[test]
    fn review_subcommands_take_spec_doc_and_note() {
        let args = run(&[
            "approve",
            "todo",
            "design",
            "--note",
            "ok",
            "--workspace",
            ".",
        ]);
        assert_eq!(args.subcommand, Subcommand::Approve);
        assert_eq!(
            (
                args.spec.as_deref(),
                args.doc.as_deref(),
                args.note.as_deref()
            ),
            (Some("todo"), Some("design"), Some("ok"))
        );
        let args = run(&["request-changes", "todo", "tasks", "--note", "split 2"]);
        assert_eq!(args.subcommand, Subcommand::RequestChanges);
        assert!(usage_error(&["approve", "todo"]).contains("expected SPEC DOC"));
        assert!(
            usage_error(&["request-changes", "todo", "tasks"]).contains("--note TEXT is required")
        );
        assert!(
            usage_error(&["validate", "--note", "x"]).contains("only approve and request-changes")
        );
        assert!(usage_error(&["approve", "a", "b", "c"]).contains("c"));
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(usage_error(&["--bogus", "1"]), "unknown option '--bogus'");
        assert!(usage_error(&["--port"]).contains("--port"));
        assert!(usage_error(&["frobnicate"]).contains("unknown subcommand 'frobnicate'"));
        assert!(usage_error(&["--port", "1", "stray"]).contains("stray"));
    }
}
