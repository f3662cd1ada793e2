//! User settings from `$ITWILLSYNC_HOME/config.json`.
//!
//! Every key is optional and every key is wired. A value of the wrong type or out of range
//! is an error naming the file and the key. An unknown key (a typo, or a key of the
//! original tool such as `idleTimeoutMs`) is a warning naming the file and the key, never
//! an error: [`Config::load_with_warnings`] returns them for the CLI to print and the
//! server to log.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use itwillsync_protocol::EventKind;
use serde::{Deserialize, Serialize};
use serde_path_to_error::Segment;

/// How the phone listeners bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkingMode {
    /// The LAN address.
    Local,
    /// The Tailscale address.
    Tailscale,
    /// 127.0.0.1 only.
    Localhost,
}

impl std::str::FromStr for NetworkingMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "local" => Ok(Self::Local),
            "tailscale" => Ok(Self::Tailscale),
            "localhost" => Ok(Self::Localhost),
            _ => bail!("networking mode must be local, tailscale or localhost, not {s:?}"),
        }
    }
}

/// Whose size the PTY takes when several clients watch one session (DESIGN.md "Sizes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizePolicy {
    /// The device in use decides: whoever typed, resized its window or pressed Fit last;
    /// a phone that opens takes the size when the desk has been idle `phoneTakeoverSecs`.
    Active,
    /// Local terminals decide; phones only when no terminal is attached or when forced.
    Viewport,
    /// Whoever typed or resized last (tmux's default).
    Latest,
    /// The smallest size among all clients.
    Smallest,
}

/// The settings, with defaults for every absent key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// How phone-facing listeners bind.
    pub networking_mode: NetworkingMode,
    /// Bytes of output each session keeps for resume and slow clients.
    pub scrollback_buffer_size: usize,
    /// Live sessions the server accepts.
    pub max_sessions: usize,
    /// Bytes a phone may have unacknowledged before the server pauses it.
    pub client_buffer_limit: usize,
    /// Largest PTY width a client may ask for.
    pub max_terminal_cols: u16,
    /// Largest PTY height a client may ask for.
    pub max_terminal_rows: u16,
    /// Days session logs are kept.
    pub log_retention_days: u64,
    /// Bytes of output each session's log keeps (`<id>.log` and `<id>.log.1` together);
    /// beyond it the oldest part is dropped.
    pub max_log_bytes_per_session: u64,
    /// The key that detaches a local terminal, like `ctrl-\`.
    pub detach_key: String,
    /// Seconds the server lingers after its last session ends; 0 keeps it running.
    pub idle_shutdown_secs: u64,
    /// The dashboard's port.
    pub dashboard_port: u16,
    /// The local API's port (127.0.0.1 only).
    pub api_port: u16,
    /// The first port tried for sessions' phone listeners.
    pub session_port_base: u16,
    /// Whose size applies.
    pub resize_policy: ResizePolicy,
    /// Seconds every local terminal must have been idle for a phone that opens to take
    /// the size at once (`resizePolicy: "active"`).
    pub phone_takeover_secs: u64,
    /// The PEM certificate chain the web listeners serve HTTPS with (with `tlsKey`); a
    /// leading `~/` is the home directory, a relative path is in the state directory. Read
    /// once at server start.
    pub tls_cert: Option<String>,
    /// The PEM private key of `tlsCert`.
    pub tls_key: Option<String>,
    /// A shell command per event kind (`attention`, `session-exited`, ...), run with
    /// `sh -c` and the event in `ITWILLSYNC_*` variables (`hooks.rs`).
    pub hooks: BTreeMap<String, String>,
    /// Seconds between pings on each machine link (`machines.rs`).
    pub machine_ping_secs: u64,
    /// Seconds without an answer after which a machine is offline.
    pub machine_offline_secs: u64,
    /// Longest wait between reconnection attempts (they start at 1 s and double).
    pub machine_backoff_max_secs: u64,
    /// Seconds a mirror of another machine's session keeps its connection after its last
    /// client left (`session/mirror.rs`): a phone that comes back within it finds it up to
    /// date; after it the mirror costs nothing until a client attaches again.
    pub mirror_idle_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            networking_mode: NetworkingMode::Local,
            scrollback_buffer_size: 10 << 20,
            max_sessions: 20,
            client_buffer_limit: 256 << 10,
            max_terminal_cols: 500,
            max_terminal_rows: 200,
            log_retention_days: 30,
            max_log_bytes_per_session: 100 << 20,
            detach_key: "ctrl-\\".into(),
            idle_shutdown_secs: 30,
            dashboard_port: 7962,
            api_port: 7963,
            session_port_base: 7964,
            resize_policy: ResizePolicy::Active,
            phone_takeover_secs: crate::size::DEFAULT_TAKEOVER.as_secs(),
            tls_cert: None,
            tls_key: None,
            hooks: BTreeMap::new(),
            machine_ping_secs: 30,
            machine_offline_secs: 90,
            machine_backoff_max_secs: 30,
            mirror_idle_secs: 60,
        }
    }
}

/// Smallest ring that still holds a full redraw's worth of live output.
const MIN_SCROLLBACK: usize = 64 << 10;
/// Smallest session log cap: a few screens of output in each of the two files.
const MIN_LOG_BYTES: u64 = 64 << 10;

impl Config {
    /// The settings as config.json would hold them (for a hand-over's state).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the settings serialize")
    }

    /// Settings from [`Config::to_json`]'s form, checked as config.json's are.
    pub fn from_json(json: serde_json::Value) -> anyhow::Result<Self> {
        let config: Self = serde_json::from_value(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `path`, or the defaults when it does not exist; unknown keys are ignored
    /// silently (see [`Config::load_with_warnings`]).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Ok(Self::load_with_warnings(path)?.0)
    }

    /// Reads `path`, or the defaults when it does not exist, and one warning line (naming
    /// the file and the key) per unknown key, which is otherwise ignored.
    pub fn load_with_warnings(path: &Path) -> anyhow::Result<(Self, Vec<String>)> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Self::default(), Vec::new()))
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut unknown = Vec::new();
        let mut json = serde_json::Deserializer::from_str(&text);
        let mut on_unknown = |key: serde_ignored::Path<'_>| {
            unknown.push(format!("{}: unknown key `{key}` (ignored)", path.display()))
        };
        let tracked = serde_ignored::Deserializer::new(&mut json, &mut on_unknown);
        let config: Self = match serde_path_to_error::deserialize(tracked) {
            Ok(config) => config,
            Err(e) if matches!(e.path().iter().next(), Some(Segment::Map { .. })) => {
                anyhow::bail!("{}: key `{}`: {}", path.display(), e.path(), e.inner())
            }
            Err(e) => anyhow::bail!("{}: {}", path.display(), e.inner()),
        };
        json.end()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((config, unknown))
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.scrollback_buffer_size < MIN_SCROLLBACK {
            bail!("key `scrollbackBufferSize` must be at least {MIN_SCROLLBACK}");
        }
        if self.max_sessions == 0 {
            bail!("key `maxSessions` must be at least 1");
        }
        if self.client_buffer_limit < 4096 {
            bail!("key `clientBufferLimit` must be at least 4096");
        }
        if self.max_terminal_cols < 20 || self.max_terminal_rows < 5 {
            bail!("keys `maxTerminalCols`/`maxTerminalRows` must be at least 20/5");
        }
        if self.max_log_bytes_per_session < MIN_LOG_BYTES {
            bail!("key `maxLogBytesPerSession` must be at least {MIN_LOG_BYTES}");
        }
        detach_byte(&self.detach_key).context("key `detachKey`")?;
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => bail!("key `tlsCert` needs `tlsKey` (its private key)"),
            (None, Some(_)) => bail!("key `tlsKey` needs `tlsCert` (its certificate)"),
            (Some(cert), Some(key)) if cert.is_empty() || key.is_empty() => {
                bail!("keys `tlsCert`/`tlsKey` must name files")
            }
            _ => {}
        }
        self.hook_commands()?;
        if self.machine_ping_secs == 0 || self.machine_offline_secs <= self.machine_ping_secs {
            bail!("keys `machinePingSecs`/`machineOfflineSecs` must be at least 1 and the second larger");
        }
        if self.mirror_idle_secs == 0 {
            bail!("key `mirrorIdleSecs` must be at least 1");
        }
        if self.machine_backoff_max_secs == 0 {
            bail!("key `machineBackoffMaxSecs` must be at least 1");
        }
        Ok(())
    }

    /// `hooks` by event kind; an unknown kind is an error naming it.
    pub fn hook_commands(&self) -> anyhow::Result<HashMap<EventKind, String>> {
        self.hooks
            .iter()
            .map(|(name, command)| {
                let Some(kind) = EventKind::from_name(name) else {
                    let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    bail!(
                        "key `hooks.{name}`: not an event kind (one of {})",
                        kinds.join(", ")
                    );
                };
                if command.trim().is_empty() {
                    bail!("key `hooks.{name}`: the command is empty");
                }
                Ok((kind, command.clone()))
            })
            .collect()
    }

    /// `tlsCert` and `tlsKey` with `~/` expanded, when configured.
    pub fn tls_files(&self) -> Option<(PathBuf, PathBuf)> {
        let (cert, key) = (self.tls_cert.as_deref()?, self.tls_key.as_deref()?);
        Some((expand_home(cert), expand_home(key)))
    }

    /// The byte the detach key sends.
    pub fn detach_byte(&self) -> u8 {
        // validate() checked it when the config was loaded; defaults are valid.
        detach_byte(&self.detach_key).unwrap_or(0x1c)
    }
}

/// `~` or `~/rest` under `$HOME`; any other path as it is.
fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(home)) => PathBuf::from(home),
        (Some(rest), Some(home)) if rest.starts_with('/') => {
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

/// Parses `ctrl-X` (X a letter or one of `@[\]^_`) into its control byte.
pub fn detach_byte(key: &str) -> anyhow::Result<u8> {
    let lower = key.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("ctrl-") else {
        bail!("must look like `ctrl-\\` or `ctrl-a`, not {key:?}");
    };
    match rest.as_bytes() {
        [c @ b'a'..=b'z'] => Ok(c - b'a' + 1),
        [c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => Ok(c ^ 0x40),
        _ => bail!("must look like `ctrl-\\` or `ctrl-a`, not {key:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(detach_byte("ctrl-\\").unwrap(), 0x1c);
        assert_eq!(detach_byte("Ctrl-A").unwrap(), 0x01);
        assert_eq!(detach_byte("ctrl-]").unwrap(), 0x1d);
        assert!(detach_byte("alt-x").is_err());
        assert!(detach_byte("ctrl-ab").is_err());
    }

    #[test]
    fn unknown_keys_are_warnings_naming_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"idleTimeoutMs": 5000, "maxSessions": 3}"#).unwrap();
        let (config, warnings) = Config::load_with_warnings(&path).unwrap();
        assert_eq!(config.max_sessions, 3);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("config.json") && warnings[0].contains("`idleTimeoutMs`"),
            "{warnings:?}"
        );
        std::fs::write(&path, r#"{"maxSessions": 3}"#).unwrap();
        assert!(Config::load_with_warnings(&path).unwrap().1.is_empty());
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for (text, key) in [
            (r#"{"maxSessions": "many"}"#, "`maxSessions`: invalid type"),
            (
                r#"{"networkingMode": "lan"}"#,
                "`networkingMode`: unknown variant",
            ),
            (r#"{"x": 1, "apiPort": 70000}"#, "`apiPort`"),
            (r#"{"maxSessions": 0}"#, "`maxSessions`"),
            ("{\"maxSessions\": 3} x", "trailing characters"),
            ("[1]", ""),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Config::load(&path).unwrap_err().to_string();
            assert!(err.contains("config.json") && err.contains(key), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        std::fs::write(&path, r#"{"maxLogBytesPerSession": 1000}"#).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("`maxLogBytesPerSession` must be at least"),
            "{err}"
        );
        assert_eq!(Config::default().max_log_bytes_per_session, 100 << 20);
        std::fs::write(&path, r#"{"detachKey": "q"}"#).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("detachKey"), "{err}");
        std::fs::write(
            &path,
            r#"{"resizePolicy": "latest", "idleShutdownSecs": 0}"#,
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.resize_policy, ResizePolicy::Latest);
        assert_eq!(config.idle_shutdown_secs, 0);
        std::fs::write(&path, r#"{"tlsCert": "/c.pem"}"#).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("`tlsCert` needs `tlsKey`"),
            "{err}"
        );
    }

    #[test]
    fn tls_paths_expand_the_home_directory() {
        let home = std::env::var("HOME").unwrap();
        let config = Config {
            tls_cert: Some("~/certs/c.pem".into()),
            tls_key: Some("/etc/k.pem".into()),
            ..Config::default()
        };
        let (cert, key) = config.tls_files().unwrap();
        assert_eq!(cert, Path::new(&home).join("certs/c.pem"));
        assert_eq!(key, Path::new("/etc/k.pem"));
        assert_eq!(expand_home("~other/x"), Path::new("~other/x"));
        assert!(Config::default().tls_files().is_none());
    }
}
