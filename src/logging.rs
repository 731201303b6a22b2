//! Log set-up: `log` + `env_logger`, to stderr or an append-only log file.
//!
//! stdout is never a log target: in stdio mode it belongs to the protocol.

use std::fs::OpenOptions;

use env_logger::{Builder, Target};

use crate::config::Config;
use crate::error::Error;

/// Installs the global logger. Call once, before serving.
pub fn init(config: &Config) -> Result<(), Error> {
    let mut builder = Builder::new();
    builder
        .filter_level(config.log_level)
        .format_timestamp_millis();
    match &config.log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Error::usage(format!("--log-file: cannot open '{}': {e}", path.display()))
                })?;
            builder.target(Target::Pipe(Box::new(file)));
        }
        None => {
            builder.target(Target::Stderr);
        }
    }
    builder
        .try_init()
        .map_err(|e| Error::usage(format!("cannot install the logger: {e}")))
}
