//! The web ports' sealed transport (`protocol::seal`) fed arbitrary bytes where a peer's
//! handshake steps and messages go: a forged answer, hello or proof is refused, and an
//! `Opener` given anything but what the peer's `Sealer` sealed for that position refuses it
//! (the connection then closes), while genuine messages in between open to their text.
//!
//! The input is a list of records, each a tag byte and a length byte then that many bytes:
//! tag 0 a genuine message, 1 a genuine message altered by the bytes (XOR from its start),
//! 2 the bytes as a forged message, 3 the bytes as the handshake's answer, hello and
//! server proof.
#![no_main]

use itwillsync_protocol::seal::{ClientHandshake, Key, ServerHandshake, NONCE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes([7; 32]);
    let other = Key::from_bytes([8; 32]);
    let server = ServerHandshake::new([1; NONCE_LEN]);
    let client = ClientHandshake::new(key.clone(), &server.hello(), [2; NONCE_LEN])
        .expect("the server's hello");
    let answer = client.answer();
    let (index, proof, mut server_channel) = server
        .accept(&[&other, &key], &answer)
        .expect("the client's answer");
    assert_eq!(index, 1);
    let mut client_channel = client.finish(&proof).expect("the server's proof");

    let mut rest = data;
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        match tag % 4 {
            0 => {
                let mut message = bytes.to_vec();
                client_channel.sealer.seal(&mut message).expect("seals");
                server_channel
                    .opener
                    .open(&mut message)
                    .expect("a genuine message opens");
                assert_eq!(message, bytes);
            }
            1 => {
                let mut message = bytes.to_vec();
                client_channel.sealer.seal(&mut message).expect("seals");
                for (m, b) in message.iter_mut().zip(bytes) {
                    *m ^= b;
                }
                let opened = server_channel.opener.open(&mut message);
                if bytes.iter().all(|b| *b == 0) {
                    opened.expect("an unaltered message opens");
                } else {
                    assert!(opened.is_err(), "an altered message opened");
                    return;
                }
            }
            2 => {
                let mut message = bytes.to_vec();
                assert!(
                    server_channel.opener.open(&mut message).is_err(),
                    "a forged message opened"
                );
                return;
            }
            _ => {
                if bytes != answer {
                    assert!(server.accept(&[&key], bytes).is_err(), "a forged answer");
                }
                if let Ok(forged) = ClientHandshake::new(key.clone(), bytes, [3; NONCE_LEN]) {
                    assert_eq!(&bytes[..4], b"IWS1");
                    assert!(forged.finish(bytes).is_err(), "a forged proof");
                }
                let again = ClientHandshake::new(key.clone(), &server.hello(), [2; NONCE_LEN]);
                if bytes != proof {
                    assert!(
                        again.unwrap().finish(bytes).is_err(),
                        "a forged server proof"
                    );
                }
            }
        }
    }
});
