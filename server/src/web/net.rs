//! Where a session's phone listener binds and which URL it advertises, by networking mode:
//! `localhost` binds 127.0.0.1; `local` binds every interface and advertises the LAN
//! address; `tailscale` binds and advertises the address `tailscale ip -4` reports (and
//! falls back to `local`, with a warning, when that fails).
//!
//! The port is the one asked for (an error when taken) or the first free one from
//! `sessionPortBase` up, skipping the dashboard's and the API's ports. The scheme and the
//! host a link names are the transport's (`tls`): `https` and a name the certificate
//! covers when a certificate is in force.

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::str::FromStr;

use std::sync::Arc;

use anyhow::{bail, Context};

use super::keys::Keys;
use super::tls::Transport;
use crate::config::{Config, NetworkingMode};

/// A bound listener not yet serving, with what the session reports about it.
pub struct Bound {
    /// The listening socket.
    pub(super) listener: tokio::net::TcpListener,
    /// The TLS acceptor when the server speaks HTTPS.
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Its port.
    pub port: u16,
    /// The session's keys and base URL `http://HOST:PORT/`.
    pub keys: Arc<Keys>,
    /// Why phones got another address than the mode asked for, for the user.
    pub warning: Option<String>,
}

impl Bound {
    /// A duplicate of the listening socket, kept for a hand-over (`handover`): the new
    /// server adopts it, so the port never closes.
    pub fn listener_fd(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.listener.as_fd().try_clone_to_owned()
    }

    /// A listener handed over from a previous server: the socket `listener` (already
    /// bound and listening) with the `keys` it had.
    pub fn adopt(
        listener: TcpListener,
        transport: &Transport,
        keys: Arc<Keys>,
        warning: Option<String>,
    ) -> anyhow::Result<Bound> {
        let (listener, port) = registered(listener)?;
        Ok(Bound {
            listener,
            tls: transport.acceptor(),
            port,
            keys,
            warning,
        })
    }
}

/// A listening socket (just bound, or handed over) registered with the Tokio runtime,
/// and its port.
fn registered(listener: TcpListener) -> anyhow::Result<(tokio::net::TcpListener, u16)> {
    let port = listener
        .local_addr()
        .context("cannot read the phone listener's address")?
        .port();
    listener
        .set_nonblocking(true)
        .context("cannot configure the phone listener")?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .context("cannot register the phone listener")?;
    Ok((listener, port))
}

/// Binds a session's phone listener (inside the Tokio runtime): on `port` when given, else the next free port.
/// `networking` overrides the configured mode; `transport` is the server's.
pub fn bind(
    config: &Config,
    transport: &Transport,
    port: Option<u16>,
    networking: Option<&str>,
) -> anyhow::Result<Bound> {
    let mode = match networking {
        Some(mode) => NetworkingMode::from_str(mode)?,
        None => config.networking_mode,
    };
    let (bind_ip, host, warning) = addresses(mode);
    let warning = join(warning, transport.warning());
    let listener = match port {
        Some(port) => TcpListener::bind((bind_ip, port))
            .with_context(|| format!("cannot listen on port {port} (is it taken?)"))?,
        None => scan(config, bind_ip)?,
    };
    let (listener, port) = registered(listener)?;
    let origin = transport.origin(mode, &host, port);
    let keys = Arc::new(Keys::for_session(format!("{origin}/")));
    Ok(Bound {
        listener,
        tls: transport.acceptor(),
        port,
        keys,
        warning,
    })
}

/// Both warnings, when there are two, in one line.
fn join(first: Option<String>, second: Option<&str>) -> Option<String> {
    match (first, second) {
        (Some(first), Some(second)) => Some(format!("{first}; {second}")),
        (first, second) => first.or(second.map(str::to_string)),
    }
}

fn scan(config: &Config, ip: IpAddr) -> anyhow::Result<TcpListener> {
    let base = config.session_port_base;
    if base == 0 {
        // Any free port, the kernel's choice: nothing to collide with.
        return TcpListener::bind((ip, 0)).context("no free port for the phone listener");
    }
    for port in base..=u16::MAX {
        if port == config.dashboard_port || port == config.api_port {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((ip, port)) {
            return Ok(listener);
        }
    }
    bail!("no free port for the phone listener from {base} up (sessionPortBase)")
}

/// The address to bind and the host to advertise for a networking mode, and a warning
/// when the mode could not be honoured (Tailscale down: the LAN address instead).
pub fn addresses(mode: NetworkingMode) -> (IpAddr, String, Option<String>) {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    match mode {
        NetworkingMode::Localhost => (IpAddr::V4(Ipv4Addr::LOCALHOST), "127.0.0.1".into(), None),
        NetworkingMode::Local => (any, lan_ip().to_string(), None),
        NetworkingMode::Tailscale => match tailscale_ip() {
            Ok(ip) => (ip, ip.to_string(), None),
            Err(e) => {
                let warning =
                    format!("no Tailscale address ({e:#}); phones get the LAN address instead");
                tracing::warn!("{warning}");
                (any, lan_ip().to_string(), Some(warning))
            }
        },
    }
}

/// The address this machine would use to reach a private-range host: connecting a UDP
/// socket sends nothing but picks the route's source address. 127.0.0.1 without a LAN.
fn lan_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.connect((Ipv4Addr::new(10, 254, 254, 254), 9))?;
        Ok(socket.local_addr()?.ip())
    };
    match probe() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// The first address `tailscale ip -4` prints.
fn tailscale_ip() -> anyhow::Result<IpAddr> {
    let output = std::process::Command::new("tailscale")
        .args(["ip", "-4"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run `tailscale ip -4`")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().next().unwrap_or("").trim();
        bail!("`tailscale ip -4` failed with {}: {why}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    first
        .parse()
        .with_context(|| format!("`tailscale ip -4` printed {first:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::keys::Role;

    #[tokio::test]
    async fn binds_the_next_free_port_and_refuses_a_taken_one() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let base = taken.local_addr().unwrap().port();
        let config = Config {
            networking_mode: NetworkingMode::Localhost,
            session_port_base: base,
            ..Config::default()
        };
        let plain = Transport::default();
        let bound = bind(&config, &plain, None, None).unwrap();
        assert_ne!(bound.port, base);
        let link = bound.keys.link(Role::Full).unwrap();
        assert!(link.starts_with(&format!("http://127.0.0.1:{}/#k=", bound.port)));
        assert!(bind(&config, &plain, Some(base), None).is_err());
        assert!(bind(&config, &plain, None, Some("moon")).is_err());
    }
}
