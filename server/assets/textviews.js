// itwillsync terminal page: the two text views over the terminal.
//
// "Select text" shows the scrollback and the screen as real text (wrapped rows joined
// back into their lines), so the phone's own selection, long-press and copy work on it;
// links in it are tappable; "Copy all" where the browser allows writing the clipboard.
// "Compose" is a multi-line box; "Send" delivers its text as one bracketed paste
// (ESC[200~ ... ESC[201~) when the program asked for bracketed paste (as Claude Code and
// most agents do), else as typed text; line breaks become CR either way, as a paste does
// in xterm.js.
"use strict";

window.itwillsyncTextViews = (() => {
  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]}]/g;
  const $ = (id) => document.getElementById(id);
  let term = null;
  let sendInput = () => false;
  let onClose = () => {};

  /** The scrollback and the screen as lines of text. */
  function bufferText() {
    const b = term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) {
      const line = b.getLine(i);
      if (!line) continue;
      const text = line.translateToString(true);
      if (line.isWrapped && lines.length) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines.join("\n");
  }

  /** `text` as DOM nodes, with every http(s) URL a link that opens in a new tab. */
  function linkified(text) {
    const nodes = [];
    let at = 0;
    for (const m of text.matchAll(URL_RE)) {
      if (m.index > at) nodes.push(document.createTextNode(text.slice(at, m.index)));
      const a = document.createElement("a");
      a.href = m[0];
      a.textContent = m[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      nodes.push(a);
      at = m.index + m[0].length;
    }
    nodes.push(document.createTextNode(text.slice(at)));
    return nodes;
  }

  const canCopy = () => !!(navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext);

  function openSelect() {
    const pre = $("select-text");
    pre.replaceChildren(...linkified(bufferText()));
    $("select-copy").hidden = !canCopy();
    $("select-said").textContent = "Long-press to select, or drag; links open when tapped.";
    $("select-view").hidden = false;
    pre.scrollTop = pre.scrollHeight;
  }
  function closeSelect() {
    $("select-view").hidden = true;
    onClose();
  }
  async function copyAll() {
    const sel = window.getSelection();
    const picked = sel && !sel.isCollapsed && $("select-text").contains(sel.anchorNode) ? sel.toString() : "";
    try {
      await navigator.clipboard.writeText(picked || $("select-text").textContent);
      $("select-said").textContent = picked ? "Selection copied." : "All text copied.";
    } catch (_) {
      $("select-said").textContent = "The browser refused the clipboard: long-press the text and copy.";
    }
  }

  function openCompose() {
    $("compose-said").textContent = "";
    $("compose-backdrop").hidden = false;
    $("compose-text").focus();
  }
  function closeCompose() {
    $("compose-backdrop").hidden = true;
    onClose();
  }

  /** The bytes "Send" delivers for `text` in the terminal's current mode. */
  function composeBytes(text) {
    const body = text.replace(/\r?\n/g, "\r");
    if (!term.modes.bracketedPasteMode) return body;
    // The end marker inside the text would end the paste early: it cannot be pasted.
    return "\x1b[200~" + body.split("\x1b[201~").join("") + "\x1b[201~";
  }
  function sendCompose() {
    const text = $("compose-text").value;
    if (!text) { closeCompose(); return; }
    if (!sendInput(composeBytes(text))) {
      $("compose-said").textContent = "Not connected: nothing was sent. Send again once connected.";
      return;
    }
    $("compose-text").value = "";
    closeCompose();
  }

  /**
   * @param {{term: object, sendInput: function(string): boolean, onClose: function(): void}} opts
   */
  function init(opts) {
    ({ term, sendInput, onClose } = opts);
    $("select").addEventListener("click", openSelect);
    $("compose").addEventListener("click", openCompose);
    $("select-view").addEventListener("click", (e) => {
      const action = (e.target.closest("[data-action]") || {}).dataset?.action;
      if (action === "close-select") closeSelect();
      else if (action === "copy-select") copyAll();
    });
    $("compose-backdrop").addEventListener("click", (e) => {
      const action = e.target === e.currentTarget ? "close-compose" : (e.target.closest("[data-action]") || {}).dataset?.action;
      if (action === "close-compose") closeCompose();
      else if (action === "send-compose") sendCompose();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      if (!$("select-view").hidden) closeSelect();
      else if (!$("compose-backdrop").hidden) closeCompose();
    });
  }

  return { init, composeBytes, bufferText };
})();
