//! The terminal state against vt100 itself: redraws, history, queries, alerts.

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

/// Random sizes from 1x1 up, so resizes of blank screens cover the corners too.
fn random_size(rng: &mut impl rand::RngExt) -> Size {
    Size {
        cols: rng.random_range(0..70),
        rows: rng.random_range(0..25),
    }
}

#[test]
fn screens_made_on_the_first_output_are_those_made_at_the_start() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1a2_e5c7);
    for case in 0..80 {
        let size = random_size(&mut rng);
        let mut lazy = Term::new(size);
        // The reference: its screens made at the start, as before they were made lazily.
        let mut eager = Term::new(size);
        eager.screens();
        for _ in 0..rng.random_range(0..4) {
            let size = random_size(&mut rng);
            lazy.set_size(size);
            eager.set_size(size);
            let skip = rng.random_range(0..3);
            lazy.skip_to(lazy.seq() + skip);
            eager.skip_to(eager.seq() + skip);
            lazy.process(b"");
            assert!(!lazy.has_screens(), "case {case}: no screens before output");
            assert_eq!(lazy.redraw(), eager.redraw(), "case {case}: blank redraw");
            assert_eq!(lazy.preview(5, 40), eager.preview(5, 40));
            assert_eq!(lazy.may_skip(), eager.may_skip());
            assert_eq!(lazy.rows(), eager.rows());
            let (mut a, mut b) = (lazy.snapshot(), eager.snapshot());
            assert_eq!(a.redraw(), b.redraw(), "case {case}: blank snapshot");
            assert_eq!(a.history_rows(), b.history_rows());
        }
        let output = random_history_output(&mut rng, usize::from(size.cols.max(1)));
        let mut pos = 0;
        while pos < output.len() {
            if rng.random_range(0..4) == 0 {
                let size = random_size(&mut rng);
                lazy.set_size(size);
                eager.set_size(size);
            }
            let end = (pos + rng.random_range(1..3000)).min(output.len());
            let done = lazy.process(&output[pos..end]);
            assert_eq!(done, eager.process(&output[pos..end]), "case {case}");
            pos += done;
            if end == output.len() && pos < end {
                lazy.finish(&output[pos..]);
                eager.finish(&output[pos..]);
                pos = end;
            }
            assert_eq!(lazy.seq(), eager.seq(), "case {case}");
            assert_eq!(lazy.redraw(), eager.redraw(), "case {case} at {pos}");
            assert_eq!(lazy.preview(5, 40), eager.preview(5, 40), "case {case}");
            assert_eq!(lazy.may_skip(), eager.may_skip(), "case {case}");
            let (a, b) = (lazy.take_hooks(), eager.take_hooks());
            assert_eq!((a.replies, a.alerts), (b.replies, b.alerts), "case {case}");
        }
        let (a, b) = (lazy.redraw_with_history(), eager.redraw_with_history());
        if let Some((at, a, b)) = first_difference(&a, &b) {
            panic!("case {case}: repaints differ at {at}:\n{a:?}\n{b:?}");
        }
    }
}
