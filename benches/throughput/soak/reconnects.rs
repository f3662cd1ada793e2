//! The soak's reconnect run: one phone cut at random points [`RECONNECTS`] times while
//! the program prints numbered lines, each line checked end to end (see `soak.rs`).

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::MaybeTlsStream;

use super::{Failures, RING, SIZE, STUCK};
use crate::peers::ws::{self, Got, Phone};
use crate::peers::Hub;

/// Phone disconnects and resumes.
const RECONNECTS: usize = 10_000;
/// Every this many reconnects the phone stays away for [`ABSENCE`]: at the program's
/// 4 MB/s the gap leaves the 10 MiB ring, so resuming takes the repaint path and the check
/// resyncs; on a loaded machine the program prints slower and the resume is exact.
const ABSENT_EVERY: usize = 1_000;
const ABSENCE: Duration = Duration::from_secs(4);
/// The reconnecting phone's program: numbered lines, 10,000 (about 90 KB) every 20 ms,
/// about 4 MB/s, so the machine keeps time for the phone and the server.
const NUMBERS: &str = "i=1; while :; do seq $i $((i + 9999)); i=$((i + 10000)); sleep 0.02; done";
/// The server treats a phone that has not sent `resume` within this long as `resume -1`.
const RESUME_WAIT: Duration = Duration::from_millis(150);

/// Checks a stream of numbered lines (`seq`'s output through a PTY: `N\r\n`): each line
/// is the previous one plus one; after a repaint, the stream picks up at a later line.
#[derive(Default)]
struct Lines {
    /// The number the next complete line must carry; `None` right after a repaint.
    next: Option<u64>,
    /// The last number seen, so a resync can check it moved forward.
    last: u64,
    line: Vec<u8>,
    /// After a repaint the first line may be a tail: it is not checked.
    skip_first: bool,
    checked: u64,
}

impl Lines {
    fn resync(&mut self) {
        self.next = None;
        self.line.clear();
        self.skip_first = true;
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        for &b in data {
            if b != b'\n' {
                if self.line.len() > 32 {
                    return Err(format!("an overlong line: {:?}", lossy(&self.line)));
                }
                self.line.push(b);
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let text = lossy(line.strip_suffix(b"\r").unwrap_or(&line));
            if std::mem::take(&mut self.skip_first) {
                continue;
            }
            let n: u64 = text
                .parse()
                .map_err(|_| format!("line {text:?} is not a number"))?;
            match self.next {
                Some(due) if n != due => {
                    return Err(format!("line {n} arrived where {due} was due"));
                }
                None if n <= self.last => {
                    return Err(format!("after a repaint line {n}, not after {}", self.last));
                }
                _ => {}
            }
            self.next = Some(n + 1);
            self.last = n;
            self.checked += 1;
        }
        Ok(())
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What one phone knows across its connections.
#[derive(Default)]
struct PhoneState {
    /// The seq of the last whole `data` it received; `None` before the first and while a
    /// repaint was cut off (it then asks for everything, as a page does).
    seq: Option<u64>,
    in_repaint: bool,
    lines: Lines,
    bytes: u64,
}

/// Counts of what the reconnect run did.
#[derive(Default, Debug)]
struct Tally {
    handshake_drops: u64,
    mid_frame_out: u64,
    mid_frame_in: u64,
    after_resume: u64,
    before_ack: u64,
    after_ack: u64,
    closed_cleanly: u64,
    /// Repaints because the gap had left the ring (allowed, counted).
    gap_repaints: u64,
    /// Repaints asked for with `resume -1` (the first, and after a cut-off repaint).
    asked_repaints: u64,
    /// Repaints that came at least [`RESUME_WAIT`] after the handshake: the server may
    /// not have read the resume in time (a loaded machine), which it answers as
    /// `resume -1` by design.
    late_repaints: u64,
    /// Connections the server turned away at once (caps), retried.
    retries: u64,
    /// Where the current connection is, for a report when it gets stuck.
    stage: &'static str,
    /// Time to open a socket, and to finish the handshake, summed.
    opening: Duration,
    handshaking: Duration,
}

/// Where a connection is cut.
#[derive(Clone, Copy)]
enum Cut {
    BeforeHello,
    AfterHello,
    AfterAnswer,
    AfterResume,
    BeforeAck,
    AfterAck,
    MidFrameOut,
    MidFrameIn,
    Close,
}

fn pick_cut(rng: &mut StdRng) -> Cut {
    match rng.random_range(0..100) {
        0..4 => Cut::BeforeHello,
        4..8 => Cut::AfterHello,
        8..12 => Cut::AfterAnswer,
        12..17 => Cut::AfterResume,
        17..40 => Cut::BeforeAck,
        40..60 => Cut::AfterAck,
        60..75 => Cut::MidFrameOut,
        75..90 => Cut::MidFrameIn,
        _ => Cut::Close,
    }
}

pub(super) fn reconnects(hub: &Hub, rng: &mut StdRng, failures: &mut Failures) {
    println!("phone reconnects: {RECONNECTS} drops during numbered output, exact delivery checked");
    let (id, link) = hub.phone_session(NUMBERS, SIZE);
    let (url, key) = ws::parse(&link);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut state = PhoneState::default();
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut done = 0;
    rt.block_on(async {
        while done < RECONNECTS {
            let how = pick_cut(rng);
            if done % ABSENT_EVERY == ABSENT_EVERY / 2 {
                tokio::time::sleep(ABSENCE).await;
            }
            let reads = rng.random_range(1..=12);
            let ack_every = rng.random_range(1..=8);
            let result = timeout(
                STUCK,
                connection(&url, &key, how, reads, ack_every, &mut state, &mut tally),
            )
            .await;
            match result {
                Ok(Ok(())) => {
                    done += 1;
                    if done % 1000 == 0 {
                        println!(
                            "  ... {done} reconnects, {:.0} s",
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
                Ok(Err(e)) => {
                    failures.add(format!("reconnect {done}: {e}"));
                    if failures.0.len() > 20 {
                        break;
                    }
                    done += 1;
                }
                Err(_) => {
                    failures.add(format!(
                        "reconnect {done}: stuck for {STUCK:?} at {}",
                        tally.stage
                    ));
                    break;
                }
            }
        }
    });
    let elapsed = start.elapsed();
    hub.itwillsync(&["kill", &id]);
    println!(
        "  {done} reconnects in {:.1} s; {} lines ({:.1} MB) checked in order, none lost or repeated",
        elapsed.as_secs_f64(),
        state.lines.checked,
        state.bytes as f64 / 1e6
    );
    println!(
        "  drops: {} in the handshake, {} right after the resume, {} mid-frame out, {} mid-frame in, {} before an ack, {} after one, {} closed cleanly",
        tally.handshake_drops,
        tally.after_resume,
        tally.mid_frame_out,
        tally.mid_frame_in,
        tally.before_ack,
        tally.after_ack,
        tally.closed_cleanly
    );
    println!(
        "  repaints: {} because the gap had left the ring ({} absences of {ABSENCE:?}), {} asked for (resume -1), {} at least {RESUME_WAIT:?} after the handshake (resume read late: treated as -1 by design); {} connections turned away and retried",
        tally.gap_repaints,
        RECONNECTS / ABSENT_EVERY,
        tally.asked_repaints,
        tally.late_repaints,
        tally.retries
    );
    let n = done.max(1) as u32;
    println!(
        "  mean time to open a socket {:.2} ms, to finish the handshake {:.2} ms",
        (tally.opening / n).as_secs_f64() * 1000.0,
        (tally.handshaking / n).as_secs_f64() * 1000.0
    );
    if state.lines.checked == 0 {
        failures.add("the phone checked no lines at all");
    }
}

/// One connection of the reconnecting phone, ended as `how` says.
async fn connection(
    url: &str,
    key: &itwillsync_protocol::seal::Key,
    how: Cut,
    reads: usize,
    ack_every: usize,
    state: &mut PhoneState,
    tally: &mut Tally,
) -> Result<(), String> {
    tally.stage = "opening the socket";
    let opening = Instant::now();
    let mut socket = loop {
        match ws::open(url).await {
            Ok(s) => break s,
            Err(_) if tally.retries < 10_000 => {
                // Over an admission cap while the server reaps our earlier drops.
                tally.retries += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    };
    tally.opening += opening.elapsed();
    tally.stage = "the handshake";
    let handshaking = Instant::now();
    match how {
        Cut::BeforeHello => {
            tally.handshake_drops += 1;
            return Ok(());
        }
        Cut::AfterHello | Cut::AfterAnswer => {
            tally.handshake_drops += 1;
            let Some(hello) = ws::binary(&mut socket).await else {
                tally.retries += 1;
                return Ok(());
            };
            if matches!(how, Cut::AfterAnswer) {
                let client = itwillsync_protocol::seal::ClientHandshake::new(
                    key.clone(),
                    &hello,
                    rand::random(),
                )
                .map_err(|e| format!("hello: {e}"))?;
                let answer = client.answer().to_vec();
                let _ = socket
                    .send(tokio_tungstenite::tungstenite::Message::binary(answer))
                    .await;
            }
            return Ok(());
        }
        _ => {}
    }
    let mut phone = match Phone::handshake(socket, key).await {
        Ok(p) => p,
        Err(e) if e.starts_with("closed") => {
            tally.retries += 1; // turned away by a cap after the upgrade
            return Ok(());
        }
        Err(e) => return Err(format!("handshake: {e}")),
    };
    tally.handshaking += handshaking.elapsed();
    let proved = Instant::now();
    let last = match (state.seq, state.in_repaint) {
        (Some(seq), false) => seq as i64,
        _ => -1,
    };
    if last < 0 {
        tally.asked_repaints += 1;
    }
    phone
        .send(&format!(r#"{{"type":"resume","lastSeq":{last}}}"#))
        .await;
    if matches!(how, Cut::AfterResume) {
        tally.after_resume += 1;
        return Ok(());
    }
    tally.stage = "reading";
    for i in 0..reads {
        receive(&mut phone, last, proved, state, tally).await?;
        if (i + 1) % ack_every == 0 && !matches!(how, Cut::BeforeAck) {
            if let (Some(seq), false) = (state.seq, state.in_repaint) {
                phone
                    .send(&format!(r#"{{"type":"ack","seq":{seq}}}"#))
                    .await;
            }
        }
    }
    tally.stage = "cutting";
    match how {
        Cut::BeforeAck => tally.before_ack += 1,
        Cut::AfterAck => {
            if let Some(seq) = state.seq {
                phone
                    .send(&format!(r#"{{"type":"ack","seq":{seq}}}"#))
                    .await;
            }
            tally.after_ack += 1;
        }
        Cut::MidFrameOut => {
            // A masked binary frame's header announcing 100 bytes, and 3 of them.
            let _ = tcp(&mut phone)?
                .write_all(&[0x82, 0x80 | 100, 1, 2, 3, 4, 9, 9, 9])
                .await;
            tally.mid_frame_out += 1;
        }
        Cut::MidFrameIn => {
            // Part of whatever frame comes next; the phone never sees that message.
            let mut part = [0u8; 3];
            let _ = timeout(Duration::from_millis(50), tcp(&mut phone)?.read(&mut part)).await;
            tally.mid_frame_in += 1;
        }
        Cut::Close => {
            let _ = phone.ws.close(None).await;
            tally.closed_cleanly += 1;
        }
        _ => {}
    }
    Ok(())
}

/// The phone's TCP stream under its WebSocket, to cut a frame.
fn tcp(phone: &mut Phone) -> Result<&mut tokio::net::TcpStream, String> {
    match phone.ws.get_mut() {
        MaybeTlsStream::Plain(tcp) => Ok(tcp),
        _ => Err("not a plain TCP stream".into()),
    }
}

/// Reads one `data` message and checks it against what came before. `asked` is the
/// `lastSeq` this connection resumed from, `proved` when its handshake finished. A repaint
/// though the gap was in the ring is a failure (`Err`), after which the check resyncs.
async fn receive(
    phone: &mut Phone,
    asked: i64,
    proved: Instant,
    state: &mut PhoneState,
    tally: &mut Tally,
) -> Result<(), String> {
    let (data, seq) = match phone.next().await {
        Got::Data(data, seq) => (data, seq),
        Got::Exit => return Err("the session exited".into()),
        Got::Closed => return Err("the server closed the connection".into()),
    };
    let Some(seq) = seq else {
        // A repaint's piece before its last: drawn, not counted as output.
        state.in_repaint = true;
        return Ok(());
    };
    let contiguous = state.seq.is_some_and(|s| seq == s + data.len() as u64);
    if !state.in_repaint && contiguous && !data.starts_with('\x1b') {
        state.seq = Some(seq);
        state.bytes += data.len() as u64;
        // After a wrong line the check starts over at the next one.
        return state
            .lines
            .feed(data.as_bytes())
            .inspect_err(|_| state.lines.resync());
    }
    if !state.in_repaint && !data.starts_with('\x1b') {
        // Output, not a repaint (one starts with an escape sequence), that does not
        // continue from the last byte received.
        let from = state.seq.replace(seq);
        state.lines.resync();
        return Err(format!(
            "output to {seq} ({} bytes) after {from:?}: bytes lost or repeated",
            data.len()
        ));
    }
    // A repaint (its last piece): fine when asked for, or when the gap left the ring.
    let was_repainting = std::mem::take(&mut state.in_repaint);
    state.lines.resync();
    let from = state.seq.replace(seq);
    if asked < 0 || was_repainting {
        return Ok(());
    }
    let gap = seq.saturating_sub(from.unwrap_or(0));
    if gap >= RING / 2 {
        tally.gap_repaints += 1;
    } else if proved.elapsed() >= RESUME_WAIT {
        tally.late_repaints += 1;
    } else {
        return Err(format!(
            "a repaint after resume {asked}, though the gap ({gap} bytes, to {seq}) was in the ring"
        ));
    }
    Ok(())
}
