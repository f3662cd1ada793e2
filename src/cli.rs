//! The command line, as DESIGN.md lists it, plus the original tool's form
//! `itwillsync [FLAGS] CMD [ARGS...]`, which is rewritten to `new` before parsing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// tmux for AI coding agents, with a phone in the loop.
#[derive(Debug, Parser)]
#[command(name = "itwillsync", version, about, after_help = ORIGINAL_FORM)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const ORIGINAL_FORM: &str = "\
Also: itwillsync [FLAGS] CMD [ARGS...] is `new [FLAGS] -- CMD [ARGS...]`; \
a program named like a subcommand needs `--`: itwillsync -- ls";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a session (and the server if needed), print its phone link, attach.
    New(NewArgs),
    /// Attach this terminal to a session (default: the most recently active).
    Attach {
        /// Session id, id prefix or name.
        target: Option<String>,
        /// Watch without typing or resizing.
        #[arg(long)]
        read_only: bool,
    },
    /// List sessions.
    Ls {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// End a session's program (hang up, then kill after a grace period).
    Kill {
        /// Session id, id prefix or name.
        target: String,
        /// Send this signal instead (name like TERM or number).
        #[arg(long, short)]
        signal: Option<String>,
    },
    /// Rename a session.
    Rename {
        /// Session id, id prefix or name.
        target: String,
        /// The new name, unique among live sessions.
        new_name: String,
    },
    /// Print a session's phone link (its key is in the `#` fragment).
    Url {
        /// Session id, id prefix or name.
        target: String,
        /// Also print a QR code.
        #[arg(long)]
        qr: bool,
        /// The read-only link: it can watch but never type or resize.
        #[arg(long)]
        read_only: bool,
        /// Replace the link's key first: every client that used the old link is
        /// disconnected and the old link stops working.
        #[arg(long)]
        rotate: bool,
    },
    /// The server: info, status, stop.
    Hub {
        /// Which.
        #[command(subcommand)]
        action: HubAction,
    },
    /// Run the server in the foreground (normally started automatically).
    Server {
        /// Report readiness on stdout, then detach stdio (used by auto-start).
        #[arg(long, hide = true)]
        daemon: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `hub` actions.
#[derive(Debug, Subcommand)]
pub enum HubAction {
    /// The server's details and sessions.
    Info,
    /// The session table.
    Status,
    /// Stop the server and every session.
    Stop,
    /// Replace the dashboard's master key: saved dashboard links stop working and open
    /// dashboard pages are disconnected.
    Rotate,
}

/// `new`'s flags and command.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Session name (default: the program's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Working directory (default: the current one).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Do not attach; print the session id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Phone port for this session (default: the next free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Phones reach the session on 127.0.0.1 only.
    #[arg(long, conflicts_with_all = ["tailscale", "local"])]
    pub localhost: bool,
    /// Phones reach the session on the Tailscale address.
    #[arg(long, conflicts_with_all = ["localhost", "local"])]
    pub tailscale: bool,
    /// Phones reach the session on the LAN address.
    #[arg(long, conflicts_with_all = ["localhost", "tailscale"])]
    pub local: bool,
    /// Do not print a QR code.
    #[arg(long)]
    pub no_qr: bool,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl NewArgs {
    /// The networking mode the flags ask for, if any.
    pub fn networking(&self) -> Option<&'static str> {
        match (self.localhost, self.tailscale, self.local) {
            (true, _, _) => Some("localhost"),
            (_, true, _) => Some("tailscale"),
            (_, _, true) => Some("local"),
            _ => None,
        }
    }
}

/// Rewrites the original tool's forms into subcommands: `itwillsync [FLAGS] CMD ARGS`
/// becomes `new [FLAGS] CMD ARGS`, and `--hub-info|--hub-status|--hub-stop` become `hub ...`.
pub fn normalize(mut args: Vec<OsString>) -> Vec<OsString> {
    const SUBCOMMANDS: &[&str] = &[
        "new",
        "attach",
        "ls",
        "kill",
        "rename",
        "url",
        "hub",
        "server",
        "completions",
        "help",
    ];
    const OWN_FLAGS: &[&str] = &["-h", "--help", "-V", "--version"];
    let Some(first) = args.get(1).and_then(|a| a.to_str()).map(str::to_owned) else {
        return args;
    };
    if let Some(action) = first.strip_prefix("--hub-") {
        args.splice(1..2, ["hub".into(), action.into()]);
    } else if !SUBCOMMANDS.contains(&first.as_str()) && !OWN_FLAGS.contains(&first.as_str()) {
        args.insert(1, "new".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize(args.iter().map(OsString::from).collect()))
    }

    #[test]
    fn original_form_and_double_dash() {
        let Command::New(new) = parse(&["itwillsync", "--name", "x", "claude", "--resume"])
            .unwrap()
            .command
        else {
            panic!("not new")
        };
        assert_eq!(
            (new.name.as_deref(), new.command.as_slice()),
            (Some("x"), &["claude".to_string(), "--resume".into()][..])
        );
        let Command::New(new) = parse(&["itwillsync", "--", "ls", "-l"]).unwrap().command else {
            panic!()
        };
        assert_eq!(new.command, ["ls", "-l"]);
        let Command::New(new) = parse(&["itwillsync", "new", "-d", "--", "sh", "-c", "exit 7"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert!(new.detach);
        assert_eq!(new.command, ["sh", "-c", "exit 7"]);
        assert!(matches!(
            parse(&["itwillsync", "ls"]).unwrap().command,
            Command::Ls { json: false }
        ));
        assert!(matches!(
            parse(&["itwillsync", "--hub-stop"]).unwrap().command,
            Command::Hub {
                action: HubAction::Stop
            }
        ));
        assert!(parse(&["itwillsync", "new", "--localhost", "--tailscale", "x"]).is_err());
        assert!(parse(&["itwillsync", "new"]).is_err());
    }
}
