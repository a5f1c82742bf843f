// Push notifications in the web chat's service worker (issue 20).
// A push carries JSON: {kind, sigil, wane, title, body, url, tag, permitId?, actions?}.
// kind "withdraw" takes back the notification with that tag (answered or read elsewhere).
// An ask's actions (Allow, Deny) each POST a one-time capability URL on the humd.

async function showPush(data) {
  if (data.kind === "withdraw") {
    const shown = await self.registration.getNotifications({ tag: data.tag });
    shown.forEach((n) => n.close());
    return;
  }
  const options = {
    body: data.body || "",
    tag: data.tag || undefined,
    data,
    icon: "/static/icon-192.png",
    renotify: data.kind === "ask",
    requireInteraction: data.kind === "ask",
  };
  if (Array.isArray(data.actions)) {
    options.actions = data.actions.map((a) => ({ action: a.action, title: a.title }));
  }
  await self.registration.showNotification(data.title || "hum", options);
}

function pushData(event) {
  if (!event.data) return { title: "hum", body: "" };
  try {
    return event.data.json();
  } catch (e) {
    return { title: "hum", body: event.data.text() };
  }
}

async function tellPages(message) {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  pages.forEach((page) => page.postMessage(message));
}

// Allow or Deny from the notification: the humd answers 200 the first time, 409 after any answer.
async function answerFromNotification(action, data) {
  let status = 0;
  let said = {};
  try {
    const resp = await fetch(action.url, { method: "POST", credentials: "same-origin" });
    status = resp.status;
    said = await resp.json().catch(() => ({}));
  } catch (e) {
    said = { error: { message: String(e) } };
  }
  if (status !== 200) {
    const why = (said.error && said.error.message) || `the humd answered ${status}`;
    await self.registration.showNotification(data.title || "hum", { body: `Not answered: ${why}`, tag: data.tag, data: { url: data.url } });
  }
  await tellPages({ type: "hum-answer", action: action.action, status, said });
  return { status, said };
}

async function openHum(url) {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const here = pages.find((page) => page.url.startsWith(self.registration.scope));
  if (here) {
    await here.focus().catch(() => {}); // allowed only within the click's user activation
    return here.navigate ? here.navigate(url) : here;
  }
  return self.clients.openWindow(url);
}

// The work a click (or an action button) starts; returned so the event can wait on it.
function onNotificationClick(event) {
  const notification = event.notification;
  const data = notification.data || {};
  const action = event.action ? (data.actions || []).find((a) => a.action === event.action) : null;
  notification.close();
  return action ? answerFromNotification(action, data) : openHum(data.url || "/");
}

self.addEventListener("push", (event) => {
  const shown = showPush(pushData(event)).catch((e) => console.error(`hum: cannot show a push: ${e}`));
  event.waitUntil(shown);
});
self.addEventListener("notificationclick", (event) => event.waitUntil(onNotificationClick(event)));
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
