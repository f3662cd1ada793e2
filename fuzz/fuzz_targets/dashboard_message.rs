//! A dashboard's JSON message (inside the seal) through the dashboard's parse and the
//! checks its requests make (names, programs, directories confined to a fixed home).
#![no_main]

use std::sync::OnceLock;

use itwillsync_server::fuzzing::{dashboard_home, dashboard_message, Home};
use libfuzzer_sys::fuzz_target;

fn home() -> &'static Home {
    static HOME: OnceLock<Home> = OnceLock::new();
    HOME.get_or_init(|| {
        let root =
            std::env::temp_dir().join(format!("itwillsync-fuzz-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("the fuzz home");
        dashboard_home(&root)
    })
}

fuzz_target!(|data: &[u8]| {
    dashboard_message(data, home());
});
