// itwillsync dashboard: the other machines' groups (dashboard.js keeps the list and sends).
//
// One group per machine: its state, then its sessions as last known from the machine's link.
// A row of an online machine's session carries data-machine and data-id: tapping it asks the
// server for that session's mirror here (`open-remote`); its Rename and Stop buttons send
// `rename-session` and `stop-session` with the machine. Every server string goes into the
// DOM through textContent only.
"use strict";

window.itwillsyncMachines = {
  // Draws `machines` (the `machines` message's list) into `box`, each session with its
  // last preview ("MACHINE\nID" -> lines in `previews`).
  render(box, machines, previews, formatDuration) {
    box.replaceChildren();
    for (const m of machines) {
      if (!m || typeof m.name !== "string") continue;
      const group = document.createElement("div");
      group.className = "machine";
      group.dataset.machine = m.name;
      group.dataset.state = String(m.state || "");
      const head = document.createElement("h2");
      head.className = "group-head";
      const name = document.createElement("span");
      name.textContent = m.name;
      const state = document.createElement("span");
      state.className = "machine-state";
      const seen = Number(m.lastSeen) > 0 ? ` · seen ${formatDuration(Date.now() - Number(m.lastSeen))} ago` : "";
      state.textContent = String(m.state || "") + (m.detail ? ` (${m.detail})` : "") + seen;
      head.append(name, " ", state);
      group.append(head);
      const list = Array.isArray(m.sessions) ? m.sessions : [];
      for (const i of list) {
        const row = document.createElement("div");
        row.className = "remote-session";
        row.dataset.status = i.offline ? "offline" : String(i.status || "");
        const live = !i.offline && typeof i.id === "string";
        if (live) Object.assign(row.dataset, { machine: m.name, id: i.id, name: String(i.name || "") });
        const title = document.createElement("b");
        title.textContent = i.name || i.agent || i.id;
        const what = document.createElement("span");
        const status = i.offline ? "offline" : i.status === "attention" ? "needs you" : String(i.status || "");
        const said = i.status === "attention" && typeof i.attentionMessage === "string" ? ` · 🔔 ${i.attentionMessage}` : "";
        what.textContent = ` ${i.command || i.agent || ""} · ${status}${said}`;
        row.append(title, what);
        if (live) {
          const actions = document.createElement("span");
          actions.className = "remote-actions";
          for (const [label, action] of [["Rename", "remote-rename"], ["Stop", "remote-stop"]]) {
            const b = document.createElement("button");
            b.type = "button";
            b.dataset.action = action;
            b.textContent = label;
            actions.append(b);
          }
          row.append(actions);
        }
        const lines = previews.get(`${m.name}\n${i.id}`);
        if (Array.isArray(lines) && lines.length) {
          const pre = document.createElement("pre");
          pre.className = "remote-preview";
          pre.textContent = lines.map(String).join("\n");
          row.append(pre);
        }
        group.append(row);
      }
      if (!list.length) {
        const none = document.createElement("p");
        none.className = "muted";
        none.textContent = "no sessions";
        group.append(none);
      }
      box.append(group);
    }
  },
};
