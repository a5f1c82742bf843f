// "Notify me", what is pushed, watching and unread counts in the web chat (issue 20). An ES module.
// - registers the service worker (/sw.js, the whole page's scope);
// - "Notify me" subscribes this browser with the humd's VAPID key and sends the subscription;
// - switches: what this browser is pushed, what this hum pushes, quiet hours;
// - while a hum is open and the page visible, holds /hum/watch/{sigil} open: somebody is watching;
// - marks each hum in the list with how much of it nobody has read.

const SUB_KEY = "hum-push-subscription";
// A push service answers a subscription in a second or two; one that cannot be reached may never answer.
const SUBSCRIBE_TIMEOUT_MS = 10000;
const LEVELS = [["all", "Asks and finishes"], ["asks", "Asks only"], ["none", "Nothing"]];

const box = document.getElementById("notify");
let watching = null; // the EventSource that says "watching", and for which hum

function say(text) {
  const out = box && box.querySelector(".notify-said");
  if (out) out.textContent = text;
}

async function call(method, path, body) {
  const resp = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((data.error && data.error.message) || `${resp.status}`);
  return data;
}

function b64urlBytes(text) {
  const pad = "=".repeat((4 - (text.length % 4)) % 4);
  const raw = atob((text + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.register("/sw.js"); // idempotent: the same registration each time
}

// The page's subscribe flow. Returns the subscription id, or throws with the reason in words.
export async function notifyMe(level = "all") {
  if (!("PushManager" in window) || !("Notification" in window)) {
    throw new Error("this browser cannot receive push here (it needs https://, or http://127.0.0.1 / localhost)");
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error(`notifications are ${permission} for this page`);
  const registration = await navigator.serviceWorker.ready;
  const { publicKey } = await call("GET", "/hum/push/key");
  say("subscribing…");
  const subscribing = registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(publicKey) });
  const late = new Promise((_, no) => setTimeout(() => no(Object.assign(new Error("the browser's push service did not answer"), { name: "TimeoutError" })), SUBSCRIBE_TIMEOUT_MS));
  const subscription = await Promise.race([subscribing, late]);
  const made = await call("POST", "/hum/push/subscriptions", { ...subscription.toJSON(), notify: level === "none" ? "asks" : level });
  localStorage.setItem(SUB_KEY, made.id);
  return made.id;
}

function currentSigil() {
  const m = location.hash.match(/^#\/hum\/([0-9a-f]+)$/);
  return m ? m[1] : null;
}

function select(label, value, onChange) {
  const wrap = document.createElement("label");
  wrap.textContent = label + " ";
  const sel = document.createElement("select");
  for (const [v, text] of LEVELS) sel.append(new Option(text, v, false, v === value));
  sel.addEventListener("change", () => onChange(sel.value).catch((e) => say(String(e.message || e))));
  wrap.append(sel);
  return wrap;
}

async function drawSwitches() {
  const panel = box.querySelector(".notify-switches");
  panel.replaceChildren();
  let choices;
  try {
    choices = await call("GET", "/hum/push/choices");
  } catch (e) {
    return;
  }
  const mine = localStorage.getItem(SUB_KEY);
  const sub = (choices.subscriptions || []).find((s) => s.id === mine);
  if (sub) {
    panel.append(select("This browser:", sub.notify, (v) => call("POST", "/hum/push/choices", { subscription: { id: mine, notify: v } })));
  }
  panel.append(select("This device:", choices.level, (v) => call("POST", "/hum/push/choices", { level: v })));
  const sg = currentSigil();
  if (sg) {
    const level = (choices.hums || {})[sg] || choices.level;
    panel.append(select("This hum:", level, (v) => call("POST", "/hum/push/choices", { hums: { [sg]: v } })));
  }
  const homes = document.createElement("label");
  const tick = Object.assign(document.createElement("input"), { type: "checkbox", checked: !!choices.homes });
  tick.addEventListener("change", () => call("POST", "/hum/push/choices", { homes: tick.checked }).catch((e) => say(e.message)));
  homes.append(tick, " Tell me when a hum's device is lost, and back");
  panel.append(homes);
  const quiet = document.createElement("label");
  quiet.textContent = "Quiet hours (asks only): ";
  const start = Object.assign(document.createElement("input"), { type: "time", value: choices.quiet ? choices.quiet.start : "" });
  const end = Object.assign(document.createElement("input"), { type: "time", value: choices.quiet ? choices.quiet.end : "" });
  const keep = () => call("POST", "/hum/push/choices", { quiet: start.value && end.value ? { start: start.value, end: end.value } : null }).catch((e) => say(e.message));
  start.addEventListener("change", keep);
  end.addEventListener("change", keep);
  quiet.append(start, " – ", end);
  panel.append(quiet);
}

function drawBox() {
  if (!box) return;
  box.replaceChildren();
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Notifications";
  const button = Object.assign(document.createElement("button"), { type: "button", className: "notify-me", textContent: "Notify me" });
  button.addEventListener("click", async () => {
    try {
      await notifyMe();
      say("this browser will be told when a hum needs you");
      await drawSwitches();
    } catch (e) {
      say(`not subscribed: ${e.name && e.name !== "Error" ? e.name + ": " : ""}${e.message || e}`);
    }
  });
  const said = Object.assign(document.createElement("p"), { className: "notify-said" });
  said.setAttribute("aria-live", "polite");
  const switches = Object.assign(document.createElement("div"), { className: "notify-switches" });
  details.append(summary, button, said, switches);
  details.addEventListener("toggle", () => details.open && drawSwitches());
  box.append(details);
}

// Somebody is watching while a hum is open and the page is in the foreground.
function watch() {
  const sg = document.visibilityState === "visible" ? currentSigil() : null;
  if (watching && watching.sigil === sg) return;
  if (watching) watching.source.close();
  watching = sg ? { sigil: sg, source: new EventSource(`/hum/watch/${sg}`) } : null;
}

async function markUnread() {
  const list = document.getElementById("hums");
  if (!list || currentSigil()) return;
  let data;
  try {
    data = await call("GET", "/hum/push/unread");
  } catch (e) {
    return;
  }
  for (const a of list.querySelectorAll("[data-sigil]")) {
    const hum = data.hums[a.dataset.sigil];
    let badge = a.querySelector(".unread");
    const count = hum ? Math.max(0, hum.wane - hum.seen) : 0;
    if (!count) {
      if (badge) badge.remove();
      continue;
    }
    if (!badge) {
      badge = Object.assign(document.createElement("span"), { className: "unread" });
      a.append(badge);
    }
    badge.textContent = ` ${count} new`;
  }
}

registerWorker().catch(() => {});
drawBox();
watch();
document.addEventListener("visibilitychange", watch);
window.addEventListener("hashchange", () => {
  watch();
  markUnread();
});
const list = document.getElementById("hums");
if (list) new MutationObserver(() => markUnread()).observe(list, { childList: true });
markUnread();
