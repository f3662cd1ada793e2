//! The home directory as the dashboard's boundary: the folder browser (`list-dir`) and
//! the working directory of `create-session` must both lie inside it.
//!
//! Both paths are canonicalised (symlinks resolved) before the comparison, so neither
//! `..` nor a symlink pointing out of the home directory escapes it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Most entries one listing returns; a phone has no use for more.
const MAX_ENTRIES: usize = 500;

/// A directory's subdirectories: the body of the `dir-listing` message (and of `Dir`, the
/// answer to another machine's `ListDir`).
pub use itwillsync_protocol::{DirEntry as Entry, DirListing as Listing};

/// The canonical home directory everything is confined to.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The server's `$HOME`, canonicalised; `None` when it is unset or missing.
    pub fn from_env() -> Option<Self> {
        let home = std::env::var_os("HOME")?;
        let root = std::fs::canonicalize(home).ok()?;
        Some(Self { root })
    }

    /// `root` (an existing directory) as home: for the fuzz target `dashboard_message`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn at(root: &Path) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        Ok(Self { root })
    }

    /// The home directory as shown to the page.
    pub fn display(&self) -> String {
        self.root.to_string_lossy().into_owned()
    }

    /// The canonical directory `path` names (empty or `~`: home; `~/x`: x in home; a
    /// relative path is relative to home), if it lies inside home.
    pub fn resolve(&self, path: &str) -> anyhow::Result<PathBuf> {
        let path = match path.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
            _ => path,
        };
        let wanted = if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path) // an absolute `path` replaces the root
        };
        let real = std::fs::canonicalize(&wanted)
            .with_context(|| format!("no such directory: {}", wanted.display()))?;
        if !real.starts_with(&self.root) {
            bail!("{} is outside the home directory", wanted.display());
        }
        if !real.is_dir() {
            bail!("{} is not a directory", wanted.display());
        }
        Ok(real)
    }

    /// The listing of `path`: its subdirectories (those that stay inside home once
    /// resolved), sorted, hidden ones left out.
    pub fn listing(&self, path: &str) -> anyhow::Result<Listing> {
        let dir = self.resolve(path)?;
        let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    return None;
                }
                let real = std::fs::canonicalize(entry.path()).ok()?;
                (real.is_dir() && real.starts_with(&self.root)).then_some((name, entry.path()))
            })
            .take(MAX_ENTRIES)
            .collect();
        entries.sort();
        let parent = (dir != self.root)
            .then(|| dir.parent().map(Path::to_path_buf))
            .flatten();
        Ok(Listing {
            path: dir.to_string_lossy().into_owned(),
            parent: parent.map(|p| p.to_string_lossy().into_owned()),
            entries: entries
                .into_iter()
                .map(|(name, path)| Entry {
                    name,
                    path: path.to_string_lossy().into_owned(),
                })
                .collect(),
            home: self.display(),
        })
    }
}

impl Home {
    /// [`Home::resolve`] on a blocking thread: `canonicalize` may wait on a slow or
    /// network file system, which must not hold a runtime worker.
    pub async fn resolve_blocking(&self, path: &str) -> anyhow::Result<PathBuf> {
        let (home, path) = (self.clone(), path.to_string());
        tokio::task::spawn_blocking(move || home.resolve(&path)).await?
    }

    /// [`Home::listing`] on a blocking thread, for the same reason.
    pub async fn listing_blocking(&self, path: &str) -> anyhow::Result<Listing> {
        let (home, path) = (self.clone(), path.to_string());
        tokio::task::spawn_blocking(move || home.listing(&path)).await?
    }
}

/// Whether `tool` is a bare program name the server may look up on `PATH`.
pub fn valid_tool(tool: &str) -> bool {
    !tool.is_empty()
        && tool != "."
        && tool != ".."
        && tool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_to_home_after_resolving_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("b")).unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        std::fs::create_dir(root.join(".hidden")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
        let home = Home { root: root.clone() };
        assert_eq!(home.resolve("").unwrap(), root);
        assert_eq!(home.resolve("a").unwrap(), root.join("a"));
        assert_eq!(home.resolve("~").unwrap(), root);
        assert_eq!(home.resolve("~/a").unwrap(), root.join("a"));
        assert!(home.resolve("~other").is_err(), "no other user's home");
        assert!(home.resolve("escape").is_err());
        assert!(home.resolve("..").is_err());
        assert!(home.resolve("/").is_err());
        assert!(home.resolve("file").is_err());
        let listing = home.listing("").unwrap();
        let names: Vec<_> = listing.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(listing.parent.is_none());
        let sub = home.listing(root.join("a").to_str().unwrap()).unwrap();
        assert_eq!(sub.parent.as_deref(), root.to_str());
        assert!(valid_tool("claude") && valid_tool("g++") && valid_tool("x.y_z-1"));
        for bad in ["", "..", "a/b", "a b", "sh;x", "$(x)"] {
            assert!(!valid_tool(bad), "{bad}");
        }
    }
}
