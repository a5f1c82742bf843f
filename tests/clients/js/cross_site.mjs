// Headless Chromium (Debian's) as a person browsing: first a page on another
// loopback origin (HUM_ATTACKER_URL) that fires cross-site POSTs at the humd,
// then the humd's own web chat, which must still work. Prints one JSON verdict:
// the status Chromium saw for every request to the humd, and what the web chat showed.
import { load } from "./resolve.mjs";

const playwright = await load("playwright-core");
const chromium = playwright.chromium ?? playwright.default.chromium; // a CommonJS package
const hum = process.env.HUM_URL;

const context = await chromium.launchPersistentContext(process.env.HUM_USER_DATA, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
context.setDefaultTimeout(20000);
const seen = [];
context.on("response", (r) => {
  if (r.url().startsWith(hum) && r.request().method() === "POST") {
    // allHeaders: the headers really sent (Origin included), not the provisional ones
    seen.push(r.request().allHeaders().then((h) => ({ url: r.url().slice(hum.length), status: r.status(), origin: h["origin"] ?? null })));
  }
});
try {
  const page = context.pages()[0] || (await context.newPage());
  // the hostile page: its script posts text/plain (no preflight) and submits a form
  await page.goto(process.env.HUM_ATTACKER_URL);
  await page.waitForFunction(() => window.attackDone === true);
  const formLanded = page.waitForURL(`${hum}/api/hums`); // the form navigates to the humd's answer
  await page.evaluate(() => document.getElementById("form").submit());
  await formLanded;
  const attack = await Promise.all(seen.splice(0));

  // the humd's own web chat, same origin: a new hum with a reply
  await page.goto(`${hum}/`);
  await page.fill("#prompt", "hello from the web chat");
  await page.click("#send");
  await page.waitForSelector(".meta"); // the finish petal's usage line
  const reply = await page.locator(".msg.assistant").first().textContent();
  console.log(JSON.stringify({ attack, own: await Promise.all(seen), reply }));
} finally {
  await context.close();
}
