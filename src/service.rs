//! `itwillsync service install|uninstall|status`: the server as a user service, so it
//! starts at login (or boot, with lingering) and never exits when idle.
//!
//! Linux: a systemd user unit `~/.config/systemd/user/itwillsync.service` (under
//! `$XDG_CONFIG_HOME` when set) running `itwillsync server --stay`, enabled and started
//! with `systemctl --user`. macOS: a launchd agent
//! `~/Library/LaunchAgents/dev.itwillsync.server.plist`, loaded with `launchctl`. The
//! unit carries `ITWILLSYNC_HOME` when it is set, so the service serves the same state
//! directory as the shell that installed it. When the service manager cannot be reached
//! (no user bus in a container, say) the file is still written and the one command that
//! would enable it is printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use itwillsync_server::Home;

use crate::cli::ServiceAction;

/// The systemd unit's name.
const UNIT: &str = "itwillsync.service";
/// The launchd agent's label.
const LABEL: &str = "dev.itwillsync.server";

/// Runs one `service` action.
pub fn run(action: ServiceAction, home: &Home) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let manager = Manager::here()?;
    let file = manager.file()?;
    match action {
        ServiceAction::Install => {
            let text = manager.render(&exe, home.dir());
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!("wrote {}", file.display());
            match manager.enable(&file) {
                Ok(()) => println!("enabled and started: the server now runs as a service"),
                Err(e) => eprintln!(
                    "itwillsync: warning: could not enable it ({e:#}); run: {}",
                    manager.enable_hint(&file)
                ),
            }
            if let Manager::Systemd = manager {
                println!(
                    "to keep it running after you log out: loginctl enable-linger {}",
                    std::env::var("USER").unwrap_or_else(|_| "$USER".into())
                );
            }
            Ok(0)
        }
        ServiceAction::Uninstall => {
            if !file.exists() {
                println!("not installed ({} does not exist)", file.display());
                return Ok(0);
            }
            if let Err(e) = manager.disable(&file) {
                eprintln!("itwillsync: warning: could not stop it: {e:#}");
            }
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove {}", file.display()))?;
            println!("removed {}", file.display());
            Ok(0)
        }
        ServiceAction::Status => {
            if !file.exists() {
                println!("not installed");
                return Ok(3);
            }
            let state = manager
                .state()
                .unwrap_or_else(|e| format!("unknown ({e:#})"));
            println!("installed: {} ({state})", file.display());
            Ok(if state == "active" || state == "running" {
                0
            } else {
                3
            })
        }
    }
}

/// The service manager of this system.
enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    fn here() -> anyhow::Result<Self> {
        if cfg!(target_os = "macos") {
            Ok(Manager::Launchd)
        } else if cfg!(target_os = "linux") {
            Ok(Manager::Systemd)
        } else {
            bail!("services are supported on Linux (systemd) and macOS (launchd) only")
        }
    }

    /// Where the unit or agent lives.
    fn file(&self) -> anyhow::Result<PathBuf> {
        let home = || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .context("HOME is not set")
        };
        Ok(match self {
            Manager::Systemd => std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map_or_else(|| home().map(|h| h.join(".config")), Ok)?
                .join("systemd/user")
                .join(UNIT),
            Manager::Launchd => home()?
                .join("Library/LaunchAgents")
                .join(format!("{LABEL}.plist")),
        })
    }

    /// The unit or agent for `exe` serving `state`.
    fn render(&self, exe: &Path, state: &Path) -> String {
        match self {
            Manager::Systemd => systemd_unit(exe, state),
            Manager::Launchd => launchd_plist(exe, state),
        }
    }

    fn enable(&self, file: &Path) -> anyhow::Result<()> {
        match self {
            Manager::Systemd => {
                command("systemctl", &["--user", "daemon-reload"])?;
                command("systemctl", &["--user", "enable", "--now", UNIT])
            }
            Manager::Launchd => command("launchctl", &["load", "-w", &file.to_string_lossy()]),
        }
    }

    fn enable_hint(&self, file: &Path) -> String {
        match self {
            Manager::Systemd => {
                format!("systemctl --user daemon-reload && systemctl --user enable --now {UNIT}")
            }
            Manager::Launchd => format!("launchctl load -w {}", file.display()),
        }
    }

    fn disable(&self, file: &Path) -> anyhow::Result<()> {
        match self {
            Manager::Systemd => command("systemctl", &["--user", "disable", "--now", UNIT]),
            Manager::Launchd => command("launchctl", &["unload", "-w", &file.to_string_lossy()]),
        }
    }

    /// `active`, `inactive`, `failed`... (systemd) or `running` / `not running` (launchd).
    fn state(&self) -> anyhow::Result<String> {
        match self {
            Manager::Systemd => {
                let out = Command::new("systemctl")
                    .args(["--user", "is-active", UNIT])
                    .stdin(Stdio::null())
                    .output()
                    .context("cannot run systemctl")?;
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Manager::Launchd => {
                let out = Command::new("launchctl")
                    .args(["list", LABEL])
                    .stdin(Stdio::null())
                    .output()
                    .context("cannot run launchctl")?;
                Ok(if out.status.success() {
                    "running"
                } else {
                    "not running"
                }
                .into())
            }
        }
    }
}

/// Runs `program args`; its first line of error output when it fails.
fn command(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            stderr.lines().next().unwrap_or("").trim()
        );
    }
    Ok(())
}

/// A systemd unit argument: quoted, with `\`, `"`, `%` and `$` escaped (systemd.syntax).
fn systemd_quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn systemd_unit(exe: &Path, state: &Path) -> String {
    let exe = systemd_quote(&exe.to_string_lossy());
    let home = systemd_quote(&format!("ITWILLSYNC_HOME={}", state.display()));
    format!(
        "[Unit]\n\
         Description=itwillsync server (tmux for AI coding agents, with a phone in the loop)\n\
         \n\
         [Service]\n\
         Type=simple\n\
         Environment={home}\n\
         ExecStart={exe} server --stay\n\
         # A stop hangs up every session, as `itwillsync hub stop` does.\n\
         KillMode=mixed\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n"
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn launchd_plist(exe: &Path, state: &Path) -> String {
    let exe = xml_escape(&exe.to_string_lossy());
    let state = xml_escape(&state.to_string_lossy());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{LABEL}</string>
  <key>ProgramArguments</key>
  <array><string>{exe}</string><string>server</string><string>--stay</string></array>
  <key>EnvironmentVariables</key>
  <dict><key>ITWILLSYNC_HOME</key><string>{state}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
</dict>
</plist>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_quote_what_systemd_and_launchd_would_misread() {
        let unit = systemd_unit(Path::new("/opt/a b/itwillsync"), Path::new("/h/50%$x"));
        assert!(
            unit.contains("ExecStart=\"/opt/a b/itwillsync\" server --stay\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"ITWILLSYNC_HOME=/h/50%%$$x\"\n"),
            "{unit}"
        );
        let plist = launchd_plist(Path::new("/x/<&>"), Path::new("/h"));
        assert!(
            plist.contains("<string>/x/&lt;&amp;&gt;</string>"),
            "{plist}"
        );
    }
}
