// What every browser test script shares: a mobile page in Debian's headless Chromium,
// the STEP/go exchange with the Rust test on stdio, a one-minute guard, and a bounded
// close (Playwright's browser.close() can hang after a WebSocket reconnect).
// `run(body)` prints "RESULT ok" when `body({ page, step, progress })` succeeds.
import { chromium } from "playwright-core";
import readline from "node:readline";

// Never hang the test run: whatever happens, give up after a minute.
setTimeout(() => {
  console.error("browser: gave up after 60 s");
  process.exit(3);
}, 60000).unref();

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/// Tells the Rust test to act (prints "STEP <name>") and waits for its "go".
async function step(name) {
  console.log(`STEP ${name}`);
  const { value } = await lines.next();
  if (value !== "go") throw new Error(`the test aborted at ${name}`);
}

const progress = (what) => console.error(`browser: ${what}`);

export async function run(body) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    page.on("console", (m) => console.error(`page: ${m.text()}`));
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    page.setDefaultTimeout(15000);
    await body({ page, step, progress });
    console.log("RESULT ok");
  } catch (e) {
    console.error(`browser: ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    await Promise.race([browser.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    process.exit();
  }
}
