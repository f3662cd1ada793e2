//! A session's terminal state: the vt100 screen (with scrollback and the alternate
//! screen), fed from the output ring by its own task so parsing never slows PTY reads.
//!
//! The state knows exactly which output position it reflects (`seq`), so a redraw plus the
//! ring bytes after that position is exact. Parsing also finds what vt100 does not act on:
//! terminal queries to answer (cursor position, device attributes, colours) and
//! notifications (BEL, OSC 9 except 9;4 progress, OSC 99, OSC 777). vte's parser is
//! stateful, so both are found across read boundaries.

use std::num::NonZeroU16;

use itwillsync_protocol::Size;

/// The vt100 callbacks: collect what the parse found for the task to act on.
#[derive(Default)]
pub struct Hooks {
    /// Answers to terminal queries, for the PTY's input.
    pub replies: Vec<u8>,
    /// Bells and notifications seen since last taken.
    pub alerts: u32,
}

impl vt100::Callbacks for Hooks {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.alerts += 1;
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
            [b"9", ..] | [b"99", ..] | [b"777", ..] => self.alerts += 1,
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

/// Rows of scrollback the terminal state keeps (for phones' history redraw).
const SCROLLBACK_ROWS: usize = 2000;

/// The terminal state and the output position it reflects.
pub struct Term {
    parser: vt100::Parser<Hooks>,
    seq: u64,
    /// The main screen as it was when a program switched to the alternate screen. vt100
    /// keeps the main grid but offers no way to draw it while the alternate one is active.
    main_screen: Option<String>,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(1)).unwrap_or(NonZeroU16::MIN)
}

/// Longest private-mode sequence (`CSI ? Pm h`) looked at when splitting chunks.
const MAX_MODE_SEQ: usize = 32;

impl Term {
    /// A blank screen of `size` at output position 0.
    pub fn new(size: Size) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                nz(size.rows),
                nz(size.cols),
                SCROLLBACK_ROWS,
                Hooks::default(),
            ),
            seq: 0,
            main_screen: None,
        }
    }

    /// The output position the state reflects.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Parses output that follows `seq` and returns how many bytes were consumed. A
    /// private-mode sequence cut off at the end is left for the next call, so the main
    /// screen can be captured exactly when a program enters the alternate screen.
    pub fn process(&mut self, bytes: &[u8]) -> usize {
        let mut done = 0;
        for at in memchr::memmem::find_iter(bytes, b"\x1b[?") {
            if at < done {
                continue;
            }
            let Some(len) = mode_seq_len(&bytes[at..]) else {
                if bytes.len() - at < MAX_MODE_SEQ {
                    self.feed(&bytes[done..at]);
                    return at;
                }
                continue;
            };
            if enters_alternate(&bytes[at..at + len]) && !self.parser.screen().alternate_screen() {
                self.feed(&bytes[done..at]);
                self.main_screen = Some(self.parser.screen().contents_formatted());
                done = at;
            }
        }
        self.feed(&bytes[done..]);
        bytes.len()
    }

    /// Continues at `seq` without parsing the output before it (lost to a flood); the
    /// state so far (modes, screen, colours) is kept.
    pub fn skip_to(&mut self, seq: u64) {
        self.seq = self.seq.max(seq);
    }

    /// Parses everything, cut-off sequences included: for output that will never continue.
    pub fn finish(&mut self, bytes: &[u8]) {
        self.feed(bytes);
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        self.seq += bytes.len() as u64;
        if self.main_screen.is_some() && !self.parser.screen().alternate_screen() {
            self.main_screen = None;
        }
    }

    /// Takes the query answers and the alert count gathered since the last call.
    pub fn take_hooks(&mut self) -> Hooks {
        std::mem::take(self.parser.callbacks_mut())
    }

    /// Follows a PTY resize.
    pub fn set_size(&mut self, size: Size) {
        self.parser.set_size(nz(size.rows), nz(size.cols));
    }

    /// The last `count` non-empty rows of the visible screen as plain text, trailing
    /// blanks trimmed; a row longer than `width` characters is cut to end in `...`.
    pub fn preview(&self, count: usize, width: usize) -> Vec<String> {
        let screen = self.parser.screen();
        let cols = screen.size().1.get();
        let rows: Vec<String> = screen
            .rows(0, cols)
            .map(|row| row.trim_end().to_string())
            .filter(|row| !row.is_empty())
            .collect();
        let skip = rows.len().saturating_sub(count);
        rows.into_iter()
            .skip(skip)
            .map(|row| {
                if row.chars().count() <= width {
                    row
                } else {
                    let mut cut: String = row.chars().take(width.saturating_sub(3)).collect();
                    cut.push_str("...");
                    cut
                }
            })
            .collect()
    }

    /// The screen.
    #[cfg(test)]
    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Escape sequences that repaint a terminal to this state: the main screen, then (when
    /// a full-screen program is running) the switch to the alternate screen and its
    /// contents, then input modes and the cursor. A terminal that later leaves the
    /// alternate screen finds the right main screen underneath.
    pub fn redraw(&self) -> Vec<u8> {
        let screen = self.parser.screen();
        let mut out = String::from("\x1b[0m");
        match (&self.main_screen, screen.alternate_screen()) {
            (Some(main), true) => {
                out.push_str("\x1b[?1049l");
                out.push_str(main);
                out.push_str("\x1b[?1049h");
            }
            (None, true) => out.push_str("\x1b[?1049h"),
            (_, false) => out.push_str("\x1b[?1049l"),
        }
        out.push_str(&screen.contents_formatted());
        out.push_str(&screen.input_mode_formatted());
        out.into_bytes()
    }

    /// A terminal reset (`ESC c`), then the scrollback history row by row, pushed into the
    /// receiving terminal's own scrollback, then the screen exactly as [`Term::redraw`]
    /// paints it. For phones, whose xterm.js keeps history the user can scroll back to.
    /// While a full-screen program runs, the alternate screen has no history to send.
    pub fn redraw_with_history(&mut self) -> Vec<u8> {
        let mut out = String::from("\x1bc");
        let screen = self.parser.screen_mut();
        let (rows, cols) = screen.size();
        let rows = usize::from(rows.get());
        screen.set_scrollback(usize::MAX);
        let history = screen.scrollback();
        // At offset k the view's top row is history row `history - k`.
        let mut offset = history;
        while offset > 0 {
            screen.set_scrollback(offset);
            for row in screen.rows_formatted(0, cols.get()).take(offset.min(rows)) {
                out.push_str("\x1b[0m");
                out.push_str(&row);
                out.push_str("\x1b[0m\r\n");
            }
            offset = offset.saturating_sub(rows);
        }
        screen.set_scrollback(0);
        // The last rows of history are still on screen: scroll them off into history.
        let visible = history.min(rows.saturating_sub(1));
        if visible > 0 {
            out.push_str(&format!("\x1b[{rows};1H"));
            out.push_str(&"\n".repeat(visible));
        }
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.redraw());
        bytes
    }
}

/// Length of the complete `CSI ? params final` sequence at the start of `bytes`, if complete.
fn mode_seq_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .take(MAX_MODE_SEQ)
        .skip(3)
        .position(|b| !(b.is_ascii_digit() || *b == b';'))
        .map(|i| i + 4)
}

/// Whether a complete private-mode sequence sets mode 47, 1047 or 1049.
fn enters_alternate(seq: &[u8]) -> bool {
    seq.last() == Some(&b'h')
        && seq[3..seq.len() - 1]
            .split(|b| *b == b';')
            .any(|p| matches!(p, b"47" | b"1047" | b"1049"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(bytes: &[u8], size: Size) -> vt100::Parser {
        let mut p = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
        p.process(bytes);
        p
    }

    #[test]
    fn redraw_reproduces_screen_and_alternate_screen() {
        let size = Size { cols: 40, rows: 10 };
        let mut term = Term::new(size);
        term.process(b"shell prompt $ \x1b[31mred\x1b[0m\r\nline2\r\n");
        term.process(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app\x1b[5;5H\x1b[1mX");
        let redraw = term.redraw();
        let mut copy = replay(&redraw, size);
        assert_eq!(copy.screen().contents(), term.screen().contents());
        assert!(copy.screen().alternate_screen());
        assert_eq!(
            copy.screen().cursor_position(),
            term.screen().cursor_position()
        );
        // Leaving the alternate screen shows the main screen that was under it.
        copy.process(b"\x1b[?1049l");
        term.process(b"\x1b[?1049l");
        assert_eq!(copy.screen().contents(), term.screen().contents());
        assert!(copy.screen().contents().contains("line2"));
    }

    #[test]
    fn redraw_with_history_restores_scrollback_and_screen() {
        let size = Size { cols: 30, rows: 5 };
        let mut term = Term::new(size);
        for i in 0..40 {
            term.process(format!("line \x1b[1m{i}\x1b[0m\r\n").as_bytes());
        }
        term.process(b"$ partial");
        let redraw = term.redraw_with_history();
        assert!(redraw.starts_with(b"\x1bc"));
        let mut copy = vt100::Parser::new(nz(size.rows), nz(size.cols), 100);
        copy.process(&redraw);
        assert_eq!(copy.screen().contents(), term.screen().contents());
        assert_eq!(
            copy.screen().cursor_position(),
            term.screen().cursor_position()
        );
        copy.screen_mut().set_scrollback(usize::MAX);
        term.parser.screen_mut().set_scrollback(usize::MAX);
        assert_eq!(copy.screen().scrollback(), term.screen().scrollback());
        assert_eq!(copy.screen().contents(), term.screen().contents());
        assert!(copy.screen().contents().starts_with("line 0\n"));
    }

    #[test]
    fn preview_is_the_last_non_empty_rows_of_the_visible_screen() {
        let mut term = Term::new(Size {
            cols: 100,
            rows: 10,
        });
        term.process(b"one\r\n\r\ntwo   \r\nthree\r\nfour\r\nfive\r\nsix\r\n");
        assert_eq!(term.preview(5, 80), ["two", "three", "four", "five", "six"]);
        term.process(format!("{}\r\n", "x".repeat(90)).as_bytes());
        assert_eq!(term.preview(1, 80), [format!("{}...", "x".repeat(77))]);
        term.process(b"\x1b[?1049h\x1b[H\x1b[2Jtop\x1b[9;1Hbottom");
        assert_eq!(term.preview(5, 80), ["top", "bottom"]);
        term.process(b"\x1b[?1049l");
        assert_eq!(term.preview(1, 80).len(), 1);
        assert!(term.preview(1, 80)[0].ends_with("..."));
    }

    #[test]
    fn answers_queries_and_counts_alerts_across_chunks() {
        let mut term = Term::new(Size { cols: 80, rows: 24 });
        term.process(b"abc\x1b[");
        term.process(b"6n\x1b]9;4;1;50\x07\x1b]9;hi\x07\x1b]77");
        term.process(b"7;notify;t;b\x1b\\\x1b[c");
        let hooks = term.take_hooks();
        assert_eq!(hooks.replies, b"\x1b[1;4R\x1b[?62;22c");
        assert_eq!(hooks.alerts, 2);
        assert_eq!(term.take_hooks().alerts, 0);
    }
}
