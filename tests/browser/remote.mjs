// Another machine's session on the laptop's dashboard, in headless Chromium (driven by
// tests/browser.rs over a real sshd): its row with status and preview, touch-sized Rename
// and Stop, tapping it opens it through the laptop (its mirror's page shows the output),
// Rename and Stop go to that machine; once the machine is removed from the laptop, an
// open mirror's page says so and stops reconnecting.
// Env: URL (the laptop's dashboard link), R and KEPT (the remote sessions' ids), CHROMIUM.
import { run } from "./harness.mjs";

await run(async ({ page, step, progress }) => {
  const row = page.locator(`.remote-session[data-id="${process.env.R}"]`);
  // Waits until the terminal page's screen or history has a line with `text`.
  const shows = (text) => page.waitForFunction((text) => {
    const buf = window.term.buffer.active;
    for (let i = 0; i < buf.length; i++) if (buf.getLine(i).translateToString(true).includes(text)) return true;
    return false;
  }, text);

  progress("loading the laptop's dashboard");
  await page.goto(process.env.URL);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.locator('.machine[data-machine="devbox"] .machine-state', { hasText: "online" }).waitFor();
  await row.locator(".remote-preview", { hasText: "hello-from-devbox" }).waitFor();
  const small = await row.evaluate((el) => [...el.querySelectorAll("button")]
    .map((b) => [b.textContent, b.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([n, r]) => `${n} ${r.width}x${r.height}`));
  if (small.length) throw new Error(`controls smaller than 44x44: ${small.join(", ")}`);

  progress("renaming it on devbox");
  page.once("dialog", (d) => d.accept("renamed-there"));
  await row.locator('[data-action="remote-rename"]').tap();
  await row.locator("b", { hasText: "renamed-there" }).waitFor();

  progress("opening it through the laptop");
  const dashPort = new URL(process.env.URL).port;
  await row.locator(".remote-preview").tap();
  await page.waitForFunction(() => window.term !== undefined && location.search.includes("from=dashboard"));
  if (new URL(page.url()).port === dashPort) throw new Error("still on the dashboard's port");
  await shows("hello-from-devbox");

  progress("back, and stopping it on devbox");
  await page.locator("#back").click();
  await page.waitForSelector('#status[data-state="connected"]');
  await row.waitFor();
  page.once("dialog", (d) => d.accept());
  await row.locator('[data-action="remote-stop"]').tap();
  await row.waitFor({ state: "detached" });

  progress("opening the other one, then removing devbox from the laptop");
  const kept = page.locator(`.remote-session[data-id="${process.env.KEPT}"]`);
  await kept.locator(".remote-preview", { hasText: "kept-on-devbox" }).tap();
  // On the mirror's page (not the dashboard's, whose status says connected too), attached.
  await page.waitForFunction(() => window.term !== undefined && location.search.includes("from=dashboard"));
  await page.waitForSelector('#status[data-state="connected"]');
  await shows("kept-on-devbox");
  await step("remove-devbox");
  await page.locator("#notice", { hasText: "was removed from this server" }).waitFor();
  await page.waitForSelector('#status[data-state="ended"]');
  // It stopped for good: no attempt to reconnect within the page's first backoff (1 s).
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  await page.waitForTimeout(2500);
  if (sockets.length) throw new Error(`reconnected after the removal: ${sockets.join(", ")}`);
});
