// itwillsync terminal page: the key bar and its settings sheet.
//
// The bar holds one-tap keys (the ones agents ask for: Enter, Ctrl-C, Shift-Tab, Newline,
// arrows, Esc...) and sticky modifiers (Ctrl, Alt, Shift: armed for the next key). Which
// keys it shows is the user's choice, kept in localStorage ("itwillsync.keyset"); the bar
// can be collapsed ("itwillsync.keybar" = "hidden"). The settings sheet also holds the
// "keep the screen on and notify me" toggle ("itwillsync.awake", on by default), read by
// terminal.js through `awake()`.
//
// Bytes: "Newline" is ESC CR, which Claude Code and prompt_toolkit-based agents take as a
// newline in their prompt; Shift+Enter and Ctrl+Enter (hardware keyboard, or a sticky
// modifier with the on-screen Enter) send the same. Shift-Tab is CSI Z.
"use strict";

window.itwillsyncKeybar = (() => {
  const SET_KEY = "itwillsync.keyset";
  const BAR_KEY = "itwillsync.keybar";
  const AWAKE_KEY = "itwillsync.awake";
  const CSI = "\x1b[";
  const NEWLINE = "\x1b\r";

  /** Every key the bar can show: id -> [label, accessible name]. */
  const KEYS = {
    esc: ["Esc", "Esc"],
    ctrl: ["Ctrl", "Ctrl"],
    alt: ["Alt", "Alt"],
    shift: ["Shift", "Shift"],
    tab: ["Tab", "Tab"],
    "shift-tab": ["⇤Tab", "Shift-Tab"],
    "ctrl-c": ["^C", "Ctrl-C"],
    enter: ["Enter", "Enter"],
    newline: ["NL", "Newline"],
    left: ["←", "Left"],
    up: ["↑", "Up"],
    down: ["↓", "Down"],
    right: ["→", "Right"],
    pgup: ["PgUp", "PgUp"],
    pgdn: ["PgDn", "PgDn"],
    home: ["Home", "Home"],
    end: ["End", "End"],
    slash: ["/", "/"],
    dash: ["-", "-"],
    "ctrl-d": ["^D", "Ctrl-D"],
    "ctrl-z": ["^Z", "Ctrl-Z"],
    "ctrl-r": ["^R", "Ctrl-R"],
    y: ["y", "y"],
    n: ["n", "n"],
  };
  /** Two rows of eight on a phone: the keys agents ask for first. */
  const DEFAULT_SET = ["esc", "ctrl", "alt", "tab", "shift-tab", "ctrl-c", "newline", "enter",
    "slash", "dash", "pgup", "pgdn", "left", "up", "down", "right"];
  const MODS = ["ctrl", "alt", "shift"];
  const REPEATING = new Set(["up", "down", "left", "right"]);
  const REPEAT_DELAY_MS = 400;
  const REPEAT_INTERVAL_MS = 60;

  const $ = (id) => document.getElementById(id);
  const stored = (key) => { try { return localStorage.getItem(key); } catch (_) { return null; } };
  const keep = (key, value) => { try { localStorage.setItem(key, value); } catch (_) { /* private mode */ } };

  let term = null;
  let sendInput = () => {};
  const mods = { ctrl: false, alt: false, shift: false };

  function keySet() {
    try {
      const v = JSON.parse(stored(SET_KEY) || "null");
      if (Array.isArray(v)) return v.filter((k) => k in KEYS);
    } catch (_) { /* damaged: the default */ }
    return DEFAULT_SET.slice();
  }

  // ---- modifiers ------------------------------------------------------------------
  function modButton(name) { return document.querySelector(`#keys [data-key="${name}"]`); }
  function setMod(name, on) {
    mods[name] = on;
    const b = modButton(name);
    if (b) {
      b.classList.toggle("armed", on);
      b.setAttribute("aria-pressed", String(on));
    }
  }
  function clearMods() { for (const name of MODS) if (mods[name]) setMod(name, false); }
  function anyMod() { return mods.ctrl || mods.alt || mods.shift; }
  // xterm's modifier parameter: 1 + shift + 2*alt + 4*ctrl.
  function modParam() { return 1 + (mods.shift ? 1 : 0) + (mods.alt ? 2 : 0) + (mods.ctrl ? 4 : 0); }

  /** Armed modifiers applied to one typed character. */
  function modifyChar(ch) {
    if (ch === "\r" && (mods.shift || mods.ctrl)) return NEWLINE;
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

  /** What xterm typed, with armed modifiers applied to a single character. */
  function modifyData(data) {
    if (!anyMod()) return data;
    if ([...data].length === 1) data = modifyChar(data);
    clearMods();
    return data;
  }

  /** Bytes for a key of the bar, honouring armed modifiers and cursor key mode. */
  function keyBytes(key) {
    const app = term.modes.applicationCursorKeysMode;
    const m = modParam();
    const arrow = (final) => (m > 1 ? `${CSI}1;${m}${final}` : (app ? "\x1bO" : CSI) + final);
    const tilde = (n) => (m > 1 ? `${CSI}${n};${m}~` : `${CSI}${n}~`);
    switch (key) {
      case "esc": return mods.alt ? "\x1b\x1b" : "\x1b";
      case "tab": return mods.shift ? CSI + "Z" : (mods.alt ? "\x1b\t" : "\t");
      case "shift-tab": return CSI + "Z";
      case "ctrl-c": return "\x03";
      case "ctrl-d": return "\x04";
      case "ctrl-z": return "\x1a";
      case "ctrl-r": return "\x12";
      case "enter": return modifyChar("\r");
      case "newline": return NEWLINE;
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
      case "y": case "n": return modifyChar(key);
      default: return "";
    }
  }

  // ---- the bar ----------------------------------------------------------------------
  function render() {
    const bar = $("keys");
    bar.replaceChildren(...keySet().map((id) => {
      const b = document.createElement("button");
      b.type = "button";
      b.tabIndex = -1;
      b.dataset.key = id;
      b.textContent = KEYS[id][0];
      if (KEYS[id][1] !== KEYS[id][0]) b.setAttribute("aria-label", KEYS[id][1]);
      if (MODS.includes(id)) {
        b.classList.add("mod");
        b.setAttribute("aria-pressed", String(mods[id]));
        b.classList.toggle("armed", mods[id]);
      }
      return b;
    }));
  }

  function setCollapsed(on) {
    $("keys").classList.toggle("collapsed", on);
    const t = $("keys-toggle");
    t.setAttribute("aria-expanded", String(!on));
    t.setAttribute("aria-label", on ? "Show keys" : "Hide keys");
    t.textContent = on ? "▴" : "▾";
    keep(BAR_KEY, on ? "hidden" : "shown");
    window.dispatchEvent(new Event("resize")); // the terminal gets the room
  }

  let repeatTimer = null;
  function stopRepeat() {
    clearTimeout(repeatTimer);
    clearInterval(repeatTimer);
    repeatTimer = null;
    for (const b of document.querySelectorAll("#keys button.pressed")) b.classList.remove("pressed");
  }

  // Act on pointerdown and prevent the default so the terminal keeps focus and the soft
  // keyboard stays open.
  function onPointerDown(e) {
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
    if (!sendInput(data)) return;
    if (REPEATING.has(key)) {
      repeatTimer = setTimeout(() => {
        repeatTimer = setInterval(() => { if (!sendInput(keyBytes(key))) stopRepeat(); }, REPEAT_INTERVAL_MS);
      }, REPEAT_DELAY_MS);
    }
  }

  // ---- settings sheet -------------------------------------------------------------------
  function awake() { return stored(AWAKE_KEY) !== "off"; }

  function openSettings() {
    const list = $("keyset");
    const chosen = new Set(keySet());
    list.replaceChildren(...Object.keys(KEYS).map((id) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = id;
      box.checked = chosen.has(id);
      label.append(box, ` ${KEYS[id][1]}`);
      return label;
    }));
    $("awake").checked = awake();
    $("settings-backdrop").hidden = false;
  }
  function saveSettings() {
    const boxes = [...document.querySelectorAll("#keyset input")];
    // Keep the user's earlier order; new keys go at the end.
    const on = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    const order = [...keySet().filter((k) => on.has(k)), ...boxes.map((b) => b.value).filter((k) => on.has(k) && !keySet().includes(k))];
    keep(SET_KEY, JSON.stringify(order));
    keep(AWAKE_KEY, $("awake").checked ? "on" : "off");
    closeSettings();
    render();
    window.dispatchEvent(new CustomEvent("itwillsync-awake"));
  }
  function closeSettings() { $("settings-backdrop").hidden = true; }

  /**
   * @param {{term: object, sendInput: function(string): boolean}} opts
   *   sendInput sends keys now and says whether they left (false while disconnected).
   */
  function init(opts) {
    term = opts.term;
    sendInput = opts.sendInput;
    render();
    const keys = $("keys");
    keys.addEventListener("pointerdown", onPointerDown);
    for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) keys.addEventListener(ev, stopRepeat);
    keys.addEventListener("mousedown", (e) => e.preventDefault());
    keys.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
    keys.addEventListener("contextmenu", (e) => e.preventDefault());
    window.addEventListener("blur", stopRepeat);
    $("keys-toggle").addEventListener("click", () => setCollapsed(!keys.classList.contains("collapsed")));
    setCollapsed(stored(BAR_KEY) === "hidden");
    $("settings").addEventListener("click", openSettings);
    $("settings-backdrop").addEventListener("click", (e) => {
      const action = e.target === e.currentTarget ? "close-settings" : (e.target.closest("[data-action]") || {}).dataset?.action;
      if (action === "close-settings") closeSettings();
      else if (action === "save-settings") saveSettings();
      else if (action === "reset-keys") {
        for (const b of document.querySelectorAll("#keyset input")) b.checked = DEFAULT_SET.includes(b.value);
      }
    });
    // Shift+Enter and Ctrl+Enter from a hardware keyboard: a newline, not a submit.
    term.attachCustomKeyEventHandler((e) => {
      if (e.key !== "Enter" || !(e.shiftKey || e.ctrlKey) || e.altKey || e.metaKey) return true;
      if (e.type === "keydown") sendInput(NEWLINE);
      e.preventDefault();
      return false;
    });
  }

  return { init, modifyData, clearMods, awake, keyBytes };
})();
