// A TCP relay between headless Chromium and one of the server's web ports, shared by the
// browser test scripts. It forwards bytes both ways, can cut every connection (a phone
// losing its network: while cut, new connections are closed at once), and, given a
// directory, writes each connection's bytes there as they pass: `N.up` (browser to
// server) and `N.down` (server to browser) for connection N, so the Rust test can check
// what a passive listener on the network would see, page loads included.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/// Starts a relay on a free 127.0.0.1 port to 127.0.0.1:`targetPort`; `logDir` (optional)
/// receives the bytes. Returns { port, cut(), restore() }.
export async function relay(targetPort, logDir) {
  let cut = false;
  let connections = 0;
  const open = new Set();
  const server = net.createServer((browser) => {
    if (cut) return browser.destroy();
    const n = connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const [from, to, direction] of [[browser, upstream, "up"], [upstream, browser, "down"]]) {
      open.add(from);
      if (logDir) {
        // Written synchronously, so everything that passed is on disk when the script ends.
        const file = path.join(logDir, `${n}.${direction}`);
        from.on("data", (chunk) => fs.appendFileSync(file, chunk));
      }
      from.pipe(to);
      from.on("error", () => {});
      from.on("close", () => { open.delete(from); to.destroy(); });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  return {
    port: server.address().port,
    /// Drops every open connection and refuses new ones until `restore`.
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
  };
}

/// The link `url` (http://HOST:PORT/#k=KEY) through `relay`: same path and fragment, the
/// relay's port. Returns { base, url, key }.
export function through(relay, url) {
  const target = new URL(url);
  const base = `http://127.0.0.1:${relay.port}`;
  const key = new URLSearchParams(target.hash.slice(1)).get("k");
  if (!/^[A-Za-z0-9_-]{43}$/.test(key || "")) throw new Error(`the link carries no #k= key: ${url}`);
  return { base, url: `${base}/${target.search}${target.hash}`, key };
}
