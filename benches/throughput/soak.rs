//! `cargo bench -- soak`: the server under abuse, one server for all three runs. Prints its
//! figures and every failure; returns `false` (the bench exits non-zero) on any failure.
//! Not run in CI: it takes minutes.
//!
//! 1. `reconnects` (`soak/reconnects.rs`): a phone drops its connection 10,000 times at
//!    random points (before, during and after the sealed handshake, mid-frame both ways,
//!    before and after its ack) while the program prints numbered lines; each time it
//!    reconnects and resumes from the last seq it received. Every line must arrive exactly
//!    once, in order; a repaint is acceptable only where the gap had left the ring (it is
//!    counted; now and then the phone stays away long enough for that).
//! 2. [`stalled`]: 1 GiB of output with a local terminal and a phone that stop reading
//!    (sockets open), beside a terminal and a phone reading at full speed: their
//!    throughput, and the server's peak RSS (sampled from /proc) under [`RSS_LIMIT_KIB`].
//! 3. [`local_cycles`]: [`LOCAL_CYCLES`] local clients connect and drop at random points
//!    (mid-preamble, mid-frame, before a reply, during an attach); the server must still
//!    serve, and its fd count and RSS before and after are reported.

mod reconnects;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use itwillsync_protocol::{codec, preamble, ClientMsg, ServerMsg, Size};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::timeout;

use crate::peers::ws::Phone;
use crate::peers::{fd_count, file_len, mbs, recv, rss_kib, send, Hub};

/// The ring this soak's server keeps (`scrollbackBufferSize`, the default): a repaint
/// after a gap shorter than half of it means bytes the ring held were not resent.
const RING: u64 = 10 << 20;
/// Local connect/disconnect cycles.
const LOCAL_CYCLES: usize = 1_000;
/// Output during the stalled-clients run: the 100 MiB bulk file ten times.
const STALLED_ROUNDS: usize = 10;
/// The server's peak RSS allowed during the stalled-clients run.
const RSS_LIMIT_KIB: u64 = 100 << 10;
/// Anything that takes longer than this is stuck.
const STUCK: Duration = Duration::from_secs(20);
const SIZE: Size = Size {
    cols: 120,
    rows: 40,
};

/// Failures, in the order they happened.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn add(&mut self, what: impl Into<String>) {
        let what = what.into();
        println!("  FAILURE: {what}");
        self.0.push(what);
    }
}

/// Runs the three soak runs against one server; `true` when nothing failed.
pub fn run() -> bool {
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("soak (seed {seed}; SOAK_SEED={seed} repeats its random choices)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hub = Hub::new(serde_json::json!({ "scrollbackBufferSize": RING }));
    hub.start();
    let mut failures = Failures::default();
    reconnects::reconnects(&hub, &mut rng, &mut failures);
    stalled(&hub, &mut failures);
    local_cycles(&hub, &mut rng, &mut failures);
    if failures.0.is_empty() {
        println!("soak: no failures");
        true
    } else {
        println!("soak: {} failure(s):", failures.0.len());
        for f in &failures.0 {
            println!("  {f}");
        }
        false
    }
}

/// A local terminal attached and reading everything: output bytes, repaints.
fn fast_terminal(mut conn: UnixStream, from: u64) -> Result<(u64, u64, Duration), String> {
    let mut cursor = Some(from);
    let (mut bytes, mut redraws) = (0u64, 0u64);
    let start = Instant::now();
    loop {
        match recv(&mut conn) {
            Some(ServerMsg::Redraw { seq, .. }) => {
                redraws += 1;
                cursor = Some(seq);
            }
            Some(ServerMsg::Output { seq, data }) => {
                let from = cursor.ok_or("output before the redraw")?;
                if seq != from + data.len() as u64 {
                    return Err(format!("terminal: output at {seq} after {from}"));
                }
                cursor = Some(seq);
                bytes += data.len() as u64;
            }
            Some(ServerMsg::Exit { .. }) => return Ok((bytes, redraws, start.elapsed())),
            Some(_) => {}
            None => return Err("terminal: the connection closed before the exit".into()),
        }
    }
}

fn stalled(hub: &Hub, failures: &mut Failures) {
    println!(
        "stalled clients: {} MiB of output, a terminal and a phone not reading",
        STALLED_ROUNDS * 100
    );
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bulk.txt");
    crate::bulk::write_bulk(&file);
    let script = format!(
        "read go; for i in $(seq {STALLED_ROUNDS}); do cat '{}'; done; echo SOAK-END",
        file.display()
    );
    let bare = crate::bulk::bare_pty(&file);
    let (id, link) = hub.phone_session(&script, SIZE);
    let pid = hub.pid();
    let rss_before = rss_kib(pid);

    let mut stalled_terminal = hub.connect();
    hub.attach(&mut stalled_terminal, &id, SIZE);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stalled_phone = rt.block_on(Phone::connect(&link));
    let fast_phone = rt.block_on(Phone::connect(&link));
    let mut fast = hub.connect();
    let (from, _) = hub.attach(&mut fast, &id, SIZE);

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = itwillsync_server::resident_kib(pid as u32) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    send(
        &mut fast,
        &ClientMsg::Input {
            data: b"\r".to_vec(),
        },
    );
    let terminal = std::thread::spawn(move || fast_terminal(fast, from));
    let phone_start = Instant::now();
    let phone = rt.block_on(async {
        timeout(Duration::from_secs(600), fast_phone.drain_until("SOAK-END")).await
    });
    let phone_time = phone_start.elapsed();
    let terminal = terminal.join().unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    let expected = file_len(&file) / 80 * 81 * STALLED_ROUNDS as u64;
    let peak = peak.load(Ordering::Relaxed);
    match terminal {
        Ok((bytes, redraws, time)) => println!(
            "  fast terminal: {:.1} MB/s ({:.0}% of a bare PTY's {bare:.1} MB/s just before), {:.1}% of the bytes, {redraws} repaints",
            mbs(bytes, time),
            mbs(bytes, time) / bare * 100.0,
            (bytes as f64 / expected as f64 * 100.0).min(100.0)
        ),
        Err(e) => failures.add(e),
    }
    match phone {
        Ok(bytes) => println!(
            "  fast phone: {:.1} MB/s ({:.0}% of the bare PTY's), {:.1}% of the bytes",
            mbs(bytes, phone_time),
            mbs(bytes, phone_time) / bare * 100.0,
            (bytes as f64 / expected as f64 * 100.0).min(100.0)
        ),
        Err(_) => failures.add("the fast phone did not reach the end within 600 s"),
    }
    println!(
        "  server RSS {:.1} MiB before, peak {:.1} MiB during (limit {} MiB)",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        RSS_LIMIT_KIB >> 10
    );
    if peak >= RSS_LIMIT_KIB {
        failures.add(format!(
            "server RSS peaked at {:.1} MiB with stalled clients",
            peak as f64 / 1024.0
        ));
    }
    drop(stalled_terminal);
    drop(stalled_phone);
    drop(rt);
}

/// One local client, cut at the point `how` (0..10) names.
fn local_cycle(hub: &Hub, id: &str, how: u32) -> Result<(), String> {
    let mut s = hub.connect_raw();
    s.set_read_timeout(Some(STUCK)).unwrap();
    let ours = preamble::encode();
    if how == 0 {
        return Ok(());
    }
    if how == 1 {
        let _ = s.write_all(&ours[..ours.len() / 2]);
        return Ok(());
    }
    s.write_all(&ours).map_err(|e| format!("preamble: {e}"))?;
    let mut theirs = [0u8; preamble::LEN];
    s.read_exact(&mut theirs)
        .map_err(|e| format!("preamble: {e}"))?;
    let list = codec::encode_frame(&ClientMsg::List).unwrap();
    let attach = ClientMsg::Attach {
        target: Some(id.to_string()),
        read_only: false,
        size: SIZE,
    };
    match how {
        2 => {}
        3 => {
            let _ = s.write_all(&list[..3]);
        }
        4 => send(&mut s, &ClientMsg::List),
        5 => {
            send(&mut s, &ClientMsg::List);
            let reply = codec::read_frame::<ServerMsg>(&mut s).map_err(|e| format!("{e}"))?;
            if !matches!(reply, Some(ServerMsg::Sessions { .. })) {
                return Err(format!("list answered {reply:?}"));
            }
        }
        6 => send(&mut s, &attach),
        7 | 8 => {
            send(&mut s, &attach);
            loop {
                match codec::read_frame::<ServerMsg>(&mut s).map_err(|e| format!("{e}"))? {
                    Some(ServerMsg::Redraw { .. }) => break,
                    Some(ServerMsg::Error { message }) => return Err(message),
                    None => return Err("attach: closed".into()),
                    _ => {}
                }
            }
            if how == 8 {
                send(&mut s, &ClientMsg::Detach);
            }
        }
        _ => send(&mut s, &ClientMsg::Subscribe),
    }
    Ok(())
}

fn local_cycles(hub: &Hub, rng: &mut StdRng, failures: &mut Failures) {
    println!("local clients: {LOCAL_CYCLES} connect/disconnect cycles");
    let id = hub.new_session(&["cat"], SIZE);
    let pid = hub.pid();
    // One full attach first, so lazily made things exist before the baseline.
    let mut first = hub.connect();
    hub.attach(&mut first, &id, SIZE);
    drop(first);
    let (fds_before, rss_before) = (settled_fds(pid, usize::MAX), rss_kib(pid));
    let start = Instant::now();
    for i in 0..LOCAL_CYCLES {
        if let Err(e) = local_cycle(hub, &id, rng.random_range(0..10)) {
            failures.add(format!("local cycle {i}: {e}"));
        }
    }
    let elapsed = start.elapsed();
    // Still serving: a list, and an attach that echoes.
    let mut conn = hub.connect();
    let (_, _) = hub.attach(&mut conn, &id, SIZE);
    send(
        &mut conn,
        &ClientMsg::Input {
            data: b"still-serving\r".to_vec(),
        },
    );
    conn.set_read_timeout(Some(STUCK)).unwrap();
    let mut echoed = false;
    while let Ok(Some(msg)) = codec::read_frame::<ServerMsg>(&mut conn) {
        if let ServerMsg::Output { data, .. } = msg {
            if data.windows(13).any(|w| w == b"still-serving") {
                echoed = true;
                break;
            }
        }
    }
    drop(conn);
    if !echoed {
        failures.add("after the cycles, an attached terminal got no echo");
    }
    let fds_after = settled_fds(pid, fds_before);
    let rss_after = rss_kib(pid);
    println!(
        "  {LOCAL_CYCLES} cycles in {:.1} s; server fds {fds_before} before, {fds_after} after; RSS {:.1} MiB before, {:.1} MiB after",
        elapsed.as_secs_f64(),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    if fds_after > fds_before {
        failures.add(format!(
            "server fds grew from {fds_before} to {fds_after} over the cycles"
        ));
    }
    hub.itwillsync(&["kill", &id]);
}

/// The server's fd count once connections it is still closing are gone: polled until it
/// is at most `target`, or stable for a second.
fn settled_fds(pid: i32, target: usize) -> usize {
    let start = Instant::now();
    let mut last = (fd_count(pid), Instant::now());
    while start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        let now = fd_count(pid);
        if now <= target {
            return now;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(1) {
            return now;
        }
    }
    last.0
}
