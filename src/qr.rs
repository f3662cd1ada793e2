//! QR codes for terminals: two modules per character cell with half blocks, light on dark
//! so phones scan them from the usual dark terminal background. Low error correction and
//! a two-module margin keep a session link's code (version 5) at 21 lines, so it fits a
//! 24-line terminal with the link and a prompt below it.

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code.
const MARGIN: usize = 2;

/// The QR code of `text`, ready to print.
pub fn render(text: &str) -> anyhow::Result<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)?;
    let width = code.width();
    let modules = code.to_colors();
    let size = width + 2 * MARGIN;
    // Light (drawn) unless inside the code and dark there; below the last row: not drawn.
    let light = |x: usize, y: usize| {
        if y >= size {
            return false;
        }
        let inside = |v: usize| (MARGIN..MARGIN + width).contains(&v);
        !(inside(x) && inside(y) && modules[(y - MARGIN) * width + x - MARGIN] == Color::Dark)
    };
    let mut out = String::with_capacity(size * size * 2);
    for y in (0..size).step_by(2) {
        if y > 0 {
            out.push('\n');
        }
        for x in 0..size {
            out.push(match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use qrcode::{Color, QrCode};

    #[test]
    fn renders_the_code_in_half_blocks_within_a_24_line_terminal() {
        let url = format!("http://192.168.100.200:7964/?token={}", "0f".repeat(32));
        let qr = super::render(&url).unwrap();
        let lines: Vec<Vec<char>> = qr.lines().map(|l| l.chars().collect()).collect();
        assert!(lines.len() <= 21, "{} lines", lines.len());
        let width = lines[0].len();
        assert!(lines.iter().all(|l| l.len() == width));
        // Decode the halves back into modules and compare with the code itself.
        let code = QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::L).unwrap();
        let colors = code.to_colors();
        let n = code.width();
        for y in 0..n {
            for x in 0..n {
                let (row, col) = ((y + super::MARGIN) / 2, x + super::MARGIN);
                let upper = (y + super::MARGIN) % 2 == 0;
                let lit = match lines[row][col] {
                    '█' => true,
                    '▀' => upper,
                    '▄' => !upper,
                    _ => false,
                };
                assert_eq!(lit, colors[y * n + x] == Color::Light, "module {x},{y}");
            }
        }
    }

    #[test]
    fn a_scanner_reads_it_off_a_dark_terminal() {
        let url = format!("http://10.1.2.3:7964/?token={}", "ab".repeat(32));
        let qr = super::render(&url).unwrap();
        // The screen as a camera sees it: each module 4x4 pixels, lit glyph halves
        // light, the terminal's dark background around the code.
        let lines: Vec<Vec<char>> = qr.lines().map(|l| l.chars().collect()).collect();
        let (scale, pad) = (4, 24);
        let (w, h) = (
            lines[0].len() * scale + 2 * pad,
            lines.len() * 2 * scale + 2 * pad,
        );
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            if x < pad || y < pad || x >= w - pad || y >= h - pad {
                return 0;
            }
            let (col, half) = ((x - pad) / scale, (y - pad) / scale);
            let lit = match lines[half / 2][col] {
                '█' => true,
                '▀' => half % 2 == 0,
                '▄' => half % 2 == 1,
                _ => false,
            };
            if lit {
                230
            } else {
                20
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, url);
    }
}
