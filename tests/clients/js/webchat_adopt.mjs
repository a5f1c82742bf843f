// Headless Chromium on the phone's web chat: the laptop hosting the hum is gone;
// the reader taps "Continue on this device" in the peer-loss banner, sends a
// prompt, and the phone's own worker answers it. Prints one JSON line.
import { load } from "./resolve.mjs";

const playwright = await load("playwright-core");
const chromium = playwright.chromium ?? playwright.default.chromium;
const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  page.setDefaultTimeout(20000);
  await page.goto(`${url}/#/hum/${sigil}`);
  await page.waitForSelector("#banner:not([hidden]) #adopt");
  const banner = await page.locator("#banner").textContent();
  const before = await page.locator(".msg.assistant").count();
  await page.locator("#adopt").click();
  await page.waitForFunction(() => document.getElementById("banner").hidden);
  const metas = await page.locator(".meta").count();
  await page.locator("#prompt").fill("carry on here");
  await page.locator("#send").click();
  // the phone's own worker answers: a new answer, closed by its usage line
  await page.waitForFunction(([n, m]) => document.querySelectorAll(".msg.assistant").length > n && document.querySelectorAll(".meta").length > m, [before, metas]);
  // and the bloom has closed (its finish reached the page, so the phone holds it)
  await page.waitForFunction(() => document.getElementById("stop").hidden);
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-adopt.png` });
  console.log(JSON.stringify({
    banner,
    answers: await page.locator(".msg.assistant").count(),
    last: await page.locator(".msg.assistant").last().textContent(),
    status: await page.locator("#status").textContent(),
    origins: await page.locator("#log .origin").allTextContents(),
  }));
} finally {
  await browser.close();
}
