// The list of hums: grouped by project and by the device each lives on, the running
// and waiting ones first, each with how many of its petals this browser has not seen.
import { $, state } from "./dom.js";

// More unread petals than this show as "99+": the badge says "there is a lot", not a tally.
const UNREAD_SHOWN = 99;

let seen = null; // sigil -> the last wane this browser showed (its own mark)
function marks() {
  if (seen === null) {
    try { seen = JSON.parse(localStorage.getItem("hum.seen") || "{}"); } catch (e) { seen = {}; }
  }
  return seen;
}

let markTimer = null;
export function markSeen(sigil, wane) {
  const m = marks();
  if ((m[sigil] || 0) >= wane) return;
  m[sigil] = wane;
  if (!markTimer) markTimer = setTimeout(() => { markTimer = null; localStorage.setItem("hum.seen", JSON.stringify(m)); }, 300);
}

export function unread(h) { return Math.max(0, (h.wane || 0) - (marks()[h.sigil] || 0)); }

function active(h) { return h.blooming || h.waiting; }

function where(h) {
  if (h.here) return "this device";
  return state.names[h.home] || `device ${String(h.home).slice(0, 8)}`;
}

// [{label, hums}], groups holding a running or waiting hum first, and inside each such hums first.
export function groups(hums) {
  const byKey = new Map();
  for (const h of hums) {
    const label = `${h.project || "no project"} · ${where(h)}`;
    if (!byKey.has(label)) byKey.set(label, []);
    byKey.get(label).push(h);
  }
  const out = [...byKey].map(([label, list]) => ({
    label, hums: list.map((h, i) => [h, i]).sort(([a, i], [b, j]) => (active(b) - active(a)) || i - j).map(([h]) => h),
  }));
  return out.map((g, i) => [g, i]).sort(([a, i], [b, j]) => (a.hums.some(active) ? 0 : 1) - (b.hums.some(active) ? 0 : 1) || i - j).map(([g]) => g);
}

function item(h) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = `#/hum/${h.sigil}`;
  a.dataset.sigil = h.sigil;
  const t = document.createElement("span");
  t.className = "t";
  if (h.blooming) { const dot = document.createElement("span"); dot.className = "dot"; t.append(dot); }
  t.append(h.title || h.sid || h.sigil);
  const n = unread(h);
  if (n) {
    const badge = document.createElement("span");
    badge.className = "unread";
    badge.textContent = n > UNREAD_SHOWN ? `${UNREAD_SHOWN}+` : String(n);
    badge.title = `${n} new`;
    a.append(badge);
  }
  const m = document.createElement("span");
  m.className = "m";
  m.textContent = `${h.waiting ? "waiting for you · " : h.blooming ? "running · " : ""}${h.sigil} · ${h.wane} petals`;
  a.append(t, m);
  li.append(a);
  return li;
}

export function renderList(hums) {
  const box = $("hums");
  box.replaceChildren();
  $("no-hums").hidden = hums.length > 0;
  for (const group of groups(hums)) {
    const section = document.createElement("section");
    section.className = "group";
    const h2 = document.createElement("h2");
    h2.textContent = group.label;
    const ul = document.createElement("ul");
    ul.className = "hums";
    ul.append(...group.hums.map(item));
    section.append(h2, ul);
    box.append(section);
  }
}
