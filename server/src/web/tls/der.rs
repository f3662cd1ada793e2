//! Just enough DER to read the two facts the server reports about its certificate: when it
//! expires (for `hub info` and the expiry warning) and the names it is valid for (so links
//! name a host the certificate covers). rustls verifies nothing here on our behalf and
//! this reader checks nothing either: the certificate is the owner's own file, and a field
//! it cannot find is simply absent.

use std::net::IpAddr;

/// `subjectAltName`'s object identifier, 2.5.29.17, as its DER content bytes.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// What a certificate says about itself.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Facts {
    /// `notAfter` as `YYYYMMDDHHMMSS` (UTC), when it could be read.
    pub not_after: Option<String>,
    /// The `dNSName`s of its subject alternative names, in order.
    pub dns_names: Vec<String>,
    /// The `iPAddress`es of its subject alternative names.
    pub ips: Vec<IpAddr>,
}

impl Facts {
    /// Reads a DER certificate; whatever cannot be found stays empty.
    pub fn read(cert: &[u8]) -> Self {
        let mut facts = Self::default();
        let _ = facts.read_tbs(cert);
        facts
    }

    fn read_tbs(&mut self, cert: &[u8]) -> Option<()> {
        let (_, certificate, _) = expect(cert, 0x30)?;
        let (_, tbs, _) = expect(certificate, 0x30)?;
        let mut rest = tbs;
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest)?.2; // explicit version
        }
        for _ in ["serialNumber", "signature", "issuer"] {
            rest = tlv(rest)?.2;
        }
        let (_, validity, rest) = expect(rest, 0x30)?;
        let (_, _not_before, after) = tlv(validity)?;
        let (tag, not_after, _) = tlv(after)?;
        self.not_after = time(tag, not_after);
        let mut rest = tlv(tlv(rest)?.2)?.2; // subject, subjectPublicKeyInfo
        while !rest.is_empty() {
            let (tag, content, next) = tlv(rest)?;
            if tag == 0xa3 {
                self.read_extensions(content)?;
            }
            rest = next;
        }
        Some(())
    }

    fn read_extensions(&mut self, explicit: &[u8]) -> Option<()> {
        let (_, mut list, _) = expect(explicit, 0x30)?;
        while !list.is_empty() {
            let (_, extension, next) = expect(list, 0x30)?;
            list = next;
            let (_, oid, mut rest) = expect(extension, 0x06)?;
            if oid != SUBJECT_ALT_NAME {
                continue;
            }
            if rest.first() == Some(&0x01) {
                rest = tlv(rest)?.2; // critical
            }
            let (_, value, _) = expect(rest, 0x04)?;
            let (_, mut names, _) = expect(value, 0x30)?;
            while !names.is_empty() {
                let (tag, name, next) = tlv(names)?;
                names = next;
                match (tag, name.len()) {
                    (0x82, _) => self
                        .dns_names
                        .push(String::from_utf8_lossy(name).to_ascii_lowercase()),
                    (0x87, 4) => self.ips.push(IpAddr::from(<[u8; 4]>::try_from(name).ok()?)),
                    (0x87, 16) => self
                        .ips
                        .push(IpAddr::from(<[u8; 16]>::try_from(name).ok()?)),
                    _ => {}
                }
            }
        }
        Some(())
    }
}

/// One DER element: its tag, its content and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Like [`tlv`], but only an element with tag `want`.
fn expect(input: &[u8], want: u8) -> Option<(u8, &[u8], &[u8])> {
    tlv(input).filter(|(tag, _, _)| *tag == want)
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// `YYYYMMDDHHMMSS`.
fn time(tag: u8, text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match (tag, text.len()) {
        (0x17, 12) => {
            let century = if text < "50" { "20" } else { "19" };
            Some(format!("{century}{text}"))
        }
        (0x18, 14) => Some(text.to_string()),
        _ => None,
    }
}

/// The current time (UTC) as `YYYYMMDDHHMMSS`, comparable with [`Facts::not_after`].
pub(super) fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}{month:02}{day:02}{h:02}{m:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expiry_and_names_of_a_generated_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["box.tail1.ts.net".into(), "127.0.0.1".into()])
                .unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 2, 3);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let facts = Facts::read(cert.der());
        assert_eq!(facts.not_after.as_deref(), Some("20310203000000"));
        assert_eq!(facts.dns_names, ["box.tail1.ts.net"]);
        assert_eq!(facts.ips, [IpAddr::from([127, 0, 0, 1])]);
    }

    #[test]
    fn garbage_gives_no_facts() {
        assert_eq!(Facts::read(b""), Facts::default());
        assert_eq!(Facts::read(&[0x30, 0x84, 0xff, 0xff]), Facts::default());
        assert_eq!(Facts::read(&[0x30, 0x03, 0x30, 0x01]), Facts::default());
    }

    #[test]
    fn times() {
        assert_eq!(
            time(0x17, b"491231235959Z").as_deref(),
            Some("20491231235959")
        );
        assert_eq!(
            time(0x17, b"500101000000Z").as_deref(),
            Some("19500101000000")
        );
        assert_eq!(
            time(0x18, b"21000101000000Z").as_deref(),
            Some("21000101000000")
        );
        assert_eq!(time(0x17, b"5001010000Z"), None);
        let now = now();
        assert_eq!(now.len(), 14);
        assert!(now.as_str() > "20250101000000" && now.as_str() < "21000101000000");
    }
}
