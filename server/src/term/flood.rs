//! What a flood of plain text lets the terminal state skip: stretches of plain text after
//! which enough plain lines follow that the screen, the scrollback and the cursor are
//! rebuilt from them alone (the follower's flood skipping, `session/follower.rs`).

use super::SCROLLBACK_ROWS;

/// Whether a byte is plain text to every terminal state: printable ASCII, CR, LF or tab.
/// Escapes, other controls and everything above ASCII (where C1 controls live) are not.
fn is_plain(b: u8) -> bool {
    matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t')
}

/// Line ends (`\r\n`) of plain text after which the state no longer depends on anything
/// before them: every row on the screen and in the scrollback was written after them.
fn lines_that_settle(rows: u16) -> usize {
    2 * usize::from(rows) + SCROLLBACK_ROWS + 2
}

/// A stretch of `bytes` (PTY output in a flood) that the terminal state may skip without
/// parsing: the state after parsing everything equals the state after parsing everything
/// else. Only plain text (see [`is_plain`]) is ever skipped, and only from a point where any
/// escape sequence begun before it has ended (past two final bytes) up to a point followed
/// by enough plain lines that the screen, the scrollback and the cursor are rebuilt from
/// them alone, whatever the modes or cursor position. The caller checks
/// [`Term::may_skip`] when it reaches the stretch: with a scroll region smaller than the
/// screen, rows outside it keep text from anywhere in the stretch. An OSC or other string
/// left open before the stretch stays open either way (only its unused text differs).
pub fn skippable(bytes: &[u8], rows: u16) -> Option<std::ops::Range<usize>> {
    let need = lines_that_settle(rows);
    let mut at = 0;
    while at < bytes.len() {
        let len = bytes[at..]
            .iter()
            .position(|b| !is_plain(*b))
            .unwrap_or(bytes.len() - at);
        if let Some(skip) = skippable_run(&bytes[at..at + len], need) {
            return Some(at + skip.start..at + skip.end);
        }
        at += len + 1;
    }
    None
}

fn skippable_run(run: &[u8], need: usize) -> Option<std::ops::Range<usize>> {
    // The run may begin inside an escape sequence (ESC was the byte before it): ESC `[` is
    // one final-range byte, the CSI's own final the second.
    let mut finals = run
        .iter()
        .enumerate()
        .filter(|(_, b)| (0x40..=0x7e).contains(*b));
    finals.next()?;
    let start = finals.next()?.0 + 1;
    // End at the `need`-th line end from the run's end (the tail keeps that many).
    let end = memchr::memmem::rfind_iter(&run[start..], b"\r\n").nth(need - 1)? + start;
    (end > start).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::Term;
    use itwillsync_protocol::Size;

    /// Feeds `bytes` the way the follower does in a flood: windows of `window` bytes,
    /// skipping what [`skippable`] and [`Term::may_skip`] allow. Returns the bytes skipped.
    fn feed_skipping(term: &mut Term, bytes: &[u8], window: usize) -> usize {
        let (mut pos, mut skipped) = (0, 0);
        while pos < bytes.len() {
            let end = (pos + window).min(bytes.len());
            let chunk = &bytes[pos..end];
            if let Some(skip) = skippable(chunk, term.rows()) {
                if term.process(&chunk[..skip.start]) == skip.start && term.may_skip() {
                    term.skip_to(term.seq() + skip.len() as u64);
                    skipped += skip.len();
                    pos += skip.end;
                    continue;
                }
                pos = usize::try_from(term.seq()).unwrap();
                let chunk = &bytes[pos..end];
                pos += term.process(chunk).max(1.min(chunk.len()));
            } else if end == bytes.len() {
                let parsed = term.process(chunk);
                term.finish(&chunk[parsed..]);
                pos = end;
            } else {
                pos += term.process(chunk);
            }
            assert_eq!(term.seq(), pos as u64);
        }
        skipped
    }

    /// Random output: plain lines (some long enough to wrap, some without CR, some with
    /// tabs), escapes that change modes, scroll regions, screens and the cursor, escapes
    /// cut where plain text continues them, open OSC strings, non-ASCII text.
    fn random_output(rng: &mut impl rand::RngExt, cols: usize) -> Vec<u8> {
        const ESCAPES: &[&str] = &[
            "\x1b[31m",
            "\x1b[0m",
            "\x1b[1;44m",
            "\x1b[2J",
            "\x1b[H",
            "\x1b[5;3H",
            "\x1b[3A",
            "\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[?47h",
            "\x1b[?47l",
            "\x1b[2;6r",
            "\x1b[r",
            "\x1b[3;r",
            "\x1b[4h",
            "\x1b[4l",
            "\x1b[?7l",
            "\x1b[?7h",
            "\x1b[?25l",
            "\x1b[?1h",
            "\x07",
            "\x1b]0;title\x07",
            "\x1b]9;done\x07",
            "héllo 漢字 ",
            "\x08\x08",
            "\x1b(0",
            "\x1b(B",
            "\x1bc",
            "\x1b[?6h",
            "\x1b[?6l",
            "\x1b7",
            "\x1b8",
            // Cut off: plain text that follows completes them.
            "\x1b[",
            "\x1b[?104",
            "\x1b]0;",
            "\x1b",
            "\x1b[1;3",
            "\x1b[2;",
        ];
        let mut out = Vec::new();
        for _ in 0..rng.random_range(4..24) {
            if rng.random_range(0..3) == 0 {
                out.extend_from_slice(ESCAPES[rng.random_range(0..ESCAPES.len())].as_bytes());
                continue;
            }
            let lines = match rng.random_range(0..4) {
                0 => rng.random_range(0..20),
                _ => rng.random_range(1900..4500),
            };
            for _ in 0..lines {
                let len = match rng.random_range(0..10) {
                    0 => rng.random_range(cols..3 * cols),
                    _ => rng.random_range(0..cols),
                };
                for _ in 0..len {
                    out.push(match rng.random_range(0..40) {
                        0 => b'\t',
                        _ => rng.random_range(0x20u8..0x7f),
                    });
                }
                out.extend_from_slice(match rng.random_range(0..20) {
                    0 => b"\n",
                    1 => b"\r",
                    _ => b"\r\n",
                });
            }
        }
        out
    }

    #[test]
    fn skipping_plain_text_in_a_flood_leaves_the_same_state() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x17_5ca1e);
        let mut skipped_total = 0;
        for case in 0..40 {
            let size = Size {
                cols: rng.random_range(10..50),
                rows: rng.random_range(2..12),
            };
            let output = random_output(&mut rng, usize::from(size.cols));
            let mut full = Term::new(size);
            let parsed = full.process(&output);
            full.finish(&output[parsed..]);
            let mut skipping = Term::new(size);
            let window = rng.random_range(64 << 10..512 << 10);
            skipped_total += feed_skipping(&mut skipping, &output, window);
            assert_eq!(skipping.seq(), full.seq(), "case {case}");
            let (a, b) = (skipping.redraw_with_history(), full.redraw_with_history());
            if let Some((at, a, b)) = crate::term::first_difference(&a, &b) {
                panic!(
                    "case {case} {size:?}: the redraws differ at byte {at}:\n skipping {a:?}\n full     {b:?}"
                );
            }
        }
        // Not vacuous: much of the plain text was skipped.
        assert!(
            skipped_total > 10 << 20,
            "skipped only {skipped_total} bytes"
        );
    }

    #[test]
    fn skips_nothing_that_could_be_inside_an_escape_or_needed_on_screen() {
        let lines = lines_that_settle(24);
        let text = "plain line\r\n".repeat(lines + 10);
        // An escape cut just before the text (whose "p" ends it): two final bytes pass
        // before any skip.
        let mut bytes = b"\x1b[?1049".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let skip = skippable(&bytes, 24).unwrap();
        assert_eq!(skip.start, b"\x1b[?1049p".len());
        // Exactly `lines` line ends stay after the stretch.
        let tail = &bytes[skip.end..];
        assert_eq!(memchr::memmem::find_iter(tail, b"\r\n").count(), lines);
        // Too few lines, or anything but plain ASCII in between: nothing to skip.
        assert!(skippable("plain\r\n".repeat(lines - 1).as_bytes(), 24).is_none());
        let accented = "plàin line\r\n".repeat(lines + 10);
        assert!(skippable(accented.as_bytes(), 24).is_none());
    }

    #[test]
    fn a_scroll_region_stops_skipping_on_its_screen_only() {
        let mut term = Term::new(Size { cols: 80, rows: 24 });
        assert!(term.may_skip());
        term.process(b"\x1b[2;20r");
        assert!(!term.may_skip());
        term.process(b"\x1b[?1049h");
        assert!(term.may_skip(), "the alternate screen has its own region");
        term.process(b"\x1b[5;\n10r");
        assert!(!term.may_skip(), "C0 controls inside do not hide it");
        term.process(b"\x1b[?1049l");
        assert!(!term.may_skip());
        // Cut across calls: held back until complete.
        assert_eq!(term.process(b"abc\x1b[;"), 3);
        term.process(b"\x1b[;r");
        assert!(term.may_skip());
        term.set_size(Size { cols: 80, rows: 30 });
        term.process(b"\x1b[?1049h");
        assert!(term.may_skip(), "a resize resets both regions");
    }
}
