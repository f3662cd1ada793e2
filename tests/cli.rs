//! End-to-end tests of what the command line shows and refuses: text others control never
//! reaches the terminal raw, session names are checked, the state directory must be
//! private, config.json's unknown keys are warnings, `setup`, and the short forms.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use itwillsync_protocol::Size;
use support::{eventually, Home, Term};

/// `ESC ] 0 ; X BEL`: sets the terminal's title when printed raw.
const TITLE: &str = "\x1b]0;X\x07";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails unless `out` failed with exactly one line on stderr, which contains `want`.
fn one_line_error(out: &Output, want: &str) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(want), "{err}");
    err
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'),
        "{what} printed raw control characters: {text:?}"
    );
}

#[test]
fn names_commands_and_cwds_from_others_are_escaped() {
    let home = Home::new();
    let dir = home.path().join(format!("dir{TITLE}"));
    std::fs::create_dir(&dir).unwrap();
    let program = dir.join(format!("prog{TITLE}"));
    std::fs::write(&program, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (dir, program) = (dir.to_str().unwrap(), program.to_str().unwrap());
    let id = home.new_detached(&["--no-qr", "--cwd", dir, "--", program]);

    let ls = home.ok(&["ls"]);
    assert_no_raw_controls("ls", &ls);
    assert!(ls.contains("prog\\e]0;X\\x07"), "{ls}");
    assert!(ls.contains("dir\\e]0;X\\x07"), "{ls}");
    let status = home.ok(&["hub", "status"]);
    assert_no_raw_controls("hub status", &status);
    // The automatic name drops what a name may not hold.
    assert!(status.contains("prog]0;X"), "{status}");
    let info = home.ok(&["hub", "info"]);
    assert_no_raw_controls("hub info", &info);
    assert!(info.contains("prog]0;X"), "{info}");
    // Scripts get the real strings; JSON escapes them itself.
    let json = home.ok(&["ls", "--json"]);
    assert_no_raw_controls("ls --json", &json);
    let sessions: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(sessions[0]["cwd"], dir);
    assert_eq!(sessions[0]["command"], program);

    let out = home.run(&["rename", &id, "evil\u{202e}txt"]);
    let err = one_line_error(&out, "invisible formatting characters");
    assert_no_raw_controls("rename", &err);
    assert!(err.contains("\\u{202e}"), "{err}");
    let out = home.run(&["kill", &format!("x{TITLE}")]);
    assert_no_raw_controls("kill", &one_line_error(&out, "no session matches"));
    let out = home.run(&["new", "-d", "--name", &format!("n{TITLE}"), "--", "true"]);
    assert_no_raw_controls("new", &one_line_error(&out, "control characters"));
    let out = home.run(&["new", "-d", "--name", "box:name", "--", "true"]);
    one_line_error(&out, "MACHINE:NAME");
    assert_eq!(home.sessions().len(), 1, "nothing was created or renamed");
    assert_eq!(home.sessions()[0]["name"], "prog]0;X");
}

/// The binary with `ITWILLSYNC_HOME` set to `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .env("ITWILLSYNC_HOME", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_state_directory_others_can_enter_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    for open in [0o1777, 0o755] {
        let dir = tmp.path().join(format!("state-{open:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
        for args in [
            &["new", "-d", "--", "true"][..],
            &["ls"],
            &["hub", "status"],
            &["setup", "--mode", "local"],
        ] {
            let out = run_in(&dir, args);
            let err = one_line_error(&out, "open to other users");
            assert!(err.contains(&*dir.to_string_lossy()), "{args:?}: {err}");
            assert_eq!(mode(&dir), open, "{args:?} changed the mode");
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing inside"
        );
    }
    // A missing one: `ls` does not create it, `setup` creates it 0700.
    let dir = tmp.path().join("new/state");
    let out = run_in(&dir, &["ls"]);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists());
    let out = run_in(&dir, &["setup", "--mode", "localhost"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn unknown_config_keys_are_warnings_and_bad_values_errors() {
    let home = Home::with_config(serde_json::json!({ "idleTimeoutMs": 5000 }));
    let out = home.run(&["new", "-d", "--no-qr", "--", "sleep", "60"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(
        err.contains("warning") && err.contains("config.json") && err.contains("`idleTimeoutMs`"),
        "{err}"
    );
    let log = home.path().join("server.log");
    eventually("the warning in server.log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("`idleTimeoutMs`"))
    });

    let bad = Home::with_config(serde_json::json!({ "maxSessions": "many" }));
    let out = bad.run(&["new", "-d", "--", "true"]);
    one_line_error(&out, "config.json: key `maxSessions`: invalid type");
    assert!(bad.server_pid().is_none(), "no server was started");
}

#[test]
fn setup_writes_the_networking_mode_and_keeps_the_rest() {
    let home = Home::with_config(serde_json::json!({ "maxSessions": 7 }));
    let before = home.config();
    let out = home.ok(&["setup", "--mode", "tailscale"]);
    assert!(out.contains("\"networkingMode\": \"tailscale\"") && out.contains("hub stop"));
    let after = home.config();
    assert_eq!(after["networkingMode"], "tailscale");
    for key in ["maxSessions", "dashboardPort", "apiPort", "sessionPortBase"] {
        assert_eq!(after[key], before[key], "{key}");
    }

    let out = home.run(&["setup"]);
    one_line_error(&out, "--mode");

    let mut term = Term::spawn(
        &home,
        &["setup"],
        Size {
            cols: 100,
            rows: 24,
        },
    );
    term.wait_text("Choose 1-3 (Enter keeps tailscale)");
    let screen = term.wait_text("localhost");
    assert!(
        screen.contains("LAN") && screen.contains("Tailscale"),
        "{screen}"
    );
    term.send(b"lan\r");
    term.wait_text("not one of the choices");
    term.send(b"3\r");
    assert_eq!(term.wait_exit(), 0);
    assert_eq!(home.config()["networkingMode"], "localhost");
    assert_eq!(home.config()["maxSessions"], 7);
}

#[test]
fn short_forms_and_missing_arguments() {
    let home = Home::new();
    let version = format!("itwillsync {}", env!("CARGO_PKG_VERSION"));
    for flag in ["-v", "-V", "--version"] {
        assert_eq!(home.ok(&[flag]).trim(), version);
    }
    let out = home.run(&["new"]);
    one_line_error(
        &out,
        "a command to run is needed: itwillsync new [OPTIONS] -- CMD [ARGS...]",
    );
    let out = home.run(&["rename", "x"]);
    one_line_error(&out, "the new name is needed");
    home.new_detached(&["--name", "one", "--", "sleep", "60"]);
    let hub = home.ok(&["hub"]);
    assert!(hub.contains("dashboard: http://") && hub.contains("1 session(s): one"));
}

#[test]
fn service_install_writes_a_unit_systemd_accepts_and_uninstall_removes_it() {
    let home = Home::new();
    let user = tempfile::tempdir().unwrap();
    let config = user.path().join("config");
    let service = |action: &str| {
        home.cmd(&["service", action])
            .env("HOME", user.path())
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .unwrap()
    };
    let out = service("install");
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = config.join("systemd/user/itwillsync.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(" server --stay\n"), "{text}");
    assert!(
        text.contains(&format!("ITWILLSYNC_HOME={}", home.path().display())),
        "{text}"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("loginctl enable-linger"), "{printed}");
    // Without a user bus (a container, CI) enabling fails: a warning naming the command.
    let err = stderr(&out);
    assert!(err.is_empty() || err.contains("systemctl --user"), "{err}");
    if Path::new("/usr/bin/systemd-analyze").exists() {
        // A user manager's runtime directory of its own, so `verify` runs anywhere.
        let runtime = user.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let verify = Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(&unit)
            .env("HOME", user.path())
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        assert!(verify.status.success(), "{}", stderr(&verify));
        assert!(
            !stderr(&verify).contains("itwillsync.service:"),
            "{}",
            stderr(&verify)
        );
    }
    let status = service("status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("installed"));
    assert!(service("uninstall").status.success());
    assert!(!unit.exists());
    assert_eq!(service("status").status.code(), Some(3));
}

#[test]
fn logs_prints_the_server_log_and_follows_it() {
    let home = Home::new();
    home.ok(&["new", "-d", "--no-qr", "--", "sleep", "60"]);
    let out = home.ok(&["logs"]);
    assert!(out.contains("server started"), "{out}");
    let err = home.cmd(&["logs", "--machine", "devbox"]).output().unwrap();
    one_line_error(&err, "no machine named devbox");
    // -f prints what is added: here, the program's exit.
    let mut follow = home
        .cmd(&["logs", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("program exited"))
    });
    home.ok(&["kill", "sleep"]);
    eventually("logs -f to print the exit", || lines.is_finished());
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        lines.join().unwrap().is_some(),
        "the follower saw the session end"
    );
}
