// The terminal page in headless Chromium, against a real session (driven by tests/browser.rs).
// Env: URL (the session's link with its token), CHROMIUM (optional browser path).
// Talks to the Rust test on stdio: prints "STEP <name>" and waits for "go".
import { run } from "./harness.mjs";
import net from "node:net";

// A forwarder to the session's port whose connections the test cuts, to play a phone
// losing its network; while cut, new connections are closed at once.
const target = new URL(process.env.URL);
let cut = false;
const open = new Set();
const proxy = net.createServer((client) => {
  if (cut) return client.destroy();
  const server = net.connect(Number(target.port), "127.0.0.1");
  for (const [a, b] of [[client, server], [server, client]]) {
    open.add(a);
    a.pipe(b);
    a.on("error", () => {});
    a.on("close", () => { open.delete(a); b.destroy(); });
  }
});
await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
proxy.unref();
const url = `http://127.0.0.1:${proxy.address().port}/?token=${target.searchParams.get("token")}`;

await run(async ({ page, step, progress }) => {
  const evalWithin = (f) => Promise.race([
    page.evaluate(f),
    new Promise((_, reject) => setTimeout(() => reject(new Error("the page stopped answering")), 5000)),
  ]);
  const text = () => evalWithin(() => {
    const b = window.term.buffer.active;
    let s = "";
    // Rows the terminal wrapped are joined back into their line.
    for (let i = 0; i < b.length; i++) {
      const line = b.getLine(i);
      s += (i > 0 && !line.isWrapped ? "\n" : "") + line.translateToString(true);
    }
    return s;
  });
  const count = (hay, needle) => hay.split(needle).length - 1;
  async function waitText(needle, what = needle) {
    const deadline = Date.now() + 15000;
    for (;;) {
      const t = await text();
      if (t.includes(needle)) return t;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${t}`);
      await page.waitForTimeout(50);
    }
  }

  progress("loading the page");
  await page.goto(url);
  if (page.url().includes("token=")) throw new Error(`the token stayed in the address: ${page.url()}`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });
  progress("connected");
  await waitText("ready-pty", "the session's output");
  progress("output shown");

  // Typed keys reach the PTY (the program prints each byte it receives in hex).
  await page.locator("#term-host").click();
  await page.keyboard.type("ab");
  await waitText("<61><62>", "typed keys");

  // The extra-keys bar sends the right sequences.
  const keys = [
    ["esc", "<1b>"], ["tab", "<09>"], ["up", "<1b><5b><41>"], ["left", "<1b><5b><44>"],
    ["pgup", "<1b><5b><35><7e>"], ["pgdn", "<1b><5b><36><7e>"], ["slash", "<2f>"], ["dash", "<2d>"],
  ];
  // The program prints every byte, so the screen accumulates them in order.
  let expected = "<61><62>";
  for (const [key, bytes] of keys) {
    await page.locator(`[data-key="${key}"]`).click();
    expected += bytes;
    await waitText(expected, `the ${key} key`);
  }
  await page.locator('[data-key="ctrl"]').click();
  await page.keyboard.type("c");
  expected += "<03>";
  await waitText(expected, "ctrl-c from the sticky modifier");

  // The program rings the bell: the title flashes until the user types.
  const title = () => evalWithin(() => document.title);
  const plain = await title();
  await page.keyboard.type("!");
  expected += "<21>";
  await waitText(expected, "the bell's key");
  await page.waitForFunction(() => document.title.startsWith("🔔"), null, { timeout: 5000 });
  progress("the bell flashes the title");
  await page.keyboard.type("q");
  expected += "<71>";
  await waitText(expected, "a key after the bell");
  if ((await title()) !== plain) throw new Error(`the title still flashes: ${await title()}`);

  // The connection is cut, output is produced meanwhile, the connection comes back.
  progress("keys checked");
  cut = true;
  for (const sock of open) sock.destroy();
  await step("cut"); // the test makes the program print, then answers
  cut = false;
  progress("connection restored");
  const t = await waitText("MISSED-OUTPUT", "the output produced while disconnected");
  if (count(t, "MISSED-OUTPUT") !== 1) throw new Error(`missed output shown ${count(t, "MISSED-OUTPUT")} times:\n${t}`);
  if (count(t, "ready-pty") !== 1) throw new Error(`earlier output duplicated:\n${t}`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });

  // A link whose cookie is gone: the page tells the user instead of retrying in silence.
  progress("dropping the cookie");
  await page.context().clearCookies();
  for (const sock of open) sock.destroy();
  await page.waitForSelector('#status[data-state="unauthorised"]', { timeout: 15000 });
  progress("refused link reported");
});
