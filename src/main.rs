//! The binary: parse arguments, build the configuration, start logging, run a transport,
//! and map any error to an exit code. The only place that prints directly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::process::ExitCode;

use mcp_server_spec::cli::{self, Command, Subcommand};
use mcp_server_spec::config::{self, Config, Transport};
use mcp_server_spec::error::Error;
use mcp_server_spec::mcp::{tools, Server};
use mcp_server_spec::workspace::Workspace;
use mcp_server_spec::{commands, healthcheck, logging, transport};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcp-server-spec: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let args = match cli::parse(std::env::args_os().skip(1))? {
        Command::Help => {
            print!("{}", cli::help_text());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Version => {
            println!("{}", cli::version_text());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Run(args) => args,
    };
    if args.subcommand == Subcommand::Healthcheck {
        let probe = config::probe_from_args(&args)?;
        return Ok(match healthcheck::run(&probe) {
            Ok(status) => {
                println!("healthy: {} answered {status}", probe.url);
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("unhealthy: {why}");
                ExitCode::FAILURE
            }
        });
    }
    let config = Config::from_args(&args)?;
    if args.subcommand == Subcommand::Serve {
        return serve(&config).map(|()| ExitCode::SUCCESS);
    }
    let workspace = open_workspace(&config)?;
    let spec = args.spec.as_deref();
    if args.subcommand.reviews() {
        // A person at a terminal, not a script or an assistant's shell (see commands::review).
        let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let approve = args.subcommand == Subcommand::Approve;
        let (doc, note) = (args.doc.as_deref(), args.note.as_deref());
        let text = commands::review(&workspace, approve, spec, doc, note, interactive)
            .map_err(Error::usage)?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = match args.subcommand {
        Subcommand::Validate => commands::validate(&workspace, spec, args.json),
        Subcommand::Status => commands::status(&workspace, spec, args.json),
        Subcommand::Trace => commands::trace(&workspace, spec.unwrap_or_default(), args.json),
        Subcommand::Serve
        | Subcommand::Healthcheck
        | Subcommand::Approve
        | Subcommand::RequestChanges => unreachable!("handled above"),
    }
    .map_err(|e| Error::usage(e.to_string()))?;
    print!("{}", outcome.text);
    Ok(ExitCode::from(outcome.exit_code))
}

fn open_workspace(config: &Config) -> Result<Workspace, Error> {
    Workspace::new(&config.workspace, config.max_file_bytes).map_err(|e| {
        Error::usage(format!(
            "--workspace: cannot use '{}': {e}",
            config.workspace.display()
        ))
    })
}

fn serve(config: &Config) -> Result<(), Error> {
    logging::init(config)?;
    let workspace = open_workspace(config)?;
    log::info!("workspace root: {}", workspace.root().display());
    let tools = tools::select(&config.tools).map_err(|e| Error::usage(format!("--tools: {e}")))?;
    let mut server = Server::new(workspace)
        .with_tools(tools)
        .with_gates(config.gates);
    if let Some(secret) = &config.state_key {
        server = server.with_state_key(&secret.0);
    }
    log::info!("review gates: {}", config.gates.as_str());
    match config.transport {
        Transport::Stdio => {
            log::info!("serving MCP on stdio (protocol revisions 2024-11-05 to 2026-07-28)");
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            transport::stdio::serve(&server, stdin, stdout, config.max_line_bytes)
                .map_err(|e| Error::io("stdio transport", e))
        }
        Transport::HttpStream | Transport::Sse => transport::http::serve(server, config),
    }
}
