//! A session's terminal state: the vt100 screens (main and alternate) and the scrollback
//! history (`history.rs`, kept compact: text and attribute runs, not vt100's 32-byte
//! cells, compressed a block of rows at a time), fed from the output ring by the follower so parsing never slows PTY reads.
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
    seq: u64,
    /// The size the screens have (or will have, once created).
    size: Size,
    /// The screens, created on the first output: until then the state is a blank screen
    /// of `size`, and a session that printed nothing holds no grid (vt100 takes 32 bytes a
    /// cell: 150 KiB at 120x40). Never dropped once created.
    screens: Option<Box<Screens>>,
}

/// vt100's screens and what the terminal state knows beside them.
struct Screens {
    /// The screens, without scrollback (`on_scroll` moves rows into the history).
    parser: vt100::Parser<Callbacks>,
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
    /// A blank screen of `size` at output position 0. It holds no grid until the first
    /// output arrives (see [`Term::screens`]).
    pub fn new(size: Size) -> Self {
        Self {
            seq: 0,
            size,
            screens: None,
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
        nz(self.size.rows).get()
    }

    /// Whether the screens exist: false until the first output (a blank screen).
    #[cfg(test)]
    pub fn has_screens(&self) -> bool {
        self.screens.is_some()
    }

    /// The scrollback history (made empty with the screens when there are none yet).
    #[cfg(test)]
    fn history(&mut self) -> &History {
        &self.screens().parser.callbacks().history
    }

    /// The screens, created blank at the current size when there are none yet.
    fn screens(&mut self) -> &mut Screens {
        let size = self.size;
        self.screens
            .get_or_insert_with(|| Box::new(Screens::new(size)))
    }

    /// Parses output that follows `seq` and returns how many bytes were consumed. A control
    /// sequence cut off at the end is left for the next call, so the main screen can be
    /// captured exactly when a program enters the alternate screen, and scroll regions are
    /// seen on the screen they apply to.
    pub fn process(&mut self, bytes: &[u8]) -> usize {
        if bytes.is_empty() {
            return 0;
        }
        let done = self.screens().process(bytes);
        self.seq += done as u64;
        done
    }

    /// Whether output may be skipped here: see [`skippable`].
    pub fn may_skip(&self) -> bool {
        self.screens.as_ref().is_none_or(|s| s.may_skip())
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
        if parsed < bytes.len() {
            self.screens().feed(&bytes[parsed..]);
            self.seq += (bytes.len() - parsed) as u64;
        }
    }

    /// Takes the query answers and the alert count gathered since the last call.
    pub fn take_hooks(&mut self) -> Hooks {
        match &mut self.screens {
            Some(screens) => std::mem::take(&mut screens.parser.callbacks_mut().hooks),
            None => Hooks::default(),
        }
    }

    /// Follows a PTY resize (which resets both screens' scroll regions).
    pub fn set_size(&mut self, size: Size) {
        self.size = size;
        if let Some(screens) = &mut self.screens {
            screens.parser.set_size(nz(size.rows), nz(size.cols));
            screens.partial_region = [false; 2];
        }
    }

    /// The last `count` non-empty rows of the visible screen as plain text, trailing
    /// blanks trimmed; a row longer than `width` characters is cut to end in `...`.
    pub fn preview(&self, count: usize, width: usize) -> Vec<String> {
        let Some(screens) = &self.screens else {
            return Vec::new(); // a blank screen has no non-empty row
        };
        let screen = screens.parser.screen();
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

    /// The screen (created, blank, if there is none yet).
    #[cfg(test)]
    pub fn screen(&mut self) -> &vt100::Screen {
        self.screens().parser.screen()
    }

    /// Escape sequences that repaint a terminal to this state: the main screen, then (when
    /// a full-screen program is running) the switch to the alternate screen and its
    /// contents, then input modes and the cursor. A terminal that later leaves the
    /// alternate screen finds the right main screen underneath.
    pub fn redraw(&self) -> String {
        match &self.screens {
            Some(screens) => screens.redraw(),
            // Rendered from blank screens made for it, which are not kept.
            None => Screens::new(self.size).redraw(),
        }
    }

    /// A copy of the state to render a repaint with history from, outside the lock that
    /// guards this one (`repaint.rs`). It copies the screens' cells (32 bytes each) and the
    /// history's text; it renders nothing.
    pub fn snapshot(&self) -> Snapshot {
        let copy = |screens: &Screens| Snapshot {
            seq: self.seq,
            screen: screens.parser.screen().clone(),
            main_screen: screens.main_screen.clone(),
            history: screens.parser.callbacks().history.clone(),
        };
        match &self.screens {
            Some(screens) => copy(screens),
            None => copy(&Screens::new(self.size)),
        }
    }

    /// A terminal reset (`ESC c`), then the scrollback history row by row, pushed into the
    /// receiving terminal's own scrollback, then the screen exactly as [`Term::redraw`]
    /// paints it. For phones, whose xterm.js keeps history the user can scroll back to.
    /// While a full-screen program runs, the alternate screen has no history to send.
    /// In one buffer, as a reference for the pieces `repaint::Repaint` renders.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn redraw_with_history(&mut self) -> Vec<u8> {
        let screens = self.screens();
        let history = &screens.parser.callbacks().history;
        let mut out = String::from("\x1bc");
        let (rows, cols) = screens.parser.screen().size();
        let rows = usize::from(rows.get());
        for index in 0..history.len() {
            out.push_str(&history.render(index, cols.get()));
        }
        // The last rows of history are still on screen: scroll them off into history.
        let visible = history.len().min(rows.saturating_sub(1));
        if visible > 0 {
            out.push_str(&format!("\x1b[{rows};1H"));
            out.push_str(&"\n".repeat(visible));
        }
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(screens.redraw().as_bytes());
        bytes
    }
}

impl Screens {
    /// Blank screens of `size`.
    fn new(size: Size) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                nz(size.rows),
                nz(size.cols),
                0,
                Callbacks::default(),
            ),
            main_screen: None,
            partial_region: [false; 2],
        }
    }

    /// [`Term::process`]: how many bytes were consumed.
    fn process(&mut self, bytes: &[u8]) -> usize {
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

    fn may_skip(&self) -> bool {
        !self.partial_region[usize::from(self.parser.screen().alternate_screen())]
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        if self.main_screen.is_some() && !self.parser.screen().alternate_screen() {
            self.main_screen = None;
        }
    }

    fn history_mut(&mut self) -> &mut History {
        &mut self.parser.callbacks_mut().history
    }

    fn redraw(&self) -> String {
        redraw(self.parser.screen(), self.main_screen.as_deref())
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
        self.history.render_rows(top..top + count, cols.get())
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

/// Where two repaints first differ, and 60 bytes on either side of that byte in each, for
/// a test's failure message; `None` when they are equal.
#[cfg(any(test, feature = "fuzzing"))]
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<(usize, String, String)> {
    if a == b {
        return None;
    }
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    let at = at.unwrap_or(a.len().min(b.len()));
    let around = |v: &[u8]| {
        let window = &v[at.saturating_sub(60)..(at + 60).min(v.len())];
        String::from_utf8_lossy(window).into_owned()
    };
    Some((at, around(a), around(b)))
}

#[cfg(test)]
mod tests;
