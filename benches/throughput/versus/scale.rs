//! `cargo bench -- scale`: [`SCALE`] sessions on each peer: `ls` wall-clock (rows
//! counted), server threads, idle RSS, every session attachable (ours through the
//! socket), the last one attached with the real client. If a peer stops short, how far it
//! got and why are shown.

use std::time::{Duration, Instant};

use super::{mib, ours_shows, Row, ROUNDS, SIZE};
use crate::peers::{median, rss_kib, settled_thread_count, thread_count, Hub, InPty};
use crate::tmux::Tmux;

/// Sessions the `scale` part starts.
const SCALE: usize = 1000;

/// What one peer reached in `scale`.
#[derive(Default)]
struct Scale {
    started: usize,
    failed: Option<String>,
    /// Sessions `ls` printed (rows).
    listed: usize,
    ls_secs: f64,
    /// Threads right after the first session and after all of them started.
    threads_one: usize,
    threads_all: usize,
    /// The same, once the counts have settled ([`settled_thread_count`]).
    kept_one: usize,
    kept_all: usize,
    rss_kib: f64,
    attachable: Option<usize>,
    last_attached: bool,
}

fn ours_scale() -> Scale {
    let mut hub = Hub::new(serde_json::json!({ "maxSessions": SCALE }));
    hub.start();
    let mut s = Scale::default();
    let mut ids = Vec::new();
    for i in 0..SCALE {
        let script = format!("echo ready-{i}; exec sleep 100000");
        match hub.try_new_session(&["sh", "-c", &script], SIZE) {
            Ok(id) => ids.push(id),
            Err(e) => {
                s.failed = Some(format!("session {i}: {e}"));
                break;
            }
        }
        if i == 0 {
            s.threads_one = thread_count(hub.pid());
            s.kept_one = settled_thread_count(hub.pid());
        }
    }
    s.started = ids.len();
    // A header, then one row per session.
    census(&mut s, hub.pid(), 1, || {
        let out = hub.command(&["ls"]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    let attachable = ids
        .iter()
        .enumerate()
        .filter(|(i, id)| ours_shows(&hub, id, format!("ready-{i}").as_bytes()))
        .count();
    s.attachable = Some(attachable);
    if let Some(last) = ids.last() {
        let mut client = InPty::spawn(hub.command(&["attach", last]), SIZE);
        let marker = format!("ready-{}", ids.len() - 1);
        s.last_attached = client.read_until(marker.as_bytes(), Duration::from_secs(30));
    }
    hub.stop();
    s
}

/// With every session started: the server `pid`'s threads (now and settled) and RSS, and
/// `ls` timed over [`ROUNDS`] (`ls` runs it and returns what it printed: `headers` lines,
/// then a row per session).
fn census(s: &mut Scale, pid: i32, headers: usize, mut ls: impl FnMut() -> String) {
    s.threads_all = thread_count(pid);
    s.kept_all = settled_thread_count(pid);
    s.rss_kib = rss_kib(pid) as f64;
    let mut listed = 0;
    s.ls_secs = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let printed = ls();
                let secs = t.elapsed().as_secs_f64();
                listed = printed.lines().count() - headers;
                secs
            })
            .collect(),
    );
    s.listed = listed;
}

fn tmux_scale() -> Scale {
    let t = Tmux::new();
    let mut s = Scale::default();
    for i in 0..SCALE {
        let script = format!("echo ready-{i}; exec sleep 100000");
        if let Err(e) = t.new_session(&format!("s{i}"), SIZE, &script) {
            s.failed = Some(format!("session {i}: {e}"));
            break;
        }
        if i == 0 {
            s.threads_one = thread_count(t.pid());
            s.kept_one = settled_thread_count(t.pid());
        }
        s.started = i + 1;
    }
    census(&mut s, t.pid(), 0, || t.run(&["ls"]).unwrap());
    if s.started > 0 {
        let last = s.started - 1;
        let mut client = InPty::spawn(t.command(&["attach", "-t", &format!("s{last}")]), SIZE);
        s.last_attached =
            client.read_until(format!("ready-{last}").as_bytes(), Duration::from_secs(30));
    }
    s
}

pub(super) fn scale(has_tmux: bool) -> Vec<Row> {
    println!("scale: {SCALE} sessions each");
    let ours = ours_scale();
    let theirs = has_tmux.then(tmux_scale);
    for (name, s) in [("itwillsync", Some(&ours)), ("tmux", theirs.as_ref())] {
        let Some(s) = s else { continue };
        println!(
            "  {name}: {} sessions started{}; ls {:.3} s ({} listed); threads {} with one session, {} with all (settled: {} / {}); RSS {}; attachable {:?}; the last attached with the real client: {}",
            s.started,
            s.failed.as_ref().map_or(String::new(), |e| format!(" (then failed: {e})")),
            s.ls_secs,
            s.listed,
            s.threads_one,
            s.threads_all,
            s.kept_one,
            s.kept_all,
            mib(s.rss_kib),
            s.attachable,
            s.last_attached
        );
    }
    let t = theirs.as_ref();
    let reached = |s: &Scale| match &s.failed {
        None => format!("{}", s.started),
        Some(e) => format!("{} (failed: {e})", s.started),
    };
    vec![
        Row {
            what: format!("{SCALE} sessions started"),
            tmux: t.map_or("—".into(), reached),
            ours: reached(&ours),
            ratio: None,
            goal: format!("{SCALE}"),
            met: Some(ours.started == SCALE),
        },
        Row {
            what: format!("`ls` wall-clock with {SCALE} sessions (rows listed)"),
            tmux: t.map_or("—".into(), |s| {
                format!("{:.3} s ({})", s.ls_secs, s.listed)
            }),
            ours: format!("{:.3} s ({})", ours.ls_secs, ours.listed),
            ratio: t.map(|s| ours.ls_secs / s.ls_secs),
            goal: "all in < 1 s".into(),
            met: Some(ours.ls_secs < 1.0 && ours.listed == SCALE),
        },
        Row {
            what: format!(
                "server threads kept, 1 / {SCALE} sessions (settled; right after starting them)"
            ),
            tmux: t.map_or("—".into(), |s| {
                format!(
                    "{} / {} ({} / {})",
                    s.kept_one, s.kept_all, s.threads_one, s.threads_all
                )
            }),
            ours: format!(
                "{} / {} ({} / {})",
                ours.kept_one, ours.kept_all, ours.threads_one, ours.threads_all
            ),
            ratio: None,
            goal: "fixed".into(),
            met: Some(ours.kept_one == ours.kept_all),
        },
        Row {
            what: format!("server RSS, {SCALE} idle sessions"),
            tmux: t.map_or("—".into(), |s| mib(s.rss_kib)),
            ours: mib(ours.rss_kib),
            ratio: t.map(|s| ours.rss_kib / s.rss_kib),
            goal: "≤ 150 MiB".into(),
            met: Some(ours.rss_kib <= 150.0 * 1024.0),
        },
        Row {
            what: "attachable (all; the last with the real client)".into(),
            tmux: t.map_or("—".into(), |s| format!("last: {}", yes(s.last_attached))),
            ours: format!(
                "{} of {}; last: {}",
                ours.attachable.unwrap_or(0),
                ours.started,
                yes(ours.last_attached)
            ),
            ratio: None,
            goal: "all".into(),
            met: Some(ours.attachable == Some(SCALE) && ours.last_attached),
        },
    ]
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
