// The dashboard through a byte-logging relay (driven by tests/browser.rs): a session's name
// and preview carry markers the page must show, and the user renames a session to a third,
// while the Rust test finds none of them (nor the master key, nor a session's key) in the
// bytes the relay passed.
// Env: URL (the dashboard link, http://HOST:PORT/#k=MASTER), RELAY_LOG (the relay's
// directory), ID (the session), NAME, PREVIEW, RENAMED (the markers), CHROMIUM.
import { run } from "./harness.mjs";
import { relay, through } from "./relay.mjs";

const proxy = await relay(Number(new URL(process.env.URL).port), process.env.RELAY_LOG);
const { url } = through(proxy, process.env.URL);
const { ID, NAME, PREVIEW, RENAMED } = process.env;

await run(async ({ page, progress }) => {
  const card = page.locator(`.card[data-session-id="${ID}"]`);

  progress("loading the dashboard through the relay");
  await page.goto(url);
  await page.waitForSelector('#status[data-state="connected"]');
  await card.locator(".name", { hasText: NAME }).waitFor();
  await card.locator(".preview", { hasText: PREVIEW }).waitFor();
  progress("name and preview shown; renaming");
  await card.locator('[data-action="rename"]').click();
  await card.locator(".rename-input").fill(RENAMED);
  await card.locator('[data-action="confirm-rename"]').click();
  await card.locator(".name", { hasText: RENAMED }).waitFor();
  progress("renamed");
});
