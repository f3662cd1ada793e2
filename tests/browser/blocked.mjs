// A blocked address sees why (driven by tests/browser.rs, which made five failed proofs
// from 127.0.0.1 first): the page explains the block and counts down, and no key is lost.
// Env: URL (the session's link), SHOT (where to save a screenshot), CHROMIUM (optional).
import { run } from "./harness.mjs";

await run(async ({ page, progress }) => {
  progress("loading the page from a blocked address");
  await page.goto(process.env.URL);
  await page.waitForSelector('#status[data-state="blocked"]');
  const status = await page.locator("#status").innerText();
  if (!/retrying in \d+s/.test(status)) throw new Error(`no countdown: ${status}`);
  await page.getByText("Too many failed attempts came from this address").waitFor();
  // Blocked is not refused: the key stays for the retry.
  const kept = await page.evaluate(() => Object.keys(localStorage).length > 0);
  if (!kept) throw new Error("the key was forgotten");
  await page.screenshot({ path: process.env.SHOT });
  progress("blocked notice shown");
});
