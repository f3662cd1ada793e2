// itwillsync terminal page: the Share sheet. A full-key page is told the session's
// read-only key (the `session` message's readKey); Share shows the read-only link as
// selectable text, with Copy where the browser allows it, and as a QR code to scan from
// another phone. Needs vendor/qrcode.js (qrcode-generator). The QR code is drawn as SVG
// shapes through the DOM, so it needs nothing from the page's CSP.
"use strict";

window.itwillsyncShare = (() => {
  const QUIET = 4;     // modules of white border a scanner needs around the code
  const SVG = "http://www.w3.org/2000/svg";

  /** The QR code of `text` as rows of booleans (true: dark), without its border. */
  function qrModules(text) {
    const qr = window.qrcode(0, "M"); // the smallest version that fits; ~15% may be damaged
    qr.addData(text, "Byte");
    qr.make();
    const n = qr.getModuleCount();
    const rows = [];
    for (let r = 0; r < n; r++) {
      const row = [];
      for (let c = 0; c < n; c++) row.push(qr.isDark(r, c));
      rows.push(row);
    }
    return rows;
  }

  /** An SVG element showing `text` as a QR code, dark on white with its border. */
  function qrSvg(text) {
    const rows = qrModules(text);
    const size = rows.length + 2 * QUIET;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    svg.setAttribute("shape-rendering", "crispEdges");
    svg.setAttribute("role", "img");
    const back = document.createElementNS(SVG, "rect");
    back.setAttribute("width", String(size));
    back.setAttribute("height", String(size));
    back.setAttribute("fill", "#fff");
    let d = "";
    rows.forEach((row, r) => row.forEach((dark, c) => {
      if (dark) d += `M${c + QUIET} ${r + QUIET}h1v1h-1z`;
    }));
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "#000");
    svg.append(back, path);
    return svg;
  }

  let button = null;
  let backdrop = null;
  let onClose = () => {};
  let link = null;

  const $ = (id) => document.getElementById(id);
  const canCopy = () => (window.isSecureContext && navigator.clipboard) ||
    (document.queryCommandSupported && document.queryCommandSupported("copy"));

  function open() {
    if (!link) return;
    const input = $("share-link");
    input.value = link;
    $("share-qr").replaceChildren(qrSvg(link));
    $("share-copy").hidden = !canCopy();
    $("share-copied").textContent = "";
    backdrop.hidden = false;
  }

  function close() {
    if (backdrop.hidden) return;
    backdrop.hidden = true;
    onClose();
  }

  // The Clipboard API needs a secure context; plain-HTTP LAN pages fall back to copying
  // the selected text, which browsers still allow in a click.
  async function copy() {
    const input = $("share-link");
    const said = $("share-copied");
    let ok = false;
    if (window.isSecureContext && navigator.clipboard) {
      try { await navigator.clipboard.writeText(link); ok = true; } catch (_) { ok = false; }
    }
    if (!ok) {
      input.focus();
      input.select();
      try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    }
    said.textContent = ok ? "Copied." : "Select the link and copy it.";
  }

  /**
   * Wires the sheet to the page. `onClose` runs when the sheet closes (the page takes
   * focus back).
   */
  function init(options) {
    button = $("share");
    backdrop = $("share-backdrop");
    onClose = options.onClose || onClose;
    button.addEventListener("click", open);
    backdrop.addEventListener("click", (e) => {
      if (e.target === backdrop) { close(); return; }
      const action = e.target.closest("[data-action]");
      if (!action) return;
      if (action.dataset.action === "close-share") close();
      else if (action.dataset.action === "copy-share") copy();
    });
    $("share-link").addEventListener("focus", (e) => e.target.select());
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
  }

  /** The read-only link to offer, or null: no Share button (a read-only page). */
  function setLink(url) {
    link = url;
    button.hidden = !url;
    if (!url) close();
    else if (!backdrop.hidden) open(); // the key changed while the sheet was shown
  }

  return { init, setLink, qrModules, qrSvg };
})();
