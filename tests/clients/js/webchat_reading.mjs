// Headless Chromium (Debian's) on the web chat, phone-sized, open at a hum whose next answer
// starts with a long read: the page shows one line that moves while the model reads, then the
// answer. Steps: {"step": "ready"} once the page shows the hum and watches its log (the test
// then prompts and says "go" on stdin), then {"step": "done", ...} with what the page showed.
import { createInterface } from "node:readline";
import { openPhone } from "./phone_browser.mjs";

const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const context = await openPhone(process.env.HUM_USER_DATA);
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${url}/#/hum/${sigil}`);
  await page.locator(".msg.assistant").first().waitFor(); // the hum's first answer is shown
  await page.waitForSelector(".meta"); // and closed
  // every text the reading line shows, as the reader would see it change
  await page.evaluate(() => {
    window.readingSeen = [];
    new MutationObserver(() => {
      for (const li of document.querySelectorAll("#log li.reading")) {
        if (window.readingSeen.at(-1) !== li.textContent) window.readingSeen.push(li.textContent);
      }
    }).observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });
  });
  console.log(JSON.stringify({ step: "ready" }));
  await lines.next(); // "go": the long read is under way
  await page.waitForFunction(() => document.querySelectorAll("#log .meta").length >= 3, null, { timeout: 120000 });
  const log = await page.locator("#log li").evaluateAll((items) => items.map((li) => ({ cls: li.className, text: li.textContent })));
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-reading.png` });
  console.log(JSON.stringify({ step: "done", seen: await page.evaluate(() => window.readingSeen), log }));
} finally {
  await context.close();
}
