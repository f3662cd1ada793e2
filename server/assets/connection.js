// itwillsync: the WebSocket both pages keep to their server (the terminal page to its
// session's port, the dashboard to the dashboard's).
//
// It reconnects for as long as the page lives: after 1 s, then 1.5 times longer each
// time up to 10 s, and at once when the page becomes visible again or the network comes
// back (a socket that lived through a phone's sleep may be silently dead, so after a
// while hidden it is replaced). A browser cannot see why an upgrade was refused, so when
// a socket closes before it opened, the page itself is fetched: 401 means the link's
// cookie is gone or wrong, 429 that this address is blocked for a minute after failed
// attempts; both are retried once a minute (more tries would only extend the block).
// Anything else (no network, server unreachable) keeps the normal backoff.
"use strict";

/**
 * @param {{onOpen: function(): void, onMessage: function(object): void,
 *          onClose?: function(): void, onStatus: function(string, string): void}} handlers
 *   onStatus(state, text): state is connecting, connected, reconnecting, unauthorised
 *   or blocked.
 * @returns {{send: function(object): boolean, bufferedAmount: function(): number,
 *            stop: function(): void}}
 */
window.itwillsyncConnect = function (handlers) {
  const BACKOFF_START_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const REFUSED_RETRY_MS = 60000;
  const STALE_AFTER_HIDDEN_MS = 5000;

  let ws = null;            // the current socket, null while disconnected
  let stopped = false;      // the page wants no more connections (the session ended)
  let backoff = BACKOFF_START_MS;
  let retryTimer = null;
  let countdownTimer = null;

  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";

  function clearTimers() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    retryTimer = countdownTimer = null;
  }

  function connect() {
    clearTimers();
    if (stopped || ws) return;
    handlers.onStatus("connecting", "connecting…");
    const sock = new WebSocket(url);
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      backoff = BACKOFF_START_MS;
      handlers.onStatus("connected", "connected");
      handlers.onOpen();
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg && typeof msg === "object") handlers.onMessage(msg);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (handlers.onClose) handlers.onClose();
      if (stopped) return;
      if (opened) retryLater(); else whyRefused().then(retryLater);
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  // The page's own answer tells a refused link from an unreachable server.
  function whyRefused() {
    return fetch(location.pathname, { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.status === 401 ? "unauthorised" : r.status === 429 ? "blocked" : null))
      .catch(() => null);
  }

  function retryLater(refused) {
    if (stopped || ws || retryTimer) return;
    if (refused === "unauthorised" || refused === "blocked") {
      handlers.onStatus(refused, refused === "blocked"
        ? "too many failed attempts — retrying in a minute"
        : "link expired — scan the QR code again");
      retryTimer = setTimeout(connect, REFUSED_RETRY_MS);
      return;
    }
    const delay = backoff;
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 1.5);
    const until = Date.now() + delay;
    const tick = () => {
      const s = Math.max(1, Math.ceil((until - Date.now()) / 1000));
      handlers.onStatus("reconnecting", `reconnecting in ${s}s`);
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow(dropCurrent) {
    if (stopped) return;
    if (ws && dropCurrent) {
      const old = ws;
      ws = null;
      old.onclose = old.onmessage = old.onopen = null;
      try { old.close(); } catch (_) { /* ignore */ }
      if (handlers.onClose) handlers.onClose();
    }
    if (!ws) {
      backoff = BACKOFF_START_MS;
      connect();
    }
  }

  let hiddenAt = 0;
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") hiddenAt = Date.now();
    else reconnectNow(hiddenAt > 0 && Date.now() - hiddenAt > STALE_AFTER_HIDDEN_MS);
  });
  window.addEventListener("online", () => reconnectNow(true));

  connect();

  return {
    /** Sends a message now; false while disconnected. */
    send(msg) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(msg));
        return true;
      }
      return false;
    },
    /** Bytes queued on the open socket (0 while disconnected). */
    bufferedAmount() {
      return ws ? ws.bufferedAmount : 0;
    },
    /** Closes the socket for good. */
    stop() {
      stopped = true;
      clearTimers();
      if (ws) {
        const old = ws;
        ws = null;
        try { old.close(1000); } catch (_) { /* ignore */ }
      }
    },
  };
};
