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
//                     {"type":"data","data":S,"seq":N}   (seq = PTY bytes after this chunk;
//                       -1 on all but the last piece of a repaint sent in pieces)
//                     {"type":"exit","code":N}
//                     {"type":"attention","message":S}  (shown like a bell seen in the output)
// The key bar and its settings are keybar.js's; Select text and Compose textviews.js's;
// bells, notifications and the wake lock attention.js's.
// A read-only page (an #r= link, or the server says readOnly) never sends input or
// resize: no keyboard, no key bar, no Fit.
"use strict";

(() => {
  // ---- settings -------------------------------------------------------------
  const MIN_FONT = 10;           // the smallest legible font: a wider terminal pans instead
  const MAX_FONT = 28;
  const FIT_FONT = 14;           // font size the Fit button proposes a size for
  const ACK_DELAY_MS = 50;       // ack at most this long after writing
  const ACK_BYTES = 64 * 1024;   // ...or as soon as this much is unacknowledged
  const REPLAY_QUIET_MS = 300;   // no chime for data this soon after the socket opened
  const NOTE_MS = 4000;           // how long a refused-key note stays
  const RESIZE_DEBOUNCE_MS = 300; // a window that changed size reports it once it settles

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
  // `link` ({href, text}) adds a link after the text.
  function showNotice(text, link) {
    const el = $("notice");
    el.replaceChildren(...(text || "").split("`").map((part, i) => {
      if (i % 2 === 0) return part;
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    }));
    if (text && link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      el.append(" ", a);
    }
    el.hidden = !text;
  }

  // A short note above the controls (a refused key, say); it goes away by itself.
  let noteTimer = null;
  function showNote(text) {
    const el = $("note");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noteTimer);
    noteTimer = setTimeout(() => { el.hidden = true; }, NOTE_MS);
  }

  // ---- what the server tells about the session --------------------------------
  const alerts = window.itwillsyncAttention;
  let baseTitle = "itwillsync";

  function setTitle(name) {
    baseTitle = typeof name === "string" && name ? name : "itwillsync";
    titleEl.textContent = baseTitle;
    if (!alerts.flashing()) document.title = baseTitle;
  }

  // The back link shows where the page was opened from the dashboard (it adds
  // ?from=dashboard: the pages send no referrer); it leads to the dashboard's port on the
  // host this page was reached by, where the dashboard uses its own stored key.
  const fromDashboard = new URLSearchParams(location.search).get("from") === "dashboard";
  let dashboardUrl = null;
  function setDashboardPort(port) {
    const back = $("back");
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      back.hidden = true;
      return;
    }
    dashboardUrl = `${location.protocol}//${location.hostname}:${port}/`;
    back.href = dashboardUrl;
    back.hidden = !fromDashboard;
  }

  function setReadOnly(on) {
    readOnly = on;
    document.body.classList.toggle("read-only", on);
    $("read-only").hidden = !on;
    for (const id of ["fit", "keys", "compose", "settings", "keys-toggle"]) $(id).hidden = on;
    term.options.disableStdin = on || exited;
    // No soft keyboard for a page that cannot type.
    if (term.textarea) term.textarea.setAttribute("inputmode", on ? "none" : "text");
    if (on) window.itwillsyncKeybar.clearMods();
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
    unreachable = 0;
    setOffline(false);
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
      case "attention": alerts.raise(typeof msg.message === "string" ? msg.message : "bell"); break;
      default: break; // unknown messages are ignored (forward compatibility)
    }
  }

  function onClose() {
    clearTimeout(ackTimer);
    ackTimer = null;
    if (!exited) {
      setOffline(true);
      probe();
    }
  }

  // While disconnected the terminal is dimmed, says so, and refuses keys (sendInput).
  function setOffline(on) {
    document.body.classList.toggle("offline", on);
    $("offline").hidden = !on;
  }

  // Why the socket went: asks the listener for the page. A session that ended answers
  // 410 (its ended page: show it); no answer at all, twice, means the server stopped or
  // the network is gone.
  let unreachable = 0;
  function probe() {
    fetch("/", { cache: "no-store" }).then((r) => {
      unreachable = 0;
      if (r.status === 410 && !exited) location.reload();
    }, () => {
      unreachable += 1;
      if (unreachable >= 2 && !exited && !document.body.classList.contains("refused")) {
        showNotice("The itwillsync server is not answering: it stopped, or this phone lost its network. " +
          "On the computer, `itwillsync hub status` says whether it runs, and `itwillsync new -- claude` starts it again " +
          "(with a new session: open it from the dashboard). This page keeps trying.");
      }
    });
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
    sendAck();
    over(`session ended (exit ${code})`, `This session has ended (exit code ${code}).`);
  }

  /** Another machine's session this server no longer serves: that machine was removed. */
  function onGone() {
    over("machine removed", "This session runs on another machine, which was removed from this " +
      "server (`itwillsync machine rm`), so it is no longer served here. It may still run there.");
  }

  /** Nothing more comes: the page stops connecting and says why. */
  function over(status, notice) {
    exited = true;
    conn.stop();
    setStatus("ended", status);
    document.body.classList.add("ended");
    setOffline(false);
    term.options.disableStdin = true;
    showNotice(notice, dashboardUrl ? { href: dashboardUrl, text: "Open the dashboard" } : null);
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

  // Pinch zoom: a factor over the font that fits the width (1: fit).
  let zoom = 1;

  function layout() {
    const availW = area.clientWidth - 4;
    if (availW <= 0) return;
    const cols = term.cols;
    // First guess from the current cell width, then shrink until it fits; never below
    // MIN_FONT (a wider terminal pans, with the indicator showing where the view is).
    const c = cellSize();
    const ratio = c.w / term.options.fontSize;
    let size = Math.floor(((availW - SCROLLBAR_W) / cols / ratio) * 2) / 2;
    size = Math.max(MIN_FONT, Math.min(MAX_FONT, size));
    setFont(size);
    while (size > MIN_FONT && cols * cellSize().w + SCROLLBAR_W > availW) {
      size = Math.max(MIN_FONT, size - 0.5);
      setFont(size);
    }
    if (zoom !== 1) setFont(Math.max(MIN_FONT, Math.min(MAX_FONT, Math.round(size * zoom * 2) / 2)));
    const cell = cellSize();
    host.style.width = Math.ceil(cols * cell.w + SCROLLBAR_W) + "px";
    host.style.height = Math.ceil(term.rows * cell.h) + "px";
    followCursor(true);
    showPan();
  }

  // The pan indicator: where the visible part lies in the terminal's width.
  const pan = $("pan");
  function showPan() {
    const total = area.scrollWidth;
    const seen = area.clientWidth;
    const wide = total > seen + 2;
    pan.hidden = !wide;
    document.body.classList.toggle("panning", wide);
    if (!wide) return;
    const thumb = $("pan-thumb");
    thumb.style.width = (100 * seen / total).toFixed(2) + "%";
    thumb.style.left = (100 * area.scrollLeft / total).toFixed(2) + "%";
  }
  area.addEventListener("scroll", showPan, { passive: true });

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
  // This window changed size (rotated, say): tell the server, which uses it when this
  // page's size applies (DESIGN.md "Sizes when several clients watch one session").
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => sendResize(false), RESIZE_DEBOUNCE_MS);
  });

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

  let pinch = null; // {dist, zoom}
  const fingers = (e) => Math.hypot(e.touches[0].clientX - e.touches[1].clientX, e.touches[0].clientY - e.touches[1].clientY);
  area.addEventListener("touchstart", (e) => {
    if (e.touches.length === 2) { touch = null; pinch = { dist: fingers(e), zoom }; return; }
    if (e.touches.length !== 1) { touch = null; return; }
    cancelAnimationFrame(inertia);
    const t = e.touches[0];
    touch = { x: t.clientX, y: t.clientY, t: performance.now(), vy: 0, moved: false };
    scrollAcc = 0;
  }, { passive: true });

  area.addEventListener("touchmove", (e) => {
    if (pinch && e.touches.length === 2) {
      e.preventDefault();
      const next = Math.max(0.5, Math.min(3, pinch.zoom * fingers(e) / Math.max(1, pinch.dist)));
      if (Math.abs(next - zoom) > 0.04) { zoom = next; layout(); }
      return;
    }
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

  area.addEventListener("touchend", (e) => {
    if (e.touches.length < 2) pinch = null;
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
  // Keys leave only while connected: typed while disconnected they are refused with a
  // note, never queued to arrive late. Returns whether they were sent.
  function sendInput(data) {
    if (exited || readOnly || !data) return false;
    if (!send({ type: "input", data })) {
      showNote("Not connected: that was not sent. Type it again once reconnected.");
      return false;
    }
    alerts.userTyped();
    return true;
  }

  // Keyboard (and paste, IME) input from xterm; armed modifiers apply to a single
  // typed character.
  term.onData((data) => sendInput(window.itwillsyncKeybar.modifyData(data)));

  // Links in the output open when tapped or clicked.
  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]}]/g;
  term.registerLinkProvider({
    provideLinks(y, callback) {
      const line = term.buffer.active.getLine(y - 1);
      if (!line) { callback(undefined); return; }
      const text = line.translateToString(true);
      const links = [...text.matchAll(URL_RE)].map((m) => ({
        range: { start: { x: m.index + 1, y }, end: { x: m.index + m[0].length, y } },
        text: m[0],
        activate: (_e, uri) => window.open(uri, "_blank", "noopener,noreferrer"),
      }));
      callback(links.length ? links : undefined);
    },
  });

  // ---- start --------------------------------------------------------------------
  const refocus = () => { if (!isTouch && !readOnly) term.focus(); };
  const keybar = window.itwillsyncKeybar;
  alerts.init({ term, keybar, title: () => baseTitle, quiet: () => muted, ended: () => exited });
  window.itwillsyncShare.init({ onClose: refocus });
  keybar.init({ term, sendInput: (data) => { term.scrollToBottom(); return sendInput(data); } });
  window.itwillsyncTextViews.init({ term, sendInput, onClose: refocus });
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
      onOpen, onMessage, onClose, onGone,
      onStatus: (state, text) => {
        if (exited) return;
        setStatus(state, text);
        if (state === "blocked") {
          showNotice("Too many failed attempts came from this address, so the server refuses it for a while " +
            "(the status above counts down). The page tries again by itself.");
        }
      },
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
