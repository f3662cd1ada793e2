// itwillsync terminal page: one session in xterm.js, over the session's sealed WebSocket.
//
// A public static page: the key comes from the link's fragment or local storage
// (key.js), everything about the session from the server once the key is proved.
// Messages (sealed JSON, docs/PROTOCOL.md "Messages inside the seal: a session port"):
//   client -> server  {"type":"input","data":S}
//                     {"type":"resize","cols":C,"rows":R,"force":B}
//                     {"type":"resume","lastSeq":N}      (N = -1: send everything)
//                     {"type":"ack","seq":N}
//   server -> client  {"type":"resize","cols":C,"rows":R} (first, and on every change)
//                     {"type":"session","name":S,"readOnly":B,"dashboardPort":P,"readKey":K}
//                     {"type":"data","data":S,"seq":N}   (seq = PTY bytes after this chunk)
//                     {"type":"exit","code":N}
// A read-only page (an #r= link, or the server says readOnly) never sends input or
// resize: no keyboard, no key bar, no Fit.
"use strict";

(() => {
  // ---- settings -------------------------------------------------------------
  const MIN_FONT = 7;            // smallest font we scale down to; pan beyond that
  const MAX_FONT = 20;
  const FIT_FONT = 14;           // font size the Fit button proposes a size for
  const ACK_DELAY_MS = 50;       // ack at most this long after writing
  const ACK_BYTES = 64 * 1024;   // ...or as soon as this much is unacknowledged
  const REPLAY_QUIET_MS = 300;   // no chime for data this soon after the socket opened
  const REPEAT_DELAY_MS = 400;
  const REPEAT_INTERVAL_MS = 60;

  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const area = $("term-area");
  const host = $("term-host");
  const statusEl = $("status");
  const titleEl = $("title");

  // ---- the key (from the link or storage) -------------------------------------
  const pageKey = window.itwillsyncKey.load({ allowReadOnly: true });
  let readOnly = pageKey.readOnly === true; // the link's kind until the server says

  // A page-level message; `commands` in it are shown as code.
  function showNotice(text) {
    const el = $("notice");
    el.replaceChildren(...(text || "").split("`").map((part, i) => {
      if (i % 2 === 0) return part;
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    }));
    el.hidden = !text;
  }

  // ---- what the server tells about the session --------------------------------
  let baseTitle = "itwillsync";

  function setTitle(name) {
    baseTitle = typeof name === "string" && name ? name : "itwillsync";
    titleEl.textContent = baseTitle;
    if (!flashTimer) document.title = baseTitle;
  }

  // The back link shows where the page was opened from the dashboard (it adds
  // ?from=dashboard: the pages send no referrer); it leads to the dashboard's port on the
  // host this page was reached by, where the dashboard uses its own stored key.
  const fromDashboard = new URLSearchParams(location.search).get("from") === "dashboard";
  function setDashboardPort(port) {
    const back = $("back");
    if (!fromDashboard || !Number.isInteger(port) || port <= 0 || port > 65535) {
      back.hidden = true;
      return;
    }
    back.href = `${location.protocol}//${location.hostname}:${port}/`;
    back.hidden = false;
  }

  function setReadOnly(on) {
    readOnly = on;
    document.body.classList.toggle("read-only", on);
    $("read-only").hidden = !on;
    $("fit").hidden = on;
    $("keys").hidden = on;
    term.options.disableStdin = on || exited;
    // No soft keyboard for a page that cannot type.
    if (term.textarea) term.textarea.setAttribute("inputmode", on ? "none" : "text");
    if (on) clearMods();
    fitViewport();
  }

  // No key, or the server refused it: nothing to type into or resize.
  function refused() {
    document.body.classList.add("refused");
    fitViewport();
  }

  function onSession(msg) {
    setTitle(msg.name);
    if (typeof msg.readOnly === "boolean") setReadOnly(msg.readOnly);
    setDashboardPort(msg.dashboardPort);
    const readKey = !readOnly && window.itwillsyncSeal.decodeKey(msg.readKey) ? msg.readKey : null;
    window.itwillsyncShare.setLink(readKey ? `${location.protocol}//${location.host}/#r=${readKey}` : null);
  }

  // ---- xterm ------------------------------------------------------------------
  const term = new Terminal({
    scrollback: 5000,
    fontSize: FIT_FONT,
    fontFamily: 'ui-monospace, "SF Mono", Menlo, "Cascadia Mono", "DejaVu Sans Mono", "Liberation Mono", "Roboto Mono", monospace',
    cursorBlink: true,
    macOptionIsMeta: true,
    theme: {
      background: "#0d1117", foreground: "#c9d1d9", cursor: "#c9d1d9", cursorAccent: "#0d1117",
      selectionBackground: "#264f78",
      black: "#484f58", red: "#ff7b72", green: "#3fb950", yellow: "#d29922",
      blue: "#58a6ff", magenta: "#bc8cff", cyan: "#39c5cf", white: "#b1bac4",
      brightBlack: "#6e7681", brightRed: "#ffa198", brightGreen: "#56d364", brightYellow: "#e3b341",
      brightBlue: "#79c0ff", brightMagenta: "#d2a8ff", brightCyan: "#56d4dd", brightWhite: "#f0f6fc",
    },
  });
  const fitAddon = new FitAddon.FitAddon();
  term.loadAddon(fitAddon);
  term.open(host);
  window.term = term; // handy for debugging and browser tests

  // ---- connection (connection.js reconnects; we resume) ------------------------
  let conn = null;             // set at start
  let openedAt = 0;            // when the current socket opened
  let exited = false;          // the session ended: never reconnect
  let recvSeq = -1;            // seq of the last data received (what we resume from)
  let writtenSeq = -1;         // seq of the last data xterm has finished parsing
  let ackedSeq = -1;           // last seq acknowledged on the current socket
  let unackedBytes = 0;
  let ackTimer = null;
  let muted = false;           // true while xterm parses replayed / redraw data

  function send(msg) {
    return conn !== null && conn.send(msg);
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function onOpen() {
    openedAt = Date.now();
    ackedSeq = -1;
    unackedBytes = 0;
    showNotice("");
    // Delta resume: the server sends exactly what we missed, or a redraw that
    // starts with a terminal reset. Never clear the screen ourselves.
    send({ type: "resume", lastSeq: recvSeq });
    // This page's preferred size; the server uses it only when no local
    // terminal is attached (DESIGN.md "Sizes when several clients watch").
    sendResize(false);
  }

  // Input and sizes only ever leave a page that may type.
  function sendResize(force) {
    if (readOnly) return;
    const p = proposeSize();
    if (p) send({ type: "resize", cols: p.cols, rows: p.rows, force });
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "data": onData(msg); break;
      case "resize": onServerResize(msg.cols, msg.rows); break;
      case "session": onSession(msg); break;
      case "exit": onExit(msg.code); break;
      default: break; // unknown messages are ignored (forward compatibility)
    }
  }

  function onClose() {
    clearTimeout(ackTimer);
    ackTimer = null;
  }

  // ---- server -> client -------------------------------------------------------
  const RESET_PREFIXES = ["\x1bc", "\x1b[!p"];

  function onData(msg) {
    if (typeof msg.data !== "string" || typeof msg.seq !== "number") return;
    const seq = msg.seq;
    const delta = recvSeq >= 0 && seq > recvSeq ? seq - recvSeq : msg.data.length;
    recvSeq = seq;
    // Replay bursts and redraws must not ring: decide per chunk, applied while
    // xterm parses it (write callbacks run in order).
    const quiet = Date.now() - openedAt < REPLAY_QUIET_MS ||
      RESET_PREFIXES.some((p) => msg.data.startsWith(p));
    term.write("", () => { muted = quiet; });
    term.write(msg.data, () => {
      muted = false;
      writtenSeq = seq;
      unackedBytes += delta;
      scheduleAck();
      followCursor(false);
    });
  }

  // Acks tell the server how far we have drawn; it pauses past 256 KiB unacked.
  function scheduleAck() {
    if (unackedBytes >= ACK_BYTES) {
      sendAck();
    } else if (!ackTimer) {
      ackTimer = setTimeout(sendAck, ACK_DELAY_MS);
    }
  }
  function sendAck() {
    clearTimeout(ackTimer);
    ackTimer = null;
    if (writtenSeq === ackedSeq) return;
    if (send({ type: "ack", seq: writtenSeq })) {
      ackedSeq = writtenSeq;
      unackedBytes = 0;
    }
  }

  // xterm may finish resizing its screen after term.resize returns.
  term.onResize(() => requestAnimationFrame(layout));

  function onServerResize(cols, rows) {
    if (!(cols > 0 && rows > 0)) return;
    if (term.cols !== cols || term.rows !== rows) term.resize(cols, rows);
    layout();
  }

  function onExit(code) {
    exited = true;
    sendAck();
    conn.stop();
    setStatus("ended", `session ended (exit ${code})`);
    document.body.classList.add("ended");
    term.options.disableStdin = true;
  }

  // ---- sizing -----------------------------------------------------------------
  // The PTY size belongs to the server. We render exactly its cols x rows
  // and pick the font size so the columns fit the width of the screen.
  function cellSize() {
    const d = term._core && term._core._renderService && term._core._renderService.dimensions;
    if (d && d.css.cell.width > 0) return { w: d.css.cell.width, h: d.css.cell.height };
    const screen = host.querySelector(".xterm-screen");
    return { w: screen.offsetWidth / term.cols, h: screen.offsetHeight / term.rows };
  }
  const SCROLLBAR_W = 14; // xterm's vertical scrollbar (also assumed by the fit addon)

  function setFont(size) {
    if (term.options.fontSize !== size) term.options.fontSize = size;
  }

  function layout() {
    const availW = area.clientWidth - 4;
    if (availW <= 0) return;
    const cols = term.cols;
    // First guess from the current cell width, then shrink until it fits.
    const c = cellSize();
    const ratio = c.w / term.options.fontSize;
    let size = Math.floor(((availW - SCROLLBAR_W) / cols / ratio) * 2) / 2;
    size = Math.max(MIN_FONT, Math.min(MAX_FONT, size));
    setFont(size);
    while (size > MIN_FONT && cols * cellSize().w + SCROLLBAR_W > availW) {
      size = Math.max(MIN_FONT, size - 0.5);
      setFont(size);
    }
    const cell = cellSize();
    host.style.width = Math.ceil(cols * cell.w + SCROLLBAR_W) + "px";
    host.style.height = Math.ceil(term.rows * cell.h) + "px";
    followCursor(true);
  }

  // The size this screen would like at a comfortable font: what the fit addon
  // proposes for the whole terminal area at FIT_FONT.
  function proposeSize() {
    const old = term.options.fontSize;
    const w = host.style.width, h = host.style.height;
    host.style.width = Math.max(0, area.clientWidth - 4) + "px";
    host.style.height = Math.max(0, area.clientHeight - 2) + "px";
    setFont(FIT_FONT);
    let p = null;
    try { p = fitAddon.proposeDimensions(); } catch (_) { p = null; }
    setFont(old);
    host.style.width = w;
    host.style.height = h;
    if (!p || !(p.cols > 0) || !(p.rows > 0)) return null;
    return { cols: p.cols, rows: p.rows };
  }

  // Keep the cursor in view when the terminal is larger than the area.
  let lastPan = 0;
  function followCursor(force) {
    if (!force && Date.now() - lastPan < 3000) return;
    const cell = cellSize();
    const buf = term.buffer.active;
    if (buf.viewportY !== buf.baseY) return; // user is reading scrollback
    const y = buf.cursorY * cell.h;
    if (y + cell.h > area.scrollTop + area.clientHeight) area.scrollTop = y + cell.h - area.clientHeight + 4;
    else if (y < area.scrollTop) area.scrollTop = Math.max(0, y - 4);
    if (force) {
      const x = buf.cursorX * cell.w;
      if (x + cell.w > area.scrollLeft + area.clientWidth) area.scrollLeft = x + cell.w * 4 - area.clientWidth;
      else if (x < area.scrollLeft) area.scrollLeft = Math.max(0, x - cell.w * 4);
    }
  }

  // Follow the visual viewport so the keys bar sits on top of the soft keyboard.
  function fitViewport() {
    const vv = window.visualViewport;
    const h = vv ? vv.height : window.innerHeight;
    const top = vv ? vv.offsetTop : 0;
    app.style.height = Math.round(h) + "px";
    app.style.transform = top ? `translateY(${Math.round(top)}px)` : "";
    layout();
  }
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", fitViewport);
    window.visualViewport.addEventListener("scroll", fitViewport);
  }
  window.addEventListener("resize", fitViewport);

  $("fit").addEventListener("mousedown", (e) => e.preventDefault()); // keep the keyboard open
  $("fit").addEventListener("click", () => {
    // Explicit request: this screen's size wins even over a local terminal.
    sendResize(true);
    if (!isTouch) term.focus();
  });

  // ---- touch: pan the area where the terminal is larger, else scroll back -------
  const isTouch = "ontouchstart" in window || navigator.maxTouchPoints > 0;
  let touch = null; // {x, y, t, vy, moved}
  let inertia = 0;

  // One continuous document: [scrollback][screen rows]; the area pans over the
  // screen rows where the terminal is taller than the area.
  let scrollAcc = 0;
  function scrollByPixels(dy) {
    // dy > 0: the finger moved up: show later content.
    const buf = term.buffer.active;
    if (dy > 0 ? buf.viewportY >= buf.baseY : area.scrollTop > 0) {
      area.scrollTop += dy;
      return;
    }
    const ch = cellSize().h;
    scrollAcc += dy;
    const lines = Math.trunc(scrollAcc / ch);
    if (lines !== 0) {
      scrollAcc -= lines * ch;
      term.scrollLines(lines);
    }
  }

  area.addEventListener("touchstart", (e) => {
    if (e.touches.length !== 1) { touch = null; return; }
    cancelAnimationFrame(inertia);
    const t = e.touches[0];
    touch = { x: t.clientX, y: t.clientY, t: performance.now(), vy: 0, moved: false };
    scrollAcc = 0;
  }, { passive: true });

  area.addEventListener("touchmove", (e) => {
    if (!touch || e.touches.length !== 1) return;
    const t = e.touches[0];
    const dx = touch.x - t.clientX;
    const dy = touch.y - t.clientY;
    if (!touch.moved && Math.abs(dx) < 4 && Math.abs(dy) < 4) return;
    touch.moved = true;
    e.preventDefault();
    lastPan = Date.now();
    const now = performance.now();
    touch.vy = dy / Math.max(1, now - touch.t);
    touch.t = now;
    touch.x = t.clientX;
    touch.y = t.clientY;
    if (dx) area.scrollLeft += dx;
    if (dy) scrollByPixels(dy);
  }, { passive: false });

  area.addEventListener("touchend", () => {
    if (!touch || !touch.moved) { touch = null; return; }
    // A little momentum for long scrollbacks.
    let v = touch.vy * 16;
    const step = () => {
      if (!touch || Math.abs(v) < 0.5) { touch = null; return; }
      scrollByPixels(v);
      v *= 0.94;
      inertia = requestAnimationFrame(step);
    };
    inertia = requestAnimationFrame(step);
  }, { passive: true });

  // ---- input ------------------------------------------------------------------
  const mods = { ctrl: false, alt: false, shift: false };
  const modButtons = {};
  for (const name of Object.keys(mods)) modButtons[name] = document.querySelector(`#keys [data-key="${name}"]`);

  function setMod(name, on) {
    mods[name] = on;
    modButtons[name].classList.toggle("armed", on);
    modButtons[name].setAttribute("aria-pressed", String(on));
  }
  function clearMods() { for (const name of Object.keys(mods)) if (mods[name]) setMod(name, false); }
  function anyMod() { return mods.ctrl || mods.alt || mods.shift; }

  // xterm's modifier parameter: 1 + shift + 2*alt + 4*ctrl.
  function modParam() { return 1 + (mods.shift ? 1 : 0) + (mods.alt ? 2 : 0) + (mods.ctrl ? 4 : 0); }

  // Apply armed modifiers to one typed character.
  function modifyChar(ch) {
    let out = ch;
    if (mods.shift && out.length === 1) out = out.toUpperCase();
    if (mods.ctrl && out.length === 1) {
      const c = out.toUpperCase().charCodeAt(0);
      if (c >= 64 && c <= 95) out = String.fromCharCode(c - 64);       // @ A-Z [ \ ] ^ _
      else if (out === " " || out === "2") out = "\x00";
      else if (out === "?" || out === "8") out = "\x7f";
      else if (out >= "3" && out <= "7") out = String.fromCharCode(out.charCodeAt(0) - 24); // 3-7: ESC..US
    }
    if (mods.alt) out = "\x1b" + out;
    return out;
  }

  const CSI = "\x1b[";
  // Bytes for a key of the bar, honouring armed modifiers and cursor key mode.
  function keyBytes(key) {
    const app = term.modes.applicationCursorKeysMode;
    const m = modParam();
    const arrow = (final) => (m > 1 ? `${CSI}1;${m}${final}` : (app ? "\x1bO" : CSI) + final);
    const tilde = (n) => (m > 1 ? `${CSI}${n};${m}~` : `${CSI}${n}~`);
    switch (key) {
      case "esc": return mods.alt ? "\x1b\x1b" : "\x1b";
      case "tab": return mods.shift ? CSI + "Z" : (mods.alt ? "\x1b\t" : "\t");
      case "up": return arrow("A");
      case "down": return arrow("B");
      case "right": return arrow("C");
      case "left": return arrow("D");
      case "home": return arrow("H");
      case "end": return arrow("F");
      case "pgup": return tilde(5);
      case "pgdn": return tilde(6);
      case "slash": return modifyChar("/");
      case "dash": return modifyChar("-");
      default: return "";
    }
  }

  function sendInput(data) {
    if (exited || readOnly || !data) return;
    userTyped();
    send({ type: "input", data });
  }

  // Keyboard (and paste, IME) input from xterm; armed modifiers apply to a
  // single typed character.
  term.onData((data) => {
    if (anyMod()) {
      const single = [...data].length === 1;
      if (single) data = modifyChar(data);
      clearMods();
    }
    sendInput(data);
  });

  // The bar: act on pointerdown and prevent the default so the terminal keeps
  // focus and the soft keyboard stays open.
  const REPEATING = new Set(["up", "down", "left", "right"]);
  let repeatTimer = null;
  function stopRepeat() {
    clearTimeout(repeatTimer);
    clearInterval(repeatTimer);
    repeatTimer = null;
    for (const b of document.querySelectorAll("#keys button.pressed")) b.classList.remove("pressed");
  }

  const keys = $("keys");
  keys.addEventListener("pointerdown", (e) => {
    const btn = e.target.closest("button[data-key]");
    e.preventDefault();
    if (!btn) return;
    const key = btn.dataset.key;
    if (key in mods) {
      setMod(key, !mods[key]);
      return;
    }
    stopRepeat();
    btn.classList.add("pressed");
    try { btn.setPointerCapture(e.pointerId); } catch (_) { /* ignore */ }
    const data = keyBytes(key);
    clearMods();
    term.scrollToBottom();
    sendInput(data);
    if (REPEATING.has(key)) {
      repeatTimer = setTimeout(() => {
        repeatTimer = setInterval(() => sendInput(keyBytes(key)), REPEAT_INTERVAL_MS);
      }, REPEAT_DELAY_MS);
    }
  });
  for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) keys.addEventListener(ev, stopRepeat);
  keys.addEventListener("mousedown", (e) => e.preventDefault());
  keys.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
  keys.addEventListener("contextmenu", (e) => e.preventDefault());
  window.addEventListener("blur", stopRepeat);

  // ---- attention: bell and notification sequences -----------------------------
  const chime = () => window.itwillsyncChime([880, 1318.5], 0.13, 0.35);

  let flashTimer = null;
  let lastAttention = 0;
  function attention() {
    if (muted) return;
    const now = Date.now();
    if (now - lastAttention < 2000) return; // a burst of bells rings once
    lastAttention = now;
    chime();
    if (navigator.vibrate) { try { navigator.vibrate(200); } catch (_) { /* ignore */ } }
    if (!flashTimer) {
      let on = false;
      flashTimer = setInterval(() => {
        on = !on;
        document.title = on ? "🔔 " + baseTitle : baseTitle;
      }, 1000);
      document.title = "🔔 " + baseTitle;
    }
  }
  function userTyped() {
    if (flashTimer) {
      clearInterval(flashTimer);
      flashTimer = null;
      document.title = baseTitle;
    }
  }

  term.onBell(attention);
  // OSC 9 (except 9;4 progress), OSC 99 and OSC 777 are desktop notifications.
  // Returning false lets xterm's default handling continue.
  term.parser.registerOscHandler(9, (data) => {
    if (!(data === "4" || data.startsWith("4;"))) attention();
    return false;
  });
  term.parser.registerOscHandler(99, () => { attention(); return false; });
  term.parser.registerOscHandler(777, () => { attention(); return false; });

  // ---- start --------------------------------------------------------------------
  window.itwillsyncShare.init({ onClose: () => { if (!isTouch && !readOnly) term.focus(); } });
  setReadOnly(readOnly);
  fitViewport();
  const start = () => {
    layout();
    if (pageKey.error) {
      refused();
      setStatus("unauthorised", "no key");
      showNotice(pageKey.error === "missing"
        ? "This page needs its link: open the link that `itwillsync url NAME` prints, or scan its QR code (`itwillsync url NAME --qr`)."
        : "This link is damaged: copy the whole link again, or scan the QR code of `itwillsync url NAME --qr`.");
      return;
    }
    conn = window.itwillsyncConnect({
      key: pageKey.bytes,
      onOpen, onMessage, onClose,
      onStatus: (state, text) => { if (!exited) setStatus(state, text); },
      onUnauthorised: (code) => {
        window.itwillsyncKey.forget();
        refused();
        showNotice(code === 4002
          ? "This link was replaced by a new one (`itwillsync url NAME --rotate`). Scan the new QR code or open the new link."
          : "This link is not accepted any more. Scan the session's QR code again (`itwillsync url NAME --qr`) or open a fresh link.");
      },
    });
  };
  if (document.fonts && document.fonts.ready) {
    document.fonts.ready.then(start, start);
  } else {
    start();
  }
  if (!isTouch && !readOnly) term.focus();
})();
