//! HTTPS for the web listeners (DESIGN.md "Security model"): the [`Transport`] every
//! phone-facing listener (the dashboard and each session's port) serves, decided once at
//! server start and never reloaded.
//!
//! - `tlsCert`/`tlsKey` in `config.json`: that certificate, or an error naming the file
//!   and the key (the server does not start).
//! - else, in `tailscale` networking mode: the certificate `tailscale cert` issues for the
//!   machine's tailnet name (`tailscale`); when that fails, plain HTTP and a warning.
//! - else plain HTTP.
//!
//! With a certificate every web listener speaks HTTPS only (rustls, ring provider,
//! HTTP/1.1 by ALPN); `listener` runs the handshake in each connection's task. Links name
//! a host the certificate covers (`der` reads its names and expiry). The local API on
//! 127.0.0.1 is not a web listener and stays plain HTTP.

mod der;
mod tailscale;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, NetworkingMode};
use crate::home::Home;
use der::Facts;

/// Plain HTTP or HTTPS with one certificate, for every web listener of the server.
#[derive(Clone, Default)]
pub struct Transport {
    /// The certificate in force; `None` is plain HTTP.
    certificate: Option<Arc<Certificate>>,
    /// Why HTTPS is not in force although it was expected (no Tailscale certificate), or
    /// a problem with the certificate in force (expired); told to `new`'s user.
    warning: Option<String>,
}

/// A loaded certificate: the acceptor built from it and what links and `hub info` say.
struct Certificate {
    acceptor: TlsAcceptor,
    /// The certificate file, for `hub info`.
    path: PathBuf,
    /// Its expiry and names.
    facts: Facts,
}

impl Transport {
    /// Decides the transport for `config` (see the module comment). Runs `tailscale`
    /// commands, so it is called once at start, before anything is served.
    pub async fn load(config: &Config, home: &Home) -> anyhow::Result<Self> {
        if let Some((cert, key)) = config.tls_files() {
            // A relative path is relative to the state directory, where config.json is,
            // not to wherever the command that started the server ran.
            let (cert, key) = (home.dir().join(cert), home.dir().join(key));
            let certificate = Certificate::load(&cert, &key)
                .map_err(|e| anyhow!("{}: {e:#}", home.config().display()))?;
            return Ok(Self::with(certificate));
        }
        if config.networking_mode != NetworkingMode::Tailscale {
            return Ok(Self::default());
        }
        let tailscale = async {
            let (cert, key) = tailscale::obtain(&home.tls_dir()).await?;
            Certificate::load(&cert, &key)
        };
        match tailscale.await {
            Ok(certificate) => Ok(Self::with(certificate)),
            Err(e) => {
                let warning = format!("no Tailscale certificate ({e:#}); links use plain HTTP");
                tracing::warn!("{warning}");
                Ok(Self {
                    certificate: None,
                    warning: Some(warning),
                })
            }
        }
    }

    fn with(certificate: Certificate) -> Self {
        let path = certificate.path.display();
        let warning = match &certificate.facts.not_after {
            Some(t) if *t <= der::now() => Some(format!(
                "the certificate {path} expired on {}; browsers will refuse it",
                date(t)
            )),
            _ => None,
        };
        match &warning {
            Some(w) => tracing::warn!("{w}"),
            None => tracing::info!("serving HTTPS with {path}"),
        }
        Self {
            certificate: Some(Arc::new(certificate)),
            warning,
        }
    }

    /// The TLS acceptor every web listener wraps its connections in; `None` for plain HTTP.
    pub(crate) fn acceptor(&self) -> Option<TlsAcceptor> {
        self.certificate.as_ref().map(|c| c.acceptor.clone())
    }

    /// What the user should know about the transport (see [`Transport::warning`]).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The certificate in force, for `hub info`: `certificate PATH, valid until DATE`.
    pub fn describe(&self) -> Option<String> {
        let c = self.certificate.as_ref()?;
        let until = match &c.facts.not_after {
            Some(t) if *t <= der::now() => format!(", expired on {}", date(t)),
            Some(t) => format!(", valid until {}", date(t)),
            None => String::new(),
        };
        Some(format!("certificate {}{until}", c.path.display()))
    }

    /// `http://HOST:PORT` or `https://NAME:PORT` for a listener bound by `mode` whose
    /// address is `host`. With a certificate, `NAME` is `host` when the certificate covers
    /// it, else the certificate's first DNS name other than `localhost` and wildcards (a
    /// Tailscale certificate's is the tailnet name, which resolves to the Tailscale
    /// address), so browsers accept it. A `localhost` listener keeps its address unless
    /// the certificate covers `localhost`: no other name reaches it.
    pub fn origin(&self, mode: NetworkingMode, host: &str, port: u16) -> String {
        let Some(c) = &self.certificate else {
            return format!("http://{host}:{port}");
        };
        let facts = &c.facts;
        let name = if covers(facts, host) {
            host
        } else if mode == NetworkingMode::Localhost {
            if covers(facts, "localhost") {
                "localhost"
            } else {
                host
            }
        } else {
            let reachable = |n: &&String| !n.starts_with('*') && *n != "localhost";
            let plain = facts.dns_names.iter().find(reachable);
            plain.map_or(host, String::as_str)
        };
        format!("https://{name}:{port}")
    }
}

impl Certificate {
    /// Reads a PEM certificate chain and its private key; errors name the key of
    /// `config.json` they concern and the file.
    fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let chain = read_chain(cert).context("key `tlsCert`")?;
        let private = read_key(key).context("key `tlsKey`")?;
        let facts = Facts::read(&chain[0]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version available")?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| {
                anyhow!(
                    "keys `tlsCert`/`tlsKey`: {} and {} do not go together: {e}",
                    cert.display(),
                    key.display()
                )
            })?;
        // The listeners serve HTTP/1.1 only (WebSocket upgrades need it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            path: cert.to_path_buf(),
            facts,
        })
    }
}

/// The certificates of a PEM file, the server's own first.
fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: bad PEM: {e}", path.display()))?;
    if chain.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(chain)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("{} holds no PEM private key", path.display())
        }
        e => anyhow!("{}: bad PEM: {e}", path.display()),
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Whether the certificate names `host`: an address among its IP names, or a DNS name
/// equal to it or matched by a `*.` wildcard (one label).
fn covers(facts: &Facts, host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return facts.ips.contains(&ip);
    }
    let host = host.to_ascii_lowercase();
    facts
        .dns_names
        .iter()
        .any(|name| match name.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *name == host,
        })
}

/// `YYYYMMDDHHMMSS` as `YYYY-MM-DD`.
fn date(time: &str) -> String {
    format!("{}-{}-{}", &time[..4], &time[4..6], &time[6..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names` valid until 2099-02-01, written as PEM into
    /// `dir`; its paths.
    fn write_cert(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        write_cert_until(dir, names, 2099)
    }

    fn write_cert_until(dir: &Path, names: &[&str], year: i32) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, 2, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn error(cert: &Path, key: &Path) -> String {
        match Certificate::load(cert, key) {
            Ok(_) => panic!("{} and {} loaded", cert.display(), key.display()),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn pem_errors_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_cert(dir.path(), &["localhost"]);
        assert!(Certificate::load(&cert, &key).is_ok());

        let missing = dir.path().join("missing.pem");
        let err = error(&missing, &key);
        assert!(err.starts_with("key `tlsCert`: cannot read ") && err.contains("missing.pem"));
        let err = error(&cert, &missing);
        assert!(err.starts_with("key `tlsKey`: cannot read ") && err.contains("missing.pem"));

        // A key where the certificate belongs, and the other way round.
        let err = error(&key, &key);
        assert!(
            err.starts_with("key `tlsCert`: ") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = error(&cert, &cert);
        assert!(
            err.starts_with("key `tlsKey`: ") && err.contains("no PEM private key"),
            "{err}"
        );

        let garbled = dir.path().join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = error(&garbled, &key);
        assert!(
            err.starts_with("key `tlsCert`: ") && err.contains("garbled.pem"),
            "{err}"
        );

        // Another certificate's key.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key) = write_cert(other.path(), &["localhost"]);
        let err = error(&cert, &other_key);
        assert!(err.contains("do not go together"), "{err}");
    }

    #[test]
    fn links_name_a_host_the_certificate_covers() {
        let dir = tempfile::tempdir().unwrap();
        use NetworkingMode::{Local, Localhost, Tailscale};
        let load = |names: &[&str]| {
            let (cert, key) = write_cert(dir.path(), names);
            Transport::with(Certificate::load(&cert, &key).unwrap())
        };
        let plain = Transport::default();
        assert_eq!(plain.origin(Local, "10.0.0.2", 80), "http://10.0.0.2:80");
        assert_eq!(plain.describe(), None);

        let tailnet = load(&["box.tail1.ts.net"]);
        let origin = tailnet.origin(Tailscale, "100.1.2.3", 8);
        assert_eq!(origin, "https://box.tail1.ts.net:8");
        assert_eq!(
            tailnet.origin(Localhost, "127.0.0.1", 8),
            "https://127.0.0.1:8"
        );
        let description = tailnet.describe().unwrap();
        assert!(
            description.ends_with("cert.pem, valid until 2099-02-01"),
            "{description}"
        );
        assert_eq!(tailnet.warning(), None);

        let lan = load(&["*.lan.example", "10.0.0.2", "localhost"]);
        assert_eq!(lan.origin(Local, "10.0.0.2", 8), "https://10.0.0.2:8");
        assert_eq!(lan.origin(Local, "10.0.0.3", 8), "https://10.0.0.3:8");
        assert_eq!(lan.origin(Localhost, "127.0.0.1", 8), "https://localhost:8");
        assert!(covers(
            &lan.certificate.as_ref().unwrap().facts,
            "Box.lan.example"
        ));
        assert!(!covers(
            &lan.certificate.as_ref().unwrap().facts,
            "a.box.lan.example"
        ));
    }

    #[test]
    fn an_expired_certificate_is_served_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_cert_until(dir.path(), &["localhost"], 2020);
        let transport = Transport::with(Certificate::load(&cert, &key).unwrap());
        assert!(transport.acceptor().is_some());
        let warning = transport.warning().unwrap();
        assert!(warning.contains("expired on 2020-02-01"), "{warning}");
        let description = transport.describe().unwrap();
        assert!(
            description.ends_with(", expired on 2020-02-01"),
            "{description}"
        );
    }
}
