// The dashboard page in headless Chromium, against a real server (driven by tests/browser.rs).
// Env: URL (the dashboard link, http://HOST:PORT/#k=MASTER), A and B (session ids), CHROMIUM.
// Talks to the Rust test on stdio: prints "STEP <name>" and waits for "go".
import { run } from "./harness.mjs";

await run(async ({ page, step, progress }) => {
  const card = (id) => page.locator(`.card[data-session-id="${id}"]`);
  const a = card(process.env.A);
  const b = card(process.env.B);

  progress("loading the page");
  const key = new URLSearchParams(new URL(process.env.URL).hash.slice(1)).get("k");
  if (!/^[A-Za-z0-9_-]{43}$/.test(key || "")) throw new Error(`URL carries no #k= key: ${process.env.URL}`);
  await page.goto(process.env.URL);
  if (page.url().includes("#") || page.url().includes(key)) throw new Error(`the key stayed in the address: ${page.url()}`);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForFunction(() => document.querySelectorAll(".card").length === 2);
  await a.locator(".preview", { hasText: "first-line" }).waitFor();

  progress("two sessions listed; waiting for a new preview");
  await step("print");
  await a.locator(".preview", { hasText: "second-line" }).waitFor();

  progress("attention: the card says what, the header and title count it");
  await a.locator(".attention-message", { hasText: "Build finished: 3 tests failed" }).waitFor();
  await page.locator("#counts", { hasText: "2 running · 1 needs you" }).waitFor();
  await page.waitForFunction(() => document.title.startsWith("🔔 (1)"));
  await a.locator(".preview", { hasText: "Allow? (y/n)" }).waitFor();
  const clipped = await a.locator(".preview").evaluate((el) => el.scrollWidth > el.clientWidth + 1);
  if (clipped) throw new Error("the preview is cut off at the right");
  const small = await page.evaluate(() => [...document.querySelectorAll("button")]
    .filter((b) => b.offsetParent !== null)
    .map((b) => [b.textContent, b.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([n, r]) => `${n} ${r.width}x${r.height}`));
  if (small.length) throw new Error(`controls smaller than 44x44: ${small.join(", ")}`);
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard.png` });

  progress("choosing a folder is explicit");
  await page.locator("#new").tap();
  await page.locator("#dir-list button", { hasText: "project/" }).tap();
  await page.locator("#dir-current", { hasText: "~/project" }).waitFor();
  if ((await page.locator("#chosen-dir-path").textContent()) !== "~") throw new Error("browsing chose the folder");
  await page.locator("#use-dir", { hasText: "Use this folder" }).tap();
  await page.locator("#chosen-dir-path", { hasText: "~/project" }).waitFor();
  await page.locator("#use-dir", { hasText: "Using ~/project" }).waitFor();
  await page.screenshot({ path: `${process.env.SHOTS}/dashboard-new.png` });
  await page.locator('#new-sheet [data-action="close-new"]').first().tap();

  progress("renaming");
  await b.locator('[data-action="rename"]').click();
  await b.locator(".rename-input").fill("renamed-b");
  await b.locator('[data-action="confirm-rename"]').click();
  await b.locator(".name", { hasText: "renamed-b" }).waitFor();

  progress("stopping");
  await b.locator('[data-action="stop"]').click();
  await b.locator('[data-action="confirm-stop"]').click();
  await b.waitFor({ state: "detached" });

  progress("opening by tapping the card");
  await a.locator(".preview").tap();
  await page.waitForFunction(() => window.term !== undefined && location.search.includes("from=dashboard"));
  // The session's key came in the fragment; the page keeps it and clears the address.
  if (page.url().includes("#")) throw new Error(`the session key stayed in the address: ${page.url()}`);
  await page.waitForFunction(() => {
    const buf = window.term.buffer.active;
    for (let i = 0; i < buf.length; i++) if (buf.getLine(i).translateToString(true).includes("second-line")) return true;
    return false;
  });

  progress("back to the dashboard (its key is the stored one: the link back carries none)");
  const back = page.locator("#back");
  await back.waitFor({ state: "visible" });
  const dashPort = new URL(process.env.URL).port;
  if (new URL(await back.getAttribute("href")).port !== dashPort) throw new Error("the back link misses the dashboard");
  await back.click();
  await page.waitForSelector('#status[data-state="connected"]');
  await a.locator(".name").waitFor();
});
