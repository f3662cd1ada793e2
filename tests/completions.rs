//! The generated shell completions in `completions/` match the current command line.
//! Refresh them with `scripts/completions.sh`.

mod support;

#[test]
fn completions_are_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = std::process::Command::new(support::bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let committed =
            std::fs::read(root.join("completions").join(format!("itwillsync.{shell}"))).unwrap();
        assert!(
            committed == out.stdout,
            "completions/itwillsync.{shell} is stale: run scripts/completions.sh"
        );
    }
}
