// itwillsync dashboard: the new-session sheet (dashboard.js keeps the list and the socket).
//
// A tool (recent ones as chips, kept in localStorage), a machine (this one or any online
// one, when machines are configured) and a folder chosen with the folder browser, which
// browses the chosen machine's home (`list-dir`, answered by `dir-listing`); "Start" sends
// `create-session`. The page's handler passes the server's answers on: `showDir`,
// `progress` (session-creating), `error` (session-create-error and the sheet's
// operation-errors), `done` (session-created). Every server string goes into the DOM
// through textContent only.
"use strict";

window.itwillsyncNewSession = (() => {
  const RECENT_KEY = "itwillsync.recentTools";
  const DEFAULT_TOOLS = ["claude", "aider", "codex", "bash"];
  const $ = (id) => document.getElementById(id);
  const show = (el, on) => { el.hidden = !on; };
  // Set by init: sending to the server, the other machines, showing a path under a home,
  // a session's card on the page.
  let send = () => false;
  let machines = () => [];
  let shortPath = (p) => p;
  let card = () => null;
  let sheetMachine = "";           // the machine whose folders the sheet browses ("" this one)
  let sheetHome = "";              // and its home directory, from its first listing

  const backdrop = $("sheet-backdrop");
  const toolInput = $("tool");
  let browsePath = "";   // folder shown in the browser
  let chosenDir = "";    // folder the session will start in
  let creating = false;
  let pendingTool = "";  // remembered as a recent tool once the session exists

  function sheetOpen() { return !backdrop.hidden; }

  function recentTools() {
    try {
      const v = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
      return Array.isArray(v) ? v.filter((t) => typeof t === "string" && t) : [];
    } catch (_) { return []; }
  }
  function rememberTool(tool) {
    const list = [tool, ...recentTools().filter((t) => t !== tool)].slice(0, 6);
    try { localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch (_) { /* private mode */ }
  }
  function renderChips() {
    const chips = $("tool-chips");
    chips.replaceChildren();
    const tools = [...new Set([...recentTools(), ...DEFAULT_TOOLS])];
    for (const t of tools) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.dataset.action = "tool-chip";
      b.dataset.tool = t;
      b.textContent = t;
      chips.append(b);
    }
  }

  function openSheet() {
    renderChips();
    toolInput.value = toolInput.value || recentTools()[0] || "";
    setCreating(false);
    createError("");
    backdrop.hidden = false;
    sheetHome = ""; // so the browser starts again at home
    fillMachineChoice();
  }
  function closeSheet() {
    backdrop.hidden = true;
    setCreating(false);
  }

  function listDir(path) {
    $("dir-current").textContent = "loading…";
    // An empty path asks for the home directory.
    const machine = chosenMachine();
    send(machine ? { type: "list-dir", path: path || "", machine } : { type: "list-dir", path: path || "" });
  }

  // "Use this folder" names the folder it would choose, and is pressed-looking when the
  // browsed folder is the chosen one.
  function showDirChoice() {
    const here = browsePath || sheetHome;
    const use = $("use-dir");
    const chosen = here === chosenDir;
    const name = shortPath(here, sheetHome) || "~";
    use.textContent = chosen ? `✓ Using ${name}` : `Use this folder (${name})`;
    use.classList.toggle("primary", !chosen);
  }

  function showDir(msg) {
    // A listing of the machine that was chosen before is late: the browser moved on.
    if (String(msg.machine || "") !== sheetMachine) return;
    if (typeof msg.home === "string" && msg.home) sheetHome = msg.home;
    browsePath = String(msg.path || "");
    $("dir-current").textContent = shortPath(browsePath, sheetHome) || "~";
    $("dir-current").title = browsePath;
    if (!chosenDir) {
      chosenDir = sheetHome || browsePath;
      $("chosen-dir-path").textContent = shortPath(chosenDir, sheetHome) || "~";
    }
    const ul = $("dir-list");
    ul.replaceChildren();
    const item = (label, action, path) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.action = action;
      b.dataset.path = path;
      b.textContent = label;
      li.append(b);
      ul.append(li);
    };
    if (msg.parent) item("..", "dir-up", String(msg.parent));
    showDirChoice();
    const entries = Array.isArray(msg.entries) ? msg.entries : [];
    for (const e of entries) if (e && e.path) item(String(e.name || e.path) + "/", "dir-enter", String(e.path));
    if (!entries.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "no sub-folders";
      ul.append(li);
    }
  }

  function setCreating(on, text) {
    creating = on;
    $("start").disabled = on;
    $("create-progress-text").textContent = text || "";
    show($("create-progress"), on);
  }
  function createProgress(tool, cwd) {
    if (!sheetOpen()) return;
    setCreating(true, `Starting ${tool || "session"} in ${shortPath(cwd, sheetHome) || "~"}…`);
    createError("");
  }
  function createError(text) {
    const e = $("create-error");
    e.textContent = text ? String(text) : "";
    show(e, !!text);
    if (text) {
      setCreating(false);
      pendingTool = "";
    }
  }
  function createDone(session) {
    if (pendingTool) rememberTool(pendingTool);
    pendingTool = "";
    if (!creating && !sheetOpen()) return;
    closeSheet();
    const s = session && card(session.id);
    if (s) {
      s.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
      s.el.classList.add("fresh");
      setTimeout(() => s.el.classList.remove("fresh"), 2000);
    }
  }

  function startSession() {
    const tool = toolInput.value.trim();
    if (!tool) { createError("Type a tool to run, e.g. claude."); toolInput.focus(); return; }
    const machine = chosenMachine();
    const cwd = chosenDir || browsePath || sheetHome;
    if (send(machine ? { type: "create-session", tool, cwd, machine } : { type: "create-session", tool, cwd })) {
      pendingTool = tool;
      setCreating(true, `Starting ${tool}…`);
      createError("");
    }
  }

  backdrop.addEventListener("click", (e) => {
    if (e.target === backdrop) { closeSheet(); return; }
    const btn = e.target.closest("[data-action]");
    if (!btn) return;
    switch (btn.dataset.action) {
      case "close-new": closeSheet(); break;
      case "tool-chip": toolInput.value = btn.dataset.tool; break;
      case "dir-up":
      case "dir-enter": listDir(btn.dataset.path); break;
      case "use-dir":
        chosenDir = browsePath || sheetHome;
        $("chosen-dir-path").textContent = shortPath(chosenDir, sheetHome) || "~";
        showDirChoice();
        break;
      case "start": startSession(); break;
      default: break;
    }
  });
  toolInput.addEventListener("keydown", (e) => { if (e.key === "Enter") startSession(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && sheetOpen()) closeSheet(); });

  // The machine the new-session sheet starts on: "" is this one.
  function chosenMachine() {
    const sel = $("machine");
    return sel && !$("machine-row").hidden ? sel.value : "";
  }
  function fillMachineChoice() {
    const sel = $("machine");
    const keep = sel.value;
    sel.replaceChildren();
    const add = (value, label) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      sel.append(o);
    };
    add("", "this machine");
    for (const m of machines()) if (m && m.state === "online") add(m.name, m.name);
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
    show($("machine-row"), sel.options.length > 1);
    machineChanged();
  }
  // The folder browser browses the chosen machine's folders, from its home.
  function machineChanged() {
    if (sheetMachine === chosenMachine() && sheetHome) return;
    sheetMachine = chosenMachine();
    sheetHome = "";
    chosenDir = "";
    browsePath = "";
    $("chosen-dir-path").textContent = "~";
    listDir("");
  }

  /** Wires the sheet to the page: see the variables above. */
  function init(opts) {
    ({ send, machines, shortPath, card } = opts);
    $("new").addEventListener("click", openSheet);
    $("machine").addEventListener("change", machineChanged);
  }

  return {
    init,
    isOpen: sheetOpen,
    showDir,
    progress: createProgress,
    error: createError,
    done: createDone,
    // After a reconnect, the folder shown is listed again.
    reconnected: () => { if (sheetOpen()) listDir(browsePath || sheetHome); },
  };
})();
