// Headless Chromium on the web chat at a phone's size (360×640, touch): a hum is read,
// then the humd serving the page is SIGKILLed. The page keeps the petals it showed,
// read-only under a banner, even across a reload (the service worker keeps the page,
// localStorage the petals), and is live again by itself once the humd is back.
// Talks to the Python test by lines: prints {"step": ...} JSON lines, waits for "go".
import { openPhone } from "./phone_browser.mjs";
import readline from "node:readline";

const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => console.log(JSON.stringify(obj));
const waitGo = async () => { await lines.next(); };
const answer = (page) => page.locator(".msg.assistant").first().textContent();

const context = await openPhone(process.env.HUM_USER_DATA, { viewport: { width: 360, height: 640 } });
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${url}/#/hum/${sigil}`);
  await page.waitForSelector(".meta"); // the finish petal's usage line
  await page.evaluate(() => navigator.serviceWorker.ready); // the page itself is kept
  await page.waitForFunction(() => localStorage.getItem("hum.kept")); // and so are its petals
  say({ step: "read", text: await answer(page) });

  await waitGo(); // the test SIGKILLs the humd
  await page.locator("#offline:not([hidden])").waitFor();
  const kept = await answer(page);
  await page.reload(); // while it is gone
  await page.locator("#offline:not([hidden])").waitFor();
  await page.waitForSelector(".msg.assistant");
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-offline.png`, scale: "css" });
  say({
    step: "offline", kept, reloaded: await answer(page), banner: await page.locator("#offline").textContent(),
    status: await page.locator("#status").textContent(), sendBlocked: await page.evaluate(() => getComputedStyle(document.getElementById("send")).pointerEvents === "none"),
  });

  await waitGo(); // the humd is back
  await page.waitForFunction(() => document.getElementById("offline").hidden && document.getElementById("status").textContent === "live",
    null, { polling: "raf" });
  const liveAt = Date.now();
  say({ step: "live", liveAt, text: await answer(page), answers: await page.locator(".msg.assistant").count() });
} finally {
  await context.close();
}
process.exit(0);
