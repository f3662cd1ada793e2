//! A phone's JSON message (inside the seal) through the reader's parse and checks
//! (`web::phone::incoming`) and the session's size bookkeeping: the first byte picks a
//! full or read-only key, the rest is the message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&key, text)) = data.split_first() else {
        return;
    };
    itwillsync_server::fuzzing::phone_message(text, key & 1 == 1);
});
