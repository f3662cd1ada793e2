// itwillsync: the page's key (docs/PROTOCOL.md "Keys and links").
//
// A link carries its key in the fragment, `#k=KEY` (full, or the dashboard's master key)
// or `#r=KEY` (read-only), which browsers never send to a server. The page takes it from
// there, keeps it in localStorage (each port is its own origin, so each session its own
// entry) and removes the fragment with history.replaceState, so the key stays neither in
// the address bar nor in the history; later visits use the stored key. Needs seal.js.
"use strict";

window.itwillsyncKey = (() => {
  const STORAGE = "itwillsync.key"; // {"key": base64url, "readOnly": bool}
  let memory = null;                // the key when localStorage is unavailable

  function store(entry) {
    memory = entry;
    try { localStorage.setItem(STORAGE, JSON.stringify(entry)); } catch (_) { /* private mode: this visit only */ }
  }

  function stored() {
    // This visit's link first: where storing failed, storage may still hold an older key.
    let entry = memory;
    if (!entry) {
      try { entry = JSON.parse(localStorage.getItem(STORAGE) || "null"); } catch (_) { /* unavailable or damaged: as if absent */ }
    }
    if (!entry || !window.itwillsyncSeal.decodeKey(entry.key)) return null;
    return { key: entry.key, readOnly: entry.readOnly === true };
  }

  /** Removes the fragment from the address bar and from this history entry. */
  function dropFragment() {
    try {
      history.replaceState(history.state, "", location.pathname + location.search);
    } catch (_) {
      location.hash = ""; // leaves a bare "#", but no key
    }
  }

  /**
   * The page's key: the link's (then stored, and removed from the address), else the
   * stored one. `allowReadOnly` is false on the dashboard, which has no read-only key.
   * Returns {bytes, text, readOnly}, or {error} where error is "missing" (no link, nothing
   * stored), "damaged" (a fragment that is not `k=` or `r=` and 43 characters of
   * base64url of 32 bytes) or "read-only" (an `r=` link where none belongs). A damaged
   * or unwanted link never falls back to an older stored key: the user meant this link.
   */
  function load({ allowReadOnly }) {
    // A link opened in a tab already showing this page changes only the fragment, which
    // does not reload the page: reload it, so the new key is read (and leaves the address).
    window.addEventListener("hashchange", () => { if (location.hash.length > 1) location.reload(); });
    const fragment = location.hash.replace(/^#/, "");
    if (fragment) {
      dropFragment();
      const m = /^([kr])=([^&]*)$/.exec(fragment);
      if (!m || !window.itwillsyncSeal.decodeKey(m[2])) return { error: "damaged" };
      if (m[1] === "r" && !allowReadOnly) return { error: "read-only" };
      store({ key: m[2], readOnly: m[1] === "r" });
    }
    const entry = stored();
    if (!entry) return { error: "missing" };
    return { bytes: window.itwillsyncSeal.decodeKey(entry.key), text: entry.key, readOnly: entry.readOnly };
  }

  /** Forgets the stored key (the server refused it: it was wrong or rotated). */
  function forget() {
    memory = null;
    try { localStorage.removeItem(STORAGE); } catch (_) { /* nothing stored */ }
  }

  return { load, forget };
})();
