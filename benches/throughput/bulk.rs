//! The bulk-output parts (`local`, `ws`, `echo`, `idle`): 100 MB through `cat` into a
//! bare PTY read directly; through the server with no client, with one attached client
//! (every byte counted), and with one attached plus one stalled client; keystroke echo
//! round trips (bare PTY vs through the server); server CPU seconds per 100 MB; server
//! RSS with 1 and with 50 idle sessions; and for phones, 100 MB to 1 and to 10 WebSocket
//! clients reading and acking as fast as they can (every byte checked by seq), WebSocket
//! echo round trips and server CPU seconds per 100 MB.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};

use crate::peers::{
    cat_into_pty, cpu_seconds, drain, file_len, mbs, percentiles, pty, recv, rss_kib, send, ws, Hub,
};

pub const BULK: usize = 100 << 20;
const ECHOES: usize = 2000;
const SIZE: Size = Size { cols: 80, rows: 24 };

/// Runs the named parts among `local`, `ws`, `echo`, `idle`.
pub fn run(parts: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bulk.txt");
    write_bulk(&file);
    // Started here, so every part (`ws` alone too) finds a server on the socket.
    let mut hub = Hub::new(serde_json::json!({}));
    hub.start();
    let bench = Bench { hub, file };

    let part = |name: &str| parts.contains(&name);

    let bare = bare_pty(&bench.file);
    println!(
        "{:<44} {:>8} {:>8} {:>10}",
        "bulk output, 100 MiB through cat", "MB/s", "vs bare", "delivered"
    );
    let row = |name: &str, (mbs, delivered): (f64, f64)| {
        println!(
            "{name:<44} {mbs:>8.1} {:>7.0}% {:>9.1}%",
            mbs / bare * 100.0,
            delivered * 100.0
        )
    };
    row("bare PTY, read directly (baseline)", (bare, 1.0));
    if part("local") {
        row("server, no client", (bench.no_client(), 1.0));
        let server = bench.server_pid();
        let cpu0 = cpu_seconds(server);
        row(
            "server, one attached client (all bytes)",
            bench.attached(false),
        );
        let cpu = cpu_seconds(server) - cpu0;
        row(
            "server, one attached + one stalled client",
            bench.attached(true),
        );
        println!("server CPU seconds per 100 MiB (one client): {cpu:.2}");
    }
    if part("ws") {
        let (mbs, delivered, ws_cpu) = bench.websockets(1);
        row("server, one WebSocket client (all bytes)", (mbs, delivered));
        let (each, least, ten_cpu) = bench.websockets(10);
        row(
            "server, ten WebSocket clients (together)",
            (each * 10.0, least),
        );
        println!("server CPU seconds per 100 MiB (one WebSocket client): {ws_cpu:.2}");
        println!("server CPU seconds per 100 MiB (ten WebSocket clients): {ten_cpu:.2}");
    }
    if part("echo") {
        let [bare, local, phone] = bench.echoes().map(percentiles);
        let line = |name: &str, (p50, p99): (f64, f64)| {
            println!(
                "echo round trip, {name:<14} p50 {p50:.3} ms  p99 {p99:.3} ms  (overhead p50 {:+.3} ms)",
                p50 - bare.0
            )
        };
        line("bare PTY:", bare);
        line("via server:", local);
        line("via WebSocket:", phone);
    }
    if !part("idle") {
        return;
    }
    let (one, fifty) = bench.idle_rss();
    println!("server RSS: 1 idle session {one} KiB, 50 idle sessions {fifty} KiB, {:.0} KiB per extra session", (fifty - one) as f64 / 49.0);
}

/// 100 MiB of printable 80-column lines, like a build log or an agent's output.
pub fn write_bulk(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut written = 0;
    while written < BULK {
        let line: String = (0..79)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (b' ' + (x % 94) as u8) as char
            })
            .collect();
        writeln!(out, "{line}").unwrap();
        written += 80;
    }
}

struct Bench {
    hub: Hub,
    file: PathBuf,
}

impl Bench {
    fn itwillsync(&self, args: &[&str]) -> String {
        self.hub.itwillsync(args)
    }

    fn server_pid(&self) -> i32 {
        self.hub.pid()
    }

    fn connect(&self) -> std::os::unix::net::UnixStream {
        self.hub.connect()
    }

    /// A session that waits for a keystroke, then cats the file.
    fn cat_session(&self) -> String {
        let script = format!("read go; cat '{}'", self.file.display());
        self.itwillsync(&["new", "-d", "--", "sh", "-c", &script])
    }

    fn no_client(&self) -> f64 {
        let script = format!("cat '{}'", self.file.display());
        let start = Instant::now();
        let id = self.itwillsync(&["new", "-d", "--", "sh", "-c", &script]);
        let mut conn = self.connect();
        loop {
            send(&mut conn, &ClientMsg::List);
            let Some(ServerMsg::Sessions { sessions }) = recv(&mut conn) else {
                panic!()
            };
            if !sessions.iter().any(|s| s.id == id) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        mbs(file_len(&self.file), start.elapsed())
    }

    /// MB/s and the share of output bytes the attached client received (the rest were
    /// replaced by redraws because it fell a whole ring behind).
    fn attached(&self, with_stalled: bool) -> (f64, f64) {
        let id = self.cat_session();
        let attach = ClientMsg::Attach {
            target: Some(id),
            read_only: false,
            size: SIZE,
        };
        let _stalled = with_stalled.then(|| {
            let mut s = self.connect();
            send(&mut s, &attach);
            s
        });
        let mut conn = self.connect();
        send(&mut conn, &attach);
        let mut cursor = 0;
        let mut bytes = 0u64;
        let mut start = Instant::now();
        loop {
            match recv(&mut conn).expect("stream ended") {
                ServerMsg::Redraw { seq, .. } => {
                    cursor = seq;
                    send(
                        &mut conn,
                        &ClientMsg::Input {
                            data: b"\r".to_vec(),
                        },
                    );
                    start = Instant::now();
                }
                ServerMsg::Output { seq, data } => {
                    assert_eq!(seq, cursor + data.len() as u64, "lost or repeated bytes");
                    cursor = seq;
                    bytes += data.len() as u64;
                }
                ServerMsg::Exit { .. } => break,
                _ => {}
            }
        }
        // cat's output gains a \r per line in the PTY.
        let expected = file_len(&self.file) / 80 * 81;
        (
            mbs(file_len(&self.file), start.elapsed()),
            (bytes as f64 / expected as f64).min(1.0),
        )
    }

    /// A new session's phone link (with its key) for `script`.
    fn ws_session(&self, script: &str) -> (String, String) {
        let id = self.itwillsync(&["new", "-d", "--no-qr", "--", "sh", "-c", script]);
        let list: serde_json::Value =
            serde_json::from_str(&self.itwillsync(&["ls", "--json"])).unwrap();
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap();
        let url = entry["url"].as_str().unwrap().to_string();
        (id, url)
    }

    fn websockets(&self, n: usize) -> (f64, f64, f64) {
        websockets(&self.hub, &self.file, n)
    }

    /// Keystroke round trips through `cat`: on a bare PTY, through an attached terminal and
    /// over WebSocket, taken in turns (one of each per key) so that all three see the
    /// machine in the same state; a VM's latency drifts by tens of microseconds.
    fn echoes(&self) -> [Vec<f64>; 3] {
        let (mut master, slave) = pty();
        let mut bare_cat = Command::new("cat")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave))
            .spawn()
            .unwrap();
        let local_id = self.itwillsync(&["new", "-d", "--no-qr", "--", "cat"]);
        let mut conn = self.connect();
        let attach = ClientMsg::Attach {
            target: Some(local_id.clone()),
            read_only: false,
            size: SIZE,
        };
        send(&mut conn, &attach);
        while !matches!(recv(&mut conn), Some(ServerMsg::Size { .. })) {}
        let (ws_id, url) = self.ws_session("exec cat");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut times: [Vec<f64>; 3] = Default::default();
        rt.block_on(async {
            let mut phone = ws::Phone::connect(&url).await;
            let mut buf = [0u8; 256];
            for i in 0..ECHOES {
                let key = b'a' + (i % 26) as u8;
                let t = Instant::now();
                master.write_all(&[key]).unwrap();
                loop {
                    let n = master.read(&mut buf).unwrap();
                    if buf[..n].contains(&key) {
                        break;
                    }
                }
                times[0].push(t.elapsed().as_secs_f64() * 1000.0);

                let t = Instant::now();
                send(&mut conn, &ClientMsg::Input { data: vec![key] });
                while !matches!(recv(&mut conn), Some(ServerMsg::Output { data, .. }) if data.contains(&key)) {}
                times[1].push(t.elapsed().as_secs_f64() * 1000.0);

                let t = Instant::now();
                let key = key as char;
                phone
                    .send(&format!(r#"{{"type":"input","data":"{key}"}}"#))
                    .await;
                while !phone.next_data().await.0.contains(key) {}
                times[2].push(t.elapsed().as_secs_f64() * 1000.0);
            }
        });
        let _ = bare_cat.kill();
        let _ = bare_cat.wait();
        self.itwillsync(&["kill", &local_id]);
        self.itwillsync(&["kill", &ws_id]);
        times
    }

    /// Measured in a fresh server: one that ran the floods keeps freed memory mapped.
    fn idle_rss(&self) -> (u64, u64) {
        self.itwillsync(&["hub", "stop"]);
        self.itwillsync(&["new", "-d", "--", "sleep", "1000"]);
        let one = rss_kib(self.server_pid());
        for _ in 1..50 {
            self.itwillsync(&["new", "-d", "--", "sleep", "1000"]);
        }
        (one, rss_kib(self.server_pid()))
    }
}

/// MB/s per client, the smallest share of the output any of `n` clients received
/// (the rest replaced by redraws) and the server's CPU seconds meanwhile.
pub fn websockets(hub: &Hub, file: &Path, n: usize) -> (f64, f64, f64) {
    let script = format!("read go; cat '{}'; echo BENCH-END", file.display());
    let (_, url) = hub.phone_session(&script, SIZE);
    let cpu0 = cpu_seconds(hub.pid());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let expected = file_len(file) / 80 * 81;
    rt.block_on(async {
        let mut phones = Vec::new();
        for _ in 0..n {
            phones.push(ws::Phone::connect(&url).await);
        }
        phones[0].send(r#"{"type":"input","data":"\r"}"#).await;
        let start = Instant::now();
        let tasks: Vec<_> = phones
            .into_iter()
            .map(|p| tokio::spawn(p.drain_until("BENCH-END")))
            .collect();
        let mut least = 1.0f64;
        for task in tasks {
            let bytes = task.await.unwrap();
            least = least.min(bytes as f64 / expected as f64);
        }
        let cpu = cpu_seconds(hub.pid()) - cpu0;
        (mbs(file_len(file), start.elapsed()), least.min(1.0), cpu)
    })
}

/// MB/s of `cat FILE` into a bare PTY read directly.
pub fn bare_pty(file: &Path) -> f64 {
    let start = Instant::now();
    let (mut master, mut child) = cat_into_pty(file);
    drain(&mut master);
    child.wait().unwrap();
    mbs(file_len(file), start.elapsed())
}
