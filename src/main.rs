//! The binary: parse arguments, build the configuration, start logging, run a transport,
//! and map any error to an exit code. The only place that prints directly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use mcp_server_spec::cli::{self, Command, Subcommand};
use mcp_server_spec::config::{Config, Transport};
use mcp_server_spec::error::Error;
use mcp_server_spec::mcp::Server;
use mcp_server_spec::workspace::Workspace;
use mcp_server_spec::{logging, transport};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-server-spec: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run() -> Result<(), Error> {
    let args = match cli::parse(std::env::args_os().skip(1))? {
        Command::Help => {
            print!("{}", cli::help_text());
            return Ok(());
        }
        Command::Version => {
            println!("{}", cli::version_text());
            return Ok(());
        }
        Command::Run(args) => args,
    };
    let config = Config::from_args(&args)?;
    match args.subcommand {
        Subcommand::Serve => serve(&config),
    }
}

fn serve(config: &Config) -> Result<(), Error> {
    logging::init(config)?;
    let workspace = Workspace::new(&config.workspace, config.max_file_bytes).map_err(|e| {
        Error::usage(format!(
            "--workspace: cannot use '{}': {e}",
            config.workspace.display()
        ))
    })?;
    log::info!("workspace root: {}", workspace.root().display());
    let server = Server::new(workspace);
    match config.transport {
        Transport::Stdio => {
            log::info!("serving MCP on stdio (protocol revisions 2024-11-05 to 2026-07-28)");
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            transport::stdio::serve(&server, stdin, stdout, config.max_line_bytes)
                .map_err(|e| Error::io("stdio transport", e))
        }
        Transport::HttpStream => Err(Error::usage(
            "--transport: http-stream is not available in this build yet",
        )),
    }
}
