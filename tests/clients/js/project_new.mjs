// Headless Chromium on the phone's web chat (390×844, touch): the New button lists every
// project of the ensemble; the reader picks the laptop's "api", sends a prompt, and Allows
// what Claude Code on the laptop asks. Prints one JSON line for the Python test.
import { openPhone } from "./phone_browser.mjs";

const context = await openPhone(process.env.HUM_USER_DATA);
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${process.env.HUM_URL}/`);
  await page.locator("#new").tap();
  await page.locator('button.project[data-project="api"]').waitFor();
  const projects = await page.locator("#projects button.project").evaluateAll((buttons) =>
    buttons.map((b) => [b.querySelector(".t").textContent, b.querySelector(".m").textContent]));
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/phone-new.png`, scale: "css" });
  await page.locator('button.project[data-project="api"]').tap();
  const placeholder = await page.locator("#prompt").getAttribute("placeholder");
  await page.fill("#prompt", "create made-on-the-web.txt");
  await page.locator("#send").tap();
  const ask = page.locator(".ask").first();
  await ask.locator("button.allow").waitFor();
  const asked = await ask.locator(".input").textContent();
  await ask.locator("button.allow").tap();
  await ask.locator(".decision").waitFor();
  await page.waitForSelector(".meta"); // the finish petal's usage line
  const sigil = new URL(page.url()).hash.replace("#/hum/", "");
  const hums = await (await page.request.get(`${process.env.HUM_URL}/api/hums`)).json();
  console.log(JSON.stringify({
    projects, placeholder, asked,
    decision: await ask.locator(".decision").textContent(),
    answer: (await page.locator(".msg.assistant").last().textContent()).trim(),
    home: hums.hums.find((h) => h.sigil === sigil)?.home,
    project: hums.hums.find((h) => h.sigil === sigil)?.project,
  }));
} finally {
  await context.close();
}
