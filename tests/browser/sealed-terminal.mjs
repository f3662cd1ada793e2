// The terminal page through a byte-logging relay (driven by tests/browser.rs): the user
// types a marker, the program answers with another, and the page must show both, while the
// Rust test finds neither (nor any key) in the bytes the relay passed.
// Env: URL (the session's link, http://HOST:PORT/#k=KEY), RELAY_LOG (the relay's directory),
// TYPED and PRINTED (the markers), CHROMIUM (optional browser path).
import { run } from "./harness.mjs";
import { relay, through } from "./relay.mjs";

const proxy = await relay(Number(new URL(process.env.URL).port), process.env.RELAY_LOG);
const { url } = through(proxy, process.env.URL);
const { TYPED, PRINTED } = process.env;

await run(async ({ page, progress }) => {
  const shows = (needle) => page.waitForFunction((needle) => {
    const b = window.term.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(needle)) return true;
    return false;
  }, needle);

  progress("loading the page through the relay");
  await page.goto(url);
  await page.waitForSelector('#status[data-state="connected"]');
  await shows("ready");
  // Inserted in one go, so the whole marker travels in one input message.
  await page.locator("#term-host").click();
  await page.keyboard.insertText(TYPED);
  await page.keyboard.press("Enter");
  await shows(TYPED);
  progress("typed marker echoed");
  await shows(PRINTED);
  progress("printed marker shown");
});
