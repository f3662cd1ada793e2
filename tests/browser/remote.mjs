// Another machine's session on the laptop's dashboard, in headless Chromium (driven by
// tests/browser.rs over a real sshd): its row with status and preview, touch-sized Rename
// and Stop, tapping it opens it through the laptop (its mirror's page shows the output),
// Rename and Stop go to that machine.
// Env: URL (the laptop's dashboard link), R (the remote session's id), CHROMIUM.
import { run } from "./harness.mjs";

await run(async ({ page, progress }) => {
  const row = page.locator(`.remote-session[data-id="${process.env.R}"]`);

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
  await page.waitForFunction(() => {
    const buf = window.term.buffer.active;
    for (let i = 0; i < buf.length; i++) if (buf.getLine(i).translateToString(true).includes("hello-from-devbox")) return true;
    return false;
  });

  progress("back, and stopping it on devbox");
  await page.locator("#back").click();
  await page.waitForSelector('#status[data-state="connected"]');
  await row.waitFor();
  page.once("dialog", (d) => d.accept());
  await row.locator('[data-action="remote-stop"]').tap();
  await row.waitFor({ state: "detached" });
});
