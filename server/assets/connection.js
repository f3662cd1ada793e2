// itwillsync: the sealed WebSocket both pages keep to their server (the terminal page to
// its session's port, the dashboard to the dashboard's), docs/PROTOCOL.md "Sealed protocol".
//
// Each socket runs the handshake with the page's key (seal.js), then carries sealed JSON
// both ways; the pages see only `send(obj)` and `onMessage(obj)`. It reconnects for as
// long as the page lives: after 1 s, then 1.5 times longer each time up to 10 s, and at
// once when the page becomes visible again or the network comes back (a socket that
// lived through a phone's sleep may be silently dead, so after a while hidden it is
// replaced). The server's close code says what else to do:
//   4001 unauthorized, 4002 link revoked: stop for good; the page forgets its key;
//   4004 machine removed: stop for good (another machine's session, no longer served here);
//   4029 blocked for N s: wait N seconds, then try again;
//   anything else (4008, 1008, no network, a server that fails its proof): backoff.
"use strict";

/**
 * @param {{key: Uint8Array, onOpen: function(): void, onMessage: function(object): void,
 *          onClose?: function(): void, onStatus: function(string, string): void,
 *          onUnauthorised: function(number): void, onGone?: function(): void}} handlers
 *   key: the page's 32-byte key. onStatus(state, text): state is connecting, connected,
 *   reconnecting, unauthorised or blocked. onUnauthorised(code): the server refused the
 *   key (4001) or it was rotated (4002); no more connections are made. onGone(): the
 *   session is another machine's and that machine was removed from this server (4004);
 *   no more connections are made.
 * @returns {{send: function(object): boolean, bufferedAmount: function(): number,
 *            stop: function(): void}}
 */
window.itwillsyncConnect = function (handlers) {
  const BACKOFF_START_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const BLOCKED_DEFAULT_S = 60;       // a 4029 whose reason names no duration
  const HANDSHAKE_TIMEOUT_MS = 15000; // a server that never finishes its side (it gives us 10 s)
  const STALE_AFTER_HIDDEN_MS = 5000;
  const seal = window.itwillsyncSeal;

  let ws = null;            // the current socket, null while disconnected
  let channel = null;       // its sealed channel once the handshake is done
  let stopped = false;      // the page wants no more connections (ended, or refused)
  let backoff = BACKOFF_START_MS;
  let blockedUntil = 0;     // Date.now() before which no connection is tried (4029)
  let retryTimer = null;
  let countdownTimer = null;
  let handshakeTimer = null;

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
    sock.binaryType = "arraybuffer";
    ws = sock;
    channel = null;
    let handshake = null; // after the hello: waiting for the server's proof
    handshakeTimer = setTimeout(() => drop(sock, "the server did not answer"), HANDSHAKE_TIMEOUT_MS);

    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let msg;
      try {
        if (channel) {
          msg = channel.open(ev.data);
        } else if (!handshake) {
          handshake = seal.start(handlers.key, ev.data);
          sock.send(handshake.reply);
          return;
        } else {
          channel = handshake.finish(ev.data);
          clearTimeout(handshakeTimer);
          backoff = BACKOFF_START_MS;
          handlers.onStatus("connected", "connected");
          handlers.onOpen();
          return;
        }
      } catch (e) {
        drop(sock, e.kind === "proof" ? "not the real server?" : e.kind === "hello" ? "not an itwillsync server?" : "");
        return;
      }
      if (msg && typeof msg === "object") handlers.onMessage(msg);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ended();
      if (stopped) return;
      if (ev.code === 4001 || ev.code === 4002) {
        stopped = true;
        handlers.onStatus("unauthorised", ev.code === 4002 ? "link replaced" : "link not accepted");
        handlers.onUnauthorised(ev.code);
      } else if (ev.code === 4004) {
        stopped = true;
        if (handlers.onGone) handlers.onGone();
      } else if (ev.code === 4029) {
        const m = /(\d+)\s*s/.exec(ev.reason || "");
        blockedUntil = Date.now() + (m ? Number(m[1]) : BLOCKED_DEFAULT_S) * 1000;
        retryLater("");
      } else {
        retryLater("");
      }
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  /** The current socket is gone (closed by either side). */
  function ended() {
    clearTimeout(handshakeTimer);
    ws = null;
    channel = null;
    if (handlers.onClose) handlers.onClose();
  }

  /** Closes a socket the page no longer trusts and retries as after a network error. */
  function drop(sock, why) {
    if (ws !== sock) return;
    sock.onclose = sock.onmessage = null;
    try { sock.close(); } catch (_) { /* ignore */ }
    ended();
    retryLater(why);
  }

  function retryLater(why) {
    if (stopped || ws || retryTimer) return;
    let until;
    let say;
    if (Date.now() < blockedUntil) {
      until = blockedUntil;
      say = (s) => handlers.onStatus("blocked", `too many failed attempts from here — retrying in ${s}s`);
    } else {
      until = Date.now() + backoff;
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 1.5);
      say = (s) => handlers.onStatus("reconnecting", (why ? why + " " : "") + `reconnecting in ${s}s`);
    }
    const tick = () => say(Math.max(1, Math.ceil((until - Date.now()) / 1000)));
    tick();
    countdownTimer = setInterval(tick, 250);
    retryTimer = setTimeout(connect, Math.max(0, until - Date.now()));
  }

  function reconnectNow(dropCurrent) {
    if (stopped || Date.now() < blockedUntil) return; // a block only grows shorter by waiting
    if (ws && dropCurrent) {
      const old = ws;
      old.onclose = old.onmessage = null;
      try { old.close(); } catch (_) { /* ignore */ }
      ended();
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
    /** Seals and sends a message now; false while not connected. */
    send(msg) {
      if (ws && channel && ws.readyState === WebSocket.OPEN) {
        ws.send(channel.seal(msg));
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
        old.onclose = old.onmessage = null;
        try { old.close(1000); } catch (_) { /* ignore */ }
        ended();
      }
    },
  };
};
