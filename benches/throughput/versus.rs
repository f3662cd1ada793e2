//! `cargo bench -- mem cpu scale`: our server beside tmux, the same workloads in one run,
//! rounds taken in turns so noise hits both; one table with the ratios and the memory
//! issue's goals (met or not). Without tmux its cells say so and ours are still measured.
//!
//! - `mem`: server RSS with 1 idle session, with [`IDLE_MANY`] (the increment per session),
//!   and with 20 sessions that each printed 1 MB of coloured 120-column lines (the same
//!   bytes for both); fresh servers each round.
//! - `cpu`: server CPU seconds per 100 MB (of 100 MiB sent) to one attached terminal (a
//!   real client in a PTY the bench reads: `itwillsync attach`, `tmux attach`), to one
//!   phone and to ten;
//!   echo round trips through those terminals, in turns with a bare PTY; throughput as a
//!   share of the bare PTY's in the same round (and, for tmux, the bytes its client got).
//! - `scale`: [`SCALE`] sessions: `ls` wall-clock, server threads, idle RSS, every session
//!   attachable (ours through the socket), the last one attached with the real client.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use itwillsync_protocol::Size;

use crate::bulk::{bare_pty, websockets, write_bulk};
use crate::peers::{
    cpu_seconds, file_len, mbs, median, percentiles, rss_kib, thread_count, Hub, InPty,
};
use crate::tmux::{self, Tmux};

/// Rounds where a measurement is cheap enough to repeat; the table shows medians.
const ROUNDS: usize = 3;
/// Idle sessions for the per-session increment.
const IDLE_MANY: usize = 50;
/// Sessions of the 1 MB workload, and what each prints.
const PRINTERS: usize = 20;
const PRINTED: usize = 1 << 20;
/// Sessions the `scale` part starts.
const SCALE: usize = 1000;
/// Keystrokes per peer in the echo timing; below the 4095 bytes a cooked line holds.
const ECHOES: usize = 2000;
/// Keys for echo timings: lowercase letters that end no escape sequence tmux emits while
/// redrawing a line (not d, h, l, m, r, t).
const KEYS: &[u8] = b"abcefgijknopqsuvwxyz";
const WIDE: Size = Size {
    cols: 120,
    rows: 40,
};
const SIZE: Size = Size { cols: 80, rows: 24 };

/// One line of the table.
struct Row {
    what: String,
    tmux: String,
    ours: String,
    /// Ours divided by tmux's.
    ratio: Option<f64>,
    goal: String,
    met: Option<bool>,
}

/// Runs the named parts among `mem`, `cpu`, `scale` and prints their table.
pub fn run(parts: &[&str]) {
    let tmux = tmux::version();
    match &tmux {
        Some(v) => println!("beside {v}"),
        None => println!("tmux is not installed: its cells are left empty (apt-get install tmux)"),
    }
    let has_tmux = tmux.is_some();
    let mut rows = Vec::new();
    if parts.contains(&"mem") {
        rows.extend(mem(has_tmux));
    }
    if parts.contains(&"cpu") {
        rows.extend(cpu(has_tmux));
    }
    if parts.contains(&"scale") {
        rows.extend(scale(has_tmux));
    }
    println!();
    println!("| one run; mem, cpu: median of {ROUNDS} rounds in turns | tmux | itwillsync | ratio | goal | met |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    for r in rows {
        let ratio = r.ratio.map_or("".into(), |x| format!("{x:.2}×"));
        let met = match r.met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "",
        };
        println!(
            "| {} | {} | {} | {ratio} | {} | {met} |",
            r.what, r.tmux, r.ours, r.goal
        );
    }
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

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

/// Waits until the output of session `id` (ours) shows `marker`: its terminal state, as an
/// attaching client is shown it, has taken in everything before.
fn ours_shows(hub: &Hub, id: &str, marker: &[u8]) -> bool {
    let mut conn = hub.connect();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (_, redraw) = hub.attach(&mut conn, id, WIDE);
    if redraw.windows(marker.len()).any(|w| w == marker) {
        return true;
    }
    while let Ok(Some(msg)) = itwillsync_protocol::codec::read_frame(&mut conn) {
        if let itwillsync_protocol::ServerMsg::Output { data, .. } = msg {
            if data.windows(marker.len()).any(|w| w == marker) {
                return true;
            }
        }
    }
    false
}

/// Waits until tmux's pane `name` shows `marker`.
fn tmux_shows(t: &Tmux, name: &str, marker: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if t.run(&["capture-pane", "-p", "-t", name])
            .is_ok_and(|s| s.contains(marker))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// RSS (KiB) of a fresh server: with 1 idle session, with [`IDLE_MANY`], and with
/// [`PRINTERS`] sessions that printed `file`. Ours.
fn ours_mem(file: &Path) -> (f64, f64, f64) {
    let idle = ["sleep", "100000"];
    let mut hub = Hub::new(serde_json::json!({ "maxSessions": 100 }));
    hub.start();
    hub.new_session(&idle, WIDE);
    let one = rss_kib(hub.pid()) as f64;
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
    (one, many, printed)
}

/// [`ours_mem`] for tmux.
fn tmux_mem(file: &Path) -> (f64, f64, f64) {
    let idle = "exec sleep 100000";
    let t = Tmux::new();
    t.new_session("s0", WIDE, idle).unwrap();
    let one = rss_kib(t.pid()) as f64;
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
    (one, many, printed)
}

fn mem(has_tmux: bool) -> Vec<Row> {
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
        println!(
            "  round {round}: ours {:?} KiB, tmux {:?} KiB",
            ours.last(),
            theirs.last()
        );
    }
    let pick = |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| {
        (!v.is_empty()).then(|| median(v.iter().map(f).collect()))
    };
    let per = |x: &(f64, f64, f64)| (x.1 - x.0) / (IDLE_MANY - 1) as f64;
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

/// Server CPU seconds, MB/s and the bytes the client read, for `file` through a terminal
/// client in a PTY attached to `sh -c "read go; cat FILE"`.
fn through_terminal(pid: i32, mut client: InPty, file: &Path) -> (f64, f64, u64) {
    let cpu0 = cpu_seconds(pid);
    let start = Instant::now();
    client.master.write_all(b"\r").unwrap();
    let bytes = client.drain();
    let elapsed = start.elapsed();
    (cpu_seconds(pid) - cpu0, mbs(file_len(file), elapsed), bytes)
}

/// One round of `cpu`: (bare MB/s, ours terminal, tmux terminal, one phone, ten phones),
/// each (CPU s, MB/s, delivered share).
fn cpu_round(file: &Path, hub: &Hub, t: Option<&Tmux>) -> [(f64, f64, f64); 5] {
    let bare = bare_pty(file);
    let expected = (file_len(file) / 80 * 81) as f64;
    let script = format!("read go; cat '{}'", file.display());
    let id = hub.new_session(&["sh", "-c", &script], SIZE);
    let mut client = InPty::spawn(hub.command(&["attach", &id]), SIZE);
    // Attached once the screen is drawn: the first bytes of the client's output.
    assert!(
        client.read_until(b"\x1b", Duration::from_secs(10)),
        "attach drew"
    );
    let (c, m, b) = through_terminal(hub.pid(), client, file);
    let ours_term = (c, m, (b as f64 / expected).min(1.0));
    let tmux_term = t.map_or((f64::NAN, f64::NAN, f64::NAN), |t| {
        t.new_session("cpu", SIZE, &script).unwrap();
        let client = t.attach("cpu", SIZE);
        let (c, m, b) = through_terminal(t.pid(), client, file);
        (c, m, (b as f64 / expected).min(1.0))
    });
    let (m1, share1, c1) = websockets(hub, file, 1);
    let (m10, share10, c10) = websockets(hub, file, 10);
    // CPU seconds per 100 MB, the unit of the goals.
    let per = |cpu: f64| cpu * 100e6 / file_len(file) as f64;
    let (ours_term, tmux_term) = (
        (per(ours_term.0), ours_term.1, ours_term.2),
        (per(tmux_term.0), tmux_term.1, tmux_term.2),
    );
    let (c1, c10) = (per(c1), per(c10));
    [
        (0.0, bare, 1.0),
        ours_term,
        tmux_term,
        (c1, m1, share1),
        (c10, m10, share10),
    ]
}

/// Echo round trips (ms), in turns: bare PTY, ours through `itwillsync attach`, tmux
/// through `tmux attach`, each typing into a `cat`.
fn echo_round(hub: &Hub, t: Option<&Tmux>) -> [Vec<f64>; 3] {
    let (mut bare_master, slave) = crate::peers::pty();
    let mut bare_cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::from(slave))
        .spawn()
        .unwrap();
    let id = hub.new_session(&["cat"], SIZE);
    let mut ours = InPty::spawn(hub.command(&["attach", &id]), SIZE);
    ours.master.write_all(b"x").unwrap();
    assert!(
        ours.read_until(b"x", Duration::from_secs(10)),
        "our attach echoed"
    );
    let mut theirs = t.map(|t| {
        t.new_session("echo", SIZE, "exec cat").unwrap();
        let mut c = t.attach("echo", SIZE);
        c.master.write_all(b"x").unwrap();
        assert!(c.read_until(b"x", Duration::from_secs(10)), "tmux echoed");
        c
    });
    let mut times: [Vec<f64>; 3] = Default::default();
    let mut bare = InPtyRef(&mut bare_master);
    for i in 0..ECHOES {
        let key = [KEYS[i % KEYS.len()]];
        times[0].push(bare.round_trip(&key));
        times[1].push(InPtyRef(&mut ours.master).round_trip(&key));
        if let Some(c) = theirs.as_mut() {
            times[2].push(InPtyRef(&mut c.master).round_trip(&key));
        }
    }
    let _ = bare_cat.kill();
    let _ = bare_cat.wait();
    drop(ours);
    hub.itwillsync(&["kill", &id]);
    times
}

/// A PTY master typed into and read back.
struct InPtyRef<'a>(&'a mut std::fs::File);

impl InPtyRef<'_> {
    /// Milliseconds from writing `key` until it is read back.
    fn round_trip(&mut self, key: &[u8]) -> f64 {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let t = Instant::now();
        self.0.write_all(key).unwrap();
        loop {
            let n = self.0.read(&mut buf).unwrap();
            if buf[..n].contains(&key[0]) {
                break;
            }
        }
        t.elapsed().as_secs_f64() * 1000.0
    }
}

fn cpu(has_tmux: bool) -> Vec<Row> {
    println!("cpu: {ROUNDS} rounds of 100 MiB each way, and echo timings");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bulk.txt");
    write_bulk(&file);
    let mut hub = Hub::new(serde_json::json!({}));
    hub.start();
    let mut rounds = Vec::new();
    let mut echoes: [Vec<f64>; 3] = Default::default();
    for round in 0..ROUNDS {
        // A tmux server per round, kept alive by an idle session between measurements.
        let t = has_tmux.then(|| {
            let t = Tmux::new();
            t.new_session("keep", SIZE, "exec sleep 100000").unwrap();
            t
        });
        let r = cpu_round(&file, &hub, t.as_ref());
        println!("  round {round}: (CPU s, MB/s, delivered) bare/ours terminal/tmux terminal/one phone/ten phones {r:?}");
        rounds.push(r);
        let e = echo_round(&hub, t.as_ref());
        for (all, some) in echoes.iter_mut().zip(e) {
            all.extend(some);
        }
    }
    let med = |i: usize, f: fn(&(f64, f64, f64)) -> f64| {
        median(rounds.iter().map(|r| f(&r[i])).collect())
    };
    let share = |i: usize| median(rounds.iter().map(|r| r[i].1 / r[0].1).collect());
    let cpu_row = |what: &str, i: usize, t: Option<usize>, goal: f64| {
        let o = med(i, |x| x.0);
        let tv = t.filter(|_| has_tmux).map(|t| med(t, |x| x.0));
        Row {
            what: what.into(),
            tmux: tv.map_or("—".into(), |v| format!("{v:.2}")),
            ours: format!("{o:.2}"),
            ratio: tv.map(|t| o / t),
            goal: format!("≤ {goal}"),
            met: Some(o <= goal),
        }
    };
    let [bare_e, ours_e, tmux_e] = echoes.map(|v| (!v.is_empty()).then(|| percentiles(v)));
    let ours_e = ours_e.unwrap();
    let show = |e: Option<(f64, f64)>| e.map_or("—".into(), |(a, b)| format!("{a:.3} / {b:.3}"));
    let mut rows = vec![
        cpu_row("server CPU-s per 100 MB, one terminal", 1, Some(2), 0.35),
        cpu_row("server CPU-s per 100 MB, one phone", 3, None, 0.5),
        cpu_row(
            "server CPU-s per 100 MB, ten phones of one session",
            4,
            None,
            0.8,
        ),
        Row {
            what: format!(
                "echo round trip p50 / p99 ms, terminal (bare PTY {})",
                show(bare_e)
            ),
            tmux: show(tmux_e),
            ours: show(Some(ours_e)),
            ratio: tmux_e.map(|t| ours_e.0 / t.0),
            goal: "p50 ≤ 1.2× tmux".into(),
            met: tmux_e.map(|t| ours_e.0 <= 1.2 * t.0),
        },
    ];
    let (o, tv) = (share(1), has_tmux.then(|| share(2)));
    let delivered = has_tmux.then(|| med(2, |x| x.2));
    rows.push(Row {
        what: "throughput to one terminal, share of bare PTY in the same round".into(),
        tmux: tv.map_or("—".into(), |v| {
            format!(
                "{:.0}% (its client got {:.1}% as many bytes as printed)",
                v * 100.0,
                delivered.unwrap() * 100.0
            )
        }),
        ours: format!("{:.0}%", o * 100.0),
        ratio: tv.map(|t| o / t),
        goal: "≥ 90%".into(),
        met: Some(o >= 0.9),
    });
    let p = share(3);
    rows.push(Row {
        what: "throughput to one phone, share of bare PTY".into(),
        tmux: "—".into(),
        ours: format!("{:.0}%", p * 100.0),
        ratio: None,
        goal: "≥ 90%".into(),
        met: Some(p >= 0.9),
    });
    hub.stop();
    rows
}

/// What one peer reached in `scale`.
#[derive(Default)]
struct Scale {
    started: usize,
    failed: Option<String>,
    /// Sessions `ls` printed (rows).
    listed: usize,
    ls_secs: f64,
    threads_one: usize,
    threads_all: usize,
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
        }
    }
    s.started = ids.len();
    let pid = hub.pid();
    s.threads_all = thread_count(pid);
    s.rss_kib = rss_kib(pid) as f64;
    let mut listed = 0;
    s.ls_secs = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let out = hub.command(&["ls"]).output().unwrap();
                let secs = t.elapsed().as_secs_f64();
                assert!(out.status.success());
                // A header, then one row per session.
                listed = String::from_utf8_lossy(&out.stdout).lines().count() - 1;
                secs
            })
            .collect(),
    );
    s.listed = listed;
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
        }
        s.started = i + 1;
    }
    let pid = t.pid();
    s.threads_all = thread_count(pid);
    s.rss_kib = rss_kib(pid) as f64;
    let mut listed = 0;
    s.ls_secs = median(
        (0..ROUNDS)
            .map(|_| {
                let t0 = Instant::now();
                let out = t.run(&["ls"]).unwrap();
                let secs = t0.elapsed().as_secs_f64();
                listed = out.lines().count();
                secs
            })
            .collect(),
    );
    s.listed = listed;
    if s.started > 0 {
        let last = s.started - 1;
        let mut client = InPty::spawn(t.command(&["attach", "-t", &format!("s{last}")]), SIZE);
        s.last_attached =
            client.read_until(format!("ready-{last}").as_bytes(), Duration::from_secs(30));
    }
    s
}

fn scale(has_tmux: bool) -> Vec<Row> {
    println!("scale: {SCALE} sessions each");
    let ours = ours_scale();
    let theirs = has_tmux.then(tmux_scale);
    for (name, s) in [("itwillsync", Some(&ours)), ("tmux", theirs.as_ref())] {
        let Some(s) = s else { continue };
        println!(
            "  {name}: {} sessions started{}; ls {:.3} s ({} listed); threads {} with one session, {} with all; RSS {}; attachable {:?}; the last attached with the real client: {}",
            s.started,
            s.failed.as_ref().map_or(String::new(), |e| format!(" (then failed: {e})")),
            s.ls_secs,
            s.listed,
            s.threads_one,
            s.threads_all,
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
            what: format!("server threads, 1 / {SCALE} sessions"),
            tmux: t.map_or("—".into(), |s| {
                format!("{} / {}", s.threads_one, s.threads_all)
            }),
            ours: format!("{} / {}", ours.threads_one, ours.threads_all),
            ratio: None,
            goal: "fixed".into(),
            met: Some(ours.threads_one == ours.threads_all),
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
