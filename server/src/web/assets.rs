//! The terminal page and its static files, embedded in the binary.
//!
//! Files are looked up in a fixed table by exact request path, so no request can reach
//! the filesystem (no traversal). Everything here is public: it holds no secret, and is
//! served before any key is proved.
//!
//! Each file is embedded twice: as it is, and gzip-compressed at build time (`build.rs`,
//! which also names each with an `ETag` hash), so a phone downloads xterm.js compressed
//! and a reload revalidates every file with a `304` (`web::serve_file`).

/// An embedded file.
pub struct Asset {
    /// The body.
    pub body: &'static [u8],
    /// The body, gzip-compressed at build time.
    pub gzip: &'static [u8],
    /// Its strong `ETag` (quoted), a hash of `body`.
    pub etag: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// A table entry: the file `server/assets/<path>` served at `/<path>`.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        (concat!("/", $path), embed!($path, $content_type))
    };
}

/// The [`Asset`] of `server/assets/<path>` and its compressed copy from `build.rs`.
macro_rules! embed {
    ($path:literal, $content_type:expr) => {
        Asset {
            body: include_bytes!(concat!("../../assets/", $path)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/assets/", $path, ".gz")),
            etag: include_str!(concat!(env!("OUT_DIR"), "/assets/", $path, ".etag")),
            content_type: $content_type,
        }
    };
}

/// The public files, by request path.
const FILES: &[(&str, Asset)] = &[
    asset!("chime.js", JS),
    asset!("connection.js", JS),
    asset!("seal.js", JS),
    asset!("key.js", JS),
    asset!("share.js", JS),
    asset!("dashboard.js", JS),
    asset!("machines.js", JS),
    asset!("newsession.js", JS),
    asset!("dashboard.css", CSS),
    asset!("terminal.js", JS),
    asset!("keybar.js", JS),
    asset!("textviews.js", JS),
    asset!("attention.js", JS),
    asset!("terminal.css", CSS),
    asset!("manifest.json", "application/manifest+json"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("expired.html", HTML),
    asset!("vendor/xterm.js", JS),
    asset!("vendor/xterm.css", CSS),
    asset!("vendor/addon-fit.js", JS),
    asset!("vendor/LICENSE.xterm", TEXT),
    asset!("vendor/LICENSE.addon-fit", TEXT),
    asset!("vendor/noble.js", JS),
    asset!("vendor/LICENSE.noble-ciphers", TEXT),
    asset!("vendor/LICENSE.noble-hashes", TEXT),
    asset!("vendor/qrcode.js", JS),
    asset!("vendor/LICENSE.qrcode-generator", TEXT),
];

/// The dashboard page: a public static file (the master key stays in the page).
pub const DASHBOARD_PAGE: Asset = embed!("dashboard.html", HTML);

/// The terminal page: a public static file, the same for every session (its name and
/// everything else about it arrive inside the seal).
pub const TERMINAL_PAGE: Asset = embed!("terminal.html", HTML);

/// The page an ended session's listener serves, with `{{DASHBOARD}}` (a URL) and
/// `{{STATUS}}` (how the program exited) to replace.
pub const ENDED_PAGE: &str = include_str!("../../assets/ended.html");

/// The public file served at `path`, if any.
pub fn file(path: &str) -> Option<&'static Asset> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_no_placeholders_and_files_are_fixed() {
        for page in [TERMINAL_PAGE, DASHBOARD_PAGE] {
            assert!(!String::from_utf8_lossy(page.body).contains("{{"));
        }
        assert!(file("/vendor/xterm.js").is_some());
        assert!(file("/../Cargo.toml").is_none());
        assert!(file("/terminal.html").is_none());
    }

    #[test]
    fn compressed_copies_are_current_and_smaller() {
        use std::io::Read;
        for (path, asset) in FILES {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(asset.gzip)
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, asset.body, "{path}");
            assert!(asset.etag.starts_with('"') && asset.etag.ends_with('"'));
        }
        let xterm = file("/vendor/xterm.js").unwrap();
        assert!(xterm.gzip.len() * 3 < xterm.body.len());
    }
}
