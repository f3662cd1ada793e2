//! `cargo bench -- cpu`: server CPU seconds per 100 MB to one attached terminal (a real
//! client in a PTY the bench reads: `itwillsync attach`, `tmux attach`), to one phone and
//! to ten; echo round trips through those terminals, in turns with a bare PTY; throughput
//! as a share of the bare PTY's in the same round (and, for tmux, the bytes its client
//! got); and the floor under the CPU rows, a bare forwarder's (`floor.rs`).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::floor::{bare_forwarder, Sink};
use super::{Row, ROUNDS, SIZE};
use crate::bulk::{bare_pty, websockets, write_bulk};
use crate::peers::{cpu_seconds, file_len, mbs, median, percentiles, Hub, InPty};
use crate::tmux::Tmux;

/// Keystrokes per peer in the echo timing; below the 4095 bytes a cooked line holds.
const ECHOES: usize = 2000;

/// Keys for echo timings: lowercase letters that end no escape sequence tmux emits while
/// redrawing a line (not d, h, l, m, r, t).
const KEYS: &[u8] = b"abcefgijknopqsuvwxyz";

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

pub(super) fn cpu(has_tmux: bool) -> Vec<Row> {
    println!("cpu: {ROUNDS} rounds of 100 MiB each way, and echo timings");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bulk.txt");
    write_bulk(&file);
    let mut hub = Hub::new(serde_json::json!({}));
    hub.start();
    let mut rounds = Vec::new();
    let mut floors = Vec::new();
    let mut echoes: [Vec<f64>; 3] = Default::default();
    for round in 0..ROUNDS {
        // A tmux server per round, kept alive by an idle session between measurements.
        let t = has_tmux.then(|| {
            let t = Tmux::new();
            t.new_session("keep", SIZE, "exec sleep 100000").unwrap();
            t
        });
        let r = cpu_round(&file, &hub, t.as_ref());
        let names = [
            "bare PTY",
            "ours, terminal",
            "tmux, terminal",
            "ours, one phone",
        ];
        let names = names.into_iter().chain(["ours, ten phones"]);
        let line: Vec<String> = names
            .zip(&r)
            .map(|(name, (cpu, mbs, share))| {
                format!("{name} {cpu:.2} s {mbs:.1} MB/s {:.1}%", share * 100.0)
            })
            .collect();
        println!(
            "  round {round}, CPU per 100 MB, MB/s, bytes delivered: {}",
            line.join("; ")
        );
        rounds.push(r);
        let floor = [Sink::Terminal, Sink::Sockets(1), Sink::Sockets(10)]
            .map(|sink| bare_forwarder(&file, sink));
        println!(
            "  round {round}, a bare forwarder's CPU per 100 MB (MB/s) to a terminal, one socket, ten: {:.2} s ({:.1}), {:.2} s ({:.1}), {:.2} s ({:.1})",
            floor[0].0, floor[0].1, floor[1].0, floor[1].1, floor[2].0, floor[2].1
        );
        floors.push(floor);
        let e = echo_round(&hub, t.as_ref());
        for (all, some) in echoes.iter_mut().zip(e) {
            all.extend(some);
        }
    }
    let med = |i: usize, f: fn(&(f64, f64, f64)) -> f64| {
        median(rounds.iter().map(|r| f(&r[i])).collect())
    };
    let share = |i: usize| median(rounds.iter().map(|r| r[i].1 / r[0].1).collect());
    // `i` indexes a round's results, `t` tmux's among them, `floor` the floors.
    let cpu_row = |what: &str, i: usize, t: Option<usize>, floor: usize, goal: f64| {
        let o = med(i, |x| x.0);
        let tv = t.filter(|_| has_tmux).map(|t| med(t, |x| x.0));
        let f = median(
            floors
                .iter()
                .map(|f: &[(f64, f64); 3]| f[floor].0)
                .collect(),
        );
        Row {
            what: format!("{what} (a bare forwarder's floor: {f:.2})"),
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
        cpu_row("server CPU-s per 100 MB, one terminal", 1, Some(2), 0, 0.35),
        cpu_row("server CPU-s per 100 MB, one phone", 3, None, 1, 0.5),
        cpu_row(
            "server CPU-s per 100 MB, ten phones of one session",
            4,
            None,
            2,
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
    // The bare forwarder's MB/s over the bare PTY's of the same round.
    let floor_share = |i: usize| {
        median(
            rounds
                .iter()
                .zip(&floors)
                .map(|(r, f)| f[i].1 / r[0].1)
                .collect(),
        )
    };
    let delivered = has_tmux.then(|| med(2, |x| x.2));
    rows.push(Row {
        what: format!(
            "throughput to one terminal, share of bare PTY in the same round (a bare forwarder: {:.0}%)",
            floor_share(0) * 100.0
        ),
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
        what: format!(
            "throughput to one phone, share of bare PTY (a bare forwarder: {:.0}%)",
            floor_share(1) * 100.0
        ),
        tmux: "—".into(),
        ours: format!("{:.0}%", p * 100.0),
        ratio: None,
        goal: "≥ 90%".into(),
        met: Some(p >= 0.9),
    });
    hub.stop();
    rows
}
