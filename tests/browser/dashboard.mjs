// The dashboard page in headless Chromium, against a real server (driven by tests/browser.rs).
// Env: URL (the dashboard link with the master token), A and B (session ids), CHROMIUM.
// Talks to the Rust test on stdio: prints "STEP <name>" and waits for "go".
import { run } from "./harness.mjs";

await run(async ({ page, step, progress }) => {
  const card = (id) => page.locator(`.card[data-session-id="${id}"]`);
  const a = card(process.env.A);
  const b = card(process.env.B);

  progress("loading the page");
  await page.goto(process.env.URL);
  if (page.url().includes("token=")) throw new Error(`the token stayed in the address: ${page.url()}`);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForFunction(() => document.querySelectorAll(".card").length === 2);
  await a.locator(".preview", { hasText: "first-line" }).waitFor();

  progress("two sessions listed; waiting for a new preview");
  await step("print");
  await a.locator(".preview", { hasText: "second-line" }).waitFor();

  progress("renaming");
  await b.locator('[data-action="rename"]').click();
  await b.locator(".rename-input").fill("renamed-b");
  await b.locator('[data-action="confirm-rename"]').click();
  await b.locator(".name", { hasText: "renamed-b" }).waitFor();

  progress("stopping");
  await b.locator('[data-action="stop"]').click();
  await b.locator('[data-action="confirm-stop"]').click();
  await b.waitFor({ state: "detached" });

  progress("opening");
  await a.locator('[data-action="open"]').click();
  await page.waitForFunction(() => window.term !== undefined && location.search.includes("from=dashboard"));
  await page.waitForFunction(() => {
    const buf = window.term.buffer.active;
    for (let i = 0; i < buf.length; i++) if (buf.getLine(i).translateToString(true).includes("second-line")) return true;
    return false;
  });

  progress("back to the dashboard");
  const back = page.locator("#back");
  await back.waitFor({ state: "visible" });
  const dashPort = new URL(process.env.URL).port;
  if (new URL(await back.getAttribute("href")).port !== dashPort) throw new Error("the back link misses the dashboard");
  await back.click();
  await page.waitForSelector('#status[data-state="connected"]');
  await a.locator(".name").waitFor();
});
