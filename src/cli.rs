//! The command line, as DESIGN.md lists it, plus the original tool's form
//! `itwillsync [FLAGS] CMD [ARGS...]`, which is rewritten to `new` before parsing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// tmux for AI coding agents, with a phone in the loop.
#[derive(Debug, Parser)]
#[command(
    name = "itwillsync",
    version,
    disable_version_flag = true,
    about,
    after_help = ORIGINAL_FORM
)]
pub struct Cli {
    /// Print version (`-v`, as the original tool has it, or `-V`).
    #[arg(short = 'v', short_alias = 'V', long, action = ArgAction::Version)]
    pub version: Option<bool>,
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
    #[command(override_usage = NEW_USAGE)]
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
    /// The server: info (the default), status, stop.
    Hub {
        /// Which; `info` when absent.
        #[command(subcommand)]
        action: Option<HubAction>,
    },
    /// Choose how phones reach this machine: writes `networkingMode` to config.json.
    Setup {
        /// The mode; without it, `setup` asks (on a terminal).
        #[arg(long, value_enum)]
        mode: Option<Mode>,
    },
    /// Run the server in the foreground (normally started automatically), or upgrade the
    /// running one.
    Server {
        /// Report readiness on stdout, then detach stdio (used by auto-start).
        #[arg(long, hide = true)]
        daemon: bool,
        /// Never exit when idle (as if `idleShutdownSecs` were 0): how a service runs it.
        #[arg(long)]
        stay: bool,
        /// Take over from a server that exec'd this binary with its state in descriptor FD
        /// (used by `server upgrade`).
        #[arg(long, hide = true, value_name = "FD")]
        adopt: Option<String>,
        /// What to do instead of serving.
        #[command(subcommand)]
        action: Option<ServerAction>,
    },
    /// Run the server as a user service: a systemd user unit (Linux) or a launchd agent
    /// (macOS).
    Service {
        /// What to do.
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Other machines, reached over ssh.
    Machine {
        /// What to do.
        #[command(subcommand)]
        action: MachineAction,
    },
    /// Join stdin/stdout to this machine's server (starting it if needed); other machines
    /// run it over ssh.
    Bridge,
    /// Print lifecycle events as JSON lines, until the server stops.
    Events {
        /// Only this machine's events (`local` for this one).
        #[arg(long, value_name = "MACHINE")]
        machine: Option<String>,
        /// Only this session's events (id or name).
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
    },
    /// Wait until a session exits or needs attention: exit 0 then, 1 on timeout.
    Wait {
        /// Session id, id prefix or name.
        target: String,
        /// What to wait for.
        #[arg(long = "for", value_enum)]
        what: WaitFor,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },
    /// Print the server's log.
    Logs {
        /// Keep printing what is added, as `tail -f` does.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Another machine's (`machine add`), through this machine's server; `local` is
        /// this one (the default).
        #[arg(long, value_name = "MACHINE", conflicts_with = "all")]
        machine: Option<String>,
        /// Every machine's log (this one's and each one `machine ls` shows), each line
        /// after its machine's name; with `-f`, interleaved as lines arrive.
        #[arg(long)]
        all: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `server` actions.
#[derive(Debug, Subcommand)]
pub enum ServerAction {
    /// Move every session to a new binary (this one, as installed now, by default):
    /// the running server execs it under the same pid, and nothing is lost.
    Upgrade {
        /// The new binary.
        #[arg(long, value_name = "PATH")]
        binary: Option<std::path::PathBuf>,
    },
    /// Check that this binary can read a hand-over state (a descriptor number or a
    /// file): exit 0, or one line saying why not.
    CheckState {
        /// Descriptor number or path.
        #[arg(value_name = "FD|PATH")]
        source: String,
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

/// `machine` actions.
#[derive(Debug, Subcommand)]
pub enum MachineAction {
    /// Remember a machine: NAME for commands, DEST for ssh (`user@host`, a `~/.ssh/config`
    /// alias...).
    Add {
        /// A short name (letters, digits, `-_.`).
        name: String,
        /// Anything `ssh` accepts as a destination.
        dest: String,
    },
    /// The machines, whether each answers, and its session count.
    Ls,
    /// Forget a machine.
    Rm {
        /// Its name.
        name: String,
    },
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// The session's program exits.
    Exit,
    /// The program rings the bell or sends a notification.
    Attention,
}

/// `service` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ServiceAction {
    /// Write the unit (or agent), enable it and start it.
    Install,
    /// Stop it, disable it and remove the file.
    Uninstall,
    /// Whether it is installed and running.
    Status,
}

/// How phones reach this machine's sessions (`networkingMode` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The LAN address.
    Local,
    /// The Tailscale address.
    Tailscale,
    /// 127.0.0.1 only.
    Localhost,
}

impl Mode {
    /// The value in config.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Tailscale => "tailscale",
            Mode::Localhost => "localhost",
        }
    }
}

const NEW_USAGE: &str = "itwillsync new [OPTIONS] -- CMD [ARGS...]";

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
    /// Start it on another machine (`machine add`); its program is found on that
    /// machine's PATH and `--cwd` is a directory there (default: its home).
    #[arg(long, value_name = "MACHINE")]
    pub on: Option<String>,
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
        "setup",
        "server",
        "service",
        "logs",
        "events",
        "wait",
        "machine",
        "bridge",
        "completions",
        "help",
    ];
    const OWN_FLAGS: &[&str] = &["-h", "--help", "-v", "-V", "--version"];
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

/// A parse error as one line. Clap's own first line says only that something is missing;
/// this one names what and shows the usage.
pub fn one_line(e: &clap::Error) -> String {
    let usage = match e.get(ContextKind::Usage) {
        Some(usage) => usage.to_string(),
        None => String::new(),
    };
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(args)) => args.iter().map(|a| what(a)).collect(),
                _ => vec!["an argument".into()],
            };
            let verb = if missing.len() == 1 { "is" } else { "are" };
            format!("{} {verb} needed: {usage}", missing.join(" and "))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            if usage.is_empty() || usage.starts_with("itwillsync [OPTIONS] <COMMAND>") =>
        {
            "a program to run or a subcommand is needed: itwillsync [FLAGS] CMD [ARGS...] \
             (`itwillsync --help` lists the subcommands)"
                .into()
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!("a subcommand is needed: {usage}")
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) if !valid.is_empty() => {
                    format!("{first} (one of: {})", valid.join(", "))
                }
                _ => first.to_string(),
            }
        }
    }
}

/// What a missing argument is, from its placeholder (`<TARGET>`, `<CMD>...`).
fn what(placeholder: &str) -> String {
    let name = placeholder.trim_end_matches("...");
    let name = name.trim_start_matches('<').trim_end_matches('>');
    match name {
        "CMD" => "a command to run".into(),
        "TARGET" => "a session (id, id prefix or name)".into(),
        "NEW_NAME" => "the new name".into(),
        "SHELL" => "a shell (bash, zsh, fish, elvish or powershell)".into(),
        other => other.to_string(),
    }
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
                action: Some(HubAction::Stop)
            }
        ));
        assert!(parse(&["itwillsync", "new", "--localhost", "--tailscale", "x"]).is_err());
        assert!(parse(&["itwillsync", "new"]).is_err());
    }

    #[test]
    fn the_original_tools_short_forms() {
        for flag in ["-v", "-V", "--version"] {
            let e = parse(&["itwillsync", flag]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayVersion, "{flag}");
        }
        assert!(matches!(
            parse(&["itwillsync", "hub"]).unwrap().command,
            Command::Hub { action: None }
        ));
        assert!(matches!(
            parse(&["itwillsync", "setup", "--mode", "tailscale"])
                .unwrap()
                .command,
            Command::Setup {
                mode: Some(Mode::Tailscale)
            }
        ));
        assert!(parse(&["itwillsync", "setup", "--mode", "lan"]).is_err());
    }

    #[test]
    fn missing_arguments_are_named() {
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &["a program to run", "itwillsync [FLAGS] CMD"]),
            (
                &["new"],
                &[
                    "a command to run is needed",
                    "itwillsync new [OPTIONS] -- CMD [ARGS...]",
                ],
            ),
            (
                &["new", "-d", "--name", "x"],
                &["a command to run", "-- CMD"],
            ),
            (&["--name", "x"], &["a command to run", "-- CMD"]),
            (&["--"], &["a command to run", "-- CMD"]),
            (
                &["kill"],
                &[
                    "a session (id, id prefix or name) is needed",
                    "itwillsync kill",
                ],
            ),
            (&["url"], &["a session", "itwillsync url"]),
            (
                &["rename"],
                &["a session (id, id prefix or name) and the new name are needed"],
            ),
            (
                &["rename", "x"],
                &[
                    "the new name is needed",
                    "itwillsync rename <TARGET> <NEW_NAME>",
                ],
            ),
            (
                &["completions"],
                &["a shell (bash", "itwillsync completions <SHELL>"],
            ),
            (
                &["new", "--name"],
                &["a value is required for '--name <NAME>'"],
            ),
            (&["kill", "--signal"], &["'--signal <SIGNAL>'"]),
            (
                &["setup", "--mode", "lan"],
                &["'lan'", "one of: local, tailscale, localhost"],
            ),
        ];
        for (args, want) in cases {
            let mut all = vec!["itwillsync"];
            all.extend_from_slice(args);
            let message = one_line(&parse(&all).unwrap_err());
            assert!(!message.contains('\n'), "{args:?}: {message}");
            for w in *want {
                assert!(message.contains(w), "{args:?}: {message}");
            }
        }
    }
}
