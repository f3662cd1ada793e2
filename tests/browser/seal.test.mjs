// server/assets/seal.js against every test vector of docs/PROTOCOL.md, and the failures
// the protocol requires (altered, replayed, reordered, foreign, text, after a failure).
// Run: node --test tests/browser/seal.test.mjs (tests/browser.rs runs it under cargo test).
//
// The scripts are loaded the way the page loads them: as classic scripts, in order, into
// one fresh global object that is also `window`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import vm from "node:vm";

const assets = new URL("../../server/assets/", import.meta.url);

function loadPage(...scripts) {
  const context = vm.createContext({ TextEncoder, TextDecoder, crypto: webcrypto });
  context.window = context;
  for (const name of scripts) {
    vm.runInContext(readFileSync(new URL(name, assets), "utf8"), context, { filename: name });
  }
  return context;
}

const { itwillsyncSeal: seal, itwillsyncNoble: noble } = loadPage("vendor/noble.js", "seal.js");

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
const range = (from, to) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

// docs/PROTOCOL.md "Test vectors".
const K = range(0x00, 0x1f);
const K_TEXT = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NS = range(0x20, 0x3f);
const NC = range(0x40, 0x5f);
const V = {
  hello: "49575331202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
  pc: "01a2d2a3df9feb3408b6fcda8b175281f7f4e8dea2d59521bd25acf7902a9649",
  ps: "cb39aaf34c388cda8142c351bfb050e931fd43d82e29a6e29a79ecf5b5c338d6",
  ks: "21614fe81df92c42973319bac19ea9f529bde88e5f7b09f651de77884876c1de",
  kc: "59e9c331eba57e6e7c1bbe77c8bac87ac3b69ad66200ea561b15821016276692",
  server0: "e56b65be2c659ec7450091a7c7a798d593288ca8b00c3a0935567b39acc5a59fed5d765c218b28fe075bc0079920eed1690e9ce043",
  server1: "2d2e1ffeb7f410f229ef094b6c3a253433ec38b7188444f59c48f2756003b33f6b27db37723337fb5cb67f676c4b8ed7407144b3431b7c",
  client0: "c13fd68e24eca3e8f068e4836bf6e8fe779ced4de44c53b09ea5cd4ce5849860b4f0ae73caca08fa9fa052f10f8e",
};
const SERVER_MSGS = [
  { type: "resize", cols: 80, rows: 24 },
  { type: "data", data: "hi\r\n", seq: 4 },
];
const CLIENT_MSG = { type: "resume", lastSeq: -1 };

/** The page's side after the vector handshake. */
function vectorChannel() {
  return seal.start(K, unhex(V.hello), NC).finish(unhex(V.ps));
}
/** The server's side, to make more messages: seals with Ks, opens with Kc. */
const serverChannel = () => seal.channel(unhex(V.ks), unhex(V.kc));

test("the key of the vectors reads from and writes to its link form", () => {
  assert.equal(hex(seal.decodeKey(K_TEXT)), hex(K));
  assert.equal(seal.encodeKey(K), K_TEXT);
  const random = webcrypto.getRandomValues(new Uint8Array(32));
  assert.equal(hex(seal.decodeKey(seal.encodeKey(random))), hex(random));
});

test("anything but 43 base64url characters of 32 bytes is no key", () => {
  for (const bad of ["", K_TEXT.slice(1), K_TEXT + "A", K_TEXT.slice(0, 42) + "=",
    K_TEXT.slice(0, 42) + "+", K_TEXT.slice(0, 42) + "/", K_TEXT + "=",
    K_TEXT.slice(0, 42) + "9", // nonzero trailing bits: a second spelling of a key
    undefined, null, 42]) {
    assert.equal(seal.decodeKey(bad), null, `accepted ${JSON.stringify(bad)}`);
  }
});

test("the hello of the vectors is IWS1 and Ns", () => {
  assert.equal(V.hello, hex(new TextEncoder().encode("IWS1")) + hex(NS));
});

test("the handshake derives Pc, Ps, Ks and Kc of the vectors", () => {
  const d = seal.derive(K, NS, NC);
  assert.equal(hex(d.pc), V.pc);
  assert.equal(hex(d.ps), V.ps);
  assert.equal(hex(d.ks), V.ks);
  assert.equal(hex(d.kc), V.kc);
});

test("the page answers the hello with Nc and Pc and accepts the server's Ps", () => {
  const hs = seal.start(K, unhex(V.hello).buffer, NC); // an ArrayBuffer, as a WebSocket gives it
  assert.equal(hex(hs.reply), hex(NC) + V.pc);
  assert.ok(hs.finish(unhex(V.ps).buffer));
});

test("a random Nc differs between handshakes", () => {
  const a = seal.start(K, unhex(V.hello)).reply;
  const b = seal.start(K, unhex(V.hello)).reply;
  assert.equal(a.length, 64);
  assert.notEqual(hex(a.subarray(0, 32)), hex(b.subarray(0, 32)));
});

test("the page refuses a wrong server proof", () => {
  for (const bad of [unhex(V.pc), new Uint8Array(32), unhex(V.ps).subarray(0, 31),
    Uint8Array.from(unhex(V.ps), (b, i) => (i === 31 ? b ^ 1 : b))]) {
    const hs = seal.start(K, unhex(V.hello), NC);
    assert.throws(() => hs.finish(bad), (e) => e.kind === "proof");
  }
  // A proof for another key.
  const other = seal.derive(range(0x01, 0x20), NS, NC);
  assert.throws(() => seal.start(K, unhex(V.hello), NC).finish(other.ps), (e) => e.kind === "proof");
});

test("the page refuses what is not a hello", () => {
  const hello = unhex(V.hello);
  for (const bad of [hello.subarray(0, 35), new Uint8Array([...hello, 0]),
    Uint8Array.from(hello, (b, i) => (i === 3 ? 0x32 : b)), "IWS1"]) {
    assert.throws(() => seal.start(K, bad, NC), (e) => e.kind === "hello");
  }
});

test("the server's sealed messages of the vectors open, in order", () => {
  const ch = vectorChannel();
  assert.deepEqual({ ...ch.open(unhex(V.server0).buffer) }, SERVER_MSGS[0]);
  const data = ch.open(unhex(V.server1).buffer);
  assert.deepEqual({ ...data }, SERVER_MSGS[1]);
  assert.equal(data.data, "hi\r\n");
});

test("the page seals its first message as the vectors say", () => {
  assert.equal(hex(vectorChannel().seal(CLIENT_MSG)), V.client0);
  // And the server's side, sealed the same way, gives the server's vectors.
  const server = serverChannel();
  assert.equal(hex(server.seal(SERVER_MSGS[0])), V.server0);
  assert.equal(hex(server.seal(SERVER_MSGS[1])), V.server1);
  assert.deepEqual({ ...server.open(unhex(V.client0)) }, CLIENT_MSG);
});

test("an altered message does not open, nor anything after it", () => {
  const server0 = unhex(V.server0);
  for (let i = 0; i < server0.length; i += 7) {
    const altered = server0.slice();
    altered[i] ^= 0x80;
    assert.throws(() => vectorChannel().open(altered), (e) => e.kind === "message", `byte ${i}`);
  }
  assert.throws(() => vectorChannel().open(server0.subarray(0, server0.length - 1)), (e) => e.kind === "message");
  assert.throws(() => vectorChannel().open(new Uint8Array(0)), (e) => e.kind === "message");
  const ch = vectorChannel();
  const altered = server0.slice();
  altered[0] ^= 1;
  assert.throws(() => ch.open(altered));
  // The genuine message no longer opens either: the connection is over.
  assert.throws(() => ch.open(server0), (e) => e.kind === "message");
});

test("a replayed message does not open", () => {
  const ch = vectorChannel();
  ch.open(unhex(V.server0));
  assert.throws(() => ch.open(unhex(V.server0)), (e) => e.kind === "message");
});

test("reordered messages do not open", () => {
  assert.throws(() => vectorChannel().open(unhex(V.server1)), (e) => e.kind === "message");
  const server = serverChannel();
  const first = server.seal({ type: "data", data: "a", seq: 1 });
  const second = server.seal({ type: "data", data: "b", seq: 2 });
  const ch = vectorChannel();
  assert.throws(() => ch.open(second), (e) => e.kind === "message");
  assert.throws(() => ch.open(first), (e) => e.kind === "message");
});

test("a message of another connection or the other direction does not open", () => {
  const otherNc = range(0x41, 0x60);
  const other = seal.derive(K, NS, otherNc);
  const foreign = seal.channel(other.ks, other.kc).seal(SERVER_MSGS[0]);
  assert.throws(() => vectorChannel().open(foreign), (e) => e.kind === "message");
  // The page's own message, reflected back at it.
  assert.throws(() => vectorChannel().open(unhex(V.client0)), (e) => e.kind === "message");
});

test("a text message does not open", () => {
  assert.throws(() => vectorChannel().open(JSON.stringify(SERVER_MSGS[0])), (e) => e.kind === "message");
});

test("the nonce is 4 zero bytes and the counter as 64 bits big-endian", () => {
  assert.equal(hex(seal.nonce(0)), "000000000000000000000000");
  assert.equal(hex(seal.nonce(1)), "000000000000000000000001");
  assert.equal(hex(seal.nonce(0x1_0000_0001)), "000000000000000100000001");
  assert.equal(hex(seal.nonce(Number.MAX_SAFE_INTEGER)), "00000000001fffffffffffff");
});

test("a long conversation keeps both counters in step", () => {
  const server = serverChannel();
  const page = vectorChannel();
  for (let i = 0; i < 300; i++) {
    const msg = { type: "data", data: `line ${i} ✓\r\n`, seq: i };
    assert.deepEqual({ ...page.open(server.seal(msg)) }, msg);
    const reply = { type: "ack", seq: i };
    assert.deepEqual({ ...server.open(page.seal(reply)) }, reply);
  }
});

test("the bundle is the audited code: ChaCha20-Poly1305 of RFC 8439 section 2.8.2", () => {
  const key = range(0x80, 0x9f);
  const nonce = unhex("070000004041424344454647");
  const aad = unhex("50515253c0c1c2c3c4c5c6c7");
  const text = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  const out = noble.chacha20poly1305(key, nonce, aad).encrypt(text);
  assert.equal(hex(out.subarray(out.length - 16)), "1ae10b594f09e26a7e902ecbd0600691");
});
