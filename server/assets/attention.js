// itwillsync terminal page: what tells the user the program needs them.
//
// A bell, or a notification sequence in the output (OSC 9 except 9;4 progress, OSC 99,
// OSC 777 "notify"), or the server's "attention" message: a banner over the terminal
// (tap to dismiss; typing clears it), the title flashes, a chime and a vibration, and a
// system notification while the page is hidden (secure contexts, when allowed; the key
// bar's "awake" setting). The same setting keeps the screen awake with a wake lock.
// Nothing rings for data the page marks quiet (a replay or a repaint).
"use strict";

window.itwillsyncAttention = (() => {
  const $ = (id) => document.getElementById(id);
  const chime = () => window.itwillsyncChime([880, 1318.5], 0.13, 0.35);
  // Set by init: the page's title, whether data being parsed is quiet, whether the
  // session ended, and the key bar (its "awake" setting).
  let title = () => "itwillsync";
  let quiet = () => false;
  let ended = () => false;
  let keybar = null;

  let flashTimer = null;
  let lastAttention = 0;
  function raise(message) {
    if (quiet()) return;
    showBanner(message);
    const now = Date.now();
    if (now - lastAttention < 2000) return; // a burst of bells rings once
    lastAttention = now;
    chime();
    if (navigator.vibrate) { try { navigator.vibrate(200); } catch (_) { /* ignore */ } }
    notify(message);
    if (!flashTimer) {
      let on = false;
      flashTimer = setInterval(() => {
        on = !on;
        document.title = on ? "🔔 " + title() : title();
      }, 1000);
      document.title = "🔔 " + title();
    }
  }
  function userTyped() {
    $("banner").hidden = true;
    if (flashTimer) {
      clearInterval(flashTimer);
      flashTimer = null;
      document.title = title();
    }
  }

  function showBanner(message) {
    const banner = $("banner");
    const text = String(message || "bell").replace(/[\x00-\x1f\x7f]/g, " ").trim().slice(0, 200) || "bell";
    banner.textContent = "🔔 " + text;
    banner.dataset.message = text;
    banner.hidden = false;
  }

  // The text of an OSC notification: OSC 9's; OSC 777's "notify;TITLE;BODY"; OSC 99's
  // payload after its metadata.
  function oscText(code, data) {
    const parts = data.split(";");
    if (code === 777) return parts[0] === "notify" ? parts.slice(1).filter(Boolean).join(": ") : data;
    if (code === 99) return parts.slice(1).join(";");
    return data;
  }

  // ---- awake: screen wake lock and system notifications (secure contexts) ----------
  let wakeLock = null;
  async function keepAwake() {
    const want = keybar.awake() && window.isSecureContext && "wakeLock" in navigator &&
      document.visibilityState === "visible" && !ended();
    if (want && !wakeLock) {
      try {
        wakeLock = await navigator.wakeLock.request("screen");
        wakeLock.addEventListener("release", () => { wakeLock = null; });
      } catch (_) { wakeLock = null; /* refused (battery saver, say): the page still works */ }
    } else if (!want && wakeLock) {
      wakeLock.release().catch(() => {});
      wakeLock = null;
    }
  }

  function notify(message) {
    if (!keybar.awake() || !window.isSecureContext || !("Notification" in window)) return;
    if (Notification.permission !== "granted" || document.visibilityState === "visible") return;
    try {
      const n = new Notification(`${title()} needs you`, { body: message, tag: "itwillsync", icon: "icon.svg" });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (_) { /* e.g. Android Chrome wants a service worker: the chime still rang */ }
  }

  /** Listens to `term`'s bells and notification sequences, and keeps the screen awake. */
  function init(opts) {
    ({ title, quiet, ended, keybar } = opts);
    const term = opts.term;
    const banner = $("banner");
    banner.addEventListener("mousedown", (e) => e.preventDefault()); // the keyboard stays where it was
    banner.addEventListener("click", () => { banner.hidden = true; });
    term.onBell(() => raise("bell"));
    // Returning false lets xterm's default handling continue.
    term.parser.registerOscHandler(9, (data) => {
      if (!(data === "4" || data.startsWith("4;"))) raise(oscText(9, data));
      return false;
    });
    term.parser.registerOscHandler(99, (data) => { raise(oscText(99, data)); return false; });
    term.parser.registerOscHandler(777, (data) => { raise(oscText(777, data)); return false; });
    document.addEventListener("visibilitychange", keepAwake);
    window.addEventListener("itwillsync-awake", keepAwake);
    // Ask on the first tap, never on load; the wake lock needs a visible page, too.
    document.addEventListener("pointerdown", () => {
      if (keybar.awake() && window.isSecureContext && "Notification" in window && Notification.permission === "default") {
        try { Notification.requestPermission().catch(() => {}); } catch (_) { /* old Safari */ }
      }
      keepAwake();
    }, { capture: true, once: true });
    keepAwake();
  }

  return { init, raise, userTyped, flashing: () => flashTimer !== null };
})();
