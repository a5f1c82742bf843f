// Debian's Chromium, headless, as a phone: the browser every web chat test drives.
import { load } from "./resolve.mjs";

const playwright = await load("playwright-core");
const chromium = playwright.chromium ?? playwright.default.chromium; // a CommonJS package

// Any single wait in the page; a hang fails in seconds, not minutes.
const PAGE_TIMEOUT_MS = 20000;

export async function openPhone(userDataDir, extra = {}) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    ...extra,
  });
  context.setDefaultTimeout(PAGE_TIMEOUT_MS);
  return context;
}
