//! A request through the web listeners' gate (`web::gate`) and the `Origin` check
//! (`web::auth::same_origin`). The input is laid out like HTTP/1.1's head: the method on
//! the first line, the request target on the second, then one `name:value` header a line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let (Some(method), Some(target)) = (lines.next(), lines.next()) else {
        return;
    };
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii_start()))
        })
        .collect();
    itwillsync_server::fuzzing::http_gate(method, target, &headers);
});
