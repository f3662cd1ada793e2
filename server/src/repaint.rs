//! A repaint of the terminal state, cut into bounded pieces that a client loop sends one
//! at a time (`feed.rs`).
//!
//! A repaint can be large: the screen of the largest terminal (500x200 cells, each with its
//! own colours) is several megabytes, a phone's history of 2,000 such rows tens of
//! megabytes. It is never built as one buffer, and never rendered under the `term` lock
//! as a whole:
//!
//! - a screen repaint is rendered under the lock (bounded by the screen's size), then cut;
//! - a repaint with history copies the screens and the history's rows under the lock (a
//!   copy of cells and of text: no rendering), then renders it outside the lock one
//!   screenful of history at a time, as the client takes the pieces.
//!
//! Cut anywhere else than between characters, the pieces are drawn in order as one
//! stream; the repaint reflects output up to its `seq` once the last piece is drawn
//! (`docs/PROTOCOL.md` says how each client tells the pieces of one repaint apart).

use std::collections::VecDeque;

use crate::term::{self, Snapshot};

/// The pieces of one repaint, rendered as they are taken.
pub struct Repaint {
    seq: u64,
    /// Rendered text not yet taken, in order.
    queue: VecDeque<String>,
    /// The copy that history is still being rendered from, when there is one.
    history: Option<History>,
}

/// History rendering in progress.
struct History {
    snapshot: Snapshot,
    /// Rows of history not rendered yet: the oldest is `offset` rows above the screen.
    offset: usize,
    /// Rows of history in all.
    total: usize,
}

impl Repaint {
    /// A repaint already rendered (the screen only), reflecting output up to `seq`.
    pub fn rendered(seq: u64, text: String) -> Self {
        Self {
            seq,
            queue: VecDeque::from([text]),
            history: None,
        }
    }

    /// A reset, the scrollback history row by row, then the screen, from `snapshot`:
    /// the bytes of [`term::Term::redraw_with_history`], rendered piece by piece.
    pub fn with_history(mut snapshot: Snapshot) -> Self {
        let total = snapshot.history_rows();
        Self {
            seq: snapshot.seq,
            queue: VecDeque::from([String::from("\x1bc")]),
            history: Some(History {
                snapshot,
                offset: total,
                total,
            }),
        }
    }

    /// The output position the whole repaint reflects.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The next piece, at most `max` bytes (at least one character), and whether it is the
    /// last. Pieces end between characters.
    pub fn next_piece(&mut self, max: usize) -> (Vec<u8>, bool) {
        let mut piece = String::new();
        while piece.len() < max {
            if self.queue.is_empty() && !self.render_more() {
                break;
            }
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let room = max - piece.len();
            if front.len() <= room {
                piece.push_str(front);
                self.queue.pop_front();
                continue;
            }
            let mut cut = room;
            while !front.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 && piece.is_empty() {
                // A character longer than `max`: never split it.
                cut = front.chars().next().map_or(front.len(), char::len_utf8);
            }
            piece.push_str(&front[..cut]);
            front.drain(..cut);
            if front.is_empty() {
                self.queue.pop_front();
            }
            break;
        }
        let last = self.queue.is_empty() && self.history.is_none();
        (piece.into_bytes(), last)
    }

    /// Renders the next screenful of history (or, after the last, the scroll into history
    /// and the screen) into the queue; false when everything is rendered.
    fn render_more(&mut self) -> bool {
        let Some(history) = self.history.as_mut() else {
            return false;
        };
        if history.offset > 0 {
            let rows = history.snapshot.history_window(history.offset);
            history.offset = history.offset.saturating_sub(rows.len().max(1));
            self.queue.extend(rows);
        } else {
            let History {
                snapshot, total, ..
            } = self.history.take().expect("checked above");
            self.queue
                .push_back(term::scroll_into_history(&snapshot, total));
            self.queue.push_back(snapshot.redraw());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut repaint: Repaint, max: usize) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        loop {
            let (piece, last) = repaint.next_piece(max);
            assert!(
                piece.len() <= max.max(4),
                "a piece of {} bytes",
                piece.len()
            );
            assert!(
                std::str::from_utf8(&piece).is_ok(),
                "cut inside a character"
            );
            pieces.push(piece);
            if last {
                return pieces;
            }
        }
    }

    #[test]
    fn a_rendered_repaint_is_cut_between_characters_and_loses_nothing() {
        let text: String = "ab漢😀\x1b[1mé".repeat(1000);
        for max in [1, 3, 7, 100, 4096, 1 << 20] {
            let pieces = all(Repaint::rendered(5, text.clone()), max);
            assert_eq!(pieces.concat(), text.as_bytes(), "max {max}");
            assert!(pieces.iter().all(|p| !p.is_empty()), "max {max}");
        }
    }

    #[test]
    fn a_repaint_with_history_in_pieces_is_the_whole_redraw() {
        let size = itwillsync_protocol::Size { cols: 40, rows: 6 };
        let mut term = term::Term::new(size);
        let mut output = Vec::new();
        for i in 0..300 {
            output.extend_from_slice(format!("\x1b[3{}mline {i} é漢\x1b[0m\r\n", i % 8).as_bytes());
        }
        term.process(&output);
        let whole = term.redraw_with_history();
        for max in [5, 64, 1000, 1 << 20] {
            let pieces = all(Repaint::with_history(term.snapshot()), max);
            assert_eq!(pieces.concat(), whole, "max {max}");
            if max == 1000 {
                assert!(pieces.len() > whole.len() / 1000, "{} pieces", pieces.len());
            }
        }
    }
}
