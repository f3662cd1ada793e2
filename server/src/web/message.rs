//! The JSON messages inside a session port's seal (docs/PROTOCOL.md "Messages inside the
//! seal: a session port"), one enum per direction, tagged by `type`.
//!
//! [`PhoneIn`] is what a page may send; a type this server does not know decodes as
//! [`PhoneIn::Unknown`] and is ignored, and extra fields are ignored, so an older or newer
//! page keeps working. [`PhoneOut`] is what the server sends; it borrows its text, so the
//! `data` message (the phone path's hot loop) is written straight from the output bytes
//! with no intermediate `serde_json::Value` and no copy. The wire names are fixed: the
//! pages read them, and the tests below hold them to golden strings.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// A message from the page.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum PhoneIn {
    /// Keystrokes (ignored from a read-only key).
    Input {
        /// The text typed.
        data: String,
    },
    /// The page's size (ignored from a read-only key). Signed, so a nonsensical size is
    /// dropped by the handler rather than failing the message.
    Resize {
        /// Columns.
        cols: i64,
        /// Rows.
        rows: i64,
        /// The Fit button: take the size even where the policy would not.
        #[serde(default)]
        force: bool,
    },
    /// What the page already shows (`sync` is the original's name for it).
    #[serde(alias = "sync")]
    Resume {
        /// The output position it has drawn up to; negative: nothing.
        #[serde(rename = "lastSeq")]
        last_seq: i64,
    },
    /// Flow control: the page has drawn output up to `seq`.
    Ack {
        /// An output position.
        seq: i64,
    },
    /// A type this server does not know: ignored.
    #[serde(other)]
    Unknown,
}

/// A message to the page.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum PhoneOut<'a> {
    /// The PTY's size: the first message, and on every change.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// What the page shows about the session (after the first `resize`, and on rename).
    #[serde(rename_all = "camelCase")]
    Session {
        /// The session's name, for the title.
        name: &'a str,
        /// Whether the key this page proved is the read-only one.
        read_only: bool,
        /// The dashboard's port, for the link back.
        dashboard_port: u16,
        /// The read-only key (base64url) for a Share link: full-key pages only.
        #[serde(skip_serializing_if = "Option::is_none")]
        read_key: Option<String>,
    },
    /// Output; `seq` is the output byte count after its last byte. A repaint too large for
    /// one message comes as several, all but the last with `seq` -1.
    Data {
        /// The output as text.
        data: &'a str,
        /// The output position after it; -1 on a repaint's pieces before the last.
        seq: i64,
    },
    /// The program ended (after the last `data`).
    Exit {
        /// Its exit code (128 + signal when a signal ended it).
        code: i32,
    },
}

impl PhoneOut<'_> {
    /// The message as JSON text, with `extra` bytes of spare capacity (the seal's tag,
    /// and for `data` the room its escapes may take). `data` is written by hand, byte for
    /// byte what serde_json writes, because every output byte a phone gets passes through
    /// it: serde_json looks each byte up in a table, [`escape_into`] skips eight at a time.
    pub fn to_json(&self, extra: usize) -> Vec<u8> {
        let mut json = Vec::with_capacity(extra + 64);
        if let PhoneOut::Data { data, seq } = self {
            json.extend_from_slice(br#"{"type":"data","data":""#);
            escape_into(&mut json, data.as_bytes());
            // Writing to a Vec cannot fail.
            let _ = write!(json, r#"","seq":{seq}}}"#);
            return json;
        }
        // Writing to a Vec cannot fail, and every field is a string, number or bool.
        serde_json::to_writer(&mut json, self).expect("a message always serializes");
        json
    }
}

/// Appends `text` (valid UTF-8) escaped as the inside of a JSON string, as serde_json
/// escapes it: `"` and `\` with a backslash, the control characters below 0x20 as
/// `\b \f \n \r \t` or `\u00XX`, everything else (DEL, non-ASCII) as it is. The next byte
/// to escape is found eight bytes at a time, and the run before it is copied whole.
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of the lowest byte of `word` (little-endian) that is below 0x20, `"` or
    // `\` is set, and none below it: the borrows that can flag a higher byte by mistake
    // only start at a byte that matches.
    let special = |word: u64| {
        let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
        let below = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        below | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\')))
    };
    out.reserve(text.len() + 16);
    let mut copied = 0; // text[..copied] is in `out`
    let mut at = 0;
    loop {
        // The next byte to escape, from `at` on.
        while let Some(word) = text.get(at..at + 8) {
            let found = special(u64::from_le_bytes(word.try_into().expect("eight bytes")));
            if found != 0 {
                at += found.trailing_zeros() as usize / 8;
                break;
            }
            at += 8;
        }
        while at < text.len() && !matches!(text[at], 0..0x20 | b'"' | b'\\') {
            at += 1;
        }
        let Some(&c) = text.get(at) else { break };
        out.extend_from_slice(&text[copied..at]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let c = usize::from(c);
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[c >> 4], HEX[c & 15]]);
            }
        }
        at += 1;
        copied = at;
    }
    out.extend_from_slice(&text[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> PhoneIn {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_page_message_decodes_as_it_always_has() {
        let cases = [
            (
                r#"{"type":"input","data":"ls\r"}"#,
                PhoneIn::Input {
                    data: "ls\r".into(),
                },
            ),
            (
                r#"{"type":"resize","cols":100,"rows":30,"force":true}"#,
                PhoneIn::Resize {
                    cols: 100,
                    rows: 30,
                    force: true,
                },
            ),
            // The original page sends no `force`.
            (
                r#"{"type":"resize","cols":100,"rows":30}"#,
                PhoneIn::Resize {
                    cols: 100,
                    rows: 30,
                    force: false,
                },
            ),
            (
                r#"{"type":"resume","lastSeq":-1}"#,
                PhoneIn::Resume { last_seq: -1 },
            ),
            (
                r#"{"type":"sync","lastSeq":1234}"#,
                PhoneIn::Resume { last_seq: 1234 },
            ),
            (r#"{"type":"ack","seq":99}"#, PhoneIn::Ack { seq: 99 }),
            // Extra fields, and fields in any order, are fine.
            (
                r#"{"data":"x","type":"input","at":17,"from":{"a":[1]}}"#,
                PhoneIn::Input { data: "x".into() },
            ),
            (r#"{"type":"launch","rocket":true}"#, PhoneIn::Unknown),
            (r#"{"type":"attention"}"#, PhoneIn::Unknown),
        ];
        for (text, expected) in cases {
            assert_eq!(decode(text), expected, "{text}");
        }
    }

    #[test]
    fn malformed_page_messages_fail_to_decode() {
        for text in [
            "not json",
            r#"{"data":"no type"}"#,
            r#"{"type":"input","data":5}"#,
            r#"{"type":"input"}"#,
            r#"{"type":"resize","cols":-4,"rows":1e9}"#,
            r#"{"type":"resume"}"#,
        ] {
            assert!(serde_json::from_str::<PhoneIn>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn every_server_message_is_the_json_the_page_expects() {
        let cases = [
            (
                PhoneOut::Resize { cols: 80, rows: 24 },
                r#"{"type":"resize","cols":80,"rows":24}"#,
            ),
            (
                PhoneOut::Session {
                    name: "claude \"main\"",
                    read_only: false,
                    dashboard_port: 7962,
                    read_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into()),
                },
                concat!(
                    r#"{"type":"session","name":"claude \"main\"","readOnly":false,"#,
                    r#""dashboardPort":7962,"readKey":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}"#
                ),
            ),
            (
                PhoneOut::Session {
                    name: "watch",
                    read_only: true,
                    dashboard_port: 7962,
                    read_key: None,
                },
                r#"{"type":"session","name":"watch","readOnly":true,"dashboardPort":7962}"#,
            ),
            // The PROTOCOL.md test vector's plaintext.
            (
                PhoneOut::Data {
                    data: "hi\r\n",
                    seq: 4,
                },
                r#"{"type":"data","data":"hi\r\n","seq":4}"#,
            ),
            // Control characters are escaped; DEL and non-ASCII go as they are.
            (
                PhoneOut::Data {
                    data: "\u{1b}[1m\t\u{7f}é",
                    seq: 9,
                },
                "{\"type\":\"data\",\"data\":\"\\u001b[1m\\t\u{7f}é\",\"seq\":9}",
            ),
            (
                PhoneOut::Exit { code: 130 },
                r#"{"type":"exit","code":130}"#,
            ),
        ];
        for (msg, expected) in cases {
            let json = msg.to_json(0);
            assert_eq!(std::str::from_utf8(&json).unwrap(), expected);
        }
    }

    /// The hand-written `data` message is byte for byte serde_json's, for every byte
    /// value at every position of a word, and for random text.
    #[test]
    fn data_messages_are_what_serde_json_writes() {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        enum Reference<'a> {
            Data { data: &'a str, seq: i64 },
        }
        let check = |text: &str, seq: i64| {
            let ours = PhoneOut::Data { data: text, seq }.to_json(0);
            let theirs = serde_json::to_vec(&Reference::Data { data: text, seq }).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap(),
                "{text:?}"
            );
        };
        check("", -1);
        check("hi\r\n", i64::MAX);
        for c in (0u8..0x80).map(char::from).chain(['é', '漢', '😀']) {
            for len in 1..20 {
                for at in 0..len {
                    let mut text: String = "x".repeat(len);
                    text.replace_range(at..at + 1, &c.to_string());
                    check(&text, 7);
                }
            }
        }
        let mut x: u64 = 0x2545f4914f6cdd1d;
        for _ in 0..2000 {
            let text: String = (0..(x % 200))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 10 {
                        0 => char::from((x >> 8) as u8 % 0x20),
                        1 => ['"', '\\', '\u{7f}', 'é', '😀'][(x >> 8) as usize % 5],
                        _ => char::from(b' ' + (x >> 8) as u8 % 95),
                    }
                })
                .collect();
            check(&text, x as i64 >> 1);
        }
    }
}
