//! QR codes for terminals: two modules per character cell with half blocks, light on dark
//! so phones scan them from the usual dark terminal background.

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// The QR code of `text`, ready to print.
pub fn render(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_square_of_half_blocks() {
        let qr = super::render("http://192.168.1.2:7964/?token=00ff").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(qr.contains('▀') || qr.contains('▄') || qr.contains('█'));
    }
}
