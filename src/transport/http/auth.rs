//! Bearer-token access control (`--auth-token-file`, RFC 6750).
//!
//! The file holds one token per line (blank lines and `#` comments ignored), so a new
//! token can be added before the old one is removed: rotation without a gap. It must not
//! be readable or writable by other users (else start-up fails with exit code 2), and
//! SIGHUP reads it again (a bad new file is logged and the tokens in service stay).
//!
//! Only SHA-256 digests of the tokens are kept. A presented token is hashed and compared
//! with every digest in constant time, without an early exit, so timing reveals neither
//! a token's length nor how much of it matched. Tokens never appear in logs or errors:
//! messages name the file and the line number only.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use crate::sha256::{constant_time_eq, sha256, DIGEST_BYTES};

/// Shortest token accepted (`openssl rand -hex 32` gives 64 characters).
pub const MIN_TOKEN_CHARS: usize = 16;
/// Largest token file read.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;
/// `WWW-Authenticate` on a request without credentials.
pub const CHALLENGE: &str = "Bearer realm=\"mcp-server-spec\"";
/// `WWW-Authenticate` on a request with a wrong token (RFC 6750 section 3.1).
pub const CHALLENGE_INVALID: &str = "Bearer realm=\"mcp-server-spec\", error=\"invalid_token\"";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that is not one of ours.
    Invalid,
}

impl Denied {
    pub fn challenge(self) -> &'static str {
        match self {
            Denied::Missing => CHALLENGE,
            Denied::Invalid => CHALLENGE_INVALID,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => "unauthorized: send Authorization: Bearer <token>",
            Denied::Invalid => "unauthorized: the bearer token is not valid",
        }
    }
}

/// The accepted tokens (as digests) and the file they come from.
pub struct Tokens {
    path: PathBuf,
    digests: RwLock<Vec<[u8; DIGEST_BYTES]>>,
}

impl Tokens {
    /// Reads and checks the file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        Ok(Tokens {
            path: path.to_path_buf(),
            digests: RwLock::new(read_digests(path)?),
        })
    }

    /// Reads the file again (SIGHUP); on error the tokens in service stay. Returns how
    /// many tokens are now accepted.
    pub fn reload(&self) -> Result<usize, String> {
        let fresh = read_digests(&self.path)?;
        let n = fresh.len();
        *self.digests.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(n)
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Denied> {
        let token = authorization.and_then(bearer).ok_or(Denied::Missing)?;
        let presented = sha256(token.as_bytes());
        let digests = self.digests.read().unwrap_or_else(PoisonError::into_inner);
        let matched = digests
            .iter()
            .fold(false, |found, d| found | constant_time_eq(d, &presented));
        if matched {
            Ok(())
        } else {
            Err(Denied::Invalid)
        }
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 7235 section 2.1).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn read_digests(path: &Path) -> Result<Vec<[u8; DIGEST_BYTES]>, String> {
    let shown = path.display();
    let meta =
        fs::metadata(path).map_err(|e| format!("--auth-token-file: cannot read '{shown}': {e}"))?;
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(format!(
            "--auth-token-file: '{shown}' is accessible to every user (mode {:o}); \
             run `chmod 600 {shown}`",
            mode & 0o777
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "--auth-token-file: '{shown}' is not a regular file"
        ));
    }
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_TOKEN_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("--auth-token-file: cannot read '{shown}': {e}"))?;
    if text.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "--auth-token-file: '{shown}' is larger than {MAX_TOKEN_FILE_BYTES} bytes"
        ));
    }
    let mut digests = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if let Err(why) = check_token(token) {
            return Err(format!(
                "--auth-token-file: '{shown}' line {}: {why}",
                n + 1
            ));
        }
        digests.push(sha256(token.as_bytes()));
    }
    if digests.is_empty() {
        return Err(format!("--auth-token-file: '{shown}' holds no token"));
    }
    Ok(digests)
}

/// A usable token: long enough, and RFC 6750 `b64token` characters only, so it survives
/// every HTTP client and proxy unchanged.
fn check_token(token: &str) -> Result<(), String> {
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "token shorter than {MIN_TOKEN_CHARS} characters (try `openssl rand -hex 32`)"
        ));
    }
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if !token.chars().all(b64token) {
        return Err("token has characters outside A-Z a-z 0-9 - . _ ~ + / =".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

    fn file(name: &str, mode: u32, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("mcp-auth-{}-{name}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(mode)
            .open(&path)
            .expect("create");
        f.write_all(text.as_bytes()).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn several_tokens_and_comments() {
        let path = file("ok", 0o600, &format!("# rotation\n{A}\n\n  {B}  \n"));
        let tokens = Tokens::load(&path).expect("valid");
        assert_eq!(tokens.check(Some(&format!("Bearer {A}"))), Ok(()));
        assert_eq!(tokens.check(Some(&format!("bearer  {B}"))), Ok(()));
        assert_eq!(
            tokens.check(Some("Bearer cccccccccccccccccccc")),
            Err(Denied::Invalid)
        );
        assert_eq!(
            tokens.check(Some(&format!("Basic {A}"))),
            Err(Denied::Missing)
        );
        assert_eq!(tokens.check(None), Err(Denied::Missing));
        assert_eq!(tokens.check(Some("Bearer ")), Err(Denied::Missing));
        fs::write(&path, format!("{B}\n")).expect("rewrite");
        assert_eq!(tokens.reload(), Ok(1));
        assert_eq!(
            tokens.check(Some(&format!("Bearer {A}"))),
            Err(Denied::Invalid)
        );
        fs::write(&path, "short\n").expect("rewrite");
        assert!(tokens.reload().is_err());
        assert_eq!(
            tokens.check(Some(&format!("Bearer {B}"))),
            Ok(()),
            "kept on a bad reload"
        );
        let _ = fs::remove_file(path);
    }

    #[test]
    fn refusals_name_the_file_never_the_token() {
        let cases = [
            (
                "world",
                0o644,
                format!("{A}\n"),
                "accessible to every user (mode 644)",
            ),
            ("empty", 0o600, "# none\n".to_string(), "holds no token"),
            (
                "short",
                0o600,
                "tiny\n".to_string(),
                "line 1: token shorter",
            ),
            (
                "chars",
                0o600,
                format!("{A} x\n"),
                "line 1: token has characters",
            ),
        ];
        for (name, mode, text, expected) in cases {
            let path = file(name, mode, &text);
            let err = Tokens::load(&path).err().expect("refused");
            assert!(err.contains(expected), "{name}: {err}");
            assert!(!err.contains(A), "{name}: token leaked: {err}");
            let _ = fs::remove_file(path);
        }
        let missing = Tokens::load(Path::new("/nonexistent/tokens")).err();
        assert!(missing.is_some_and(|e| e.contains("cannot read")));
    }
}
