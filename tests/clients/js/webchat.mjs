// Headless Chromium (Debian's) on the web chat, phone-sized: open a hum that
// blooms on another humd, reload mid-bloom, end with the laptop's text; then
// see a peer-loss said plainly, and the page heal when the laptop is back. Talks to the Python test by lines:
// prints {"step": ...} JSON lines, waits for "go" on stdin where asked.
import { load } from "./resolve.mjs";
import readline from "node:readline";

const playwright = await load("playwright-core");
const chromium = playwright.chromium ?? playwright.default.chromium; // a CommonJS package
const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;
const shots = process.env.HUM_SHOTS;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => console.log(JSON.stringify(obj));
const waitGo = async () => { await lines.next(); };

const context = await chromium.launchPersistentContext(process.env.HUM_USER_DATA, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
});
context.setDefaultTimeout(20000);
try {
  const page = context.pages()[0] || (await context.newPage());
  say({ step: "ready" });
  await waitGo(); // the test starts the laptop's bloom
  await page.goto(`${url}/`);
  await page.locator(`a[data-sigil="${sigil}"]`).click();
  const reply = page.locator(".msg.assistant").first();
  await page.waitForFunction(() => (document.querySelector(".msg.assistant")?.textContent || "").length > 0);
  const midText = await reply.textContent();
  await page.reload();
  await page.waitForSelector(".meta"); // the finish petal's usage line
  const after = {
    midText,
    finalText: await page.locator(".msg.assistant").first().textContent(),
    users: await page.locator(".msg.user").count(),
    assistants: await page.locator(".msg.assistant").count(),
    url: page.url(),
  };
  await page.screenshot({ path: `${shots}/webchat-phone.png` });
  say({ step: "finished", ...after });

  await waitGo(); // the test starts a second bloom and kills the laptop mid-way
  await page.waitForSelector("#banner:not([hidden])");
  const banner = await page.locator("#banner").textContent();
  await page.screenshot({ path: `${shots}/webchat-peer-loss.png` });
  say({ step: "lost", banner, assistants: await page.locator(".msg.assistant").count() });

  await waitGo(); // the test brings the laptop back from its store
  await page.waitForSelector("#banner", { state: "hidden" }); // the page reconnected by itself
  await page.waitForSelector(".notice");
  say({
    step: "recovered",
    notice: await page.locator(".notice").last().textContent(),
    assistants: await page.locator(".msg.assistant").count(),
    status: await page.locator("#status").textContent(),
  });
} finally {
  await context.close();
}
process.exit(0); // stdin stays open otherwise, and node would wait on it
