//! `cargo bench -- mem cpu scale`: our server beside tmux, the same workloads in one run,
//! rounds taken in turns so noise hits both; one table with the ratios and the memory
//! issue's goals (met or not). Without tmux its cells say so and ours are still measured.
//!
//! - `mem` (`versus/mem.rs`): server RSS with idle sessions and with 20 that each printed
//!   1 MB.
//! - `cpu` (`versus/cpu.rs`): server CPU seconds per 100 MB to a terminal, a phone and ten
//!   phones; echo round trips; throughput as a share of the bare PTY's.
//! - `scale` (`versus/scale.rs`): 1,000 sessions: `ls`, threads, idle RSS, attaching.
//!
//! Shared here: the table, and how to tell that a session's output has been taken in.

mod cpu;
mod floor;
mod mem;
mod scale;

use std::time::{Duration, Instant};

use itwillsync_protocol::Size;

use crate::peers::Hub;
use crate::tmux::{self, Tmux};

/// Rounds where a measurement is cheap enough to repeat; the table shows medians.
const ROUNDS: usize = 3;
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
        rows.extend(mem::mem(has_tmux));
    }
    if parts.contains(&"cpu") {
        rows.extend(cpu::cpu(has_tmux));
    }
    if parts.contains(&"scale") {
        rows.extend(scale::scale(has_tmux));
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
