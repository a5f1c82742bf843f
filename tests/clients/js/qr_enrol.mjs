// Headless Chromium as two phones (390×844, touch), off loopback: the first opens the
// QR code's link and is enrolled, the second opening the same link is refused; the
// first prompts a hum, and after `hum device revoke` its next request is refused and
// the page says why. Talks to the Python test by lines: prints {"step": ...} JSON
// lines, waits for "go" on stdin where asked.
import { openPhone } from "./phone_browser.mjs";
import readline from "node:readline";
import { readFileSync } from "node:fs";

const joinUrl = process.env.HUM_URL;
const base = process.env.HUM_BASE;
const shots = process.env.HUM_SHOTS;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => console.log(JSON.stringify(obj));
const waitGo = async () => { await lines.next(); };
const PIXEL = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";

// The README's picture of the QR flow: the laptop's terminal beside the phone it enrolled.
async function picture(page) {
  const shot = (await page.screenshot({ scale: "css" })).toString("base64");
  const sheet = await phone.newPage();
  await sheet.setViewportSize({ width: 390, height: 470 });
  await sheet.setContent(`<meta name="viewport" content="width=device-width">
    <body style="margin:0;display:flex;gap:10px;padding:10px;background:#ddd;font:11px monospace;align-items:flex-start">
    <div style="flex:1;background:#111;color:#eee;padding:8px;border-radius:6px">
      <div>$ hum pair --browser</div>
      <div style="background:#fff;margin:8px 0;line-height:0">${readFileSync(process.env.HUM_QR_SVG, "utf8").replace("<svg ", '<svg style="width:100%;height:auto" ')}</div>
      <div style="word-break:break-all">open on the phone: ${joinUrl.replace(/\/join\/.*/, "/join/…")}</div></div>
    <img style="width:200px;border-radius:10px;border:1px solid #999" src="data:image/png;base64,${shot}"></body>`);
  await sheet.screenshot({ path: `${shots}/phone-qr.png`, scale: "css" });
  await sheet.close();
}

const phone = await openPhone(`${process.env.HUM_USER_DATA}/phone`, { userAgent: PIXEL });
const stranger = await openPhone(`${process.env.HUM_USER_DATA}/stranger`);
try {
  const page = phone.pages()[0] || (await phone.newPage());
  await page.goto(joinUrl);
  await page.locator("#me:not([hidden])").waitFor();
  const cookies = (await phone.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure }));
  await page.screenshot({ path: `${shots}/phone-enrolled.png`, scale: "css" });
  const hums = await page.request.get(`${base}/v1/hums`);
  say({ step: "enrolled", me: await page.locator("#me").textContent(), url: page.url(), status: await page.locator("#status").textContent(), cookies, humsStatus: hums.status() });

  // the same link on another phone: refused with a page that says why, and no cookie
  const other = stranger.pages()[0] || (await stranger.newPage());
  const answer = await other.goto(joinUrl);
  const refusedHums = await other.request.get(`${base}/v1/hums`);
  say({ step: "spent", status: answer.status(), text: await other.locator("#refusal").textContent(), cookies: (await stranger.cookies()).length, humsStatus: refusedHums.status() });

  await page.fill("#prompt", "hello from the phone");
  await page.locator("#send").tap();
  await page.waitForSelector(".meta"); // the finish petal's usage line
  say({ step: "prompted", hash: new URL(page.url()).hash, answer: await page.locator(".msg.assistant").first().textContent(),
        origin: await page.locator("#log .origin").first().textContent() });
  await picture(page);

  await waitGo(); // the test revokes this browser
  await page.locator("#back").tap();
  await page.locator("#refused:not([hidden])").waitFor();
  await page.screenshot({ path: `${shots}/phone-removed.png`, scale: "css" });
  say({ step: "revoked", text: await page.locator("#refused").textContent(), composer: await page.locator("#composer").isVisible() });
} finally {
  await phone.close();
  await stranger.close();
}
process.exit(0);
