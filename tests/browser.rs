//! The web pages in a real browser: Debian's headless Chromium driven by playwright-core
//! (`tests/browser/*.mjs`), against the real binary; and the pages' own scripts in Node
//! (`tests/browser/*.test.mjs`: the sealed protocol against its test vectors, the Share
//! QR code). `scripts/test.sh`, the one test command, installs Node, Chromium and the
//! scripts' packages (through `scripts/test-deps.sh`); without them these tests fail,
//! saying so in one line, rather than skip and pass.
//!
//! The terminal page and one dashboard test reach the server through a TCP relay
//! (`tests/browser/relay.mjs`) that logs every byte it passes and can cut connections:
//! what a passive listener on the network sees must hold no key, keystroke or screen text
//! (DESIGN.md "Security model"), and a page resumes exactly after a cut.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use itwillsync_protocol::seal::Key;
use support::{eventually, Endpoint, Home};

/// Node with playwright-core and Chromium, or a clear failure naming the fix.
fn node_script(name: &str) -> Command {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        node && dir.join("node_modules/playwright-core").exists() && Path::new(&chromium).exists(),
        "browser tests need Node, playwright-core and Chromium ({chromium}): run scripts/test.sh"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(name)).env("CHROMIUM", chromium);
    cmd
}

/// The pages' scripts under Node's test runner (no browser), or a clear failure naming the fix.
#[test]
fn the_pages_seal_and_share_as_the_protocol_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/jsqr").exists(),
        "the page tests need Node and jsqr: run scripts/test.sh"
    );
    let run = Command::new("node")
        .arg("--test")
        .arg(dir.join("seal.test.mjs"))
        .arg(dir.join("share.test.mjs"))
        .output();
    let out = match run {
        Ok(out) => out,
        Err(e) => panic!("the page tests need Node ({e}): run scripts/test.sh"),
    };
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tests/browser/seal.test.mjs or share.test.mjs failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a browser script to its end: at each `STEP name` it prints, `act(name)` runs and
/// the script is told to go on; the script must finish with `RESULT ok`.
fn run_steps(mut node: Command, mut act: impl FnMut(&str)) {
    let mut node = node
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_node = node.stdin.take().unwrap();
    let mut result = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        match line.strip_prefix("STEP ") {
            Some(step) => {
                act(step);
                writeln!(to_node, "go").unwrap();
            }
            None => result = line,
        }
    }
    let status = node.wait().unwrap();
    assert!(
        status.success() && result == "RESULT ok",
        "the browser test failed (see its output above)"
    );
}

/// A program that prints every byte it receives as `<hex>` (raw mode: no signals, no
/// echo; `dd` because bash's own `read -n` re-enables signals), rings the bell for `!`,
/// sends an OSC 9 notification for `#`, and prints a marker once the file `trigger` appears in its directory.
const ECHO_HEX: &str = r#"cd "$(dirname "$0")"
stty raw -echo
(while [ ! -e trigger ]; do sleep 0.05; done; printf '\r\nMISSED-OUTPUT\r\n') &
printf 'ready-pty\r\n'
printf 'docs at https://example.com/docs\r\n'
while :; do
  b=$(dd bs=1 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
  printf '<%s>' "$b"
  if [ "$b" = 21 ]; then printf '\a'; fi
  if [ "$b" = 23 ]; then printf '\033]9;Build finished: 3 tests failed\007'; fi
done
"#;

#[test]
fn the_terminal_page_shows_output_sends_keys_and_resumes_after_a_cut() {
    let home = Home::new();
    let script = home.path().join("echo-hex.sh");
    std::fs::write(&script, ECHO_HEX).unwrap();
    let endpoint = home.session(&["sh", script.to_str().unwrap()]);
    let id = home.sessions()[0]["id"].as_str().unwrap().to_string();
    // The session's link: its full key (base64url) in the fragment.
    let url = format!("http://127.0.0.1:{}/#k={}", endpoint.port, endpoint.key);

    let read_only = Endpoint::from_link(&home.link(&[&id, "--read-only"]), endpoint.port);
    let relayed = tempfile::tempdir().unwrap();

    let mut node = node_script("terminal.mjs");
    node.env("URL", &url).env("RELAY_LOG", relayed.path());
    run_steps(node, |step| {
        assert_eq!(step, "cut");
        // The script has cut the phone's connection; the program prints meanwhile.
        std::fs::write(home.path().join("trigger"), "").unwrap();
        let log = home.path().join("logs").join(format!("{id}.log"));
        eventually("the missed output", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("MISSED-OUTPUT"))
        });
    });
    // Everything went through the relay, the reconnection and resume included, sealed.
    let mut secrets = key_forms("the full key", &endpoint.key);
    secrets.extend(key_forms("the read-only key", &read_only.key));
    secrets.extend(text_forms(&["ready-pty", "MISSED-OUTPUT"]));
    assert_sealed(relayed.path(), &secrets);
}

/// What the relay of `tests/browser/relay.mjs` wrote to `dir`: each connection's bytes in
/// one direction (`N.up`: browser to server, `N.down`: server to browser).
fn relayed(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The forms a key could leak in: its link text (base64url), hex (as `master.token` keeps
/// it) and raw bytes.
fn key_forms(what: &str, link_text: &str) -> Vec<(String, Vec<u8>)> {
    let key = Key::from_link_text(link_text).expect("a key");
    vec![
        (format!("{what} (base64url)"), link_text.as_bytes().to_vec()),
        (format!("{what} (hex)"), key.to_hex().into_bytes()),
        (format!("{what} (raw)"), key.as_bytes().to_vec()),
    ]
}

fn text_forms(texts: &[&str]) -> Vec<(String, Vec<u8>)> {
    texts
        .iter()
        .map(|t| (format!("{t:?}"), t.as_bytes().to_vec()))
        .collect()
}

/// Asserts that the relay that logged to `dir` carried the page load and a WebSocket
/// (so the check below is not vacuous) and that none of `secrets` crossed it, in either
/// direction, on any connection.
fn assert_sealed(dir: &Path, secrets: &[(String, Vec<u8>)]) {
    let files = relayed(dir);
    let any = |direction: &str, needle: &[u8]| {
        files
            .iter()
            .any(|(name, bytes)| name.ends_with(direction) && contains(bytes, needle))
    };
    assert!(any(".up", b"GET / HTTP/1.1"), "the relay saw the page load");
    assert!(any(".down", b"HTTP/1.1 200 OK"), "the relay saw the page");
    assert!(any(".down", b"HTTP/1.1 101"), "the relay saw a WebSocket");
    assert!(any(".down", b"IWS1"), "the relay saw the sealed handshake");
    for (what, needle) in secrets {
        for (name, bytes) in &files {
            assert!(
                !contains(bytes, needle),
                "{what} crossed the relay in clear (connection {name})"
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_relay_sees_neither_keys_nor_keystrokes_nor_output_of_a_session() {
    let home = Home::new();
    let (typed, printed) = ("typed-8f3a", "printed-77c1");
    // Answers a line that is the typed marker with the printed one (which it spells in two
    // parts, so only its output can show it whole).
    let program = format!(
        "echo ready; while read -r line; do \
         if [ \"$line\" = {typed} ]; then printf 'printed-%s\\n' 77c1; fi; done"
    );
    let endpoint = home.session(&["sh", "-c", &program]);
    let id = home.sessions()[0]["id"].as_str().unwrap().to_string();
    let read_only = Endpoint::from_link(&home.link(&[&id, "--read-only"]), endpoint.port);
    let url = format!("http://127.0.0.1:{}/#k={}", endpoint.port, endpoint.key);
    let relayed = tempfile::tempdir().unwrap();

    let mut node = node_script("sealed-terminal.mjs");
    node.env("URL", &url)
        .env("RELAY_LOG", relayed.path())
        .env("TYPED", typed)
        .env("PRINTED", printed);
    run_steps(node, |step| panic!("unexpected step {step}"));
    // The page showed both markers (the script checked): they crossed the relay, sealed.
    let mut secrets = key_forms("the full key", &endpoint.key);
    secrets.extend(key_forms("the read-only key", &read_only.key));
    secrets.extend(text_forms(&[typed, printed]));
    assert_sealed(relayed.path(), &secrets);
}

#[test]
fn a_relay_sees_neither_the_master_key_nor_session_keys_nor_the_dashboard() {
    let home = Home::new();
    let (name, preview, renamed) = ("name-4b1e", "preview-9d0c", "renamed-31f7");
    let id = home.new_detached(&[
        "--no-qr",
        "--name",
        name,
        "--",
        "sh",
        "-c",
        "printf 'preview-%s\\n' 9d0c; exec sleep 60",
    ]);
    let session = home.sessions()[0]["url"].as_str().unwrap().to_string();
    let session_key = session.split_once("#k=").expect("a key").1.to_string();
    let info = home.ok(&["hub", "info"]);
    let url = info
        .lines()
        .find_map(|l| l.strip_prefix("dashboard: "))
        .expect("hub info prints the dashboard URL");
    let master = url.split_once("#k=").expect("a master key").1;
    let relayed = tempfile::tempdir().unwrap();

    let mut node = node_script("sealed-dashboard.mjs");
    node.env("URL", url)
        .env("RELAY_LOG", relayed.path())
        .env("ID", &id)
        .env("NAME", name)
        .env("PREVIEW", preview)
        .env("RENAMED", renamed);
    run_steps(node, |step| panic!("unexpected step {step}"));
    assert_eq!(home.sessions()[0]["name"], renamed, "the rename arrived");
    // The page showed the name and the preview and sent the rename (the script checked):
    // they, the master key and the session's key (in its `key` field) crossed sealed.
    let mut secrets = key_forms("the master key", master);
    secrets.extend(key_forms("the session's key", &session_key));
    secrets.extend(text_forms(&[name, preview, renamed]));
    assert_sealed(relayed.path(), &secrets);
}

#[test]
fn the_dashboard_lists_previews_renames_stops_and_opens_sessions() {
    let home = Home::new();
    let trigger = home.path().join("print");
    let script = format!(
        "echo first-line; while [ ! -e '{}' ]; do sleep 0.05; done; echo second-line; \
         printf 'a long line that a phone-sized card must wrap rather than cut off: Allow? (y/n)\\n'; \
         printf '\\033]9;Build finished: 3 tests failed\\007'; exec sleep 60",
        trigger.display()
    );
    // The server's home (the folder browser's root) holds one folder to choose.
    let fake_home = home.path().join("home");
    std::fs::create_dir_all(fake_home.join("project")).unwrap();
    home.ok(&["hub", "stop"]);
    let started = home
        .cmd(&["new", "-d", "--no-qr", "--", "sh", "-c", &script])
        .env("HOME", &fake_home)
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    home.session(&["sleep", "60"]);
    let shots = home.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let ids: Vec<String> = home
        .sessions()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let info = home.ok(&["hub", "info"]);
    let url = info
        .lines()
        .find_map(|l| l.strip_prefix("dashboard: "))
        .expect("hub info prints the dashboard URL");

    let mut node = node_script("dashboard.mjs");
    node.env("URL", url)
        .env("A", &ids[0])
        .env("B", &ids[1])
        .env("SHOTS", &shots);
    run_steps(node, |step| {
        assert_eq!(step, "print");
        std::fs::write(&trigger, "").unwrap();
    });
    let left = home.sessions();
    assert_eq!(left.len(), 1, "the stopped session is gone");
    assert_eq!(left[0]["id"], ids[0].as_str());
    if let Ok(keep) = std::env::var("KEEP_SCREENSHOTS") {
        for entry in std::fs::read_dir(&shots).unwrap().flatten() {
            std::fs::copy(entry.path(), Path::new(&keep).join(entry.file_name())).unwrap();
        }
    }
}

/// Another machine's session on the laptop's dashboard (a real sshd between them): its row
/// and preview, Rename and Stop sent to that machine, and tapping it opens its mirror on
/// the laptop's own port; a mirror's page once that machine is removed from the laptop.
#[test]
fn a_remote_session_is_opened_renamed_and_stopped_from_the_laptops_dashboard() {
    let pair = support::machines::Pair::new(serde_json::json!({}));
    pair.add_devbox();
    let start = |name: &str, script: &str| {
        let args = ["new", "-d", "--no-qr", "--on", "devbox", "--name", name];
        let id = pair.ok(&[&args[..], &["--", "sh", "-c", script]].concat());
        id.trim().to_string()
    };
    let id = start("api", "echo hello-from-devbox; exec sleep 60");
    let kept = start("kept", "echo kept-on-devbox; exec sleep 60");
    let dash = pair.local.dashboard();
    let url = format!("http://127.0.0.1:{}/#k={}", dash.port, dash.key);
    let mut node = node_script("remote.mjs");
    node.env("URL", url).env("R", &id).env("KEPT", &kept);
    run_steps(node, |step| match step {
        "remove-devbox" => {
            pair.ok(&["machine", "rm", "devbox"]);
        }
        _ => panic!("no step {step}"),
    });
    let there = pair.remote.sessions();
    assert!(
        there.iter().all(|s| s["id"] != id.as_str()),
        "stopped on devbox: {there:?}"
    );
}

/// The phone as an agent's remote: the size follows the device in use (the phone takes
/// it once the desk idled, a desk key takes it back, the phone never renders below 10 px
/// and shows where it pans), Select text, Compose (typed, and a bracketed paste that
/// `cat -v` shows), the agent keys' bytes, the attention banner, refused keys while
/// reconnecting, touch targets, landscape, a cheap reload, an ended session's page, a
/// stopped server. Screenshots land in the test's home directory.
#[test]
fn the_phone_steers_an_agent() {
    // The page opens after the desk's last key whatever the timing: with 0 the desk has
    // always idled long enough (with 1 s, a page that loaded within a second of the
    // desk's attach kept the desk's size; size.rs's tests cover the wait itself).
    let home = Home::with_config(serde_json::json!({"phoneTakeoverSecs": 0}));
    let script = home.path().join("echo-hex.sh");
    std::fs::write(&script, ECHO_HEX).unwrap();
    let endpoint = home.session(&["sh", script.to_str().unwrap()]);
    let id = home.sessions()[0]["id"].as_str().unwrap().to_string();
    let paste = home.session(&[
        "sh",
        "-c",
        "printf 'paste-ready\\033[?2004h\\r\\n'; exec cat -v",
    ]);
    let paste_id = home
        .sessions()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .find(|s| *s != id)
        .unwrap();
    // The desk: a terminal attached at 120x40 (its size applies at once).
    let size = itwillsync_protocol::Size {
        cols: 120,
        rows: 40,
    };
    let mut desk = support::Term::spawn(&home, &["attach", &id], size);
    desk.wait_text("ready-pty");

    let shots = home.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut node = node_script("phone.mjs");
    node.env(
        "URL",
        format!("http://127.0.0.1:{}/#k={}", endpoint.port, endpoint.key),
    )
    .env(
        "PASTE_URL",
        format!("http://127.0.0.1:{}/#k={}", paste.port, paste.key),
    )
    .env("SHOTS", &shots);
    run_steps(node, |step| match step {
        "desk-key" => desk.send(b"d"),
        "end-paste" => {
            home.ok(&["kill", &paste_id]);
        }
        "stop-server" => {
            // Gone without a word (killed, or the machine slept): no exit message reaches
            // the page, which must find out by itself.
            let pid = home.server_pid().expect("a server");
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        other => panic!("unknown step {other}"),
    });
    eprintln!("screenshots: {}", shots.display());
    if let Ok(keep) = std::env::var("KEEP_SCREENSHOTS") {
        for entry in std::fs::read_dir(&shots).unwrap().flatten() {
            std::fs::copy(entry.path(), Path::new(&keep).join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_blocked_address_is_told_why_and_for_how_long() {
    let home = Home::new();
    let endpoint = home.session(&["sleep", "60"]);
    // Five failed proofs from this address block it for a minute.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..5 {
            assert!(endpoint.try_phone("wrong", None).await.is_err());
        }
    });
    let shots = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/#k={}", endpoint.port, endpoint.key);
    let mut node = node_script("blocked.mjs");
    node.env("URL", &url)
        .env("SHOT", shots.path().join("blocked.png"));
    run_steps(node, |step| panic!("unexpected step {step}"));
    assert!(shots.path().join("blocked.png").exists());
}
