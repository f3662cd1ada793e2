//! Human tables and script JSON for session listings.
//!
//! Every cell of a table is escaped (`protocol::text::escape`): names, commands and cwds
//! are chosen by others and must not reach the terminal as escape sequences. The JSON is
//! raw, since JSON escapes control characters itself, and is `protocol::json`'s session
//! object, the same the dashboard and the local API speak.

use itwillsync_protocol::json;
use itwillsync_protocol::text::escape;
use itwillsync_protocol::{MachineInfo, MachineState, SessionInfo};
use itwillsync_server::now_ms;

/// Time since `since_ms`, like `12s`, `3m05s`, `1h02m`, `2d03h`.
pub fn uptime(since_ms: u64) -> String {
    let s = now_ms().saturating_sub(since_ms) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn home_short(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && path.starts_with(&home) => {
            format!("~{}", &path[home.len()..])
        }
        _ => path.to_string(),
    }
}

fn port(s: &SessionInfo) -> String {
    s.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

/// Lays out rows under a header, every cell escaped, columns padded to their widest cell.
pub fn render(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A session as `ls` lists it: with its machine (`local` for this one) and whether that
/// machine is unreachable (the session then shows as last known).
pub struct Listed<'a> {
    pub machine: &'a str,
    pub offline: bool,
    pub session: &'a SessionInfo,
}

impl<'a> Listed<'a> {
    /// This machine's sessions, then each machine's in `machines.json` order.
    pub fn all(local: &'a [SessionInfo], machines: &'a [MachineInfo]) -> Vec<Self> {
        let here = local.iter().map(|session| Listed {
            machine: "local",
            offline: false,
            session,
        });
        let there = machines.iter().flat_map(|m| {
            m.sessions.iter().map(move |session| Listed {
                machine: &m.name,
                offline: m.state != MachineState::Online,
                session,
            })
        });
        here.chain(there).collect()
    }
}

/// `ls`: id, name, command, cwd, status, clients, uptime, port; with `machines` (some are
/// configured) MACHINE first, and an unreachable machine's sessions with the status
/// `offline`.
pub fn sessions(listed: &[Listed], machines: bool) -> String {
    let rows = listed
        .iter()
        .map(|l| {
            let s = l.session;
            let status = if l.offline {
                "offline".into()
            } else {
                s.status.as_str().into()
            };
            let mut row = vec![
                s.id.clone(),
                s.name.clone(),
                s.command.join(" "),
                if l.machine == "local" {
                    home_short(&s.cwd)
                } else {
                    s.cwd.clone()
                },
                status,
                clients(s),
                uptime(s.started_at_ms),
                port(s),
            ];
            if machines {
                row.insert(0, l.machine.to_string());
            }
            row
        })
        .collect();
    let mut header = vec![
        "ID", "NAME", "COMMAND", "CWD", "STATUS", "CLIENTS", "UPTIME", "PORT",
    ];
    if machines {
        header.insert(0, "MACHINE");
    }
    render(&header, rows)
}

/// Attached clients by kind, e.g. `1 term, 2 phone`; `0` when none.
fn clients(s: &SessionInfo) -> String {
    let c = s.client_counts;
    let kinds: Vec<String> = [
        (c.terminals, "term"),
        (c.phones, "phone"),
        (c.read_only, "read-only"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, kind)| format!("{n} {kind}"))
    .collect();
    if kinds.is_empty() {
        "0".into()
    } else {
        kinds.join(", ")
    }
}

/// `hub status`: name, status, uptime, port.
pub fn status(sessions: &[SessionInfo]) -> String {
    let rows = sessions
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.status.as_str().into(),
                uptime(s.started_at_ms),
                port(s),
            ]
        })
        .collect();
    render(&["NAME", "STATUS", "UPTIME", "PORT"], rows)
}

/// `ls --json`: each session's public JSON (the dashboard's and the local API's object)
/// plus its link, which only the owner's socket gives, its machine, and `offline` for a
/// session of an unreachable machine.
pub fn json(listed: &[Listed]) -> Vec<json::Session> {
    listed
        .iter()
        .map(|l| json::Session {
            url: l.session.url.clone(),
            machine: Some(l.machine.to_string()),
            offline: l.offline.then_some(true),
            ..json::Session::public(l.session)
        })
        .collect()
}
