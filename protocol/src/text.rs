//! Text that others control, made safe for a terminal, and the rule for session names.
//!
//! Session names, commands, working directories and messages come from programs, from
//! file names and from whoever uses the dashboard. Printed raw, a control character among
//! them can retitle the user's window or clear the screen (`ESC ] 0 ; … BEL`), and an
//! invisible format character (a bidi override, a zero-width space) makes a name read
//! differently from what it is. [`escape`] shows every such character as a visible escape
//! and is used for everything the CLI prints to a terminal; [`check_name`] keeps them out
//! of session names altogether, whoever gives the name; [`name_from`] turns anything into
//! a name that passes the check. Client and server both use this module.
//!
//! "Unsafe" ([`is_unsafe`]) means: C0 controls and DEL, C1 controls (U+0080–U+009F),
//! Unicode format characters (general category Cf, listed in [`FORMAT`]), and the line and
//! paragraph separators U+2028/U+2029, which some terminals and pagers break lines at.

use std::borrow::Cow;
use std::fmt::Write;

/// Longest session name, in characters: a name is typed, shown in a table column and on a
/// phone card, so it stays short.
pub const MAX_NAME_CHARS: usize = 64;

/// Unicode's format characters (general category Cf, Unicode 15), as inclusive ranges.
/// Bidi controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), zero-width characters
/// (U+200B–U+200D, U+2060–U+2064, U+FEFF), the soft hyphen (U+00AD), tag characters
/// (U+E0001, U+E0020–U+E007F) and a few script-specific ones.
pub const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a Unicode format character (category Cf) or a line/paragraph separator.
pub fn is_format(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}') || FORMAT.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// Whether `c` must never reach a terminal as it is: a control character (C0, DEL, C1)
/// or a format character ([`is_format`]).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_format(c)
}

/// `text` with every unsafe character shown as a visible escape: `\e` for ESC, `\t`, `\n`,
/// `\r`, `\xNN` for other C0 controls and DEL, `\u{NNNN}` for C1 controls and format
/// characters. Everything else, a backslash included, is unchanged; text that needs no
/// escaping is returned without copying.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Why a session name was refused; each is one line for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but spaces.
    #[error("a session name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("a session name must be at most {MAX_NAME_CHARS} characters (this one has {chars})")]
    TooLong {
        /// The name's length in characters.
        chars: usize,
    },
    /// A control character, which would reach terminals as a command.
    #[error("a session name cannot contain control characters (it has {})", escape(&found.to_string()))]
    Control {
        /// The first one found.
        found: char,
    },
    /// An invisible format character, which makes a name read differently from what it is.
    #[error(
        "a session name cannot contain invisible formatting characters such as bidi \
         overrides or zero-width spaces (it has {})", escape(&found.to_string())
    )]
    Format {
        /// The first one found.
        found: char,
    },
    /// `:` separates a machine from a session name (`MACHINE:NAME`).
    #[error("a session name cannot contain ':' (it is reserved for MACHINE:NAME)")]
    Colon,
}

/// Checks a session name, whoever gives it (the CLI, the socket, the dashboard), and
/// returns it without surrounding spaces.
pub fn check_name(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(found) = name.chars().find(|c| c.is_control()) {
        return Err(NameError::Control { found });
    }
    if let Some(found) = name.chars().find(|c| is_format(*c)) {
        return Err(NameError::Format { found });
    }
    if name.contains(':') {
        return Err(NameError::Colon);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong { chars });
    }
    Ok(name)
}

/// Room left in an automatic name for a `-N` suffix that makes it unique.
const SUFFIX_ROOM: usize = 8;

/// A valid name made from `raw` (a program's file name, say): `raw` itself when it passes
/// [`check_name`] and leaves room for a `-N` suffix, else `raw` without unsafe characters
/// and `:`, cut short; `session` when nothing is left.
pub fn name_from(raw: &str) -> String {
    let cleaned: String = raw.chars().filter(|&c| !is_unsafe(c) && c != ':').collect();
    let cut: String = cleaned
        .trim()
        .chars()
        .take(MAX_NAME_CHARS - SUFFIX_ROOM)
        .collect();
    match check_name(&cut) {
        Ok(name) => name.to_string(),
        Err(_) => "session".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_controls_and_format_characters() {
        assert!(matches!(
            escape("plain ~/dir"),
            Cow::Borrowed("plain ~/dir")
        ));
        assert_eq!(escape("a\x1b]0;X\x07b"), "a\\e]0;X\\x07b");
        assert_eq!(escape("\x1b[2J\x1b[H"), "\\e[2J\\e[H");
        assert_eq!(escape("tab\there\r\n"), "tab\\there\\r\\n");
        assert_eq!(escape("\0\x7f"), "\\x00\\x7f");
        assert_eq!(escape("c1 \u{9b}2J"), "c1 \\u{9b}2J");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in [
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2028}',
            '\u{E0041}',
        ] {
            let shown = escape(&c.to_string()).into_owned();
            assert_eq!(shown, format!("\\u{{{:x}}}", c as u32));
        }
        // A backslash stays; printable non-ASCII stays.
        assert_eq!(escape("a\\e é 日本 \u{a0}"), "a\\e é 日本 \u{a0}");
        // Every character of the result is safe.
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(is_unsafe));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  api  "), Ok("api"));
        assert_eq!(check_name("my agent-2 日本"), Ok("my agent-2 日本"));
        assert_eq!(check_name(" "), Err(NameError::Empty));
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"x".repeat(64)).map(str::len), Ok(64));
        assert_eq!(
            check_name(&"x".repeat(65)),
            Err(NameError::TooLong { chars: 65 })
        );
        assert_eq!(
            check_name("a\x1b]0;X\x07"),
            Err(NameError::Control { found: '\x1b' })
        );
        assert_eq!(
            check_name("a\u{85}b"),
            Err(NameError::Control { found: '\u{85}' })
        );
        assert_eq!(
            check_name("evil\u{202e}txt"),
            Err(NameError::Format { found: '\u{202e}' })
        );
        assert_eq!(
            check_name("zero\u{200b}width"),
            Err(NameError::Format { found: '\u{200b}' })
        );
        assert_eq!(check_name("host:name"), Err(NameError::Colon));
        // Messages are one line, name what is wrong, and print safely.
        for name in ["", "a\x1bb", "a\u{202e}b", "a:b", &"y".repeat(99)] {
            let message = check_name(name).unwrap_err().to_string();
            assert!(!message.contains('\n') && !message.chars().any(is_unsafe));
        }
        let message = check_name("evil\u{202e}").unwrap_err().to_string();
        assert!(message.contains("\\u{202e}"), "{message}");
    }

    #[test]
    fn automatic_names_are_always_valid() {
        assert_eq!(name_from("claude"), "claude");
        assert_eq!(name_from("prog\x1b]0;X\x07"), "prog]0;X");
        assert_eq!(name_from("a:b\u{202e}c"), "abc");
        assert_eq!(name_from("\x1b\x07"), "session");
        assert_eq!(name_from("   "), "session");
        let long = name_from(&"z".repeat(200));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS - SUFFIX_ROOM);
        for raw in ["x\u{feff}", "\u{2066}", "ok", &"é".repeat(100)] {
            let name = name_from(raw);
            assert!(check_name(&format!("{name}-9999999")).is_ok(), "{raw:?}");
        }
    }
}
