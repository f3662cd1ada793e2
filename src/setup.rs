//! `itwillsync setup [--mode local|tailscale|localhost]`: how phones reach this machine.
//!
//! Writes `networkingMode` into config.json and keeps every other key as it was. Without
//! `--mode` it asks on the terminal; without a terminal it needs `--mode`. A running
//! server read its config when it started, so it picks the change up after `hub stop`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use itwillsync_protocol::text::escape;
use itwillsync_server::config::NetworkingMode;
use itwillsync_server::Home;

use crate::cli::Mode;

/// The choices, in menu order, each with one line saying what it means.
const CHOICES: [(Mode, &str); 3] = [
    (
        Mode::Local,
        "LAN: phones on the same network (Wi-Fi) open this machine's LAN address",
    ),
    (
        Mode::Tailscale,
        "Tailscale: phones on your tailnet open this machine's Tailscale address, from anywhere",
    ),
    (
        Mode::Localhost,
        "localhost: 127.0.0.1 only, for an SSH tunnel or a proxy you set up yourself",
    ),
];

/// Asks again after an answer that is none of the choices, at most this often.
const ATTEMPTS: usize = 3;

/// Runs `setup`; returns the exit code.
pub fn run(mode: Option<Mode>, home: &Home) -> anyhow::Result<i32> {
    // Read first: a config.json with a bad value is reported, not overwritten.
    let current = match crate::commands::load_config(home)?.networking_mode {
        NetworkingMode::Local => Mode::Local,
        NetworkingMode::Tailscale => Mode::Tailscale,
        NetworkingMode::Localhost => Mode::Localhost,
    };
    let mode = match mode {
        Some(mode) => mode,
        None if std::io::stdin().is_terminal() => ask(current)?,
        None => bail!(
            "setup needs a terminal to ask on, or the mode: \
             itwillsync setup --mode local|tailscale|localhost"
        ),
    };
    home.create()?;
    let path = home.config();
    let mut settings = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
            .with_context(|| format!("{}: not a JSON object", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    settings.insert("networkingMode".into(), mode.as_str().into());
    let mut text = serde_json::to_string_pretty(&settings)?;
    text.push('\n');
    itwillsync_server::home::write_private(&path, text.as_bytes())?;
    let shown = path.to_string_lossy();
    println!(
        "wrote \"networkingMode\": \"{}\" to {}",
        mode.as_str(),
        escape(&shown)
    );
    println!("a running server picks it up after `itwillsync hub stop` (sessions end then)");
    Ok(0)
}

/// Shows the choices and reads one; `current` is taken on a bare Enter.
fn ask(current: Mode) -> anyhow::Result<Mode> {
    println!("How should phones reach this machine's sessions?");
    for (n, (mode, what)) in CHOICES.iter().enumerate() {
        println!("  {}) {:<9}  {what}", n + 1, mode.as_str());
    }
    let stdin = std::io::stdin();
    for _ in 0..ATTEMPTS {
        print!("Choose 1-3 (Enter keeps {}): ", current.as_str());
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            bail!("no choice made; nothing was written");
        }
        let answer = line.trim();
        if answer.is_empty() {
            return Ok(current);
        }
        let picked = CHOICES.iter().enumerate().find(|(n, (mode, _))| {
            answer == (n + 1).to_string() || answer.eq_ignore_ascii_case(mode.as_str())
        });
        if let Some((_, (mode, _))) = picked {
            return Ok(*mode);
        }
        println!("{} is not one of the choices", escape(answer));
    }
    bail!("no valid choice made; nothing was written")
}
