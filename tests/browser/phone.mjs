// The phone as an agent's remote, in headless Chromium at phone size with touch (driven
// by tests/browser.rs `the_phone_steers_an_agent`).
// Env: URL (the echo-hex session, a desk terminal attached at 120x40), PASTE_URL (a
// `cat -v` session with bracketed paste on), SHOTS (where screenshots go), CHROMIUM.
// Steps: "desk-key" (the desk types a key), "end-paste" (the cat session is killed),
// "stop-server" (the server stops).
import { run } from "./harness.mjs";
import net from "node:net";

// A forwarder to the session's port whose connections the test can cut (a phone losing
// its network); while cut, new connections are closed at once.
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
const base = `http://127.0.0.1:${proxy.address().port}`;
const url = `${base}/${target.hash}`;
const SHOTS = process.env.SHOTS;

await run(async ({ page, step, progress }) => {
  const shot = (name, on = page) => on.screenshot({ path: `${SHOTS}/${name}.png` });
  const text = (on = page) => on.evaluate(() => window.itwillsyncTextViews.bufferText());
  async function waitText(needle, what = needle, on = page) {
    const deadline = Date.now() + 15000;
    for (;;) {
      const t = await text(on);
      if (t.includes(needle)) return t;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${t}`);
      await page.waitForTimeout(50);
    }
  }
  const cols = () => page.evaluate(() => window.term.cols);
  const expectTrue = async (cond, what) => { if (!(await cond)) throw new Error(what); };

  progress("the phone opens after the desk idled: it takes the size");
  await page.goto(url);
  await page.waitForSelector('#status[data-state="connected"]');
  await waitText("ready-pty");
  await page.waitForFunction(() => window.term.cols < 60, null, { timeout: 10000 });
  const phoneCols = await cols();
  await expectTrue(page.locator("#pan").isHidden(), "no pan indicator at the phone's own size");
  await shot("1-phone-size");

  progress("a key at the desk gives the desk its size back");
  await step("desk-key");
  await waitText("<64>", "the desk's key");
  await page.waitForFunction(() => window.term.cols === 120, null, { timeout: 10000 });
  const font = await page.evaluate(() => window.term.options.fontSize);
  if (font < 10) throw new Error(`the desk's size renders at ${font} px`);
  await page.locator("#pan").waitFor({ state: "visible" });
  const panned = await page.evaluate(() => {
    const a = document.getElementById("term-area");
    a.scrollLeft = a.scrollWidth;
    return a.scrollWidth > a.clientWidth;
  });
  if (!panned) throw new Error("the wide terminal does not pan");
  await page.waitForFunction(() => parseFloat(document.getElementById("pan-thumb").style.left) > 30);
  await shot("2-desk-size-panned");

  progress("the phone types: its size again");
  await page.locator("#term-host").tap();
  await page.keyboard.type("a");
  await waitText("<61>", "the phone's key");
  await page.waitForFunction((c) => window.term.cols === c, phoneCols, { timeout: 10000 });

  progress("agent keys");
  let expected = "<61>";
  const keys = [["Enter", "<0d>"], ["Ctrl-C", "<03>"], ["Shift-Tab", "<1b><5b><5a>"], ["Newline", "<1b><0d>"]];
  for (const [name, bytes] of keys) {
    await page.getByRole("button", { name, exact: true }).tap();
    expected += bytes;
    await waitText(expected, `the ${name} key`);
  }
  for (const combo of ["Shift+Enter", "Control+Enter"]) {
    await page.keyboard.press(combo);
    expected += "<1b><0d>";
    await waitText(expected, combo);
  }

  progress("touch targets and the key settings");
  const small = await page.evaluate(() => [...document.querySelectorAll("#controls button, #topbar button, #topbar a")]
    .filter((b) => b.offsetParent !== null)
    .map((b) => [b.getAttribute("aria-label") || b.textContent, b.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([n, r]) => `${n} ${r.width}x${r.height}`));
  if (small.length) throw new Error(`controls smaller than 44x44: ${small.join(", ")}`);
  await page.locator("#settings").tap();
  await page.locator("#settings-sheet").waitFor();
  await shot("3-settings");
  await page.locator('#keyset input[value="pgup"]').uncheck();
  await page.locator('#keyset input[value="y"]').check();
  await page.locator('[data-action="save-settings"]').tap();
  await expectTrue(page.locator('#keys [data-key="pgup"]').count().then((n) => n === 0), "PgUp still on the bar");
  await page.locator('#keys [data-key="y"]').tap();
  expected += "<79>";
  await waitText(expected, "the added y key");
  const saved = await page.evaluate(() => localStorage.getItem("itwillsync.keyset"));
  if (!saved.includes('"y"')) throw new Error(`the key set was not kept: ${saved}`);
  await page.locator("#keys-toggle").tap();
  await page.locator("#keys").waitFor({ state: "hidden" });
  await page.locator("#keys-toggle").tap();
  await page.locator("#keys").waitFor({ state: "visible" });

  progress("compose, typed (no bracketed paste here)");
  await page.getByRole("button", { name: "Compose" }).tap();
  await page.locator("#compose-text").fill("hi\nyo");
  await page.getByRole("button", { name: "Send" }).tap();
  expected += "<68><69><0d><79><6f>";
  await waitText(expected, "the composed text");

  progress("attention: OSC 9 and the bell");
  await page.locator("#term-host").tap();
  await page.keyboard.type("#");
  expected += "<23>";
  await waitText(expected, "the # key");
  progress("banner: " + await page.evaluate(() => [document.getElementById("banner").hidden, document.getElementById("banner").textContent]));
  await page.locator("#banner", { hasText: "Build finished: 3 tests failed" }).waitFor();
  await shot("4-attention");
  await page.locator("#banner").tap();
  progress("tapped the banner");
  await page.locator("#banner").waitFor({ state: "hidden" });
  progress("banner dismissed");
  await page.keyboard.type("!");
  expected += "<21>";
  await page.locator("#banner", { hasText: "bell" }).waitFor();
  await page.keyboard.type("x");
  expected += "<78>";
  await page.locator("#banner").waitFor({ state: "hidden" });
  await waitText(expected, "keys after the bell");

  progress("select text");
  await page.getByRole("button", { name: "Select text" }).tap();
  const pre = page.locator("#select-text");
  await pre.waitFor();
  const picked = await page.evaluate(() => {
    const el = document.getElementById("select-text");
    const node = [...el.childNodes].find((n) => n.nodeType === 3 && n.textContent.includes("ready-pty"));
    const at = node.textContent.indexOf("ready-pty");
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + "ready-pty".length);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    return [getSelection().toString(), getComputedStyle(el).userSelect];
  });
  if (picked[0] !== "ready-pty" || picked[1] === "none") throw new Error(`not selectable: ${picked}`);
  await expectTrue(page.locator('#select-text a[href="https://example.com/docs"]').isVisible(), "the link is not tappable");
  await shot("5-select-text");
  await page.locator('[data-action="close-select"]').tap();

  progress("landscape keeps 70% for the terminal");
  await page.setViewportSize({ width: 844, height: 390 });
  await page.waitForTimeout(300);
  const share = await page.evaluate(() => document.getElementById("term-wrap").getBoundingClientRect().height / window.innerHeight);
  await shot("6-landscape");
  if (share < 0.7) throw new Error(`landscape leaves the terminal ${Math.round(share * 100)}%`);
  await page.setViewportSize({ width: 390, height: 844 });

  progress("reconnecting: dimmed, keys refused");
  await page.locator("#term-host").tap();
  cut = true;
  for (const sock of open) sock.destroy();
  await page.locator("#offline").waitFor({ state: "visible" });
  await expectTrue(page.evaluate(() => document.body.classList.contains("offline")), "not dimmed");
  await page.keyboard.type("z");
  await page.locator("#note", { hasText: "not sent" }).waitFor();
  await shot("7-reconnecting");
  cut = false;
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });
  await page.locator("#offline").waitFor({ state: "hidden" });
  await page.keyboard.type("w");
  const after = await waitText("<77>", "a key after reconnecting");
  if (after.includes("<7a>")) throw new Error("a refused key was sent late");

  progress("a reload transfers little");
  const sizes = [];
  page.on("requestfinished", (r) => { sizes.push(r.sizes().then((s) => s.responseHeadersSize + s.responseBodySize)); });
  await page.reload();
  await page.waitForSelector('#status[data-state="connected"]');
  const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  progress(`reload: ${sizes.length} responses, ${bytes} bytes`);
  if (bytes > 5 * 1024) throw new Error(`a reload transferred ${bytes} bytes`);

  progress("compose as a bracketed paste, seen by cat -v");
  const paster = await page.context().newPage();
  await paster.goto(process.env.PASTE_URL);
  await paster.waitForSelector('#status[data-state="connected"]');
  await waitText("paste-ready", "cat's prompt", paster);
  await paster.waitForFunction(() => window.term.modes.bracketedPasteMode);
  await paster.getByRole("button", { name: "Compose" }).tap();
  await paster.locator("#compose-text").fill("pasted line\n");
  await paster.getByRole("button", { name: "Send" }).tap();
  await waitText("^[[200~pasted line", "the bracketed paste", paster);

  progress("an ended session's link explains itself");
  await step("end-paste");
  await paster.waitForSelector('#status[data-state="ended"]');
  await paster.locator("#notice", { hasText: "has ended" }).waitFor();
  await paster.reload();
  await paster.locator("h2", { hasText: "This session has ended" }).waitFor();
  await expectTrue(paster.getByRole("link", { name: "Open the dashboard" }).isVisible(), "no link to the dashboard");
  await shot("8-ended", paster);
  await paster.close();

  progress("a stopped server is named");
  await step("stop-server");
  await page.locator("#notice", { hasText: "not answering" }).waitFor({ timeout: 20000 });
  await shot("9-server-stopped");
});
