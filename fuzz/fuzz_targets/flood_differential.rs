//! The terminal-state follower's flood skipping (`term::skippable` as the follower applies
//! it, `session::follower`) against parsing everything: screen, cursor, modes and the
//! scrollback the server keeps must come out identical. The input is a small program
//! that writes mostly plain text with escapes (`itwillsync_server::fuzzing::flood_program`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itwillsync_server::fuzzing::flood_program(data);
});
