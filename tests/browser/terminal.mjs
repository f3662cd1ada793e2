// The terminal page in headless Chromium, against a real session (driven by tests/browser.rs).
// Env: URL (the session's link, http://HOST:PORT/#k=KEY), RELAY_LOG (optional: a directory for
// the relay's bytes), CHROMIUM (optional browser path).
// Talks to the Rust test on stdio: prints "STEP <name>" and waits for "go".
import { run } from "./harness.mjs";
import { scanPng } from "./qr.mjs";
import { relay, through } from "./relay.mjs";

// The session reached through a relay the test cuts, to play a phone losing its network;
// with RELAY_LOG, the relay keeps every byte it passes there for the Rust test.
const proxy = await relay(Number(new URL(process.env.URL).port), process.env.RELAY_LOG);
// The same link through the relay: the key stays in the fragment.
const { base, url, key } = through(proxy, process.env.URL);

await run(async ({ page, step, progress }) => {
  const evalWithin = (f, on = page) => Promise.race([
    on.evaluate(f),
    new Promise((_, reject) => setTimeout(() => reject(new Error("the page stopped answering")), 5000)),
  ]);
  const text = (on = page) => evalWithin(() => {
    const b = window.term.buffer.active;
    let s = "";
    // Rows the terminal wrapped are joined back into their line.
    for (let i = 0; i < b.length; i++) {
      const line = b.getLine(i);
      s += (i > 0 && !line.isWrapped ? "\n" : "") + line.translateToString(true);
    }
    return s;
  }, on);
  const count = (hay, needle) => hay.split(needle).length - 1;
  async function waitText(needle, what = needle, on = page) {
    const deadline = Date.now() + 15000;
    for (;;) {
      const t = await text(on);
      if (t.includes(needle)) return t;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${t}`);
      await page.waitForTimeout(50);
    }
  }

  progress("loading the page");
  await page.goto(url);
  if (page.url().includes("#") || page.url().includes(key)) throw new Error(`the key stayed in the address: ${page.url()}`);
  const stored = await page.evaluate(() => localStorage.getItem("itwillsync.key"));
  if (!stored || !stored.includes(key)) throw new Error(`the key was not stored: ${stored}`);
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

  // Share: the read-only link, as text and as a QR code that scans.
  progress("sharing");
  await page.locator("#share").click();
  const readLink = await page.locator("#share-link").inputValue();
  if (!new RegExp(`^${base}/#r=[A-Za-z0-9_-]{43}$`).test(readLink)) throw new Error(`a wrong read-only link: ${readLink}`);
  if (readLink.includes(key)) throw new Error("the read-only link carries the full key");
  const scanned = scanPng(await page.locator("#share-qr").screenshot());
  if (scanned !== readLink) throw new Error(`the QR code reads ${scanned}, not ${readLink}`);
  await page.locator('[data-action="close-share"]').click();
  await page.locator("#share-backdrop").waitFor({ state: "hidden" });

  // The read-only link (in a browser of its own) watches but cannot type or resize.
  progress("opening the read-only link");
  const watcher = await page.context().browser().newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const ro = await watcher.newPage();
  ro.on("pageerror", (e) => console.error(`read-only page error: ${e.message}`));
  await ro.goto(readLink);
  if (ro.url().includes("#")) throw new Error(`the read-only key stayed in the address: ${ro.url()}`);
  await ro.waitForSelector('#status[data-state="connected"]');
  await waitText(expected, "the output on the read-only page", ro);
  for (const [sel, visible] of [["#read-only", true], ["#keys", false], ["#fit", false], ["#share", false]]) {
    if ((await ro.locator(sel).isVisible()) !== visible) throw new Error(`read-only page: ${sel} should ${visible ? "" : "not "}show`);
  }
  await ro.locator("#term-host").click();
  await ro.keyboard.type("z");
  await page.locator("#term-host").click();
  await page.keyboard.type("y");
  expected += "<79>";
  await waitText(expected, "a key typed after the read-only page's");
  await waitText(expected, "the output on the read-only page", ro);
  if ((await text()).includes("<7a>")) throw new Error("the read-only page typed");
  await watcher.close();

  // The connection is cut, output is produced meanwhile, the connection comes back.
  progress("keys checked");
  proxy.cut();
  await step("cut"); // the test makes the program print, then answers
  proxy.restore();
  progress("connection restored");
  const t = await waitText("MISSED-OUTPUT", "the output produced while disconnected");
  if (count(t, "MISSED-OUTPUT") !== 1) throw new Error(`missed output shown ${count(t, "MISSED-OUTPUT")} times:\n${t}`);
  if (count(t, "ready-pty") !== 1) throw new Error(`earlier output duplicated:\n${t}`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });

  // A link whose key the server does not accept (one replaced by --rotate, say): the page
  // says so, stops trying and forgets the key. Only the fragment changes: the page reloads.
  progress("opening a link with a wrong key");
  await page.goto(`${base}/#k=${"A".repeat(43)}`);
  await page.waitForSelector('#status[data-state="unauthorised"]', { timeout: 15000 });
  await page.locator("#notice").waitFor({ state: "visible" });
  if (await page.evaluate(() => localStorage.getItem("itwillsync.key")) !== null) throw new Error("the refused key is still stored");
  progress("refused link reported");

  // Without any key the page says where to get one and makes no connection.
  await page.reload();
  await page.locator("#notice", { hasText: "itwillsync url" }).waitFor();
  if ((await page.locator("#status").getAttribute("data-state")) !== "unauthorised") throw new Error("a page without a key tried to connect");
});
