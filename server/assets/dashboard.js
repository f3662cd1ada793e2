// itwillsync dashboard: every session as a card, over the dashboard's sealed WebSocket.
//
// A public static page: the master key comes from the link's fragment (#k=KEY) or local
// storage (key.js). Messages (sealed JSON; seed 004 plus DESIGN.md "Dashboard"):
//   server -> phone  sessions {sessions: SessionInfo[], home}   (on connect: the full list)
//                    session-added {session} · session-updated {session} · session-removed {sessionId}
//                    preview {sessionId, machine?, lines}        (last 5 non-empty screen lines)
//                    metadata {sessionId, metadata: {pid, agent, cwd, port, memoryKB, uptimeMs, connectedAt}}
//                    operation-error {operation, sessionId, error}
//                    dir-listing {path, parent, entries: [{name, path}], home, machine?}
//                    session-creating {tool, cwd} · session-create-error {error} · session-created {session}
//                    machines {machines: [{name, state, lastSeen, detail, sessions: SessionInfo[]}]}
//                      (other machines, grouped after this one's; their sessions carry `machine`
//                      and `offline`, and no key: tapping one asks for its mirror here)
//                    remote-opened {machine, sessionId, port, key}  (that mirror: opened like a card)
//   phone -> server  stop-session {sessionId, machine?} · rename-session {sessionId, name, machine?}
//                    get-metadata {sessionId}
//                    clear-attention {sessionId} · create-session {tool, cwd, machine?} · list-dir {path, machine?}
//                    open-remote {machine, sessionId}
// SessionInfo: {id, name, port, key, agent, cwd, pid, connectedAt, lastSeen,
//               status: "active"|"idle"|"attention", command, clients, clientKinds?, cols, rows,
//               attentionMessage?}  (what the bell or notification said, while in attention)
//   key: the session's full key (base64url); Open goes to http://HOST:port/#k=key.
//   clientKinds: {terminal, phone, readOnly} counts, shown instead of clients when present.
// Every server string goes into the DOM through textContent only.
"use strict";

(() => {
  const REMIND_MS = 2 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const listEl = $("list");
  const emptyEl = $("empty");
  const statusEl = $("status");
  const template = $("card-template");

  /** id -> {info, el, preview: string[], pending: {...}} */
  const sessions = new Map();
  const sheet = window.itwillsyncNewSession; // the new-session sheet (newsession.js)
  let home = "";
  let conn = null;               // connection.js; set at start
  let listReceived = false;      // the first "sessions" list is the baseline: no chime for it
  let machines = [];             // the last "machines" message's list
  const remotePreviews = new Map(); // "MACHINE\nID" -> lines, kept while a machine is offline
  const openedByUser = new Set(); // sessions opened while in attention: no reminders for them

  // ---- small helpers ------------------------------------------------------------
  // `p` shown relative to `base` (a home directory: this machine's unless given).
  function shortPath(p, base = home) {
    if (typeof p !== "string") return "";
    if (base && p === base) return "~";
    if (base && p.startsWith(base.endsWith("/") ? base : base + "/")) return "~/" + p.slice(base.replace(/\/$/, "").length + 1);
    return p;
  }

  function formatDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function show(el, on) { el.hidden = !on; }

  let toastTimer = null;
  function toast(text) {
    const t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function send(msg) {
    if (conn && conn.send(msg)) return true;
    toast("Not connected — try again in a moment.");
    return false;
  }

  // ---- server -> phone ------------------------------------------------------------
  function handle(msg) {
    switch (msg.type) {
      case "sessions": {
        if (typeof msg.home === "string") home = msg.home;
        const list = Array.isArray(msg.sessions) ? msg.sessions : [];
        const seen = new Set();
        for (const s of list) {
          if (!s || typeof s.id !== "string") continue;
          seen.add(s.id);
          upsert(s, listReceived);
        }
        for (const id of [...sessions.keys()]) if (!seen.has(id)) remove(id);
        listReceived = true;
        render();
        break;
      }
      case "machines":
        machines = Array.isArray(msg.machines) ? msg.machines : [];
        renderMachines();
        break;
      case "session-added":
      case "session-updated":
      case "session-created":
        // Another machine's session shows in that machine's group, not as a card here.
        if (msg.session && msg.session.machine && msg.session.machine !== "local") {
          if (msg.type === "session-created") sheet.done(msg.session);
          break;
        }
        if (msg.session && typeof msg.session.id === "string") {
          upsert(msg.session, true);
          render();
        }
        if (msg.type === "session-created") sheet.done(msg.session);
        break;
      case "session-removed":
        remove(msg.sessionId);
        render();
        break;
      case "preview":
        if (!msg.machine) setPreview(msg.sessionId, msg.lines);
        else if (Array.isArray(msg.lines)) {
          remotePreviews.set(`${msg.machine}\n${msg.sessionId}`, msg.lines);
          renderMachines();
        }
        break;
      case "remote-opened": {
        const url = sessionUrl(msg);
        if (url) navigate(url);
        break;
      }
      case "metadata":
        showMetadata(msg.sessionId, msg.metadata || {});
        break;
      case "operation-error":
        operationError(msg);
        break;
      case "dir-listing":
        sheet.showDir(msg);
        break;
      case "session-creating":
        sheet.progress(msg.tool, msg.cwd);
        break;
      case "session-create-error":
        sheet.error(msg.error);
        break;
      default:
        break; // unknown messages are ignored (forward compatibility)
    }
  }

  // ---- cards ------------------------------------------------------------------------
  function upsert(info, mayAlert) {
    let s = sessions.get(info.id);
    const wasAttention = s ? s.info.status === "attention" : false;
    if (!s) {
      const el = template.content.firstElementChild.cloneNode(true);
      el.dataset.sessionId = info.id;
      s = { info, el, preview: [], pendingRename: null, stopping: false };
      sessions.set(info.id, s);
    }
    s.info = Object.assign({}, s.info, info);
    if (Array.isArray(info.preview)) s.preview = info.preview;
    else if (info.preview && Array.isArray(info.preview.lines)) s.preview = info.preview.lines;
    if (s.pendingRename !== null && s.info.name === s.pendingRename) closeRename(s);
    fillCard(s);
    if (s.info.status !== "attention") openedByUser.delete(info.id);
    if (mayAlert && s.info.status === "attention" && !wasAttention) alertAttention(s);
  }

  function remove(id) {
    const s = sessions.get(id);
    if (!s) return;
    s.el.remove();
    sessions.delete(id);
    openedByUser.delete(id);
  }

  function q(s, sel) { return s.el.querySelector(sel); }

  function fillCard(s) {
    const i = s.info;
    const status = ["active", "idle", "attention"].includes(i.status) ? i.status : "idle";
    s.el.dataset.status = status;
    q(s, ".name").textContent = i.name || i.agent || i.id;
    q(s, ".state").textContent = status === "attention" ? "needs you" : status;
    q(s, ".command").textContent = i.command || i.agent || "";
    q(s, ".cwd").textContent = shortPath(i.cwd);
    q(s, ".cwd").title = i.cwd || "";
    const extra = [];
    if (i.cols && i.rows) extra.push(`${i.cols}×${i.rows}`);
    const clients = clientsText(i);
    if (clients) extra.push(clients);
    q(s, ".extra").textContent = extra.join(" · ");
    q(s, ".confirm-name").textContent = i.name || i.id;
    q(s, ".preview").textContent = s.preview.join("\n");
    const said = status === "attention" && typeof i.attentionMessage === "string" ? i.attentionMessage : "";
    q(s, ".attention-message").textContent = said ? "🔔 " + said : "";
    q(s, ".attention-message").hidden = !said;
    tickUptime(s);
  }

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  function clientsText(i) {
    const k = i.clientKinds;
    if (k && typeof k === "object") {
      const parts = [];
      const count = (v) => (Number.isInteger(v) && v > 0 ? v : 0);
      if (count(k.terminal)) parts.push(plural(count(k.terminal), "terminal", "terminals"));
      if (count(k.phone)) parts.push(plural(count(k.phone), "phone", "phones"));
      if (count(k.readOnly)) parts.push(`${count(k.readOnly)} read-only`);
      return parts.length ? parts.join(" · ") : "no clients";
    }
    return typeof i.clients === "number" ? plural(i.clients, "client", "clients") : "";
  }

  function tickUptime(s) {
    const at = Number(s.info.connectedAt);
    q(s, ".uptime").textContent = at > 0 ? formatDuration(Date.now() - at) : "";
  }
  setInterval(() => { for (const s of sessions.values()) tickUptime(s); }, 1000);

  function setPreview(id, lines) {
    const s = sessions.get(id);
    if (!s || !Array.isArray(lines)) return;
    // Plain text; drop control characters a terminal line should not carry.
    s.preview = lines.slice(-5).map((l) => String(l).replace(/[\x00-\x1f\x7f]/g, ""));
    q(s, ".preview").textContent = s.preview.join("\n");
  }

  // Newest first; order by connectedAt, then id, so cards do not jump around.
  function render() {
    const ordered = [...sessions.values()].sort((a, b) =>
      (Number(b.info.connectedAt) || 0) - (Number(a.info.connectedAt) || 0) || (a.info.id < b.info.id ? -1 : 1));
    ordered.forEach((s, idx) => {
      if (listEl.children[idx] !== s.el) listEl.insertBefore(s.el, listEl.children[idx] || null);
    });
    show(emptyEl, listReceived && sessions.size === 0);
    updateTitle();
  }

  // ---- other machines ---------------------------------------------------------------
  // One group per machine: its state, then its sessions as last known. Tapping one opens it
  // through its mirror on this server (`open-remote`, answered by `remote-opened`).
  // Its Rename and Stop go to that machine's server through the link.
  $("machines").addEventListener("click", (e) => {
    const row = e.target.closest(".remote-session[data-id]");
    if (!row) return;
    const { machine, id, name } = row.dataset;
    const btn = e.target.closest("[data-action]");
    if (btn && btn.dataset.action === "remote-rename") {
      const wanted = (window.prompt(`Rename ${name || id} on ${machine}`, name || "") || "").trim();
      if (wanted && wanted !== name) send({ type: "rename-session", sessionId: id, name: wanted, machine });
    } else if (btn && btn.dataset.action === "remote-stop") {
      if (window.confirm(`Stop ${name || id} on ${machine}? Its program is hung up.`)) {
        send({ type: "stop-session", sessionId: id, machine });
      }
    } else {
      send({ type: "open-remote", machine, sessionId: id });
    }
  });
  function renderMachines() {
    show($("local-heading"), machines.length > 0);
    window.itwillsyncMachines.render($("machines"), machines, remotePreviews, formatDuration);
  }

  // The title and the header count the sessions that need you.
  function updateTitle() {
    const n = [...sessions.values()].filter((s) => s.info.status === "attention").length;
    document.title = n ? `🔔 (${n}) itwillsync` : "itwillsync";
    const counts = $("counts");
    counts.replaceChildren(`${sessions.size} running`);
    if (n) {
      const b = document.createElement("b");
      b.textContent = `${n} need${n === 1 ? "s" : ""} you`;
      counts.append(" · ", b);
    }
  }

  function cardError(s, text) {
    const e = q(s, ".error");
    e.textContent = text || "";
    show(e, !!text);
  }

  function operationError(msg) {
    const op = String(msg.operation || "");
    const text = String(msg.error || "failed");
    if (/create|list-dir/.test(op) && sheet.isOpen()) {
      sheet.error(text);
      return;
    }
    const s = sessions.get(msg.sessionId);
    if (!s) { toast(`${op || "operation"}: ${text}`); return; }
    if (/rename/.test(op)) {
      s.pendingRename = null;
      q(s, ".rename-form button[type=submit]").disabled = false;
    }
    if (/stop/.test(op)) {
      s.stopping = false;
      s.el.classList.remove("stopping");
    }
    cardError(s, text);
  }

  // ---- card actions -------------------------------------------------------------------
  // The session's page on the host this dashboard was reached by. The key travels in the
  // fragment, which no server sees; ?from=dashboard lets the page show a back link.
  function sessionUrl(info) {
    const port = Number(info.port);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
    if (!window.itwillsyncSeal.decodeKey(info.key)) return null;
    return `${location.protocol}//${location.hostname}:${port}/?from=dashboard#k=${info.key}`;
  }

  function openSession(s) {
    const url = sessionUrl(s.info);
    if (!url) { cardError(s, "This session has no address yet."); return; }
    openedByUser.add(s.info.id);
    if (conn) conn.send({ type: "clear-attention", sessionId: s.info.id });
    navigate(url);
  }

  // Gives a frame just sent a moment to leave before the page unloads.
  function navigate(url) {
    const started = Date.now();
    const go = () => {
      if (conn && conn.bufferedAmount() > 0 && Date.now() - started < 300) setTimeout(go, 20);
      else location.href = url;
    };
    go();
  }

  function togglePanel(s, sel, on) {
    for (const p of s.el.querySelectorAll(".panel")) if (!p.matches(sel)) p.hidden = true;
    const panel = q(s, sel);
    panel.hidden = on === undefined ? !panel.hidden : !on;
    cardError(s, "");
    return !panel.hidden;
  }

  function openRename(s) {
    if (!togglePanel(s, ".rename-form", true)) return;
    const input = q(s, ".rename-input");
    input.value = s.info.name || "";
    q(s, ".rename-form button[type=submit]").disabled = false;
    input.focus();
    input.select();
  }
  function closeRename(s) {
    s.pendingRename = null;
    q(s, ".rename-form").hidden = true;
  }
  function submitRename(s) {
    const name = q(s, ".rename-input").value.trim();
    if (!name) { cardError(s, "A name cannot be empty."); return; }
    if (name === s.info.name) { closeRename(s); return; }
    if (send({ type: "rename-session", sessionId: s.info.id, name })) {
      s.pendingRename = name;
      q(s, ".rename-form button[type=submit]").disabled = true;
      cardError(s, "");
    }
  }

  function showInfo(s) {
    if (!togglePanel(s, ".info-panel")) return;
    const dl = q(s, ".info-panel");
    dl.replaceChildren();
    addInfoRow(dl, "", "loading…");
    send({ type: "get-metadata", sessionId: s.info.id });
  }
  function addInfoRow(dl, k, v) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  function showMetadata(id, m) {
    const s = sessions.get(id);
    if (!s) return;
    const dl = q(s, ".info-panel");
    dl.replaceChildren();
    const kb = Number(m.memoryKB);
    const uptime = m.uptimeMs !== undefined ? Number(m.uptimeMs) : Date.now() - Number(m.connectedAt || s.info.connectedAt);
    addInfoRow(dl, "PID", m.pid !== undefined ? String(m.pid) : "—");
    addInfoRow(dl, "Memory", Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : "—");
    addInfoRow(dl, "Port", m.port !== undefined ? String(m.port) : String(s.info.port || "—"));
    addInfoRow(dl, "Agent", String(m.agent || s.info.agent || "—"));
    addInfoRow(dl, "Folder", String(m.cwd || s.info.cwd || "—"));
    addInfoRow(dl, "Uptime", Number.isFinite(uptime) ? formatDuration(uptime) : "—");
    dl.hidden = false;
  }

  function askStop(s) {
    togglePanel(s, ".confirm-stop", true);
  }
  function confirmStop(s) {
    q(s, ".confirm-stop").hidden = true;
    if (send({ type: "stop-session", sessionId: s.info.id })) {
      s.stopping = true;
      s.el.classList.add("stopping");
    }
  }

  // One click handler for every data-action in the list.
  // Tapping a card's head or preview opens it; its buttons and panels do their own thing.
  listEl.addEventListener("click", (e) => {
    const card = e.target.closest(".card");
    const btn = e.target.closest("[data-action]") ||
      (card && e.target.closest(".card-head, .meta, .attention-message") ? { dataset: { action: "open" } } : null);
    if (!btn || !card) return;
    const s = sessions.get(card.dataset.sessionId);
    if (!s) return;
    switch (btn.dataset.action) {
      case "open": openSession(s); break;
      case "rename": openRename(s); break;
      case "cancel-rename": closeRename(s); break;
      case "confirm-rename": e.preventDefault(); submitRename(s); break;
      case "info": showInfo(s); break;
      case "stop": askStop(s); break;
      case "cancel-stop": q(s, ".confirm-stop").hidden = true; break;
      case "confirm-stop": confirmStop(s); break;
      default: break;
    }
  });
  listEl.addEventListener("submit", (e) => {
    e.preventDefault();
    const card = e.target.closest(".card");
    const s = card && sessions.get(card.dataset.sessionId);
    if (s) submitRename(s);
  });
  listEl.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && e.target.classList.contains("rename-input")) {
      const s = sessions.get(e.target.closest(".card").dataset.sessionId);
      if (s) closeRename(s);
    }
  });

  // ---- attention -------------------------------------------------------------------------
  // The chime is chime.js's; it unlocks audio on the first gesture itself.
  let asked = false;
  function onFirstGesture() {
    // Ask for notifications on the first tap, never on load.
    if (!asked && "Notification" in window && Notification.permission === "default") {
      asked = true;
      try { Notification.requestPermission().catch(() => {}); } catch (_) { /* old Safari */ }
    }
  }
  document.addEventListener("pointerdown", onFirstGesture, { capture: true });
  document.addEventListener("keydown", onFirstGesture, { capture: true });

  const chime = () => window.itwillsyncChime([660, 880, 1318.5], 0.14, 0.4);

  let lastChime = 0;
  function alertAttention(s) {
    openedByUser.delete(s.info.id);
    chime();
    lastChime = Date.now();
    if (navigator.vibrate) { try { navigator.vibrate(200); } catch (_) { /* ignore */ } }
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(`${s.info.name || s.info.agent || "A session"} needs you`, {
          body: s.preview.length ? s.preview[s.preview.length - 1] : shortPath(s.info.cwd),
          tag: "itwillsync-" + s.info.id,
          icon: "icon.svg",
        });
        n.onclick = () => { window.focus(); n.close(); };
      } catch (_) { /* e.g. Android Chrome wants a service worker: the chime still rang */ }
    }
  }

  // Remind every 2 minutes while a session waits and the user has not opened it.
  setInterval(() => {
    const waiting = [...sessions.values()].some((s) => s.info.status === "attention" && !openedByUser.has(s.info.id));
    if (waiting && Date.now() - lastChime >= REMIND_MS - 1000) {
      chime();
      lastChime = Date.now();
      if (navigator.vibrate) { try { navigator.vibrate(200); } catch (_) { /* ignore */ } }
    }
  }, 10000);

  // ---- start ---------------------------------------------------------------------------
  sheet.init({ send, machines: () => machines, shortPath, card: (id) => sessions.get(id) });
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

  const pageKey = window.itwillsyncKey.load({ allowReadOnly: false });
  if (pageKey.error) {
    setStatus("unauthorised", "no key");
    showNotice({
      missing: "This page needs its link: open the dashboard link that `itwillsync hub info` prints, or scan its QR code.",
      damaged: "This link is damaged: copy the whole link again, or scan the QR code of `itwillsync hub info`.",
      "read-only": "That is a read-only session link; the dashboard opens with its own link from `itwillsync hub info`.",
    }[pageKey.error]);
    $("new").disabled = true;
  } else {
    conn = window.itwillsyncConnect({
      key: pageKey.bytes,
      onOpen: () => { showNotice(""); sheet.reconnected(); },
      onMessage: handle,
      onStatus: setStatus,
      onUnauthorised: (code) => {
        window.itwillsyncKey.forget();
        $("new").disabled = true;
        showNotice(code === 4002
          ? "This dashboard link was replaced by a new one (`itwillsync hub rotate`). Open the new link from `itwillsync hub info`, or scan its QR code."
          : "This dashboard link is not accepted any more. Open the link from `itwillsync hub info` again, or scan its QR code.");
      },
    });
  }
})();
