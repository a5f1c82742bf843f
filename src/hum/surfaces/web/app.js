// hum web chat: a list of hums, and one hum read from its petal log.
//
// A hum is read through /v1/hums/<sigil>/events: every petal comes with its
// wane as the SSE id, so a reconnect (Last-Event-ID) or a reload (replay from
// wane 0 into an empty page) rebuilds the same text, with nothing lost and
// nothing twice. `lastWane` guards against a petal ever being drawn twice.
//
// /api/events says, at once and then at every change, which devices this humd
// is linked with: a page that lost the device hosting its hum reconnects the
// moment that device is linked again, not on a timer.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  sigil: null, source: null, lastWane: 0, bubble: null, blooming: false, hums: [], names: {},
  home: null, // the open hum's home (HumdId), from its hello
  me: null, // this humd's HumdId, from /api/events
  peers: null, peersSeen: 0, triedAt: -1, // linked devices, how many updates so far, the update we last retried on
  lost: false, // the hum's home is gone; waiting for it
  stick: true, lastTop: 0, // follow the newest text unless the reader scrolled up
};

// "At the bottom" allows this much: a finger's slack, and a line still being drawn.
const BOTTOM_SLACK_PX = 48;
// A prompt's `from` names a client; its name is cut to fit a phone's line.
const FROM_NAME_CHARS = 24;

function setStatus(text) { $("status").textContent = text; }

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || `${res.status} ${res.statusText}`);
  return data;
}

// -- the list ------------------------------------------------------------------

async function showList() {
  closeHum();
  $("list-view").hidden = false;
  $("hum-view").hidden = true;
  $("back").hidden = true;
  $("title").textContent = "hum";
  $("prompt").placeholder = "Start a new hum…";
  try {
    const data = await api("GET", "/api/hums");
    Object.assign(state.names, data.names || {});
    $("title").textContent = `hum · ${data.name}`;
    renderList(data.hums);
    setStatus("");
  } catch (err) {
    setStatus(`cannot list hums: ${err.message}`);
  }
}

function renderList(hums) {
  const ul = $("hums");
  ul.replaceChildren();
  $("no-hums").hidden = hums.length > 0;
  for (const h of hums) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#/hum/${h.sigil}`;
    a.dataset.sigil = h.sigil;
    const t = document.createElement("span");
    t.className = "t";
    if (h.blooming) { const dot = document.createElement("span"); dot.className = "dot"; t.append(dot); }
    t.append(h.title || h.sid || h.sigil);
    const m = document.createElement("span");
    m.className = "m";
    m.textContent = `${h.sigil} · ${h.here ? "on this device" : "on " + String(h.home).slice(0, 8)} · ${h.wane} petals`;
    a.append(t, m);
    li.append(a);
    ul.append(li);
  }
}

// -- one hum ---------------------------------------------------------------------

function closeHum() {
  if (state.source) state.source.close();
  state.source = null;
  state.sigil = null;
  state.home = null;
  recovered(); // no retries for a hum nobody is looking at
}

function openHum(sigil) {
  closeHum();
  state.sigil = sigil;
  state.lastWane = 0;
  state.bubble = null;
  $("log").replaceChildren();
  $("banner").hidden = true;
  $("list-view").hidden = true;
  $("hum-view").hidden = false;
  $("back").hidden = false;
  $("title").textContent = sigil;
  $("prompt").placeholder = "Say something…";
  state.stick = true;
  state.lastTop = 0;
  $("jump").hidden = true;
  follow(0);
}

function follow(since) {
  if (state.source) state.source.close();
  const sigil = state.sigil;
  const source = new EventSource(`/v1/hums/${encodeURIComponent(sigil)}/events?since=${since}`);
  state.source = source;
  setStatus("connecting…");
  source.onopen = () => setStatus("live");
  source.onmessage = (ev) => {
    if (state.source !== source) return;
    const tone = JSON.parse(ev.data);
    if (tone.chi === "hello") recovered();
    onTone(tone);
  };
  source.onerror = () => {
    if (state.source !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      // the server refused: ask it why (an EventSource cannot read the answer), then say so
      whyRefused(since).then((why) => {
        if (state.source !== source) return;
        if (why && why.code === "unknown-hum") unknownHum(sigil);
        else lost(`Cannot reach this hum right now${why ? ` (${why.message})` : ""}. Its text so far is kept above.`);
      });
    } else {
      setStatus("reconnecting…");
    }
  };
}

// The refusal an events request gets now ({code, message}), or null when it is let through.
async function whyRefused(since) {
  try {
    const res = await fetch(`/v1/hums/${encodeURIComponent(state.sigil)}/events?since=${since}`);
    if (res.ok) { res.body && res.body.cancel(); return null; }
    const data = await res.json().catch(() => ({}));
    return { code: (data.error && data.error.code) || String(res.status), message: (data.error && data.error.message) || res.statusText };
  } catch (err) {
    return { code: "unreachable", message: err.message };
  }
}

// A sigil nobody knows (mistyped, or forgotten): nothing to reach, nothing to continue.
function unknownHum(sigil) {
  if (state.source) state.source.close();
  state.source = null;
  setBlooming(false);
  setStatus("unknown");
  const banner = $("banner");
  banner.replaceChildren(`No hum ${sigil} is known on this device or the devices linked to it. Check the sigil (a typo?), or pick one from the list.`);
  const back = document.createElement("button");
  back.type = "button";
  back.textContent = "All hums";
  back.onclick = () => { location.hash = ""; };
  banner.append(back);
  banner.hidden = false;
}

function lost(message) {
  if (state.source) state.source.close();
  state.source = null;
  setBlooming(false);
  setStatus("offline");
  if (!state.lost) {
    // a failed attempt to reconnect keeps the first, truer message on screen
    const banner = $("banner");
    banner.replaceChildren(message);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Try again";
    retry.onclick = tryAgain;
    // the hum outlives its home: this device holds its petals and can carry it on
    const adopt = document.createElement("button");
    adopt.type = "button";
    adopt.id = "adopt";
    adopt.textContent = "Continue on this device";
    adopt.onclick = adoptHere;
    banner.append(retry, adopt);
    banner.hidden = false;
    state.lost = true;
  }
  homeMayBeBack();
}

// Try again once per change of the linked devices that includes the hum's home
// (or any change, while the home is not known yet).
function homeMayBeBack() {
  if (!state.lost || !state.sigil || state.peers === null || state.triedAt === state.peersSeen) return;
  if (state.home && state.home !== state.me && !state.peers.includes(state.home)) return;
  state.triedAt = state.peersSeen;
  tryAgain();
}

async function adoptHere() {
  if (!state.sigil) return;
  setStatus("taking the hum over…");
  try {
    const adopted = await api("POST", `/api/hums/${state.sigil}/adopt`);
    state.home = adopted.home;
    recovered();
    follow(state.lastWane);
  } catch (err) {
    $("banner").replaceChildren(`could not continue here: ${err.message}`);
  }
}

function tryAgain() {
  if (!state.sigil) return;
  setStatus("trying again…");
  follow(state.lastWane);
}

function recovered() {
  state.lost = false;
  $("banner").hidden = true;
}

function watchPeers() {
  const events = new EventSource("/api/events");
  events.addEventListener("peers", (ev) => {
    const data = JSON.parse(ev.data);
    Object.assign(state.names, data.names || {});
    if (data.humdId !== state.me) { state.me = data.humdId; relabel(); }
    state.peers = data.peers;
    state.peersSeen += 1;
    homeMayBeBack();
  });
}

// -- following the newest text ------------------------------------------------------

function atBottom() {
  const view = $("hum-view");
  return view.scrollHeight - view.scrollTop - view.clientHeight <= BOTTOM_SLACK_PX;
}

function toBottom() {
  const view = $("hum-view");
  view.scrollTop = view.scrollHeight;
  state.stick = true;
  $("jump").hidden = true;
}

let scrollQueued = false;
// Something was drawn: keep it in sight, or offer to jump to it.
function drew() {
  if (!state.stick) {
    $("jump").hidden = false;
    return;
  }
  if (scrollQueued) return;
  scrollQueued = true; // once per frame, however many petals arrived in it
  requestAnimationFrame(() => {
    scrollQueued = false;
    if (state.stick) toBottom();
  });
}

// Only the reader moves the view up (drawing only adds below), so a move up
// means they want to read back: stop following until they are at the bottom again.
function scrolled() {
  const view = $("hum-view");
  if (atBottom()) {
    state.stick = true;
    $("jump").hidden = true;
  } else if (view.scrollTop < state.lastTop) {
    state.stick = false;
  }
  state.lastTop = view.scrollTop;
}

function add(cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  $("log").append(li);
  drew();
  return li;
}

// -- where a prompt came from ---------------------------------------------------

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

function relabel() {
  for (const li of document.querySelectorAll("#log .origin")) li.textContent = origin(li.dataset.from, li.dataset.device);
  for (const p of document.querySelectorAll("#log .ask .decision[data-from]")) p.textContent = decisionText(p.dataset);
}

// "Allowed by this device", "Denied by device 1f522154: not now"... (`d`: decision, from, message)
function decisionText(d) {
  const by = origin(d.from, d.device).replace(/^from /, "by ");
  return `${d.decision === "allow" ? "Allowed" : "Denied"} ${by}${d.message ? `: ${d.message}` : ""}`;
}

function setBlooming(on) {
  state.blooming = on;
  $("stop").hidden = !on;
  if (state.bubble) state.bubble.classList.toggle("blooming", on);
}

function onTone(tone) {
  if (tone.chi === "hello") {
    $("title").textContent = tone.sid || tone.sigil;
    if (tone.home && tone.home !== state.home) { state.home = tone.home; relabel(); }
    return;
  }
  if (tone.chi === "error" && tone.wane === undefined) {
    if (tone.qualifier === "peer-loss") {
      lost(`Lost the device that hosts this hum (${String(tone.message || "").replace(/^.*home /, "")}). ` +
           `The text so far is kept; this page reconnects when that device is back.`);
    } else {
      lost(`${tone.qualifier || tone.code}: ${tone.message || "the hum refused"}`);
    }
    return;
  }
  if (tone.wane === undefined) return; // drone verdicts and other notices
  if (tone.wane <= state.lastWane) return; // already drawn
  state.lastWane = tone.wane;
  if (tone.chi === "prompt") {
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
    setBlooming(true);
  } else if (tone.chi === "chunk") {
    if (!state.bubble) {
      state.bubble = add("msg assistant", "");
      state.bubble.classList.toggle("blooming", state.blooming);
    }
    if (tone.chunkType === "note") {
      add("meta", tone.delta || "");
    } else if (!tone.chunkType || tone.chunkType === "text_delta") {
      const text = tone.delta || "";
      state.bubble.textContent += state.bubble.textContent ? text : text.trimStart(); // a bubble after an ask starts mid-sentence
      drew();
    } else if (tone.chunkType === "tool_call") {
      let name = "a tool";
      try { name = JSON.parse(tone.delta || "{}").name || name; } catch (e) { /* shown generically */ }
      add("meta", `called ${name}`);
    }
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
    add("notice", `The reply failed (${tone.qualifier || tone.code}): ${tone.message || ""}`);
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
function closeAsks() {
  for (const buttons of document.querySelectorAll("#log .ask .answer")) {
    const closed = document.createElement("p");
    closed.className = "decision";
    closed.textContent = "No longer open: the answer ended first.";
    buttons.replaceWith(closed);
  }
}

// -- the composer -------------------------------------------------------------------

async function send(ev) {
  ev.preventDefault();
  const box = $("prompt");
  const text = box.value.trim();
  if (!text) return;
  $("send").disabled = true;
  toBottom(); // whoever sends wants to see their words and the answer
  try {
    if (state.sigil) {
      await api("POST", `/api/hums/${encodeURIComponent(state.sigil)}/prompt`, { text });
    } else {
      const made = await api("POST", "/api/hums", { text });
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

function grow() {
  const box = $("prompt");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 128)}px`;
}

function route() {
  const m = location.hash.match(/^#\/hum\/([0-9a-f]+)$/);
  if (m) openHum(m[1]); else showList();
}

$("composer").addEventListener("submit", send);
$("prompt").addEventListener("input", grow);
$("prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !matchMedia("(pointer: coarse)").matches) send(ev);
});
$("stop").addEventListener("click", () => {
  if (state.sigil) api("POST", `/api/hums/${encodeURIComponent(state.sigil)}/cancel`).catch(() => {});
});
$("back").addEventListener("click", () => { location.hash = ""; });
$("hum-view").addEventListener("scroll", scrolled, { passive: true });
$("jump").addEventListener("click", toBottom);
window.addEventListener("hashchange", route);
watchPeers();
route();
