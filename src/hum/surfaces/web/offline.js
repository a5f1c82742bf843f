// When the humd serving this page cannot be reached (its device asleep, killed, out of range):
// the page keeps showing what this browser last saw, read-only under a banner, and is
// live again as soon as the humd answers. The petals are kept in localStorage (every
// origin has it, even plain http:// on a LAN); the service worker (sw.js, sw-offline.js)
// keeps the page itself, so a reload while the humd is gone still opens it.
import { $, setStatus, state } from "./dom.js";

// While unreachable, ask this often whether the humd is back: the page must be live within 2 s of it.
const PROBE_MS = 400;
// Petals kept per hum, and hums kept: the newest ones, well inside localStorage's 5 MB.
const KEPT_PETALS = 1500;
const KEPT_HUMS = 20;
// Petals arrive token by token: write them down at most this often.
const SAVE_MS = 500;

const kept = new Map(); // sigil -> petals (tones), as this browser saw them
const dirty = new Set();
let saveTimer = null;
let onBack = null;

export function registerWorker() {
  // browsers allow service workers on https and on this machine (http://127.0.0.1), not on plain http elsewhere
  if ("serviceWorker" in navigator && window.isSecureContext) navigator.serviceWorker.register("/sw.js").catch(() => {});
}

function key(sigil) { return `hum.petals.${sigil}`; }

export function recall(sigil) {
  if (!kept.has(sigil)) {
    try { kept.set(sigil, JSON.parse(localStorage.getItem(key(sigil)) || "[]")); } catch (e) { kept.set(sigil, []); }
  }
  return kept.get(sigil);
}

export function remember(sigil, tone) {
  const petals = recall(sigil);
  if (tone.chi === "hello") {
    if (!petals.length || petals[0].chi !== "hello") petals.unshift(tone); else petals[0] = tone;
  } else {
    const last = petals[petals.length - 1];
    if (last && last.chi !== "hello" && last.wane >= tone.wane) return; // replayed after a reload: kept already
    petals.push(tone);
    if (petals.length > KEPT_PETALS) petals.splice(1, petals.length - KEPT_PETALS);
  }
  dirty.add(sigil);
  if (!saveTimer) saveTimer = setTimeout(save, SAVE_MS);
}

function save() {
  saveTimer = null;
  const order = JSON.parse(localStorage.getItem("hum.kept") || "[]").filter((s) => !dirty.has(s));
  for (const sigil of dirty) {
    order.push(sigil);
    try { localStorage.setItem(key(sigil), JSON.stringify(kept.get(sigil))); } catch (e) { /* full: keep the rest */ }
  }
  dirty.clear();
  while (order.length > KEPT_HUMS) localStorage.removeItem(key(order.shift()));
  localStorage.setItem("hum.kept", JSON.stringify(order));
}

export function rememberList(data) { localStorage.setItem("hum.list", JSON.stringify(data)); }
export function recallList() {
  try { return JSON.parse(localStorage.getItem("hum.list") || "null"); } catch (e) { return null; }
}

export function whenBack(callback) { onBack = callback; }

// The humd did not answer: say so, go read-only, and watch for its return.
export function goOffline() {
  if (state.offline) return;
  state.offline = true;
  document.body.classList.add("offline");
  const name = state.names[state.me] || localStorage.getItem("hum.device") || "its device"; // after a reload, as enrol.js kept it
  $("offline").textContent = `Cannot reach hum on ${name}. Showing what this browser last saw; nothing can be sent until it is back.`;
  $("offline").hidden = false;
  setStatus("offline");
  probe();
}

async function probe() {
  try {
    const res = await fetch("/api/browser", { cache: "no-store" });
    if (res.status < 500) { back(); return; }
  } catch (e) { /* still away */ }
  setTimeout(probe, PROBE_MS);
}

function back() {
  state.offline = false;
  document.body.classList.remove("offline");
  $("offline").hidden = true;
  if (onBack) onBack();
}
