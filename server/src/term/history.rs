//! The scrollback history: the rows that scrolled off the top of the main screen, the
//! newest [`SCROLLBACK_ROWS`] of them, for phones' repaint with history.
//!
//! vt100 keeps its scrollback as cells of 32 bytes each (7.5 MiB for 2,000 rows of 120
//! columns). Here a row is kept as its text with the attributes as SGR runs (vt100's
//! "basic formatted" form, taken when the row leaves the screen through
//! `vt100::Callbacks::on_scroll`): a row of coloured text costs about as many bytes as it
//! has characters, plus a few per colour change. Rows are gathered in blocks of up to
//! [`BLOCK_ROWS`] rows or [`BLOCK_BYTES`] bytes, and a full block is kept compressed
//! (deflate at its fastest level: ~10 ms for 2,000 rows of coloured 120-column text on a
//! loaded 2-core VM, a tenth of what parsing them took; random letters with colours shrink
//! 2.2 times, prose and code more); only rendering a repaint with history reads them back. The terminal state's vt100 parser keeps no scrollback of its
//! own, only the screens.
//!
//! Drawing a kept row into an empty row of a terminal gives the same characters with the
//! same attributes; blanks inside a row come back as spaces (a cell that was never
//! written and a space look the same and are both blank to the user).
//!
//! One difference from vt100's own scrollback: a screen made taller does not take its
//! rows back from the history (vt100 adds blank rows at the top instead, where it would
//! have pulled rows down from its scrollback); they stay in the history.

use std::collections::VecDeque;
use std::ops::Range;

use super::SCROLLBACK_ROWS;

/// Rows and bytes after which the open block is compressed.
const BLOCK_ROWS: usize = 64;
const BLOCK_BYTES: usize = 16 << 10;

/// The kept rows, oldest first.
#[derive(Clone, Default)]
pub struct History {
    /// Full blocks, oldest first; the first `dropped` rows of the first are no longer kept.
    blocks: VecDeque<Block>,
    dropped: usize,
    /// The newest rows, not compressed yet.
    open: Block,
    /// Rows kept.
    rows: usize,
    /// Where a row is written before it is kept.
    scratch: String,
}

/// Rows one after the other (`text`, compressed once full) and where each ends.
#[derive(Clone, Default)]
struct Block {
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Block {
    /// Row `i` of `text` (this block's text, decompressed).
    fn row<'a>(&self, text: &'a [u8], i: usize) -> &'a [u8] {
        let start = i
            .checked_sub(1)
            .map_or(0, |before| self.ends[before] as usize);
        text.get(start..self.ends[i] as usize).unwrap_or_default()
    }
}

impl History {
    /// Keeps a row that left the top of the main screen, dropping the oldest beyond
    /// [`SCROLLBACK_ROWS`].
    pub fn push(&mut self, row: &vt100::capture::RowContents<'_>) {
        self.scratch.clear();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        // Writing into a String cannot fail.
        let _ = row.write_formatted_basic(&mut self.scratch, &mut state);
        if self.rows >= SCROLLBACK_ROWS {
            self.drop_oldest();
        }
        self.open.text.extend_from_slice(self.scratch.as_bytes());
        // A row is at most a few bytes a column of at most 65,535 columns.
        self.open.ends.push(self.open.text.len() as u32);
        self.rows += 1;
        if self.open.ends.len() >= BLOCK_ROWS || self.open.text.len() >= BLOCK_BYTES {
            let open = std::mem::take(&mut self.open);
            let mut text = miniz_oxide::deflate::compress_to_vec(&open.text, 1);
            text.shrink_to_fit();
            self.blocks.push_back(Block {
                text,
                ends: open.ends,
            });
        }
    }

    fn drop_oldest(&mut self) {
        self.rows -= 1;
        let Some(oldest) = self.blocks.front() else {
            // Only open rows (fewer than a block): drop the first.
            let first = self.open.ends.remove(0);
            self.open.text.drain(..first as usize);
            self.open.ends.iter_mut().for_each(|end| *end -= first);
            return;
        };
        self.dropped += 1;
        if self.dropped == oldest.ends.len() {
            self.blocks.pop_front();
            self.dropped = 0;
        }
    }

    /// Forgets every row (`CSI 3 J` on the main screen, a terminal reset).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Row `index` (0 is the oldest) drawn as by [`History::render_rows`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn render(&self, index: usize, width: u16) -> String {
        self.render_rows(index..index + 1, width)
            .pop()
            .unwrap_or_else(|| render_row(b"", width))
    }

    /// Rows `range` (0 is the oldest; those past the newest are left out), each drawn for
    /// a terminal `width` columns wide: attributes reset, its text (cut to `width` columns
    /// when the screen has narrowed since), reset again, and a newline that pushes it into
    /// that terminal's own scrollback. Each block is decompressed once.
    pub fn render_rows(&self, range: Range<usize>, width: u16) -> Vec<String> {
        let mut out = Vec::with_capacity(range.len().min(self.rows));
        // The first block's first kept row is row 0.
        let mut first = 0usize;
        let mut skip = self.dropped;
        for block in self.blocks.iter().chain([&self.open]) {
            let kept = block.ends.len() - skip;
            let (from, to) = (range.start.max(first), range.end.min(first + kept));
            if from < to {
                let text = if std::ptr::eq(block, &self.open) {
                    std::borrow::Cow::Borrowed(block.text.as_slice())
                } else {
                    // Blocks are only ever made by `push`: one that does not decompress
                    // is a bug, shown as empty rows rather than a panic.
                    miniz_oxide::inflate::decompress_to_vec(&block.text)
                        .map_or(std::borrow::Cow::Owned(Vec::new()), std::borrow::Cow::Owned)
                };
                for index in from..to {
                    let row = block.row(&text, index - first + skip);
                    out.push(render_row(row, width));
                }
            }
            first += kept;
            skip = 0;
            if first >= range.end {
                break;
            }
        }
        out
    }

    /// Bytes held by the kept rows' text, compressed or not (for tests of the memory it
    /// costs).
    #[cfg(test)]
    pub fn text_bytes(&self) -> usize {
        self.blocks
            .iter()
            .chain([&self.open])
            .map(|b| b.text.len())
            .sum()
    }
}

/// See [`History::render_rows`].
fn render_row(row: &[u8], width: u16) -> String {
    // Rows are whole strings' bytes; a block that decompressed short gives no row.
    let row = std::str::from_utf8(row).unwrap_or("");
    let text = vt100::capture::basic_formatted_rows(row, width)
        .next()
        .unwrap_or("");
    format!("\x1b[0m{text}\x1b[0m\r\n")
}
