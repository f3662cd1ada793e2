// The Share sheet's QR code (server/assets/share.js on vendor/qrcode.js) scans back to the
// read-only link: each code is drawn as pixels, with its border, and read by jsQR (a test
// dependency only). Run: node --test tests/browser/share.test.mjs (tests/browser.rs runs it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import jsQR from "jsqr";

const assets = new URL("../../server/assets/", import.meta.url);
const context = vm.createContext({});
context.window = context;
for (const name of ["vendor/qrcode.js", "share.js"]) {
  vm.runInContext(readFileSync(new URL(name, assets), "utf8"), context, { filename: name });
}
const share = context.itwillsyncShare;

/** The code of `text` as an RGBA image, `scale` pixels a module, 4 modules of border. */
function draw(rows, scale) {
  const quiet = 4;
  const size = (rows.length + 2 * quiet) * scale;
  const rgba = new Uint8ClampedArray(size * size * 4).fill(255);
  rows.forEach((row, r) => row.forEach((dark, c) => {
    if (!dark) return;
    for (let y = 0; y < scale; y++) {
      for (let x = 0; x < scale; x++) {
        const at = (((r + quiet) * scale + y) * size + (c + quiet) * scale + x) * 4;
        rgba[at] = rgba[at + 1] = rgba[at + 2] = 0;
      }
    }
  }));
  return { rgba, size };
}

export function decode(rows) {
  const { rgba, size } = draw(rows, 4);
  const found = jsQR(rgba, size, size);
  return found && found.data;
}

const KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const LINKS = [
  `http://192.168.1.20:7963/#r=${KEY}`,
  `https://workstation.tail1234.ts.net:41234/#r=${KEY}`,
  `http://[fe80::1ff:fe23:4567:890a]:7963/#r=${KEY}`,
  `http://127.0.0.1:1/#r=${"-_".repeat(21)}A`,
];

for (const link of LINKS) {
  test(`the QR code of ${link} scans back to it`, () => {
    const rows = share.qrModules(link);
    assert.ok(rows.length >= 21 && rows.every((row) => row.length === rows.length), "a square code");
    assert.equal(decode(rows), link);
  });
}

test("a typical link fits a small code (easy to scan from a phone screen)", () => {
  // Version 6 is 41 modules; a LAN link with a 43-character key needs no more.
  assert.ok(share.qrModules(LINKS[0]).length <= 41);
});
