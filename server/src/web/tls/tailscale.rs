//! The certificate Tailscale issues for this machine's tailnet name (`tailscale cert`, which
//! needs HTTPS certificates enabled in the tailnet). Run once at server start, before
//! anything is served; `tailscale cert` reuses its cached certificate and renews it when due,
//! so every start gets a current one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};

/// `tailscale status` answers locally from the daemon.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// `tailscale cert` may have to ask the certificate authority for a new certificate, which
/// takes seconds to tens of seconds; past a minute the server starts on plain HTTP instead.
const CERT_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks Tailscale for this machine's certificate and key, written into `dir` as
/// `NAME.crt` and `NAME.key` (0600). Returns their paths.
pub(super) async fn obtain(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let status = run(&["status", "--json"], STATUS_TIMEOUT).await?;
    let name = dns_name(&status)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions on {}", dir.display()))?;
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let (cert_arg, key_arg) = (cert.to_string_lossy(), key.to_string_lossy());
    let args = [
        "cert",
        "--cert-file",
        &cert_arg,
        "--key-file",
        &key_arg,
        &name,
    ];
    run(&args, CERT_TIMEOUT).await?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("`tailscale cert` wrote no key to {}", key.display()))?;
    Ok((cert, key))
}

/// Runs `tailscale ARGS` with a deadline (killed when it passes); its stdout.
async fn run(args: &[&str], deadline: Duration) -> anyhow::Result<Vec<u8>> {
    let command = format!("`tailscale {}`", args[0]);
    let child = tokio::process::Command::new("tailscale")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {command}"))?;
    let output = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("{command} did not finish in {deadline:?}"))?
        .with_context(|| format!("cannot run {command}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!("{command} failed with {}: {}", output.status, why.trim());
    }
    Ok(output.stdout)
}

/// `.Self.DNSName` of `tailscale status --json`, without its trailing dot. It becomes a
/// file name and the links' host, so it must be a plain DNS name.
fn dns_name(status: &[u8]) -> anyhow::Result<String> {
    let status: serde_json::Value =
        serde_json::from_slice(status).context("`tailscale status --json` printed no JSON")?;
    let name = status["Self"]["DNSName"].as_str().unwrap_or("");
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() {
        bail!("Tailscale has no name for this machine (logged out?)");
    }
    let plain = name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !plain {
        bail!("Tailscale named this machine {name:?}, not a plain DNS name");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tailnet_name_loses_its_dot_and_must_be_plain() {
        let status = br#"{"Self": {"DNSName": "Box.tail1234.ts.net.", "HostName": "box"}}"#;
        assert_eq!(dns_name(status).unwrap(), "box.tail1234.ts.net");
        for bad in [
            &br#"{"Self": {"DNSName": ""}}"#[..],
            br#"{"BackendState": "NeedsLogin"}"#,
            br#"{"Self": {"DNSName": "../etc."}}"#,
            b"Tailscale is stopped.",
        ] {
            assert!(dns_name(bad).is_err());
        }
    }
}
