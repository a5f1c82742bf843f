// The compose box, kept above the phone's keyboard, and the New button: start a hum
// here, or in any project of the ensemble (it starts on the device that owns it).
import { $, api, setStatus, state } from "./dom.js";
import { toBottom } from "./scroll.js";

const MAX_BOX_PX = 128;
let project = null; // the project a new hum starts in (null: this device's default worker)

export async function send(ev) {
  ev.preventDefault();
  const box = $("prompt");
  const text = box.value.trim();
  if (!text || state.offline) return;
  $("send").disabled = true;
  toBottom(); // whoever sends wants to see their words and the answer
  try {
    if (state.sigil) {
      await api("POST", `/api/hums/${encodeURIComponent(state.sigil)}/prompt`, { text });
    } else {
      const made = await api("POST", "/api/hums", project ? { text, project } : { text });
      project = null;
      location.hash = `#/hum/${made.sigil}`;
    }
    box.value = "";
    grow();
  } catch (err) {
    setStatus(`not sent: ${err.message}`);
  } finally {
    $("send").disabled = false;
  }
}

export function grow() {
  const box = $("prompt");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, MAX_BOX_PX)}px`;
}

export function placeholder() {
  $("prompt").placeholder = project ? `Start a hum in ${project}…` : "Start a new hum…";
}

// The on-screen keyboard covers the bottom of the layout on some phones: lift the page by its height.
export function keepAboveKeyboard() {
  const vv = window.visualViewport;
  if (!vv) return;
  const fit = () => {
    const covered = Math.max(0, window.innerHeight - vv.height - vv.offsetTop);
    document.body.style.setProperty("--keyboard", `${covered}px`);
  };
  vv.addEventListener("resize", fit);
  vv.addEventListener("scroll", fit);
}

function choose(name) {
  project = name;
  $("new-sheet").hidden = true;
  placeholder();
  $("prompt").focus();
}

function option(label, detail, onPick, disabled = false) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "project";
  button.disabled = disabled;
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = label;
  const m = document.createElement("span");
  m.className = "m";
  m.textContent = detail;
  button.append(t, m);
  button.onclick = onPick;
  return button;
}

// The New sheet: this device, then every project of the ensemble with where it lives.
export async function showNew() {
  const sheet = $("new-sheet");
  const list = $("projects");
  list.replaceChildren(option("A new hum", "on this device", () => choose(null)));
  sheet.hidden = false;
  try {
    const data = await api("GET", "/api/projects");
    for (const p of data.projects) {
      const where = p.here ? "this device" : p.deviceName || String(p.device).slice(0, 8);
      const detail = `${p.worker} on ${where}${p.linked ? "" : " (not linked now)"}`;
      const button = option(p.name, detail, () => choose(p.name), !p.linked);
      button.dataset.project = p.name;
      list.append(button);
    }
  } catch (err) {
    list.append(option("Projects unavailable", err.message, () => {}, true));
  }
}

export function wireComposer() {
  $("composer").addEventListener("submit", send);
  $("prompt").addEventListener("input", grow);
  $("prompt").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !matchMedia("(pointer: coarse)").matches) send(ev);
  });
  $("stop").addEventListener("click", () => {
    if (state.sigil) api("POST", `/api/hums/${encodeURIComponent(state.sigil)}/cancel`).catch(() => {});
  });
  $("new").addEventListener("click", showNew);
  $("new-cancel").addEventListener("click", () => { $("new-sheet").hidden = true; });
  keepAboveKeyboard();
}
