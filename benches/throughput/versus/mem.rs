//! `cargo bench -- mem`: server RSS with 1 idle session (and how much of it is the
//! process's own memory rather than pages of its executable and libraries), with
//! [`IDLE_MANY`] (the increment per session), and with [`PRINTERS`] sessions that each
//! printed 1 MB of coloured 120-column lines (the same bytes for both peers); fresh
//! servers each round.

use std::io::Write;
use std::path::Path;

use super::{mib, ours_shows, tmux_shows, Row, ROUNDS, WIDE};
use crate::peers::{median, rss_kib, Hub};
use crate::tmux::Tmux;

/// Idle sessions for the per-session increment.
const IDLE_MANY: usize = 50;

/// Sessions of the 1 MB workload, and what each prints.
const PRINTERS: usize = 20;
const PRINTED: usize = 1 << 20;

/// 1 MB of 120-column lines like an agent's output: SGR colours, bold, and text.
fn write_coloured(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let mut written = 0;
    while written < PRINTED {
        let mut text = String::new();
        let mut width = 0usize;
        while width < 120 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word_len = ((3 + x % 9) as usize).min(120 - width);
            let colour = 31 + (x >> 8) % 7;
            let bold = if (x >> 16) % 4 == 0 { "1;" } else { "" };
            let word: String = (0..word_len)
                .map(|i| (b'a' + ((x >> (i * 3)) % 26) as u8) as char)
                .collect();
            text.push_str(&format!("\x1b[{bold}{colour}m{word}\x1b[0m"));
            width += word_len;
            if width < 120 {
                text.push(' ');
                width += 1;
            }
        }
        let s = format!("{text}\n");
        written += s.len();
        out.write_all(s.as_bytes()).unwrap();
    }
}

/// A server's memory (KiB): RSS with 1 idle session, with [`IDLE_MANY`], and with
/// [`PRINTERS`] sessions that printed `file`; then its anonymous RSS with 1 idle session.
type Mem = (f64, f64, f64, f64);

/// [`Mem`] of a fresh server of ours.
fn ours_mem(file: &Path) -> Mem {
    let idle = ["sleep", "100000"];
    let mut hub = Hub::new(serde_json::json!({ "maxSessions": 100 }));
    hub.start();
    hub.new_session(&idle, WIDE);
    let one = rss_kib(hub.pid()) as f64;
    let own = anon_kib(hub.pid());
    for _ in 1..IDLE_MANY {
        hub.new_session(&idle, WIDE);
    }
    let many = rss_kib(hub.pid()) as f64;
    hub.stop();
    hub.start();
    let script = format!(
        "cat '{}'; echo PRINTED-ALL; exec sleep 100000",
        file.display()
    );
    let ids: Vec<String> = (0..PRINTERS)
        .map(|_| hub.new_session(&["sh", "-c", &script], WIDE))
        .collect();
    for id in &ids {
        assert!(ours_shows(&hub, id, b"PRINTED-ALL"), "session {id} printed");
    }
    let printed = rss_kib(hub.pid()) as f64;
    hub.stop();
    (one, many, printed, own)
}

/// [`ours_mem`] for tmux.
fn tmux_mem(file: &Path) -> Mem {
    let idle = "exec sleep 100000";
    let t = Tmux::new();
    t.new_session("s0", WIDE, idle).unwrap();
    let one = rss_kib(t.pid()) as f64;
    let own = anon_kib(t.pid());
    for i in 1..IDLE_MANY {
        t.new_session(&format!("s{i}"), WIDE, idle).unwrap();
    }
    let many = rss_kib(t.pid()) as f64;
    drop(t);
    let t = Tmux::new();
    let script = format!(
        "cat '{}'; echo PRINTED-ALL; exec sleep 100000",
        file.display()
    );
    for i in 0..PRINTERS {
        t.new_session(&format!("p{i}"), WIDE, &script).unwrap();
    }
    for i in 0..PRINTERS {
        assert!(
            tmux_shows(&t, &format!("p{i}"), "PRINTED-ALL"),
            "pane {i} printed"
        );
    }
    let printed = rss_kib(t.pid()) as f64;
    (one, many, printed, own)
}

/// A process's anonymous resident memory (`RssAnon`) in KiB: its own, where the rest of
/// its RSS is pages of files it maps (its code), shared with the page cache.
fn anon_kib(pid: i32) -> f64 {
    itwillsync_server::status_kib(pid as u32, "RssAnon").expect("the process's memory") as f64
}

pub(super) fn mem(has_tmux: bool) -> Vec<Row> {
    println!("mem: {ROUNDS} rounds");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("coloured.txt");
    write_coloured(&file);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        ours.push(ours_mem(&file));
        if has_tmux {
            theirs.push(tmux_mem(&file));
        }
        let show = |r: Option<&Mem>| {
            r.map_or("—".into(), |(one, many, printed, own)| {
                format!("{one:.0} ({own:.0}) / {many:.0} / {printed:.0}")
            })
        };
        println!(
            "  round {round}, RSS KiB with 1 idle (its own) / {IDLE_MANY} idle / {PRINTERS} printed: ours {}, tmux {}",
            show(ours.last()),
            show(theirs.last())
        );
    }
    let pick =
        |v: &[Mem], f: fn(&Mem) -> f64| (!v.is_empty()).then(|| median(v.iter().map(f).collect()));
    let per = |x: &Mem| (x.1 - x.0) / (IDLE_MANY - 1) as f64;
    let row = |what: &str,
               o: Option<f64>,
               t: Option<f64>,
               goal_kib: f64,
               goal: &str,
               show: fn(f64) -> String| {
        let o = o.unwrap();
        Row {
            what: what.into(),
            tmux: t.map_or("—".into(), show),
            ours: show(o),
            ratio: t.map(|t| o / t),
            goal: goal.into(),
            met: Some(o <= goal_kib),
        }
    };
    let kib = |x: f64| format!("{x:.0} KiB");
    vec![
        row(
            &format!("server RSS, {PRINTERS} sessions that each printed 1 MB"),
            pick(&ours, |x| x.2),
            pick(&theirs, |x| x.2),
            40.0 * 1024.0,
            "≤ 40 MiB",
            mib,
        ),
        row(
            "server RSS, 1 idle session",
            pick(&ours, |x| x.0),
            pick(&theirs, |x| x.0),
            5.0 * 1024.0,
            "≤ 5 MiB",
            mib,
        ),
        Row {
            what: "of which the server's own memory (anonymous; the rest is its code's pages)"
                .into(),
            tmux: pick(&theirs, |x| x.3).map_or("—".into(), mib),
            ours: mib(pick(&ours, |x| x.3).unwrap()),
            ratio: pick(&theirs, |x| x.3).map(|t| pick(&ours, |x| x.3).unwrap() / t),
            goal: "".into(),
            met: None,
        },
        row(
            &format!("server RSS per further idle session (of {IDLE_MANY})"),
            pick(&ours, per),
            pick(&theirs, per),
            64.0,
            "≤ 64 KiB",
            kib,
        ),
    ]
}
