//! The scrollback history: the rows that scrolled off the top of the main screen, the
//! newest [`SCROLLBACK_ROWS`] of them, for phones' repaint with history.
//!
//! vt100 keeps its scrollback as cells of 32 bytes each (7.5 MiB for 2,000 rows of 120
//! columns). Here a row is kept as its text with the attributes as SGR runs (vt100's
//! "basic formatted" form, taken when the row leaves the screen through
//! `vt100::Callbacks::on_scroll`): a row of coloured text costs about as many bytes as it
//! has characters, plus a few per colour change. The terminal state's vt100 parser keeps
//! no scrollback of its own, only the screens.
//!
//! Drawing a kept row into an empty row of a terminal gives the same characters with the
//! same attributes; blanks inside a row come back as spaces (a cell that was never
//! written and a space look the same and are both blank to the user).
//!
//! One difference from vt100's own scrollback: a screen made taller does not take its
//! rows back from the history (vt100 adds blank rows at the top instead, where it would
//! have pulled rows down from its scrollback); they stay in the history.

use std::collections::VecDeque;

use super::SCROLLBACK_ROWS;

/// The kept rows, oldest first.
#[derive(Clone, Default)]
pub struct History {
    rows: VecDeque<Box<str>>,
    /// Where a row is written before it is kept: one exact allocation a row.
    scratch: String,
}

impl History {
    /// Keeps a row that left the top of the main screen, dropping the oldest beyond
    /// [`SCROLLBACK_ROWS`].
    pub fn push(&mut self, row: &vt100::capture::RowContents<'_>) {
        self.scratch.clear();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        // Writing into a String cannot fail.
        let _ = row.write_formatted_basic(&mut self.scratch, &mut state);
        if self.rows.len() >= SCROLLBACK_ROWS {
            self.rows.pop_front();
        }
        self.rows.push_back(Box::from(self.scratch.as_str()));
    }

    /// Forgets every row (`CSI 3 J` on the main screen, a terminal reset).
    pub fn clear(&mut self) {
        self.rows = VecDeque::new();
        self.scratch = String::new();
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Row `index` (0 is the oldest) drawn for a terminal `width` columns wide: attributes
    /// reset, its text (cut to `width` columns when the screen has narrowed since), reset
    /// again, and a newline that pushes it into that terminal's own scrollback.
    pub fn render(&self, index: usize, width: u16) -> String {
        let row = self.rows.get(index).map_or("", |r| r);
        let text = vt100::capture::basic_formatted_rows(row, width)
            .next()
            .unwrap_or("");
        format!("\x1b[0m{text}\x1b[0m\r\n")
    }

    /// Bytes held by the kept rows' text (for tests of the memory it costs).
    #[cfg(test)]
    pub fn text_bytes(&self) -> usize {
        self.rows.iter().map(|r| r.len()).sum()
    }
}
