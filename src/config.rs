//! Turns parsed [`Args`] plus the environment into a validated [`Config`].
//!
//! Precedence for every option: command-line flag, then its environment variable (named in
//! `cli::OPTIONS`), then the default. Every failure names the flag and the problem, and
//! maps to exit code 2 through `Error::Usage`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use crate::cli::{Args, OPTIONS};
use crate::error::Error;
use crate::logging::LogFormat;
use crate::spec::gates::GateMode;

/// Default cap on a file written or read by the file tools (10 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Default cap on one stdio message line (16 MiB).
pub const DEFAULT_MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;
/// Default HTTP port, as in the deployment guide.
pub const DEFAULT_PORT: u16 = 3001;

/// Which transport serves the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    HttpStream,
    /// The 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages`); served by the
    /// same HTTP server as `HttpStream`, which answers those paths too.
    Sse,
}

impl Transport {
    /// The HTTP transports (both run `transport::http::serve`).
    pub fn is_http(self) -> bool {
        matches!(self, Transport::HttpStream | Transport::Sse)
    }
}

/// The validated configuration every other module reads.
#[derive(Debug, Clone)]
pub struct Config {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    pub log_level: LevelFilter,
    pub log_file: Option<PathBuf>,
    /// `--log-format`: text lines or JSON objects.
    pub log_format: LogFormat,
    /// Canonical workspace root.
    pub workspace: PathBuf,
    pub ssl_keyfile: Option<PathBuf>,
    pub ssl_certfile: Option<PathBuf>,
    pub max_file_bytes: u64,
    pub max_line_bytes: u64,
    /// Limits and policy of the http-stream transport.
    pub http: HttpOptions,
    /// The tool profile (`--tools`), already checked against the tool table.
    pub tools: String,
    /// Review gates (`--gates`): strict unless the operator chose otherwise.
    pub gates: GateMode,
    /// The `requestState` secret (`--state-key-file`); `None`: random per process.
    pub state_key: Option<Secret>,
}

/// Secret bytes that never show up in `Debug` output (logs, panics).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where option values come from: flags first, then the environment.
struct Sources<'a> {
    args: &'a Args,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    /// The flag's value, else its environment variable's (empty env values count as unset).
    fn get(&self, long: &str) -> Option<String> {
        if let Some(v) = self.args.get(long) {
            return Some(v.to_string());
        }
        let spec = OPTIONS.iter().find(|o| o.long == long)?;
        (self.env)(spec.env).filter(|v| !v.is_empty())
    }
}

impl Config {
    /// Builds the configuration from parsed arguments and the process environment.
    pub fn from_args(args: &Args) -> Result<Config, Error> {
        Config::resolve(args, &|name| std::env::var(name).ok())
    }

    /// Builds the configuration with an explicit environment lookup (for tests).
    pub fn resolve(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let src = Sources { args, env };
        let transport = match src.get("transport").as_deref() {
            None | Some("stdio") => Transport::Stdio,
            Some("http-stream") | Some("http") => Transport::HttpStream,
            Some("sse") => Transport::Sse,
            Some(other) => {
                return Err(bad(
                    "transport",
                    other,
                    "expected stdio, http-stream or sse",
                ))
            }
        };
        let port = match src.get("port") {
            None => DEFAULT_PORT,
            Some(v) => v
                .parse()
                .map_err(|_| bad("port", &v, "expected 0..=65535"))?,
        };
        let log_level = match src.get("log-level") {
            None => LevelFilter::Info,
            Some(v) => parse_level(&v)?,
        };
        let workspace = match src.get("workspace") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir().map_err(|e| {
                Error::usage(format!(
                    "--workspace: cannot read the current directory: {e}"
                ))
            })?,
        };
        let config = Config {
            transport,
            host: src.get("host").unwrap_or_else(|| "127.0.0.1".to_string()),
            port,
            log_level,
            log_file: src.get("log-file").map(PathBuf::from),
            log_format: log_format(&src)?,
            workspace: check_workspace(&workspace)?,
            ssl_keyfile: src.get("ssl-keyfile").map(PathBuf::from),
            ssl_certfile: src.get("ssl-certfile").map(PathBuf::from),
            max_file_bytes: size(&src, "max-file-bytes", DEFAULT_MAX_FILE_BYTES)?,
            max_line_bytes: size(&src, "max-line-bytes", DEFAULT_MAX_LINE_BYTES)?,
            http: HttpOptions::resolve(&src)?,
            tools: tool_profile(&src)?,
            gates: gate_mode(&src)?,
            state_key: state_key(&src)?,
        };
        config.check_tls_pair()?;
        Ok(config)
    }

    /// Both TLS files or neither, and both readable, so HTTPS never fails at the first
    /// request instead of at start-up.
    fn check_tls_pair(&self) -> Result<(), Error> {
        match (&self.ssl_certfile, &self.ssl_keyfile) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(Error::usage("--ssl-keyfile: required with --ssl-certfile")),
            (None, Some(_)) => Err(Error::usage("--ssl-certfile: required with --ssl-keyfile")),
            (Some(cert), Some(key)) => {
                check_readable("ssl-certfile", cert)?;
                check_readable("ssl-keyfile", key)
            }
        }
    }
}

fn bad(flag: &str, value: &str, why: &str) -> Error {
    Error::usage(format!("--{flag}: invalid value '{value}': {why}"))
}

fn parse_level(value: &str) -> Result<LevelFilter, Error> {
    match value.to_ascii_lowercase().as_str() {
        "error" => Ok(LevelFilter::Error),
        "warn" | "warning" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        _ => Err(bad(
            "log-level",
            value,
            "expected error, warn, info, debug or trace",
        )),
    }
}

/// Parses a byte size: a plain number, or one with a K/M/G suffix (powers of 1024,
/// optional "iB"/"B"), so `16MiB`, `16M` and `16777216` all mean the same.
pub fn parse_size(value: &str) -> Option<u64> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(digits_end);
    let number: u64 = digits.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

fn size(src: &Sources<'_>, flag: &str, default: u64) -> Result<u64, Error> {
    match src.get(flag) {
        None => Ok(default),
        Some(v) => match parse_size(&v) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(bad(
                flag,
                &v,
                "expected a positive size such as 1048576, 512KiB or 10MiB",
            )),
        },
    }
}

/// The `healthcheck` probe from flags and environment (it needs no workspace, so it does
/// not go through [`Config::resolve`]).
pub fn probe_from_args(args: &Args) -> Result<crate::healthcheck::Probe, Error> {
    let env = |name: &str| std::env::var(name).ok();
    let src = Sources { args, env: &env };
    let url = src
        .get("url")
        .unwrap_or_else(|| crate::healthcheck::DEFAULT_URL.to_string());
    crate::healthcheck::validate_url(&url).map_err(Error::usage)?;
    Ok(crate::healthcheck::Probe {
        url,
        timeout: duration(&src, "timeout", crate::healthcheck::DEFAULT_TIMEOUT)?,
        insecure: args.insecure,
        cacert: src.get("cacert").map(PathBuf::from),
    })
}

fn log_format(src: &Sources<'_>) -> Result<LogFormat, Error> {
    match src.get("log-format") {
        None => Ok(LogFormat::default()),
        Some(v) => {
            LogFormat::parse(&v).ok_or_else(|| bad("log-format", &v, "expected text or json"))
        }
    }
}

/// A switch (`--disable-rest`, or its variable set to true/false).
fn switch(src: &Sources<'_>, flag: &str) -> Result<bool, Error> {
    match src
        .get(flag)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(other) => Err(bad(flag, other, "expected true or false")),
    }
}

fn tool_profile(src: &Sources<'_>) -> Result<String, Error> {
    let profile = src.get("tools").unwrap_or_else(|| "all".to_string());
    match crate::mcp::tools::select(&profile) {
        Ok(tools) if tools.is_empty() => Err(bad("tools", &profile, "names no tool")),
        Ok(_) => Ok(profile),
        Err(why) => Err(bad("tools", &profile, &why)),
    }
}

fn gate_mode(src: &Sources<'_>) -> Result<GateMode, Error> {
    match src.get("gates") {
        None => Ok(GateMode::default()),
        Some(v) => {
            GateMode::parse(&v).ok_or_else(|| bad("gates", &v, "expected strict, advisory or off"))
        }
    }
}

/// Shortest `--state-key-file` secret accepted, in bytes.
pub const MIN_STATE_KEY_BYTES: usize = 16;

fn state_key(src: &Sources<'_>) -> Result<Option<Secret>, Error> {
    let Some(path) = src.get("state-key-file") else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::usage(format!("--state-key-file: cannot read '{path}': {e}")))?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < MIN_STATE_KEY_BYTES {
        return Err(bad(
            "state-key-file",
            &path,
            &format!("the secret must be at least {MIN_STATE_KEY_BYTES} bytes"),
        ));
    }
    Ok(Some(Secret(secret)))
}

/// Default cap on one HTTP request body (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Default cap on concurrent SSE streams.
pub const DEFAULT_MAX_STREAMS: usize = 256;
/// Default cap on concurrent HTTP connections (also bounded by the fd limit at start).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default idle time after which a legacy HTTP session expires.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default time in-flight requests get to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a complete request head (slowloris guard).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client may take no answer bytes, and the grace before its pace counts.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Request workers per core when `--workers` is not given.
pub const WORKERS_PER_CORE: usize = 4;

/// Options of the http-stream transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub workers: usize,
    pub max_streams: usize,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub session_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub header_timeout: Duration,
    /// `--send-timeout`: a client that takes no answer bytes this long is disconnected, and
    /// after this long a stalled client must keep up the minimum pace (outbox.rs).
    pub send_timeout: Duration,
    /// `--allowed-origin` values; empty means the localhost origins of the bound port.
    pub allowed_origins: Vec<String>,
    /// `--auth-token-file`: bearer tokens every endpoint but `/health` requires.
    pub auth_token_file: Option<PathBuf>,
    /// `--disable-rest`: no REST mirror and no connection API (MCP-only deployments).
    pub disable_rest: bool,
    /// `--instance-id`: prefix of legacy session ids ("ID."), so a proxy can send every
    /// request of a session to the instance that holds it.
    pub instance_id: Option<String>,
}

impl HttpOptions {
    fn resolve(src: &Sources<'_>) -> Result<HttpOptions, Error> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut allowed_origins = src.args.get_all("allowed-origin").to_vec();
        if allowed_origins.is_empty() {
            allowed_origins = src
                .get("allowed-origin")
                .map(|v| v.split(',').map(|o| o.trim().to_string()).collect())
                .unwrap_or_default();
        }
        allowed_origins.retain(|o| !o.is_empty());
        if let Some(bad_origin) = allowed_origins.iter().find(|o| !valid_origin(o)) {
            return Err(bad(
                "allowed-origin",
                bad_origin,
                "expected scheme://host[:port] or *",
            ));
        }
        Ok(HttpOptions {
            workers: count(src, "workers", WORKERS_PER_CORE * cores)?,
            max_streams: count(src, "max-streams", DEFAULT_MAX_STREAMS)?,
            max_connections: count(src, "max-connections", DEFAULT_MAX_CONNECTIONS)?,
            max_body_bytes: size(src, "max-body-bytes", DEFAULT_MAX_BODY_BYTES)?,
            session_timeout: duration(src, "session-timeout", DEFAULT_SESSION_TIMEOUT)?,
            shutdown_timeout: duration(src, "shutdown-timeout", DEFAULT_SHUTDOWN_TIMEOUT)?,
            header_timeout: duration(src, "header-timeout", DEFAULT_HEADER_TIMEOUT)?,
            send_timeout: duration(src, "send-timeout", DEFAULT_SEND_TIMEOUT)?,
            allowed_origins,
            instance_id: instance_id(src)?,
            auth_token_file: src.get("auth-token-file").map(PathBuf::from),
            disable_rest: switch(src, "disable-rest")?,
        })
    }
}

/// At most 63 characters of `[A-Za-z0-9-]` (a DNS label, or a Kubernetes pod name).
fn instance_id(src: &Sources<'_>) -> Result<Option<String>, Error> {
    let Some(id) = src.get("instance-id") else {
        return Ok(None);
    };
    let valid = id.len() <= 63 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(bad(
            "instance-id",
            &id,
            "expected up to 63 letters, digits or hyphens",
        ));
    }
    Ok(Some(id))
}

/// An origin as browsers send it (`scheme://host[:port]`, no path), or `*` for any.
fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty() && !rest.contains('/'))
}

/// Largest value `count` accepts, so a typo cannot ask for a billion threads.
const MAX_COUNT: usize = 1_000_000;

fn count(src: &Sources<'_>, flag: &str, default: usize) -> Result<usize, Error> {
    match src.get(flag) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
            _ => Err(bad(flag, &v, "expected a whole number from 1 to 1000000")),
        },
    }
}

/// Parses a duration: a number with an optional unit `ms`, `s`, `m` or `h` (plain
/// numbers are seconds), so `30m`, `1800s` and `1800` mean the same.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(digits_end);
    let number: u64 = digits.parse().ok()?;
    let millis: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "" | "s" | "sec" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(millis).map(Duration::from_millis)
}

fn duration(src: &Sources<'_>, flag: &str, default: Duration) -> Result<Duration, Error> {
    match src.get(flag) {
        None => Ok(default),
        Some(v) => match parse_duration(&v) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(bad(
                flag,
                &v,
                "expected a positive duration such as 500ms, 10s or 30m",
            )),
        },
    }
}

fn check_workspace(dir: &Path) -> Result<PathBuf, Error> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| Error::usage(format!("--workspace: cannot use '{}': {e}", dir.display())))?;
    if !canonical.is_dir() {
        return Err(Error::usage(format!(
            "--workspace: '{}' is not a directory",
            dir.display()
        )));
    }
    std::fs::read_dir(&canonical)
        .map_err(|e| Error::usage(format!("--workspace: cannot read '{}': {e}", dir.display())))?;
    Ok(canonical)
}

fn check_readable(flag: &str, path: &Path) -> Result<(), Error> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| Error::usage(format!("--{flag}: cannot read '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    fn args(list: &[&str]) -> Args {
        match parse(list.iter().copied()) {
            Ok(Command::Run(a)) => a,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn resolve(list: &[&str], env: &[(&str, &str)]) -> Result<Config, Error> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(&args(list), &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults() {
        let c = resolve(&["--workspace", "."], &[]).expect("defaults are valid");
        assert_eq!(c.transport, Transport::Stdio);
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.port, 3001);
        assert_eq!(c.log_level, LevelFilter::Info);
        assert_eq!(c.max_file_bytes, DEFAULT_MAX_FILE_BYTES);
        assert_eq!(c.max_line_bytes, DEFAULT_MAX_LINE_BYTES);
        assert!(c.workspace.is_absolute());
    }

    #[test]
    fn review_gates_and_state_key() {
        let c = resolve(&["--workspace", "."], &[("MCP_GATES", "advisory")]).expect("valid");
        assert_eq!((c.gates, c.state_key), (GateMode::Advisory, None));
        let e = resolve(&["--workspace", ".", "--gates", "lax"], &[]).expect_err("bad mode");
        assert!(
            e.to_string().starts_with("--gates: invalid value 'lax'"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("mcp-config-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (good, short) = (dir.join("good"), dir.join("short"));
        std::fs::write(&good, "0123456789abcdef0123\n").expect("write");
        std::fs::write(&short, "tiny").expect("write");
        let path = |p: &Path| p.to_str().expect("utf-8").to_string();
        let c = resolve(
            &["--workspace", "."],
            &[("MCP_STATE_KEY_FILE", &path(&good))],
        )
        .expect("valid");
        let key = c.state_key.expect("a key");
        assert_eq!(key.0, b"0123456789abcdef0123");
        assert_eq!(format!("{key:?}"), "Secret(<redacted>)");
        let e = resolve(
            &["--workspace", ".", "--state-key-file", &path(&short)],
            &[],
        )
        .expect_err("short");
        assert!(e.to_string().contains("at least 16 bytes"), "{e}");
        let e = resolve(
            &["--workspace", ".", "--state-key-file", "/nonexistent/key"],
            &[],
        )
        .expect_err("missing");
        assert!(
            e.to_string().starts_with("--state-key-file: cannot read"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flag_wins_over_environment() {
        let env = [("MCP_SERVER_PORT", "4000"), ("MCP_LOG_LEVEL", "debug")];
        let c = resolve(&["--workspace", ".", "--port", "5000"], &env).expect("valid");
        assert_eq!(c.port, 5000);
        assert_eq!(c.log_level, LevelFilter::Debug);
        let c = resolve(&["--workspace", "."], &[("MCP_TRANSPORT", "http-stream")]).expect("valid");
        assert_eq!(c.transport, Transport::HttpStream);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--port", "70000"], "--port: invalid value '70000'"),
            (
                &["--transport", "carrier-pigeon"],
                "--transport: invalid value",
            ),
            (
                &["--log-level", "loud"],
                "--log-level: invalid value 'loud'",
            ),
            (
                &["--max-file-bytes", "0"],
                "--max-file-bytes: invalid value '0'",
            ),
            (
                &["--max-line-bytes", "12XB"],
                "--max-line-bytes: invalid value",
            ),
            (
                &["--tools", "spec_status,nope"],
                "--tools: invalid value 'spec_status,nope': unknown tool 'nope'",
            ),
            (
                &["--tools", ","],
                "--tools: invalid value ',': names no tool",
            ),
            (
                &["--workspace", "/definitely/not/here"],
                "--workspace: cannot use",
            ),
            (&["--ssl-certfile", "Cargo.toml"], "--ssl-keyfile: required"),
            (
                &["--ssl-certfile", "nope.pem", "--ssl-keyfile", "nope.key"],
                "--ssl-certfile: cannot read",
            ),
        ];
        for (list, expected) in cases {
            let mut full = vec!["--workspace", "."];
            full.extend_from_slice(list);
            let err = resolve(&full, &[]).expect_err("must be rejected");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().starts_with(expected), "{list:?}: got {err}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size("10M"), Some(10 << 20));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("1.5M"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }

    #[test]
    fn http_options() {
        let c = resolve(&["--workspace", "."], &[]).expect("defaults");
        assert_eq!(c.http.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.http.max_streams, 256);
        assert_eq!(c.http.session_timeout, Duration::from_secs(1800));
        assert_eq!(c.http.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.http.send_timeout, Duration::from_secs(30));
        assert!(c.http.workers >= WORKERS_PER_CORE);
        assert!(c.http.allowed_origins.is_empty());
        let c = resolve(
            &[
                "--workspace",
                ".",
                "--workers",
                "3",
                "--allowed-origin",
                "https://a.example",
                "--allowed-origin",
                "http://b.example:8080",
                "--session-timeout",
                "90s",
            ],
            &[
                ("MCP_WORKERS", "9"),
                ("MCP_SEND_TIMEOUT", "2s"),
                ("MCP_ALLOWED_ORIGINS", "http://env.example"),
            ],
        )
        .expect("valid");
        assert_eq!(c.http.workers, 3);
        assert_eq!(
            c.http.allowed_origins,
            ["https://a.example", "http://b.example:8080"]
        );
        assert_eq!(c.http.session_timeout, Duration::from_secs(90));
        assert_eq!(c.http.send_timeout, Duration::from_secs(2));
        let c = resolve(
            &["--workspace", "."],
            &[("MCP_ALLOWED_ORIGINS", "http://x, *")],
        )
        .expect("env");
        assert_eq!(c.http.allowed_origins, ["http://x", "*"]);
        for (list, expected) in [
            (["--workers", "0"], "--workers: invalid value '0'"),
            (
                ["--shutdown-timeout", "soon"],
                "--shutdown-timeout: invalid value",
            ),
            (
                ["--allowed-origin", "example.com"],
                "--allowed-origin: invalid value",
            ),
            (["--max-body-bytes", "0"], "--max-body-bytes: invalid value"),
        ] {
            let mut full = vec!["--workspace", "."];
            full.extend_from_slice(&list);
            let err = resolve(&full, &[]).expect_err("must be rejected");
            assert!(err.to_string().starts_with(expected), "{list:?}: got {err}");
        }
    }

    #[test]
    fn operations_options() {
        let c = resolve(&["--workspace", "."], &[]).expect("defaults");
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(!c.http.disable_rest && c.http.auth_token_file.is_none());
        let env = [
            ("MCP_LOG_FORMAT", "json"),
            ("MCP_DISABLE_REST", "true"),
            ("MCP_AUTH_TOKEN_FILE", "/etc/tokens"),
            ("MCP_TRANSPORT", "sse"),
        ];
        let c = resolve(&["--workspace", "."], &env).expect("env");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.http.disable_rest && c.transport == Transport::Sse && c.transport.is_http());
        assert_eq!(c.http.auth_token_file, Some(PathBuf::from("/etc/tokens")));
        let c = resolve(&["--workspace", ".", "--disable-rest=false"], &env).expect("flag wins");
        assert!(!c.http.disable_rest);
        for (arg, expected) in [
            ("--log-format=xml", "--log-format: invalid value 'xml'"),
            (
                "--disable-rest=maybe",
                "--disable-rest: invalid value 'maybe'",
            ),
        ] {
            let err = resolve(&["--workspace", ".", arg], &[]).expect_err("must be rejected");
            assert!(err.to_string().starts_with(expected), "{arg}: got {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
