// itwillsync: the page's side of the sealed protocol (docs/PROTOCOL.md "Sealed protocol").
//
// The handshake proves the page's key to the server and checks the server's proof of the
// same key; then every message, both ways, is JSON sealed with ChaCha20-Poly1305 under
// one key per direction (HKDF from the shared key and both nonces) and an implicit
// counter nonce, so an altered, replayed, reordered or foreign message does not open.
//
// Pure functions over bytes, on vendor/noble.js (window.itwillsyncNoble): no socket, no
// storage, so tests/browser/seal.test.mjs checks them against the protocol's test vectors
// in Node. connection.js drives them. Whatever fails throws; the caller then closes the
// socket (a channel that failed once refuses everything after).
"use strict";

window.itwillsyncSeal = (() => {
  const { chacha20poly1305, equalBytes, hkdf, hmac, sha256 } = window.itwillsyncNoble;
  const utf8 = new TextEncoder();
  const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

  const MAGIC = utf8.encode("IWS1");
  const NONCE_LEN = 32;   // Ns and Nc
  const KEY_LEN = 32;     // every key, and every proof (HMAC-SHA-256)
  const CLIENT_PROOF = utf8.encode("itwillsync/1 client proof");
  const SERVER_PROOF = utf8.encode("itwillsync/1 server proof");
  const SERVER_TO_CLIENT = utf8.encode("itwillsync/1 server to client");
  const CLIENT_TO_SERVER = utf8.encode("itwillsync/1 client to server");
  // The protocol's counters are 64-bit; a page stops where a JS number stops being exact
  // (2^53 messages: never reached, but never wrong either).
  const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

  /** An error of the protocol; `kind` is "hello", "proof" or "message". */
  function fail(kind, text) {
    const e = new Error(text);
    e.kind = kind;
    return e;
  }

  /** Binary WebSocket data (ArrayBuffer or a view, from any realm) as a Uint8Array. */
  function asBytes(data, kind) {
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (Object.prototype.toString.call(data) === "[object ArrayBuffer]") return new Uint8Array(data);
    throw fail(kind, "a text message where a binary one belongs");
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  // ---- keys in links: base64url without padding, 43 characters for 32 bytes ----------
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

  /** The 32 bytes of a key written as in a link, or null for anything else. */
  function decodeKey(text) {
    if (typeof text !== "string" || !KEY_TEXT.test(text)) return null;
    const out = new Uint8Array(KEY_LEN);
    let acc = 0, bits = 0, n = 0;
    for (const ch of text) {
      acc = (acc << 6) | ALPHABET.indexOf(ch);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[n++] = (acc >> bits) & 0xff;
        acc &= (1 << bits) - 1;
      }
    }
    // 43 characters carry 258 bits: the last 2 must be zero (one spelling per key).
    return acc === 0 ? out : null;
  }

  /** A key's 32 bytes as written in a link. */
  function encodeKey(bytes) {
    let text = "", acc = 0, bits = 0;
    for (const b of bytes) {
      acc = (acc << 8) | b;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        text += ALPHABET[(acc >> bits) & 63];
      }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) text += ALPHABET[(acc << (6 - bits)) & 63];
    return text;
  }

  // ---- the handshake -------------------------------------------------------------------

  /**
   * Everything the handshake derives from the key and both nonces: both proofs and both
   * direction keys (all 32 bytes).
   */
  function derive(key, ns, nc) {
    const salt = concat(ns, nc);
    return {
      pc: hmac(sha256, key, concat(CLIENT_PROOF, salt)),
      ps: hmac(sha256, key, concat(SERVER_PROOF, salt)),
      ks: hkdf(sha256, key, salt, SERVER_TO_CLIENT, KEY_LEN),
      kc: hkdf(sha256, key, salt, CLIENT_TO_SERVER, KEY_LEN),
    };
  }

  /**
   * Answers the server's hello (step 1) for `key` (32 bytes). Returns `reply`, the bytes
   * of step 2 (`Nc ‖ Pc`), and `finish(ps)`, which takes step 3 and returns the sealed
   * channel, or throws (kind "proof") when the server did not prove the key. `nc` is for
   * tests; a page lets it be random. Throws (kind "hello") on anything but a hello.
   */
  function start(key, hello, nc) {
    hello = asBytes(hello, "hello");
    if (hello.length !== MAGIC.length + NONCE_LEN || !equalBytes(hello.subarray(0, MAGIC.length), MAGIC)) {
      throw fail("hello", "the server's first message is not an itwillsync hello");
    }
    if (!ArrayBuffer.isView(key) || key.byteLength !== KEY_LEN) throw new TypeError("a key is 32 bytes");
    key = asBytes(key);
    const ns = hello.slice(MAGIC.length);
    nc = nc || crypto.getRandomValues(new Uint8Array(NONCE_LEN));
    const d = derive(key, ns, nc);
    return {
      reply: concat(nc, d.pc),
      finish(ps) {
        ps = asBytes(ps, "proof");
        // Constant time: nothing about the expected proof leaks through timing.
        if (ps.length !== KEY_LEN || !equalBytes(ps, d.ps)) {
          throw fail("proof", "the server did not prove the key");
        }
        return channel(d.kc, d.ks);
      },
    };
  }

  // ---- sealed messages -----------------------------------------------------------------

  /** nonce(n) = 4 zero bytes ‖ n as a 64-bit big-endian integer. */
  function nonce(n) {
    const out = new Uint8Array(12);
    const view = new DataView(out.buffer);
    view.setUint32(4, Math.floor(n / 0x100000000));
    view.setUint32(8, n >>> 0);
    return out;
  }

  /**
   * A channel sealing with `sendKey` and opening with `recvKey`, each direction counting
   * its messages from 0. `seal(obj)` returns the bytes to send; `open(data)` returns the
   * message, or throws (kind "message") for anything that does not open as the next
   * message, after which the channel opens nothing more.
   */
  function channel(sendKey, recvKey) {
    let sent = 0;
    let received = 0;
    let broken = false;
    return {
      seal(obj) {
        if (sent > MAX_COUNTER) throw fail("message", "too many messages on one connection");
        const box = chacha20poly1305(sendKey, nonce(sent)).encrypt(utf8.encode(JSON.stringify(obj)));
        sent += 1;
        return box;
      },
      open(data) {
        if (broken) throw fail("message", "the connection already failed");
        try {
          if (received > MAX_COUNTER) throw new Error("too many messages on one connection");
          const plain = chacha20poly1305(recvKey, nonce(received)).decrypt(asBytes(data, "message"));
          received += 1;
          return JSON.parse(fromUtf8.decode(plain));
        } catch (e) {
          broken = true;
          throw fail("message", `a message did not open: ${e.message}`);
        }
      },
    };
  }

  return { decodeKey, encodeKey, derive, start, channel, nonce };
})();
