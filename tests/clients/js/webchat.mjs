// Headless Chromium (Debian's) on the web chat, phone-sized: open a hum that
// blooms on another humd, reload mid-bloom, end with the laptop's text and the
// view at its newest line; send a prompt from the page and watch the view follow
// the answer, stay put when the reader scrolls up, and come back with "↓ new";
// then see a peer-loss said plainly, and the page heal when the laptop is back.
// Talks to the Python test by lines: prints {"step": ...} JSON lines, waits for
// "go" on stdin where asked.
import { openPhone } from "./phone_browser.mjs";
import readline from "node:readline";

const url = process.env.HUM_URL;
const sigil = process.env.HUM_SIGIL;
const shots = process.env.HUM_SHOTS;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => console.log(JSON.stringify(obj));
const waitGo = async () => { await lines.next(); };
// Whether the conversation is scrolled to its newest line (the page's own slack).
const atBottom = () => {
  const view = document.getElementById("hum-view");
  return view.scrollHeight - view.scrollTop - view.clientHeight <= 48;
};
const answerLength = (n) => (document.querySelectorAll(".msg.assistant")[n]?.textContent || "").length;

const context = await openPhone(process.env.HUM_USER_DATA);
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
    overflows: await page.evaluate(() => document.getElementById("hum-view").scrollHeight > 1.5 * document.getElementById("hum-view").clientHeight),
    atBottom: await page.waitForFunction(atBottom, null, { timeout: 2000 }).then(() => true, () => false),
  };
  await page.screenshot({ path: `${shots}/webchat-phone.png` });
  say({ step: "finished", ...after });

  await waitGo(); // the reader types a follow-up on the phone and sends it
  await page.fill("#prompt", process.env.HUM_FOLLOW_UP);
  await page.click("#send");
  await page.waitForFunction(answerLength, 1);
  const followed = await page.waitForFunction(atBottom, null, { timeout: 2000 }).then(() => true, () => false);
  // the reader scrolls up to read back while the answer is still being written
  await page.mouse.move(195, 300);
  await page.mouse.wheel(0, -1500);
  await page.waitForSelector("#jump:not([hidden])"); // new text arrived below
  const grown = await page.evaluate(answerLength, 1);
  await page.waitForFunction((n) => (document.querySelectorAll(".msg.assistant")[1]?.textContent || "").length > n, grown);
  const stayedUp = !(await page.evaluate(atBottom));
  await page.screenshot({ path: `${shots}/webchat-read-back.png` });
  await page.click("#jump");
  const jumped = await page.waitForFunction(() => {
    const view = document.getElementById("hum-view");
    return view.scrollHeight - view.scrollTop - view.clientHeight <= 48 && document.getElementById("jump").hidden;
  }, null, { timeout: 2000 }).then(() => true, () => false);
  say({
    step: "sent",
    followed,
    stayedUp,
    jumped,
    origins: await page.locator("#log .origin").allTextContents(),
  });

  await waitGo(); // the test kills the laptop in the middle of that answer
  await page.waitForSelector("#banner:not([hidden])");
  const banner = await page.locator("#banner").textContent();
  await page.screenshot({ path: `${shots}/webchat-peer-loss.png` });
  say({ step: "lost", banner, assistants: await page.locator(".msg.assistant").count() });

  await waitGo(); // the test has brought the laptop back from its store, and it is linked again
  await page.waitForFunction(() => document.getElementById("banner").hidden && document.getElementById("status").textContent === "live",
    null, { polling: "raf" }); // the page reconnected by itself
  const liveAt = Date.now();
  await page.waitForSelector(".notice");
  say({
    step: "recovered",
    liveAt,
    notice: await page.locator(".notice").last().textContent(),
    assistants: await page.locator(".msg.assistant").count(),
    status: await page.locator("#status").textContent(),
  });
} finally {
  await context.close();
}
process.exit(0); // stdin stays open otherwise, and node would wait on it
