//! `cargo bench`: itwillsync's throughput, latency, CPU and memory, each beside a bare-PTY
//! baseline measured in the same run, and (parts `mem`, `cpu`, `scale`) beside tmux; and
//! the soak run. Prints tables; asserts nothing about time.
//!
//! `cargo bench -- NAME...` runs the parts named; `cargo bench` alone runs `local`, `ws`,
//! `echo` and `idle` (`bulk.rs`). The others run only when named:
//! - `soak` (`soak.rs`): thousands of phone reconnects with exact delivery checked, stalled
//!   clients during 1 GB of output, local connect/disconnect cycles; exits non-zero on any
//!   failure.
//! - `mem`, `cpu`, `scale` (`versus.rs`, with `tmux.rs`): the same workloads on our server
//!   and on tmux in one run, rounds taken in turns; one table with ratios and goals.
//!
//! Every part drives the real binary through its public interfaces only (`peers.rs`), so
//! it measures any version of the server.

mod bulk;
mod peers;
mod soak;
mod tmux;
mod versus;

/// The parts `cargo bench` runs when none is named.
const DEFAULT_PARTS: [&str; 4] = ["local", "ws", "echo", "idle"];
/// Parts that run only when named.
const NAMED_PARTS: [&str; 4] = ["soak", "mem", "cpu", "scale"];

fn main() {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for name in &named {
        if !DEFAULT_PARTS.contains(&name.as_str()) && !NAMED_PARTS.contains(&name.as_str()) {
            eprintln!(
                "unknown bench part {name:?}: expected one of {}",
                [&DEFAULT_PARTS[..], &NAMED_PARTS[..]].concat().join(", ")
            );
            std::process::exit(2);
        }
    }
    let part = |name: &str| {
        if named.is_empty() {
            DEFAULT_PARTS.contains(&name)
        } else {
            named.iter().any(|n| n == name)
        }
    };
    let bulk_parts: Vec<&str> = DEFAULT_PARTS.into_iter().filter(|p| part(p)).collect();
    if !bulk_parts.is_empty() {
        bulk::run(&bulk_parts);
    }
    let versus_parts: Vec<&str> = ["mem", "cpu", "scale"]
        .into_iter()
        .filter(|p| part(p))
        .collect();
    if !versus_parts.is_empty() {
        versus::run(&versus_parts);
    }
    if part("soak") && !soak::run() {
        std::process::exit(1);
    }
}
