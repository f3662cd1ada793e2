//! What a parse finds that vt100 does not act on: terminal queries to answer (cursor
//! position, device attributes, colours) and notifications (BEL, OSC 9 except 9;4 progress,
//! OSC 99, OSC 777) with their text. vte's parser is stateful, so both are found across
//! read boundaries.

/// The vt100 callbacks: collect what the parse found for the task to act on.
#[derive(Default)]
pub struct Hooks {
    /// Answers to terminal queries, for the PTY's input.
    pub replies: Vec<u8>,
    /// Bells and notifications seen since last taken.
    pub alerts: u32,
    /// What the last of them said: "bell", or a notification's text.
    pub message: Option<String>,
}

/// Longest notification text kept; a line on a card or a banner.
const MESSAGE_MAX: usize = 200;

impl Hooks {
    fn alert(&mut self, message: String) {
        self.alerts += 1;
        let message: String = message
            .chars()
            .filter(|c| !c.is_control())
            .take(MESSAGE_MAX)
            .collect();
        let message = message.trim();
        self.message = Some(if message.is_empty() { "bell" } else { message }.to_string());
    }
}

/// The text of a notification OSC: OSC 9's text; OSC 777's `notify;TITLE;BODY` as
/// "TITLE: BODY"; OSC 99's payload after its metadata.
fn notification_text(params: &[&[u8]]) -> String {
    let text = |parts: &[&[u8]]| {
        parts
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
            .join(";")
    };
    match params {
        [b"777", b"notify", title, body @ ..] => {
            let (title, body) = (String::from_utf8_lossy(title), text(body));
            match (title.is_empty(), body.is_empty()) {
                (_, true) => title.into_owned(),
                (true, false) => body,
                (false, false) => format!("{title}: {body}"),
            }
        }
        [b"99", _metadata, payload @ ..] => text(payload),
        [_, rest @ ..] => text(rest),
        [] => String::new(),
    }
}

impl vt100::Callbacks for Hooks {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.alert(String::new());
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        let reply = match (i1, c, first) {
            (None, 'n', 5) => "\x1b[0n".to_string(),
            (None, 'n', 6) => {
                let (row, col) = screen.cursor_position();
                format!("\x1b[{};{}R", row + 1, col + 1)
            }
            (Some(b'?'), 'n', 6) => {
                let (row, col) = screen.cursor_position();
                format!("\x1b[?{};{}R", row + 1, col + 1)
            }
            // VT220-class terminal with ANSI colour, like xterm's answer.
            (None, 'c', 0) => "\x1b[?62;22c".to_string(),
            (Some(b'>'), 'c', 0) => "\x1b[>1;10;0c".to_string(),
            _ => return,
        };
        self.replies.extend_from_slice(reply.as_bytes());
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        match params {
            [b"9", b"4", ..] => {} // progress reports, not notifications
            [b"9", ..] | [b"99", ..] | [b"777", ..] => self.alert(notification_text(params)),
            // Foreground / background colour queries: a dark theme's colours.
            [b"10", b"?"] => self
                .replies
                .extend_from_slice(b"\x1b]10;rgb:e5e5/e5e5/e5e5\x1b\\"),
            [b"11", b"?"] => self
                .replies
                .extend_from_slice(b"\x1b]11;rgb:1e1e/1e1e/1e1e\x1b\\"),
            _ => {}
        }
    }
}
