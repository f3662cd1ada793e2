//! Thin wrappers over crate-private code for the fuzz targets in `fuzz/` (feature
//! `fuzzing`, absent from normal builds). Each runs the real code on the input it is given
//! and panics when a property the server relies on does not hold; any error the code
//! returns for bad input is fine.

use std::path::Path;
use std::sync::Mutex;

use hyper::header::{HeaderName, HeaderValue, HOST, ORIGIN};
use hyper::{Method, Request, StatusCode};
use itwillsync_protocol::{text, Size};

use crate::config::ResizePolicy;
use crate::dashboard::files;
pub use crate::dashboard::files::Home;
use crate::dashboard::message::{DashboardIn, DashboardOut};
use crate::ring::Ring;
use crate::session::follower::{Floods, Step};
use crate::size::{Claim, Clients, Kind};
use crate::term::Term;
use crate::web::phone::{incoming, Action, Ignored};
use crate::web::{assets, auth, gate, Admitted};

/// A phone's message as the reader parses and checks it (`web::phone::incoming`), then a
/// size claim through the session's size bookkeeping: never a panic, nothing acted on from
/// a read-only key, every size applied within 1..=the session's maximum.
pub fn phone_message(text: &[u8], read_only: bool) {
    let action = match incoming(text, read_only) {
        Ok(action) => action,
        Err(Ignored::Malformed(_) | Ignored::Unknown | Ignored::OutOfRange) => return,
        Err(Ignored::ReadOnly) => {
            assert!(read_only, "a full key's message ignored as read-only");
            return;
        }
    };
    match action {
        Action::Input(_) | Action::Resize(_) => {
            assert!(!read_only, "a read-only key's {action:?} acted on")
        }
        Action::Resume(_) | Action::Ack(_) => {}
    }
    if let Action::Resize(claim) = action {
        let (Claim::Resized(size) | Claim::Forced(size)) = claim else {
            panic!("a resize claimed {claim:?}");
        };
        assert!(size.cols >= 1 && size.rows >= 1, "{size:?}");
        const MAX: Size = Size {
            cols: 1000,
            rows: 500,
        };
        for policy in [
            ResizePolicy::Active,
            ResizePolicy::Viewport,
            ResizePolicy::Latest,
            ResizePolicy::Smallest,
        ] {
            let mut clients = Clients::new(policy, MAX);
            let phone = clients.join(Kind::Phone, false, None);
            clients.claim(phone, claim);
            if let Some(got) = clients.effective() {
                assert!(
                    (1..=MAX.cols).contains(&got.cols) && (1..=MAX.rows).contains(&got.rows),
                    "{policy:?}: {claim:?} gave {got:?}"
                );
            }
        }
    }
}

/// A dashboard message as the dashboard parses it, then the checks its requests make
/// before acting, on a fixed `home`: names (`text::check_name`), programs
/// (`files::valid_tool`), directories (`Home::resolve` and `Home::listing`, which must
/// never leave home), and the `operation-error` reply naming the message (valid JSON that
/// carries the session id back as it came).
pub fn dashboard_message(text: &[u8], home: &Home) {
    let Ok(msg) = serde_json::from_slice::<DashboardIn>(text) else {
        return;
    };
    let reply = DashboardOut::OperationError {
        operation: msg.operation(),
        session_id: msg.session_id(),
        error: "failed".into(),
    }
    .to_json();
    let reply: serde_json::Value = serde_json::from_slice(&reply).expect("a reply is JSON");
    assert_eq!(reply["sessionId"].as_str(), Some(msg.session_id()));
    assert_eq!(reply["operation"].as_str(), Some(msg.operation()));
    let root = Path::new(&home.display()).to_path_buf();
    match &msg {
        DashboardIn::RenameSession { name, .. } => {
            if let Ok(name) = text::check_name(name) {
                assert!(!name.is_empty() && name.trim() == name, "{name:?}");
                assert!(!name.contains(':') && !name.chars().any(char::is_control));
                assert!(name.chars().count() <= text::MAX_NAME_CHARS);
            }
        }
        DashboardIn::CreateSession { tool, cwd, .. } => {
            if files::valid_tool(tool) {
                assert!(
                    !tool.contains('/') && tool != "." && tool != "..",
                    "{tool:?}"
                );
            }
            if let Ok(dir) = home.resolve(cwd) {
                assert!(dir.starts_with(&root) && dir.is_dir(), "{cwd:?} -> {dir:?}");
            }
        }
        DashboardIn::ListDir { path, .. } => {
            if let Ok(listing) = home.listing(path) {
                assert!(Path::new(&listing.path).starts_with(&root), "{path:?}");
                for entry in &listing.entries {
                    let real = std::fs::canonicalize(&entry.path).expect("a listed entry");
                    assert!(real.starts_with(&root), "{path:?} listed {:?}", entry.path);
                    assert!(!entry.name.starts_with('.'));
                }
            }
        }
        DashboardIn::StopSession { .. }
        | DashboardIn::OpenRemote { .. }
        | DashboardIn::GetMetadata { .. }
        | DashboardIn::ClearAttention { .. }
        | DashboardIn::Unknown => {}
    }
}

/// A home directory for [`dashboard_message`] at `root` (an existing, empty directory):
/// subdirectories, a hidden one, a file, and symlinks that stay inside or lead out.
pub fn dashboard_home(root: &Path) -> Home {
    for dir in ["work/project", "work/.git", ".config", "docs"] {
        std::fs::create_dir_all(root.join(dir)).expect("a directory in the fuzz home");
    }
    std::fs::write(root.join("work/notes.txt"), "notes").expect("a file in the fuzz home");
    let links: [(&str, &str); 4] = [
        ("out", "/"),
        ("work/up", "../.."),
        ("inside", "work/project"),
        ("dangling", "nowhere"),
    ];
    for (link, target) in links {
        let _ = std::os::unix::fs::symlink(target, root.join(link));
    }
    Home::at(root).expect("the fuzz home")
}

/// A request as the session and dashboard listeners route it (`web::gate`): built from
/// arbitrary method, request-target and header bytes (what hyper would not parse never
/// reaches the gate), then checked: only GET of `/` or `/ws` is admitted, an upgrade only
/// when same-origin, every other request answered with the status its case calls for.
pub fn http_gate(method: &[u8], target: &[u8], headers: &[(&[u8], &[u8])]) {
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let mut builder = Request::builder().method(method.clone()).uri(target);
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(req) = builder.body(()) else {
        return;
    };
    same_origin(req.headers());
    let path = req.uri().path();
    let token = req.uri().query().is_some_and(|q| q.contains("token="));
    match gate(&req) {
        Ok(admitted) => {
            assert_eq!(method, Method::GET);
            assert!(!token, "an old link admitted");
            match admitted {
                Admitted::Upgrade => {
                    assert!(path == "/" || path == "/ws", "upgrade on {path:?}");
                    assert!(
                        auth::same_origin(req.headers()),
                        "a foreign upgrade admitted"
                    );
                    assert!(hyper_tungstenite::is_upgrade_request(&req));
                }
                Admitted::Page => assert_eq!(path, "/"),
            }
        }
        Err(reply) => {
            let status = reply.status();
            let want = if method != Method::GET {
                StatusCode::METHOD_NOT_ALLOWED
            } else if token {
                StatusCode::GONE
            } else if assets::file(path).is_some() {
                assert!(
                    [StatusCode::OK, StatusCode::NOT_MODIFIED].contains(&status),
                    "{path:?}: {status}"
                );
                return;
            } else if path != "/" && path != "/ws" {
                StatusCode::NOT_FOUND
            } else if hyper_tungstenite::is_upgrade_request(&req) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UPGRADE_REQUIRED
            };
            assert_eq!(status, want, "{method} {:?}", req.uri());
        }
    }
}

/// `auth::same_origin` on arbitrary headers, against what it must say in the plain cases:
/// no `Origin` passes, an `Origin` without a `Host` fails, and a page's own origin
/// (`http://` + a plain `host[:port]`, any case) passes.
fn same_origin(headers: &hyper::HeaderMap) {
    let verdict = auth::same_origin(headers);
    if headers.get(ORIGIN).is_none() {
        assert!(verdict, "no Origin refused");
        return;
    }
    let Some(host) = headers.get(HOST) else {
        assert!(!verdict, "an Origin without a Host passed");
        return;
    };
    let plain = |h: &[u8]| {
        !h.is_empty()
            && h[0] != b':'
            && h.iter()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(b))
    };
    let host = host.as_bytes();
    let (name, port) = match host.iter().rposition(|b| *b == b':') {
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    };
    if plain(name) && port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit)) {
        let own = format!(
            "HTTP://{}",
            String::from_utf8_lossy(host).to_ascii_uppercase()
        );
        let mut own_headers = hyper::HeaderMap::new();
        own_headers.insert(HOST, HeaderValue::from_bytes(host).expect("a header value"));
        own_headers.insert(ORIGIN, HeaderValue::from_str(&own).expect("a header value"));
        assert!(
            auth::same_origin(&own_headers),
            "{own:?} refused for {host:?}"
        );
    }
}

/// The follower's flood skipping against a full parse: `output` arrives in pieces ending
/// at `arrivals` (offsets, ascending), the follower (`Floods::step`, looking ahead once
/// `look` bytes are unparsed, `window` bytes at a time) follows it after each arrival and
/// finishes after the last; a second state parses all of it at once. Their seq, visible
/// screen (both screens, modes, cursor) and scrollback must be identical.
pub fn flood_differential(output: &[u8], arrivals: &[usize], size: Size, look: u64, window: usize) {
    let mut full = Term::new(size);
    let parsed = full.process(output);
    full.finish(&output[parsed..]);

    let ring = Mutex::new(Ring::new(output.len().max(1)));
    let term = Mutex::new(Term::new(size));
    let mut floods = Floods::with_window(look, window.max(1));
    let read = |from, max, out: &mut Vec<u8>| ring.lock().expect("ring").read_into(from, max, out);
    let mut chunk = Vec::new();
    let mut at = 0;
    let ends = arrivals.iter().copied().filter(|&end| end < output.len());
    for end in ends.chain([output.len()]) {
        let end = end.max(at);
        ring.lock().expect("ring").push(&output[at..end]);
        at = end;
        let exited = at == output.len();
        let head = at as u64;
        // The follower's loop between two wake-ups (`follow_output`).
        loop {
            let (from, to) = match floods.step(&read, &term, head, exited, &mut chunk) {
                Step::Again => continue,
                Step::Behind => panic!("the ring holds all the output"),
                Step::Parsed { from, to, .. } => (from, to),
            };
            if to > from && to < head {
                continue;
            }
            break;
        }
        // It waits for more only with a cut-off sequence left, never with output to parse.
        let left = head - term.lock().expect("term").seq();
        assert!(left < 32, "{size:?}: stopped with {left} bytes unparsed");
    }
    let mut following = term.into_inner().expect("term");
    assert_eq!(following.seq(), full.seq(), "{size:?}");
    assert_eq!(
        following.redraw(),
        full.redraw(),
        "{size:?}: the screens differ"
    );
    let (a, b) = (following.redraw_with_history(), full.redraw_with_history());
    if let Some((at, a, b)) = crate::term::first_difference(&a, &b) {
        panic!(
            "{size:?}: the scrollback differs at byte {at}:\n following {a:?}\n full      {b:?}"
        );
    }
}

/// The fuzz target `flood_differential`'s input: a small program that writes mostly plain
/// text with escapes in between, so that a few hundred bytes of input make the thousands
/// of lines a skip needs. Byte 0 the rows, byte 1 the columns, byte 2 how early and how
/// far the follower looks ahead, then operations (a tag byte and its arguments): runs of
/// plain lines, escapes (whole, or cut where plain text continues them), raw bytes,
/// non-ASCII text, and arrival boundaries. Runs [`flood_differential`] on its output.
pub fn flood_program(data: &[u8]) {
    let mut input = Input(data);
    let size = Size {
        rows: 2 + u16::from(input.byte() % 40),
        cols: 2 + u16::from(input.byte() % 120),
    };
    let reach = input.byte();
    let look = 1u64 << (10 + reach % 9);
    let window = (look as usize) << (1 + (reach >> 4) % 3);
    let cols = usize::from(size.cols);
    let mut out = Vec::new();
    let mut arrivals = Vec::new();
    let mut counter = 0u32;
    while !input.0.is_empty() && out.len() < MAX_OUTPUT {
        let tag = input.byte();
        match tag % 8 {
            0..=2 | 6 => {
                let count = match tag % 8 {
                    6 => (usize::from(input.byte()) + 1) * 64,
                    _ => usize::from(input.byte()) * 16 + 1,
                };
                let width = usize::from(input.byte()) % (3 * cols);
                let end: &[u8] = match (tag >> 3) % 8 {
                    0 => b"\n",
                    1 => b"\r",
                    2 => b"",
                    _ => b"\r\n",
                };
                for _ in 0..count {
                    counter = counter.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let len = width.min(counter as usize % (width + 1) + width / 2);
                    for i in 0..len {
                        out.push(match (counter as usize + i) % 37 {
                            0 if tag & 0x40 != 0 => b'\t',
                            n => b'a' + (n % 26) as u8,
                        });
                    }
                    out.extend_from_slice(end);
                }
            }
            3 => out.extend_from_slice(ESCAPES[usize::from(input.byte()) % ESCAPES.len()]),
            4 => {
                let len = usize::from(input.byte() % 32).min(input.0.len());
                out.extend_from_slice(&input.0[..len]);
                input.0 = &input.0[len..];
            }
            5 => arrivals.push(out.len()),
            _ => out.extend_from_slice(TEXT[usize::from(input.byte()) % TEXT.len()].as_bytes()),
        }
    }
    flood_differential(&out, &arrivals, size, look, window);
}

/// Most output one input may make.
const MAX_OUTPUT: usize = 4 << 20;

/// Escapes the program writes: whole, or cut off.
const ESCAPES: &[&[u8]] = &[
    b"\x1b[31m",
    b"\x1b[0m",
    b"\x1b[1;44m",
    b"\x1b[38;2;1;2;3m",
    b"\x1b[2J",
    b"\x1b[3J",
    b"\x1b[K",
    b"\x1b[H",
    b"\x1b[5;3H",
    b"\x1b[3A",
    b"\x1b[2B",
    b"\x1b[9C",
    b"\x1b[4D",
    b"\x1b[2L",
    b"\x1b[3M",
    b"\x1b[2S",
    b"\x1b[2T",
    b"\x1b[4@",
    b"\x1b[3P",
    b"\x1b[?1049h",
    b"\x1b[?1049l",
    b"\x1b[?47h",
    b"\x1b[?47l",
    b"\x1b[?1047h",
    b"\x1b[?1047l",
    b"\x1b[2;6r",
    b"\x1b[r",
    b"\x1b[3;r",
    b"\x1b[1;999r",
    b"\x1b[;\n5r",
    b"\x1b[4h",
    b"\x1b[4l",
    b"\x1b[?7l",
    b"\x1b[?7h",
    b"\x1b[?25l",
    b"\x1b[?1h",
    b"\x1b[?6h",
    b"\x1b[?6l",
    b"\x1b[20h",
    b"\x07",
    b"\x1b]0;title\x07",
    b"\x1b]9;done\x07",
    b"\x1b]2;t\x1b\\",
    b"\x1bP1$r\x1b\\",
    b"\x08\x08",
    b"\x0b",
    b"\x0c",
    b"\x1b(0",
    b"\x1b(B",
    b"\x1bc",
    b"\x1b7",
    b"\x1b8",
    b"\x1bM",
    b"\x1bD",
    b"\x1bE",
    b"\x1bH",
    b"\x1b[3g",
    b"\x1b[6n",
    // Cut off: plain text that follows completes them.
    b"\x1b[",
    b"\x1b[?104",
    b"\x1b]0;",
    b"\x1bP",
    b"\x1b",
    b"\x1b[1;3",
    b"\x1b[2;",
    b"\x1b(",
];

/// Text beyond ASCII (C1 controls among it).
const TEXT: &[&str] = &[
    "héllo ",
    "漢字",
    "\u{1f600}",
    "e\u{301}",
    "\u{202e}",
    "\u{85}",
    "\u{9b}",
];

/// The program's bytes, read one at a time (zero once used up).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every crash input the fuzz targets of this crate found (`fuzz/regressions/`), run
    /// again: each once failed its target, and must pass now.
    #[test]
    fn fuzz_regressions_pass() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions");
        let mut replayed = 0;
        for target in ["flood_differential"] {
            let inputs = std::fs::read_dir(format!("{dir}/{target}")).expect("the regressions");
            for input in inputs {
                let path = input.expect("a regression").path();
                let data = std::fs::read(&path).expect("a regression input");
                match target {
                    "flood_differential" => super::flood_program(&data),
                    _ => unreachable!(),
                }
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no regression inputs in {dir}");
    }
}
