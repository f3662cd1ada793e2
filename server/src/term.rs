//! A session's terminal state: the vt100 screens (main and alternate) and the scrollback
//! history (`history.rs`, kept compact: text and attribute runs, not vt100's 32-byte
//! cells), fed from the output ring by the follower so parsing never slows PTY reads.
//!
//! The state knows exactly which output position it reflects (`seq`), so a redraw plus the
//! ring bytes after that position is exact. Parsing also finds what vt100 does not act on:
//! terminal queries to answer (cursor position, device attributes, colours) and
//! notifications (BEL, OSC 9 except 9;4 progress, OSC 99, OSC 777). vte's parser is
//! stateful, so both are found across read boundaries.

use std::num::NonZeroU16;

use itwillsync_protocol::Size;

mod flood;
mod history;
mod hooks;

pub use flood::skippable;
use history::History;
pub use hooks::Hooks;

/// Rows of scrollback history the terminal state keeps (for phones' history redraw).
const SCROLLBACK_ROWS: usize = 2000;

/// What vt100 reports while it parses: the hooks' findings, and the rows that scroll off
/// the main screen into the history.
#[derive(Default)]
struct Callbacks {
    hooks: Hooks,
    history: History,
}

impl vt100::Callbacks for Callbacks {
    fn audible_bell(&mut self, screen: &mut vt100::Screen) {
        self.hooks.audible_bell(screen);
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        self.hooks.unhandled_csi(screen, i1, i2, params, c);
    }

    fn unhandled_osc(&mut self, screen: &mut vt100::Screen, params: &[&[u8]]) {
        self.hooks.unhandled_osc(screen, params);
    }

    /// With no scrollback of vt100's own, called for every row that leaves the top of a
    /// screen (scrolled, or pushed by a resize). The alternate screen has no history.
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate: bool) {
        if !alternate {
            self.history.push(&row);
        }
    }
}

/// The terminal state and the output position it reflects.
pub struct Term {
    /// The screens, without scrollback (`on_scroll` moves rows into the history).
    parser: vt100::Parser<Callbacks>,
    seq: u64,
    /// The main screen as it was when a program switched to the alternate screen. vt100
    /// keeps the main grid but offers no way to draw it while the alternate one is active.
    main_screen: Option<String>,
    /// Whether the main and the alternate screen may have a scroll region smaller than the
    /// screen (vt100 does not say): text then stays on rows outside it, so floods on that
    /// screen are never skipped (see [`skippable`]). Erring towards `true` is safe.
    partial_region: [bool; 2],
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(1)).unwrap_or(NonZeroU16::MIN)
}

/// Longest control sequence held back for the next call when a chunk ends inside it.
const MAX_HELD_BACK: usize = 32;

impl Term {
    /// A blank screen of `size` at output position 0.
    pub fn new(size: Size) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                nz(size.rows),
                nz(size.cols),
                0,
                Callbacks::default(),
            ),
            seq: 0,
            main_screen: None,
            partial_region: [false; 2],
        }
    }

    /// The state a repaint with history (`redraw_with_history`, or its pieces from
    /// `repaint::Repaint`) paints, at output position `seq`: how a server handed a session
    /// across `exec` (`handover`) rebuilds its terminal state. While a full-screen program
    /// runs, the main screen comes back without its history (the repaint has none: vt100
    /// cannot read it while the alternate screen is active).
    pub fn restored(size: Size, repaint: &[u8], seq: u64) -> Self {
        let mut term = Self::new(size);
        let done = term.process(repaint);
        term.finish(&repaint[done..]);
        // Queries and alerts in a repaint were answered and raised before.
        term.take_hooks();
        term.seq = seq;
        term
    }

    /// The output position the state reflects.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The screen's height.
    pub fn rows(&self) -> u16 {
        self.parser.screen().size().0.get()
    }

    /// Parses output that follows `seq` and returns how many bytes were consumed. A control
    /// sequence cut off at the end is left for the next call, so the main screen can be
    /// captured exactly when a program enters the alternate screen, and scroll regions are
    /// seen on the screen they apply to.
    pub fn process(&mut self, bytes: &[u8]) -> usize {
        let mut done = 0;
        for at in memchr::memchr_iter(0x1b, bytes) {
            if at < done {
                continue;
            }
            let Some(escape) = Escape::at(&bytes[at..]) else {
                if bytes.len() - at < MAX_HELD_BACK {
                    self.feed(&bytes[done..at]);
                    return at;
                }
                // Too long to hold back: it ends in the next call, unseen. It might set a
                // scroll region.
                self.partial_region = [true; 2];
                continue;
            };
            match escape {
                Escape::EntersAlternate => {
                    // Parsed up to here first: an earlier sequence in `bytes` may have
                    // switched screens already.
                    self.feed(&bytes[done..at]);
                    done = at;
                    if !self.parser.screen().alternate_screen() {
                        self.main_screen = Some(self.parser.screen().contents_formatted());
                    }
                }
                Escape::ScrollRegion { len, partial } => {
                    self.feed(&bytes[done..at + len]);
                    done = at + len;
                    let screen = usize::from(self.parser.screen().alternate_screen());
                    self.partial_region[screen] = partial;
                }
                Escape::ErasesScrollback { len } => {
                    self.feed(&bytes[done..at + len]);
                    done = at + len;
                    // vt100 erases the current screen's scrollback: the alternate screen
                    // has none.
                    if !self.parser.screen().alternate_screen() {
                        self.history_mut().clear();
                    }
                }
                Escape::Reset { len } => {
                    self.feed(&bytes[done..at + len]);
                    done = at + len;
                    self.history_mut().clear();
                }
                Escape::Other => {}
            }
        }
        self.feed(&bytes[done..]);
        bytes.len()
    }

    /// Whether output may be skipped here: see [`skippable`].
    pub fn may_skip(&self) -> bool {
        !self.partial_region[usize::from(self.parser.screen().alternate_screen())]
    }

    /// Continues at `seq` without parsing the output before it (lost to a flood); the
    /// state so far (modes, screen, colours) is kept.
    pub fn skip_to(&mut self, seq: u64) {
        self.seq = self.seq.max(seq);
    }

    /// Parses everything, cut-off sequences included: for output that will never continue.
    /// Like [`Term::process`] up to the cut-off sequence, so a switch to the alternate
    /// screen still keeps the main screen, and scroll regions are still seen.
    pub fn finish(&mut self, bytes: &[u8]) {
        let parsed = self.process(bytes);
        self.feed(&bytes[parsed..]);
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
        std::mem::take(&mut self.parser.callbacks_mut().hooks)
    }

    fn history(&self) -> &History {
        &self.parser.callbacks().history
    }

    fn history_mut(&mut self) -> &mut History {
        &mut self.parser.callbacks_mut().history
    }

    /// Follows a PTY resize (which resets both screens' scroll regions).
    pub fn set_size(&mut self, size: Size) {
        self.parser.set_size(nz(size.rows), nz(size.cols));
        self.partial_region = [false; 2];
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
    pub fn redraw(&self) -> String {
        redraw(self.parser.screen(), self.main_screen.as_deref())
    }

    /// A copy of the state to render a repaint with history from, outside the lock that
    /// guards this one (`repaint.rs`). It copies the screens' cells (32 bytes each) and the
    /// history's text; it renders nothing.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            seq: self.seq,
            screen: self.parser.screen().clone(),
            main_screen: self.main_screen.clone(),
            history: self.history().clone(),
        }
    }

    /// A terminal reset (`ESC c`), then the scrollback history row by row, pushed into the
    /// receiving terminal's own scrollback, then the screen exactly as [`Term::redraw`]
    /// paints it. For phones, whose xterm.js keeps history the user can scroll back to.
    /// While a full-screen program runs, the alternate screen has no history to send.
    /// In one buffer, as a reference for the pieces `repaint::Repaint` renders.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn redraw_with_history(&mut self) -> Vec<u8> {
        let mut out = String::from("\x1bc");
        let (rows, cols) = self.parser.screen().size();
        let rows = usize::from(rows.get());
        let history = self.history().len();
        for index in 0..history {
            out.push_str(&self.history().render(index, cols.get()));
        }
        // The last rows of history are still on screen: scroll them off into history.
        let visible = history.min(rows.saturating_sub(1));
        if visible > 0 {
            out.push_str(&format!("\x1b[{rows};1H"));
            out.push_str(&"\n".repeat(visible));
        }
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(self.redraw().as_bytes());
        bytes
    }
}

/// A copy of the terminal state at a known output position (see [`Term::snapshot`]).
pub struct Snapshot {
    /// The output position it reflects.
    pub seq: u64,
    screen: vt100::Screen,
    main_screen: Option<String>,
    history: History,
}

impl Snapshot {
    /// Rows of scrollback history.
    pub fn history_rows(&mut self) -> usize {
        self.history.len()
    }

    /// The screenful of history whose top row is `offset` rows above the screen (at most
    /// `offset` rows), each row reset, drawn and followed by a newline that pushes it into
    /// the receiving terminal's scrollback.
    pub fn history_window(&mut self, offset: usize) -> Vec<String> {
        let (rows, cols) = self.screen.size();
        let top = self.history.len().saturating_sub(offset);
        let count = offset.min(usize::from(rows.get()));
        (top..(top + count).min(self.history.len()))
            .map(|index| self.history.render(index, cols.get()))
            .collect()
    }

    /// The screen as [`Term::redraw`] paints it.
    pub fn redraw(&self) -> String {
        redraw(&self.screen, self.main_screen.as_deref())
    }
}

/// After `history` rows of history were drawn: the last rows of it are still on the
/// receiving terminal's screen; this scrolls them off into its history.
pub fn scroll_into_history(snapshot: &Snapshot, history: usize) -> String {
    let rows = usize::from(snapshot.screen.size().0.get());
    let visible = history.min(rows.saturating_sub(1));
    if visible == 0 {
        return String::new();
    }
    format!("\x1b[{rows};1H{}", "\n".repeat(visible))
}

/// See [`Term::redraw`].
fn redraw(screen: &vt100::Screen, main_screen: Option<&str>) -> String {
    let mut out = String::from("\x1b[0m");
    match (main_screen, screen.alternate_screen()) {
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
    out
}

/// The escape sequences `process` acts on.
#[derive(Debug, PartialEq, Eq)]
enum Escape {
    /// Sets mode 47, 1047 or 1049.
    EntersAlternate,
    /// DECSTBM, `len` bytes long; `partial` unless it certainly covers the whole screen.
    ScrollRegion {
        len: usize,
        partial: bool,
    },
    /// ED 3 (`CSI 3 J`, or `CSI ? 3 J`), `len` bytes long: erases the scrollback.
    ErasesScrollback {
        len: usize,
    },
    /// RIS (`ESC c`), `len` bytes long: resets the terminal, scrollback included.
    Reset {
        len: usize,
    },
    Other,
}

/// Whether vte executes `b` inside an escape or control sequence without ending it: C0
/// controls other than ESC, CAN and SUB (which abandon it), and DEL (ignored).
fn passes_through(b: u8) -> bool {
    matches!(b, 0x00..=0x17 | 0x19 | 0x1c..=0x1f | 0x7f)
}

impl Escape {
    /// The sequence at the start of `bytes` (which begins with ESC), or `None` while it is
    /// incomplete. Like vte, C0 controls inside it are executed, not part of it, and ESC,
    /// CAN or SUB abandon it.
    fn at(bytes: &[u8]) -> Option<Escape> {
        if bytes.get(1) == Some(&b'[') {
            return Self::csi(bytes);
        }
        let next = bytes.iter().skip(1).position(|b| !passes_through(*b))? + 1;
        Some(match bytes[next] {
            b'c' => Escape::Reset { len: next + 1 },
            _ => Escape::Other,
        })
    }

    /// A CSI (`bytes` begins with `ESC [`).
    fn csi(bytes: &[u8]) -> Option<Escape> {
        let mut params = Vec::new();
        for (i, &b) in bytes.iter().enumerate().skip(2) {
            match b {
                0x1b | 0x18 | 0x1a => return Some(Escape::Other),
                0x00..=0x1f => {}
                0x20..=0x3f => params.push(b),
                _ => return Some(Escape::classify(&params, b, i + 1)),
            }
        }
        None
    }

    fn classify(params: &[u8], last: u8, len: usize) -> Escape {
        match (params.first(), last) {
            (_, b'J') if erases_scrollback(params) => Escape::ErasesScrollback { len },
            (Some(b'?'), b'h')
                if params[1..]
                    .split(|b| *b == b';')
                    .any(|p| matches!(p, b"47" | b"1047" | b"1049")) =>
            {
                Escape::EntersAlternate
            }
            (Some(b'?'), _) => Escape::Other,
            (_, b'r') => {
                // Whole-screen only in the forms without a bottom row (the screen's own);
                // any other might not be.
                let full = matches!(params, b"" | b";" | b"1" | b"1;" | b"0" | b"0;");
                Escape::ScrollRegion {
                    len,
                    partial: !full,
                }
            }
            _ => Escape::Other,
        }
    }
}

/// Whether the parameters of a CSI ending in `J` make it ED 3 for vt100: no private marker
/// but an optional leading `?`, no intermediates, and a first parameter of 3 (vte's
/// saturating arithmetic; sub-parameters after `:` do not count).
fn erases_scrollback(params: &[u8]) -> bool {
    let params = params.strip_prefix(b"?").unwrap_or(params);
    if !params
        .iter()
        .all(|b| b.is_ascii_digit() || *b == b';' || *b == b':')
    {
        return false;
    }
    let first = params
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u16, |n, b| {
            n.saturating_mul(10).saturating_add(u16::from(b - b'0'))
        });
    first == 3
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
        let mut copy = replay(redraw.as_bytes(), size);
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
    fn a_restored_state_repaints_as_the_original_history_included() {
        let size = Size { cols: 30, rows: 6 };
        let mut term = Term::new(size);
        for i in 0..40 {
            term.process(format!("line \x1b[3{}m{i}\x1b[0m\r\n", i % 8).as_bytes());
        }
        term.process(b"\x1b[?1049h\x1b[Happ\x1b[3;3H");
        let mut restored = Term::restored(size, &term.redraw_with_history(), 12345);
        assert_eq!(restored.seq(), 12345);
        assert_eq!(restored.redraw(), term.redraw());
        assert_eq!(restored.redraw_with_history(), term.redraw_with_history());
        // Back on the main screen, the screen is the original's (its history is not:
        // vt100 offers no way to read the main screen's history while the alternate one
        // is active, see `restored`).
        term.process(b"\x1b[?1049l");
        restored.process(b"\x1b[?1049l");
        assert_eq!(restored.redraw(), term.redraw());
        // On the main screen, history included.
        let mut plain = Term::new(size);
        for i in 0..40 {
            plain.process(format!("row {i}\r\n").as_bytes());
        }
        let mut restored = Term::restored(size, &plain.redraw_with_history(), 7);
        assert_eq!(restored.redraw_with_history(), plain.redraw_with_history());
    }

    #[test]
    fn the_main_screen_is_kept_from_before_the_first_switch() {
        // Two switches in one call, the second while already on the alternate screen.
        let size = Size { cols: 40, rows: 5 };
        let mut term = Term::new(size);
        term.process(b"main text\r\n\x1b[?47halt text\x1b[?1049hfull screen");
        let mut copy = replay(term.redraw().as_bytes(), size);
        assert_eq!(copy.screen().contents(), "full screen");
        copy.process(b"\x1b[?1049l");
        assert_eq!(copy.screen().contents(), "main text");
    }

    /// Each row of the scrollback of `parser`, oldest first, as (text, attributes) per
    /// column: what a user sees. A cell never written and a space show the same.
    fn history_cells(parser: &mut vt100::Parser) -> Vec<Vec<(String, Cell)>> {
        let screen = parser.screen_mut();
        let cols = screen.size().1.get();
        screen.set_scrollback(usize::MAX);
        let total = screen.scrollback();
        let mut history = Vec::new();
        // At offset k the view's top row is history row `total - k`.
        for offset in (1..=total).rev() {
            screen.set_scrollback(offset);
            history.push(
                (0..cols)
                    .map(|col| cell_at(screen, 0, col))
                    .collect::<Vec<_>>(),
            );
        }
        screen.set_scrollback(0);
        history
    }

    /// What a user sees in a cell: its text (a blank as a space) and attributes.
    type Cell = (vt100::Color, vt100::Color, bool, bool, bool, bool, bool);

    fn cell_at(screen: &vt100::Screen, row: u16, col: u16) -> (String, Cell) {
        match screen.cell(row, col) {
            Some(c) => {
                let text = if c.has_contents() {
                    c.contents().to_string()
                } else {
                    " ".to_string()
                };
                let attrs = (
                    c.fgcolor(),
                    c.bgcolor(),
                    c.bold(),
                    c.dim(),
                    c.italic(),
                    c.underline(),
                    c.inverse(),
                );
                (text, attrs)
            }
            None => (" ".to_string(), Default::default()),
        }
    }

    #[test]
    fn output_finished_after_the_program_ended_keeps_the_main_screen_and_regions() {
        // Found by the fuzz target `flood_differential`: the follower parses what is left
        // after the program ended with `finish`, which missed a switch to the alternate
        // screen (the main screen was lost from redraws) and scroll regions.
        let size = Size { cols: 32, rows: 12 };
        let output = b"\x1b[31mmain text\r\n\x1b[?1049halt text\n";
        let mut finished = Term::new(size);
        finished.finish(output);
        let mut processed = Term::new(size);
        let parsed = processed.process(output);
        processed.finish(&output[parsed..]);
        assert_eq!(finished.redraw(), processed.redraw());
        let mut copy = replay(finished.redraw().as_bytes(), size);
        assert_eq!(copy.screen().contents(), "alt text");
        copy.process(b"\x1b[?1049l");
        assert_eq!(copy.screen().contents(), "main text");
        let mut region = Term::new(size);
        region.finish(b"\x1b[2;6r\x1b[1;3");
        assert!(
            !region.may_skip(),
            "a scroll region in finished output is seen"
        );
        assert_eq!(region.seq(), 11, "a cut-off sequence is parsed too");
    }

    #[test]
    fn redraw_with_history_restores_scrollback_and_screen() {
        let size = Size { cols: 30, rows: 5 };
        let mut term = Term::new(size);
        let mut reference = vt100::Parser::new(nz(size.rows), nz(size.cols), SCROLLBACK_ROWS);
        for i in 0..40 {
            let line = format!("line \x1b[1m{i}\x1b[0m\r\n");
            term.process(line.as_bytes());
            reference.process(line.as_bytes());
        }
        term.process(b"$ partial");
        reference.process(b"$ partial");
        let redraw = term.redraw_with_history();
        assert!(redraw.starts_with(b"\x1bc"));
        let mut copy = vt100::Parser::new(nz(size.rows), nz(size.cols), 100);
        copy.process(&redraw);
        assert_eq!(copy.screen().contents(), term.screen().contents());
        assert_eq!(
            copy.screen().cursor_position(),
            term.screen().cursor_position()
        );
        assert_eq!(history_cells(&mut copy), history_cells(&mut reference));
        copy.screen_mut().set_scrollback(usize::MAX);
        assert!(copy.screen().contents().starts_with("line 0\n"));
    }

    /// Random output for the history: coloured and wide text, lines that wrap, scroll
    /// regions, the alternate screen, erasing the scrollback and resets, cut anywhere.
    fn random_history_output(rng: &mut impl rand::RngExt, cols: usize) -> Vec<u8> {
        const ESCAPES: &[&str] = &[
            "\x1b[31m",
            "\x1b[0m",
            "\x1b[1;44m",
            "\x1b[7m",
            "\x1b[38;5;200m",
            "\x1b[K",
            "\x1b[2J",
            "\x1b[H",
            "\x1b[5;3H",
            "\x1b[3A",
            "\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[2;6r",
            "\x1b[r",
            "\x1b[3J",
            "\x1b[?3J",
            "\x1b[3;1J",
            "\x1b[03J",
            "\x1b[3 J",
            "\x1b[13J",
            "\x1b\nc",
            "\x1bc",
            "\x1b(c",
            "\x1b[2S",
            "\x1b[3M",
            "\x1bM",
            "漢字 é ",
            "\x1b[",
            "\x1b",
        ];
        let mut out = Vec::new();
        for _ in 0..rng.random_range(4..40) {
            if rng.random_range(0..3) == 0 {
                out.extend_from_slice(ESCAPES[rng.random_range(0..ESCAPES.len())].as_bytes());
                continue;
            }
            for _ in 0..rng.random_range(0..300) {
                let len = match rng.random_range(0..8) {
                    0 => rng.random_range(cols..3 * cols),
                    _ => rng.random_range(0..cols),
                };
                for _ in 0..len {
                    match rng.random_range(0..30) {
                        0 => out.extend_from_slice(b"\x1b[32m"),
                        1 => out.extend_from_slice(b"\x1b[0m"),
                        2 => out.extend_from_slice("漢".as_bytes()),
                        _ => out.push(rng.random_range(0x20u8..0x7f)),
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    #[test]
    fn the_history_is_vt100s_scrollback_and_a_repaint_restores_it() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x415_7021);
        let mut rows_checked = 0;
        for case in 0..60 {
            let size = Size {
                cols: rng.random_range(8..60),
                rows: rng.random_range(2..20),
            };
            let output = random_history_output(&mut rng, usize::from(size.cols));
            // The reference: vt100 with a scrollback of its own, fed all at once.
            let mut reference = vt100::Parser::new(nz(size.rows), nz(size.cols), SCROLLBACK_ROWS);
            reference.process(&output);
            // The terminal state, fed as the follower does: random chunks, what `process`
            // holds back coming again with the next.
            let mut term = Term::new(size);
            let mut pos = 0;
            while pos < output.len() {
                let end = (pos + rng.random_range(1..5000)).min(output.len());
                pos += term.process(&output[pos..end]);
                if end == output.len() && pos < end {
                    term.finish(&output[pos..]);
                    pos = end;
                }
            }
            if reference.screen().alternate_screen() {
                // vt100 shows the main screen's scrollback only from the main screen.
                term.process(b"\x1b[?1049l");
                reference.process(b"\x1b[?1049l");
            }
            assert_eq!(
                term.screen().contents(),
                reference.screen().contents(),
                "case {case}"
            );
            let expected = history_cells(&mut reference);
            assert_eq!(term.history().len(), expected.len(), "case {case}");
            // A repaint with history, replayed into a terminal with a scrollback, shows
            // the same history and the same screen.
            let mut copy = vt100::Parser::new(nz(size.rows), nz(size.cols), SCROLLBACK_ROWS);
            copy.process(&term.redraw_with_history());
            assert_eq!(history_cells(&mut copy), expected, "case {case} {size:?}");
            for row in 0..size.rows {
                for col in 0..size.cols {
                    assert_eq!(
                        cell_at(copy.screen(), row, col),
                        cell_at(reference.screen(), row, col),
                        "case {case} {size:?} at {row},{col}"
                    );
                }
            }
            rows_checked += expected.len();
        }
        // Not vacuous: many rows of history were compared.
        assert!(rows_checked > 20_000, "only {rows_checked} rows of history");
    }

    #[test]
    fn the_history_costs_about_a_byte_a_character() {
        let size = Size {
            cols: 120,
            rows: 40,
        };
        let mut term = Term::new(size);
        for i in 0..3000 {
            let mut line = String::new();
            for j in 0..12 {
                line.push_str(&format!("\x1b[3{}m{:<10}", (i + j) % 8, "coloured"));
            }
            term.process(format!("{line}\x1b[0m\r\n").as_bytes());
        }
        assert_eq!(term.history().len(), SCROLLBACK_ROWS);
        // 120 characters and 12 colour changes a row: well under 32 bytes a cell.
        let per_row = term.history().text_bytes() / SCROLLBACK_ROWS;
        assert!(per_row < 200, "{per_row} bytes a row");
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
        // As the follower feeds it: what `process` holds back comes again with the next.
        let mut pending = Vec::new();
        for chunk in [
            &b"abc\x1b["[..],
            b"6n\x1b]9;4;1;50\x07\x1b]9;hi\x07\x1b]77",
            b"7;notify;t;b\x1b\\\x1b[c",
        ] {
            pending.extend_from_slice(chunk);
            let parsed = term.process(&pending);
            pending.drain(..parsed);
        }
        assert!(pending.is_empty());
        let hooks = term.take_hooks();
        assert_eq!(hooks.replies, b"\x1b[1;4R\x1b[?62;22c");
        assert_eq!(hooks.alerts, 2);
        assert_eq!(
            hooks.message.as_deref(),
            Some("t: b"),
            "the last one's text"
        );
        assert_eq!(term.take_hooks().alerts, 0);
        term.process(b"\x1b]9;Build finished: 3 tests; 1 failed\x07");
        let text = term.take_hooks().message;
        assert_eq!(text.as_deref(), Some("Build finished: 3 tests; 1 failed"));
        term.process(b"\x1b]99;i=1:d=0;Done\x1b\\");
        assert_eq!(term.take_hooks().message.as_deref(), Some("Done"));
        term.process(b"\x07");
        assert_eq!(term.take_hooks().message.as_deref(), Some("bell"));
    }
}
