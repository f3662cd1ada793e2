//! The terminal page and its static files, embedded in the binary.
//!
//! Files are looked up in a fixed table by exact request path, so no request can reach
//! the filesystem (no traversal). Everything here except the page itself is public: it
//! holds no secrets, and is served without authentication. The page gets the session's
//! name substituted, HTML-escaped.

/// An embedded file.
pub struct Asset {
    /// The body.
    pub body: &'static [u8],
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
        (
            concat!("/", $path),
            Asset {
                body: include_bytes!(concat!("../../assets/", $path)),
                content_type: $content_type,
            },
        )
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
    asset!("dashboard.css", CSS),
    asset!("terminal.js", JS),
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

/// The dashboard page; it holds no secrets (the token arrives in the cookie).
pub const DASHBOARD_PAGE: &str = include_str!("../../assets/dashboard.html");

const TERMINAL_PAGE: &str = include_str!("../../assets/terminal.html");

/// The public file served at `path`, if any.
pub fn file(path: &str) -> Option<&'static Asset> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, a)| a)
}

/// The terminal page for a session called `title`, linking back to `dashboard` (empty:
/// no link).
pub fn terminal_page(title: &str, dashboard: &str) -> String {
    TERMINAL_PAGE
        .replace("{{TITLE}}", &html_escape(title))
        .replace("{{DASHBOARD_URL}}", &html_escape(dashboard))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_the_title_and_files_are_fixed() {
        let page = terminal_page("<a href=\"x\">&'", "http://h:1/\"");
        assert!(page.contains("content=\"http://h:1/&quot;\""));
        assert!(page.contains("<title>&lt;a href=&quot;x&quot;&gt;&amp;&#39;</title>"));
        assert!(!page.contains("{{"));
        assert!(file("/vendor/xterm.js").is_some());
        assert!(file("/../Cargo.toml").is_none());
        assert!(file("/terminal.html").is_none());
    }
}
