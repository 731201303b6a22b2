//! The one error type for start-up and serving, and its mapping to a process exit code.
//!
//! Protocol-level errors (what a client sees on the wire) live in `mcp::error`; this type
//! is what `main` reports once, on stderr, before exiting.

use std::fmt;
use std::io;

/// Exit code for a bad command line, a bad value or an unusable workspace.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a failure while serving (I/O on the transport, for example).
pub const EXIT_FAILURE: u8 = 1;

/// Everything that can stop the program.
#[derive(Debug)]
pub enum Error {
    /// The command line or environment is wrong: names the flag and the problem.
    Usage(String),
    /// An I/O failure while serving, with what we were doing.
    Io { context: String, source: io::Error },
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code this error maps to (the only such mapping).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Io { .. } => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => f.write_str(message),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(_) => None,
            Error::Io { source, .. } => Some(source),
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Error {
        Error::Usage(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Error::usage("--port: bad").exit_code(), 2);
        let io = Error::io("reading stdin", io::Error::other("boom"));
        assert_eq!(io.exit_code(), 1);
        assert_eq!(io.to_string(), "reading stdin: boom");
    }
}
