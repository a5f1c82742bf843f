// Headless Chromium (Debian's) on the phone's web chat: the page registers its service worker,
// is installable, and runs its "Notify me" flow up to pushManager.subscribe (no push service is
// reachable here, so Chromium answers AbortError). Then the Python test hands us, line by line
// on stdin, the JSON the humd pushed (decrypted by the test's push service), and we deliver it
// to the worker through the DevTools protocol (ServiceWorker.deliverPushMessage), read the
// notification back with registration.getNotifications(), and press its Allow action through
// the worker's own click handler. One JSON line on stdout per step.
import readline from "node:readline";
import { openPhone } from "./phone_browser.mjs";

const url = process.env.HUM_URL;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => console.log(JSON.stringify(obj));

const context = await openPhone(process.env.HUM_USER_DATA);
try {
  await context.grantPermissions(["notifications"], { origin: url });
  const page = context.pages()[0] || (await context.newPage());
  page.on("pageerror", (e) => console.error(`page error: ${e}`)); // on stderr: the Python test shows it if we fail
  const asked = [];
  page.on("request", (r) => asked.push(`${r.method()} ${r.url().slice(url.length)}`));
  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
  cdp.on("ServiceWorker.workerErrorReported", (e) => console.error(`worker error: ${JSON.stringify(e.errorMessage)}`));
  await cdp.send("ServiceWorker.enable");
  await page.goto(`${url}/`);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { polling: 100 });
  const worker = context.serviceWorkers()[0] || (await context.waitForEvent("serviceworker"));
  const manifest = await cdp.send("Page.getAppManifest");
  const installability = await cdp.send("Page.getInstallabilityErrors");

  await page.click("#notify summary");
  await page.click("#notify .notify-me");
  await page.waitForFunction(() => (document.querySelector("#notify .notify-said").textContent || "").startsWith("not subscribed"), null, { polling: 100 }).catch(async (e) => {
    console.error("said:", await page.textContent("#notify"), await page.evaluate(() => Notification.permission));
    throw e;
  });
  await page.screenshot({ path: `${process.env.HUM_SHOTS}/webchat-notify.png` });
  say({
    step: "ready",
    controlled: await page.evaluate(() => navigator.serviceWorker.controller.scriptURL),
    manifest: { url: manifest.url, errors: manifest.errors, parsed: manifest.parsed || null, data: manifest.data ? JSON.parse(manifest.data) : null },
    installabilityErrors: installability.installabilityErrors.map((e) => e.errorId),
    subscribeSaid: await page.textContent("#notify .notify-said"),
    asked: asked.filter((a) => a.includes("/hum/push") || a.includes("sw")),
  });

  const origin = new URL(url).origin;

  // The push reaches the worker through DevTools, as a push service's would; its notification is then
  // looked for with getNotifications(). Headless Chromium now and then runs the push event but never
  // lists the notification it shows (about one push in five here; the same showPush called again shows
  // it at once), so a push whose notification is not listed within 5 s is delivered once more.
  async function deliverUntilShown(deliver) {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const registrationId = registrations.find((r) => r.scopeURL.startsWith(origin)).registrationId;
      const before = await worker.evaluate(() => {
        if (self.pushesSeen === undefined) {
          self.pushesSeen = 0;
          self.addEventListener("push", () => { self.pushesSeen += 1; }); // observes only: the page's own handler shows it
        }
        return self.pushesSeen;
      });
      await cdp.send("ServiceWorker.deliverPushMessage", { origin, registrationId, data: JSON.stringify(deliver) });
      const outcome = await worker.evaluate(async ({ n, tag, kind }) => {
        const listed = async () => (await self.registration.getNotifications({ tag })).length;
        const done = async () => self.pushesSeen > n && ((await listed()) > 0) !== (kind === "withdraw");
        for (let i = 0; i < 200 && !(await done()); i++) await new Promise((r) => setTimeout(r, 25));
        return { arrived: self.pushesSeen - n, listed: await listed() };
      }, { n: before, tag: deliver.tag, kind: deliver.kind });
      if (outcome.arrived !== 1) throw new Error(`the worker saw ${outcome.arrived} push events for one ServiceWorker.deliverPushMessage`);
      if ((deliver.kind === "withdraw") === (outcome.listed === 0)) return attempt;
    }
    throw new Error(`the notification of a ${deliver.kind} push never showed, twice delivered`);
  }
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    const { deliver, then } = JSON.parse(next.value);
    const deliveries = await deliverUntilShown(deliver);
    if (then === "allow") {
      const shown = await worker.evaluate(async () => (await self.registration.getNotifications()).map((n) => ({
        title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
        requireInteraction: n.requireInteraction,
      })));
      // Allow, as the person taps it: the worker's own notificationclick handler with the shown notification
      const allowed = await worker.evaluate(async (tag) => {
        const [n] = await self.registration.getNotifications({ tag });
        return onNotificationClick({ notification: n, action: "allow" });
      }, deliver.tag);
      // a second answer (Deny, from the same push's data): the first answer won
      const again = await worker.evaluate((data) => answerFromNotification(data.actions[1], data), deliver);
      say({ step: "answered", deliveries, shown, allowed, again, left: await worker.evaluate(async () => (await self.registration.getNotifications()).length) });
    } else if (then === "open") {
      // the list, reloaded, says how much of the hum nobody has read; then a tap on the notification opens the hum
      await page.reload();
      const badge = page.locator(`[data-sigil="${deliver.sigil}"] .unread`);
      await badge.waitFor();
      const unread = await badge.textContent();
      await worker.evaluate(async (tag) => {
        const [n] = await self.registration.getNotifications({ tag });
        return onNotificationClick({ notification: n, action: "" }).then(() => true);
      }, deliver.tag);
      await page.waitForURL(`**/#/hum/${deliver.sigil}`);
      await page.waitForSelector(".msg.assistant");
      say({ step: "opened", deliveries, unread, url: page.url(), title: await page.textContent("#title") });
    } else {
      const left = await worker.evaluate(async (tag) => {
        for (let i = 0; i < 200 && (await self.registration.getNotifications({ tag })).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
        return (await self.registration.getNotifications({ tag })).length;
      }, deliver.tag);
      say({ step: "delivered", kind: deliver.kind, left });
    }
  }
} finally {
  await context.close();
}
