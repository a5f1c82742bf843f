// Headless Chromium on the phone's web chat at 360×640 (touch): the list of hums grouped by
// project and device, the running and waiting ones first, with unread counts that go once a
// hum is read. Prints one JSON line for the Python test.
import { openPhone } from "./phone_browser.mjs";

const groups = () => [...document.querySelectorAll("#hums section.group")].map((g) => ({
  label: g.querySelector("h2").textContent,
  hums: [...g.querySelectorAll("a[data-sigil]")].map((a) => ({
    sigil: a.dataset.sigil, unread: a.querySelector(".unread")?.textContent || "", meta: a.querySelector(".m").textContent,
  })),
}));

const context = await openPhone(process.env.HUM_USER_DATA, { viewport: { width: 360, height: 640 } });
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${process.env.HUM_URL}/`);
  await page.waitForSelector("#hums section.group");
  const before = await page.evaluate(groups);
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-list.png`, scale: "css" });
  await page.locator(`a[data-sigil="${process.env.HUM_READ}"]`).tap();
  await page.waitForSelector(".meta"); // read to its end
  await page.locator("#back").tap();
  await page.waitForSelector("#hums section.group");
  console.log(JSON.stringify({ before, after: await page.evaluate(groups), fits }));
} finally {
  await context.close();
}
