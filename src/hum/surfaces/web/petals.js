// Drawing a hum's petals: prompts and where they came from, the answer as it is
// written, notes, asks (Allow / Deny) and their answers. `lastWane` guards
// against a petal ever being drawn twice.
import { $, api, setStatus, state } from "./dom.js";
import { drew } from "./scroll.js";

// A prompt's `from` names a client; its name is cut to fit a phone's line.
const FROM_NAME_CHARS = 24;

function add(cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  $("log").append(li);
  drew();
  return li;
}

export function notice(text) { return add("notice", text); }

function device(humdId) {
  if (humdId === state.me) return "this device";
  const short = String(humdId).slice(0, 8);
  const name = state.names[humdId];
  return name ? `${name} (${short})` : `device ${short}`;
}

// A HumdId when the prompt was routed from another humd, else the name of the client on the
// device it was typed on (`on`: the petal's `device`; older petals lack it and name the home).
function origin(from, on) {
  const text = String(from || "?");
  const id = text.replace(/^humd_/, "");
  if (/^[0-9a-f]{64}$/.test(id)) return `from ${device(id)}`;
  const name = text.slice(0, FROM_NAME_CHARS);
  const where = on || state.home;
  return where ? `from ${name} on ${device(where)}` : `from ${name}`;
}

export function relabel() {
  for (const li of document.querySelectorAll("#log .origin")) li.textContent = origin(li.dataset.from, li.dataset.device);
  for (const p of document.querySelectorAll("#log .ask .decision[data-from]")) p.textContent = decisionText(p.dataset);
}

// "Allowed by this device", "Denied by device 1f522154: not now"... (`d`: decision, from, message)
function decisionText(d) {
  const by = origin(d.from, d.device).replace(/^from /, "by ");
  return `${d.decision === "allow" ? "Allowed" : "Denied"} ${by}${d.message ? `: ${d.message}` : ""}`;
}

export function setBlooming(on) {
  state.blooming = on;
  $("stop").hidden = !on || state.offline;
  if (state.bubble) state.bubble.classList.toggle("blooming", on);
}

function drawPrompt(tone) {
  if (state.bubble) state.bubble.classList.remove("blooming");
  const results = Array.isArray(tone.toolResults) ? tone.toolResults.length : 0;
  const shown = tone.text || (results ? `(${results} tool result${results === 1 ? "" : "s"})` : "");
  const user = add("msg user", shown);
  user.dataset.wane = tone.wane;
  const where = add("origin", origin(tone.from, tone.device));
  where.dataset.from = String(tone.from || "");
  where.dataset.device = String(tone.device || "");
  state.bubble = add("msg assistant", "");
  state.bubble.dataset.prompt = tone.wane;
  state.reading = null;
  setBlooming(true);
}

function drawChunk(tone) {
  if (!state.bubble) {
    state.bubble = add("msg assistant", "");
    state.bubble.classList.toggle("blooming", state.blooming);
  }
  if (tone.chunkType === "note" && tone.progress && state.reading) {
    state.reading.textContent = tone.delta || ""; // a long read goes on: its one line moves
  } else if (tone.chunkType === "note") {
    const li = add(tone.progress ? "meta reading" : "meta", tone.delta || "");
    if (tone.progress) state.reading = li;
  } else if (!tone.chunkType || tone.chunkType === "text_delta") {
    const text = tone.delta || "";
    state.bubble.textContent += state.bubble.textContent ? text : text.trimStart(); // a bubble after an ask starts mid-sentence
    drew();
  } else if (tone.chunkType === "tool_call") {
    let name = "a tool";
    try { name = JSON.parse(tone.delta || "{}").name || name; } catch (e) { /* shown generically */ }
    add("meta", `called ${name}`);
  }
}

// One petal of the open hum (already known to be new: its wane is past `lastWane`).
export function drawPetal(tone) {
  state.lastWane = tone.wane;
  if (tone.chi === "prompt") {
    drawPrompt(tone);
  } else if (tone.chi === "chunk") {
    drawChunk(tone);
  } else if (tone.chi === "permission-ask") {
    showAsk(tone);
    if (state.bubble) state.bubble.classList.remove("blooming");
    state.bubble = null; // what the worker says after the answer is drawn below the ask
  } else if (tone.chi === "permit") {
    showPermit(tone);
  } else if (tone.chi === "finish") {
    closeAsks();
    setBlooming(false);
    const u = tone.usage || {};
    add("meta", `${u.output_tokens ?? 0} tokens${tone.finishReason && tone.finishReason !== "stop" ? " · " + tone.finishReason : ""}`);
  } else if (tone.chi === "error") {
    closeAsks();
    setBlooming(false);
    notice(`The reply failed (${tone.qualifier || tone.code}): ${tone.message || ""}`);
  }
}

// -- asks: the worker wants to use a tool, any device may answer ---------------------

function showAsk(tone) {
  const li = add("ask", "");
  li.dataset.permit = tone.permitId;
  const question = document.createElement("p");
  question.className = "question";
  question.textContent = tone.question || `The worker wants to use ${tone.tool}.`;
  const what = document.createElement("pre"); // exactly what would run
  what.className = "input";
  what.textContent = `${tone.tool} ${JSON.stringify(tone.input, null, 2)}`;
  const buttons = document.createElement("div");
  buttons.className = "answer";
  for (const [decision, label] of [["allow", "Allow"], ["deny", "Deny"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = decision;
    button.textContent = label;
    button.onclick = () => answer(tone, decision, li);
    buttons.append(button);
  }
  li.append(question, what, buttons);
  drew();
}

async function answer(tone, decision, li) {
  const buttons = li.querySelectorAll(".answer button");
  for (const b of buttons) b.disabled = true;
  try {
    const path = `/api/hums/${encodeURIComponent(state.sigil)}/permits/${encodeURIComponent(tone.permitId)}`;
    await api("POST", path, { decision, wane: tone.wane });
  } catch (err) {
    setStatus(`not answered: ${err.message}`); // an earlier answer, if any, arrives as its permit petal
    for (const b of buttons) b.disabled = false;
  }
}

function showPermit(tone) {
  const li = [...document.querySelectorAll("#log .ask")].find((el) => el.dataset.permit === tone.permitId);
  if (!li) { add("meta", decisionText(tone)); return; }
  li.querySelector(".answer")?.remove();
  li.classList.add(tone.decision);
  const decided = document.createElement("p");
  decided.className = "decision";
  // kept, so the label says "this device" once the page learns which device it is on
  Object.assign(decided.dataset, {
    decision: tone.decision, from: String(tone.from || ""), device: String(tone.device || ""), message: tone.message || "",
  });
  decided.textContent = decisionText(tone);
  li.append(decided);
  drew();
}

// The bloom closed: asks still showing buttons can no longer be answered.
export function closeAsks(why = "No longer open: the answer ended first.") {
  for (const buttons of document.querySelectorAll("#log .ask .answer")) {
    const closed = document.createElement("p");
    closed.className = "decision";
    closed.textContent = why;
    buttons.replaceWith(closed);
  }
}
