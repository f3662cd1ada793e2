//! `itwillsync`: parse the command line, run the command, map errors to one line on
//! stderr and a non-zero exit code.

mod cli;
mod commands;
mod events;
mod logs;
mod machines;
mod qr;
mod service;
mod setup;
mod table;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use itwillsync_protocol::text::escape;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let args = cli::normalize(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("itwillsync: {}", escape(&cli::one_line(&e)));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // A closed stdout (`itwillsync ls | head`) is a normal end.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            // Errors carry names, commands and paths others chose, and the server's words.
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("itwillsync: {}", escape(&line));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let home = itwillsync_server::Home::from_env()?;
    if let Command::Completions { shell } = cli.command {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "itwillsync", &mut out);
        std::io::stdout().write_all(&out)?;
        return Ok(0);
    }
    // A state directory others can enter or write is refused before anything in it (the
    // socket, config.json) is trusted; a missing one is created later, by whoever needs it.
    home.check()?;
    match cli.command {
        Command::Server {
            action: Some(cli::ServerAction::CheckState { source }),
            ..
        } => {
            println!("{}", itwillsync_server::handover::check_state(&source)?);
            Ok(0)
        }
        Command::Server {
            adopt: Some(fd), ..
        } => {
            itwillsync_server::daemon::adopt(home, &fd)?;
            Ok(0)
        }
        Command::Server {
            daemon,
            stay,
            action: None,
            ..
        } => {
            let (mut config, warnings) =
                itwillsync_server::Config::load_with_warnings(&home.config())?;
            if stay {
                config.idle_shutdown_secs = 0;
            }
            for warning in &warnings {
                eprintln!("itwillsync: warning: {}", escape(warning));
            }
            itwillsync_server::daemon::main(home, config, &warnings, daemon)?;
            Ok(0)
        }
        Command::Setup { mode } => setup::run(mode, &home),
        Command::Service { action } => service::run(action, &home),
        Command::Logs {
            follow,
            machine: None,
            all: false,
        } => logs::run(&home, follow),
        Command::Logs {
            follow,
            machine: Some(machine),
            all: false,
        } if machine == "local" => logs::run(&home, follow),
        command => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(commands::run(command, &home))
        }
    }
}
