//! The sealed web protocol's cryptography (`docs/PROTOCOL.md`, "Sealed protocol"): link
//! keys, the mutual challenge–response, per-direction keys, and sealing and opening
//! messages. No I/O: the server's WebSocket code and the tests' clients drive it.
//!
//! Both sides prove a 32-byte key `K` over two fresh nonces (`Ns` from the server, `Nc`
//! from the client) with HMAC-SHA-256, derive one key per direction with HKDF-SHA-256,
//! and seal every later message with ChaCha20-Poly1305 under an implicit counter nonce, so
//! a replayed, reordered, altered or foreign message fails to open. Nothing secret is
//! ever sent: not `K`, not the derived keys.
//!
//! The AEAD is `ring`'s (already linked for TLS): its ChaCha20-Poly1305 is assembly with
//! AVX2/AVX-512 paths, several times faster than a portable implementation, and every
//! byte a phone is sent passes through it once per phone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes in a key, a nonce and a proof.
pub const KEY_LEN: usize = 32;
/// Bytes in a handshake nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes in a proof (an HMAC-SHA-256 output).
pub const PROOF_LEN: usize = 32;
/// Bytes a sealed message adds to its plaintext (the Poly1305 tag).
pub const TAG_LEN: usize = 16;
/// The first bytes of the server's hello: protocol 1 of the sealed web protocol.
pub const MAGIC: &[u8; 4] = b"IWS1";
/// The server's hello: magic and `Ns`.
pub const HELLO_LEN: usize = MAGIC.len() + NONCE_LEN;
/// The client's answer: `Nc` and its proof.
pub const ANSWER_LEN: usize = NONCE_LEN + PROOF_LEN;

const CLIENT_PROOF: &[u8] = b"itwillsync/1 client proof";
const SERVER_PROOF: &[u8] = b"itwillsync/1 server proof";
const SERVER_TO_CLIENT: &[u8] = b"itwillsync/1 server to client";
const CLIENT_TO_SERVER: &[u8] = b"itwillsync/1 client to server";

/// Why a handshake or a message failed. Each ends the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// A handshake message of the wrong length or magic.
    #[error("not an itwillsync handshake message")]
    Malformed,
    /// The peer's proof matches no key.
    #[error("the proof matches no key")]
    WrongKey,
    /// A sealed message did not open: altered, replayed, reordered or foreign.
    #[error("a sealed message did not open")]
    Forged,
    /// The message counter would wrap.
    #[error("too many messages on one connection")]
    Exhausted,
}

/// A link key: 32 random bytes, shown as base64url in links and as hex in files.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)") // never print a key, not even in a debug log
    }
}

impl Key {
    /// A key from its bytes (which the caller draws from a CSPRNG).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as it appears in a link's fragment: base64url, no padding, 43 characters.
    pub fn to_link_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses [`Key::to_link_text`]'s form.
    pub fn from_link_text(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// 64 lowercase hex characters, as stored in `master.token`.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`Key::to_hex`]'s form.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 2 * KEY_LEN || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; KEY_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }

    fn proof(&self, label: &[u8], ns: &[u8; NONCE_LEN], nc: &[u8; NONCE_LEN]) -> [u8; PROOF_LEN] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(ns);
        mac.update(nc);
        mac.finalize().into_bytes().into()
    }

    fn derive(&self, info: &[u8], ns: &[u8; NONCE_LEN], nc: &[u8; NONCE_LEN]) -> [u8; KEY_LEN] {
        let mut salt = [0u8; 2 * NONCE_LEN];
        salt[..NONCE_LEN].copy_from_slice(ns);
        salt[NONCE_LEN..].copy_from_slice(nc);
        let mut okm = [0u8; KEY_LEN];
        hkdf::Hkdf::<Sha256>::new(Some(&salt), &self.0)
            .expand(info, &mut okm)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        okm
    }
}

/// The server's side of one handshake.
pub struct ServerHandshake {
    ns: [u8; NONCE_LEN],
}

impl ServerHandshake {
    /// A handshake with the server nonce `ns` (fresh random bytes for every connection).
    pub fn new(ns: [u8; NONCE_LEN]) -> Self {
        Self { ns }
    }

    /// Step 1: `IWS1 ‖ Ns`.
    pub fn hello(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..MAGIC.len()].copy_from_slice(MAGIC);
        out[MAGIC.len()..].copy_from_slice(&self.ns);
        out
    }

    /// Step 2 received: checks the client's proof against each of `keys` (all of them, in
    /// constant time each) and returns which one matched, step 3 (the server's proof) and
    /// the connection's channel.
    pub fn accept(
        &self,
        keys: &[&Key],
        answer: &[u8],
    ) -> Result<(usize, [u8; PROOF_LEN], Channel), SealError> {
        let answer: &[u8; ANSWER_LEN] = answer.try_into().map_err(|_| SealError::Malformed)?;
        let nc: [u8; NONCE_LEN] = answer[..NONCE_LEN]
            .try_into()
            .expect("split of a fixed array");
        let proof = &answer[NONCE_LEN..];
        let mut found = None;
        for (i, key) in keys.iter().enumerate() {
            let matches: bool = key.proof(CLIENT_PROOF, &self.ns, &nc).ct_eq(proof).into();
            if matches && found.is_none() {
                found = Some(i);
            }
        }
        let index = found.ok_or(SealError::WrongKey)?;
        let key = keys[index];
        let channel = Channel::new(
            key.derive(SERVER_TO_CLIENT, &self.ns, &nc),
            key.derive(CLIENT_TO_SERVER, &self.ns, &nc),
        );
        Ok((index, key.proof(SERVER_PROOF, &self.ns, &nc), channel))
    }
}

/// The client's side of one handshake (the pages do the same in `seal.js`).
pub struct ClientHandshake {
    key: Key,
    ns: [u8; NONCE_LEN],
    nc: [u8; NONCE_LEN],
}

impl ClientHandshake {
    /// Reads the server's hello; `nc` is the client's fresh random nonce.
    pub fn new(key: Key, hello: &[u8], nc: [u8; NONCE_LEN]) -> Result<Self, SealError> {
        if hello.len() != HELLO_LEN || &hello[..MAGIC.len()] != MAGIC {
            return Err(SealError::Malformed);
        }
        let ns = hello[MAGIC.len()..].try_into().expect("length checked");
        Ok(Self { key, ns, nc })
    }

    /// Step 2: `Nc ‖ Pc`.
    pub fn answer(&self) -> [u8; ANSWER_LEN] {
        let mut out = [0u8; ANSWER_LEN];
        out[..NONCE_LEN].copy_from_slice(&self.nc);
        out[NONCE_LEN..].copy_from_slice(&self.key.proof(CLIENT_PROOF, &self.ns, &self.nc));
        out
    }

    /// Step 3 received: checks the server's proof; the client's channel (sealing with
    /// `Kc`, opening with `Ks`).
    pub fn finish(self, server_proof: &[u8]) -> Result<Channel, SealError> {
        let expected = self.key.proof(SERVER_PROOF, &self.ns, &self.nc);
        if !bool::from(expected.ct_eq(server_proof)) {
            return Err(SealError::WrongKey);
        }
        Ok(Channel::new(
            self.key.derive(CLIENT_TO_SERVER, &self.ns, &self.nc),
            self.key.derive(SERVER_TO_CLIENT, &self.ns, &self.nc),
        ))
    }
}

/// Both directions of an established connection.
pub struct Channel {
    /// Seals what this side sends.
    pub sealer: Sealer,
    /// Opens what this side receives.
    pub opener: Opener,
}

impl Channel {
    fn new(send: [u8; KEY_LEN], receive: [u8; KEY_LEN]) -> Self {
        Self {
            sealer: Sealer(Direction::new(send)),
            opener: Opener(Direction::new(receive)),
        }
    }
}

/// One direction's cipher and message counter.
struct Direction {
    cipher: LessSafeKey,
    counter: u64,
}

impl Direction {
    fn new(key: [u8; KEY_LEN]) -> Self {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
        Self {
            cipher: LessSafeKey::new(key),
            counter: 0,
        }
    }

    /// The next nonce: 4 zero bytes and the counter, big-endian. Each is used once: the
    /// counter only goes up, and a key lives for one direction of one connection.
    fn next_nonce(&mut self) -> Result<Nonce, SealError> {
        let n = self.counter;
        self.counter = n.checked_add(1).ok_or(SealError::Exhausted)?;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

/// Seals outgoing messages.
pub struct Sealer(Direction);

impl Sealer {
    /// Seals `message` in place: it becomes `ciphertext ‖ tag`, [`TAG_LEN`] bytes longer.
    pub fn seal(&mut self, message: &mut Vec<u8>) -> Result<(), SealError> {
        let nonce = self.0.next_nonce()?;
        message.reserve(TAG_LEN);
        self.0
            .cipher
            .seal_in_place_append_tag(nonce, Aad::empty(), message)
            .map_err(|_| SealError::Exhausted) // only for messages over 256 GiB
    }
}

/// Opens incoming messages, in order.
pub struct Opener(Direction);

impl Opener {
    /// Opens `message` in place, leaving the plaintext.
    pub fn open(&mut self, message: &mut Vec<u8>) -> Result<(), SealError> {
        let nonce = self.0.next_nonce()?;
        let len = self
            .0
            .cipher
            .open_in_place(nonce, Aad::empty(), message)
            .map_err(|_| SealError::Forged)?
            .len();
        message.truncate(len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn counting(from: u8) -> [u8; 32] {
        std::array::from_fn(|i| from + i as u8)
    }

    /// The vectors of docs/PROTOCOL.md, computed there with another implementation.
    #[test]
    fn matches_the_documented_test_vectors() {
        let key = Key::from_bytes(counting(0));
        assert_eq!(
            key.to_link_text(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
        );
        let (ns, nc) = (counting(0x20), counting(0x40));
        let server = ServerHandshake::new(ns);
        assert_eq!(
            server.hello().to_vec(),
            hex("49575331202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
        );
        let client = ClientHandshake::new(key.clone(), &server.hello(), nc).unwrap();
        let answer = client.answer();
        assert_eq!(
            answer[32..].to_vec(),
            hex("01a2d2a3df9feb3408b6fcda8b175281f7f4e8dea2d59521bd25acf7902a9649")
        );
        let other = Key::from_bytes([7; 32]);
        let (index, proof, mut server_side) = server.accept(&[&other, &key], &answer).unwrap();
        assert_eq!(index, 1);
        assert_eq!(
            proof.to_vec(),
            hex("cb39aaf34c388cda8142c351bfb050e931fd43d82e29a6e29a79ecf5b5c338d6")
        );
        assert_eq!(
            key.derive(SERVER_TO_CLIENT, &ns, &nc).to_vec(),
            hex("21614fe81df92c42973319bac19ea9f529bde88e5f7b09f651de77884876c1de")
        );
        assert_eq!(
            key.derive(CLIENT_TO_SERVER, &ns, &nc).to_vec(),
            hex("59e9c331eba57e6e7c1bbe77c8bac87ac3b69ad66200ea561b15821016276692")
        );
        let mut client_side = client.finish(&proof).unwrap();
        let mut m0 = br#"{"type":"resize","cols":80,"rows":24}"#.to_vec();
        server_side.sealer.seal(&mut m0).unwrap();
        assert_eq!(m0, hex("e56b65be2c659ec7450091a7c7a798d593288ca8b00c3a0935567b39acc5a59fed5d765c218b28fe075bc0079920eed1690e9ce043"));
        let mut m1 = br#"{"type":"data","data":"hi\r\n","seq":4}"#.to_vec();
        server_side.sealer.seal(&mut m1).unwrap();
        assert_eq!(m1, hex("2d2e1ffeb7f410f229ef094b6c3a253433ec38b7188444f59c48f2756003b33f6b27db37723337fb5cb67f676c4b8ed7407144b3431b7c"));
        let mut c0 = br#"{"type":"resume","lastSeq":-1}"#.to_vec();
        client_side.sealer.seal(&mut c0).unwrap();
        assert_eq!(
            c0,
            hex("c13fd68e24eca3e8f068e4836bf6e8fe779ced4de44c53b09ea5cd4ce5849860b4f0ae73caca08fa9fa052f10f8e")
        );
        client_side.opener.open(&mut m0).unwrap();
        assert_eq!(m0, br#"{"type":"resize","cols":80,"rows":24}"#);
        server_side.opener.open(&mut c0).unwrap();
        assert_eq!(c0, br#"{"type":"resume","lastSeq":-1}"#);
    }

    fn pair(key: &Key) -> (Channel, Channel) {
        let server = ServerHandshake::new([1; 32]);
        let client = ClientHandshake::new(key.clone(), &server.hello(), [2; 32]).unwrap();
        let (_, proof, server_side) = server.accept(&[key], &client.answer()).unwrap();
        (server_side, client.finish(&proof).unwrap())
    }

    #[test]
    fn altered_replayed_reordered_and_foreign_messages_do_not_open() {
        let key = Key::from_bytes([9; 32]);
        let (mut server, mut client) = pair(&key);
        let sealed: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let mut m = format!("message {i}").into_bytes();
                server.sealer.seal(&mut m).unwrap();
                m
            })
            .collect();
        // Reordered: the second before the first.
        assert_eq!(
            client.opener.open(&mut sealed[1].clone()),
            Err(SealError::Forged)
        );
        let (_, mut client) = pair(&key);
        let mut first = sealed[0].clone();
        client.opener.open(&mut first).unwrap();
        assert_eq!(first, b"message 0");
        // Replayed.
        assert_eq!(
            client.opener.open(&mut sealed[0].clone()),
            Err(SealError::Forged)
        );
        // Altered: one flipped bit.
        let (_, mut client) = pair(&key);
        let mut flipped = sealed[0].clone();
        flipped[3] ^= 1;
        assert_eq!(client.opener.open(&mut flipped), Err(SealError::Forged));
        // From another connection (other nonces, same key).
        let other = ServerHandshake::new([3; 32]);
        let stranger = ClientHandshake::new(key.clone(), &other.hello(), [4; 32]).unwrap();
        let (_, proof, _) = other.accept(&[&key], &stranger.answer()).unwrap();
        let mut stranger = stranger.finish(&proof).unwrap();
        assert_eq!(
            stranger.opener.open(&mut sealed[0].clone()),
            Err(SealError::Forged)
        );
        // Short garbage.
        assert_eq!(
            client.opener.open(&mut vec![1, 2, 3]),
            Err(SealError::Forged)
        );
    }

    #[test]
    fn wrong_keys_and_malformed_handshakes_are_refused() {
        let key = Key::from_bytes([5; 32]);
        let server = ServerHandshake::new([6; 32]);
        let wrong = ClientHandshake::new(Key::from_bytes([0; 32]), &server.hello(), [7; 32]);
        let answer = wrong.unwrap().answer();
        assert_eq!(
            server.accept(&[&key], &answer).err(),
            Some(SealError::WrongKey)
        );
        assert_eq!(
            server.accept(&[&key], &answer[1..]).err(),
            Some(SealError::Malformed)
        );
        assert!(ClientHandshake::new(
            key.clone(),
            b"IWS2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            [0; 32]
        )
        .is_err());
        // A server that does not hold the key cannot answer with a valid proof.
        let client = ClientHandshake::new(key, &server.hello(), [8; 32]).unwrap();
        assert_eq!(client.finish(&[0; 32]).err(), Some(SealError::WrongKey));
    }

    #[test]
    fn keys_round_trip_through_links_and_files() {
        let key = Key::from_bytes(counting(100));
        assert_eq!(Key::from_link_text(&key.to_link_text()), Some(key.clone()));
        assert_eq!(Key::from_hex(&key.to_hex()), Some(key.clone()));
        assert_eq!(Key::from_link_text("short"), None);
        assert_eq!(Key::from_hex("zz"), None);
        assert_eq!(format!("{key:?}"), "Key(..)");
    }
}
