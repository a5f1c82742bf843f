// Headless Chromium on the web chat, opened at a sigil no device knows (a typo):
// the banner says so, with no "Continue on this device". Prints one JSON line.
import { load } from "./resolve.mjs";

const playwright = await load("playwright-core");
const chromium = playwright.chromium ?? playwright.default.chromium;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  page.setDefaultTimeout(20000);
  await page.goto(`${process.env.HUM_URL}/#/hum/${process.env.HUM_SIGIL}`);
  await page.waitForSelector("#banner:not([hidden])");
  console.log(JSON.stringify({
    banner: await page.locator("#banner").textContent(),
    adopt: await page.locator("#adopt").count(),
    status: await page.locator("#status").textContent(),
  }));
} finally {
  await browser.close();
}
