// Headless Chromium (Debian's) on the web chat, phone-sized: a hum on another humd
// asks before it runs a command; the page shows the ask and its exact input, the
// reader taps Allow, and the page shows who decided and the rest of the answer.
// Prints one JSON line for the Python test.
import { openPhone } from "./phone_browser.mjs";

const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;

const context = await openPhone(process.env.HUM_USER_DATA);
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`${url}/#/hum/${sigil}`);
  const ask = page.locator(".ask").first();
  await ask.locator("button.allow").waitFor();
  const shown = {
    question: await ask.locator(".question").textContent(),
    input: await ask.locator(".input").textContent(),
    buttons: await ask.locator(".answer button").allTextContents(),
  };
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-ask.png` });
  await ask.locator("button.allow").tap();
  await ask.locator(".decision").waitFor();
  await page.waitForSelector(".meta"); // the finish petal's usage line
  const after = {
    decision: await ask.locator(".decision").textContent(),
    buttonsLeft: await ask.locator("button").count(),
    answers: await page.locator(".msg.assistant").allTextContents(),
    status: await page.locator("#status").textContent(),
  };
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-allowed.png` });
  console.log(JSON.stringify({ shown, after }));
} finally {
  await context.close();
}
