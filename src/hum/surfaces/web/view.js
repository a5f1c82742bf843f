// One hum, read from its petal log through /v1/hums/<sigil>/events: every
// petal comes with its wane as the SSE id, so a reconnect or a reload (replay
// from wane 0 into an empty page) rebuilds the same text, nothing lost, nothing twice.
//
// /api/events says which devices this humd is linked with, at once and at
// every change: a page that lost the device hosting its hum reconnects the
// moment that device is linked again, not on a timer. When this humd itself
// cannot be reached, offline.js shows what this browser kept, read-only.
import { $, api, setStatus, state } from "./dom.js";
import { markSeen } from "./list.js";
import { goOffline, recall, remember } from "./offline.js";
import { closeAsks, drawPetal, relabel, setBlooming } from "./petals.js";
import { resetScroll } from "./scroll.js";

export function closeHum() {
  if (state.source) state.source.close();
  state.source = null;
  state.sigil = null;
  state.home = null;
  recovered(); // no retries for a hum nobody is looking at
}

export function openHum(sigil) {
  closeHum();
  state.sigil = sigil;
  state.lastWane = 0;
  state.bubble = null;
  state.reading = null;
  $("log").replaceChildren();
  $("banner").hidden = true;
  $("list-view").hidden = true;
  $("hum-view").hidden = false;
  $("back").hidden = false;
  $("new").hidden = true;
  $("title").textContent = sigil;
  $("prompt").placeholder = "Say something…";
  resetScroll();
  follow(0);
}

export function follow(since) {
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
    const closed = source.readyState === EventSource.CLOSED;
    setStatus("reconnecting…");
    // this humd gone (offline), this browser refused (enrol.js), or the hum's home unreachable
    api("GET", "/api/browser").then(async () => {
      if (!closed || state.source !== source) return;
      // the server refused: ask it why (an EventSource cannot read the answer), then say so
      const why = await whyRefused(since);
      if (state.source !== source) return;
      if (why && why.code === "unknown-hum") unknownHum(sigil);
      else lost(`Cannot reach this hum right now${why ? ` (${why.message})` : ""}. Its text so far is kept above.`);
    }, () => {
      if (state.offline && state.source === source) { source.close(); state.source = null; showKept(); }
    });
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

// This humd cannot be reached: the petals this browser last saw, read-only.
function showKept() {
  setBlooming(false);
  closeAsks("Not answerable while this device cannot be reached.");
  if (state.lastWane === 0) {
    for (const tone of recall(state.sigil)) onTone(tone, false);
    setBlooming(false);
    closeAsks("Not answerable while this device cannot be reached.");
  }
  setStatus("offline");
}

export function resume() {
  if (state.sigil) follow(state.lastWane);
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

export function watchPeers() {
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

// `live`: a tone from the humd (kept for offline), not one read back from what this browser kept.
function onTone(tone, live = true) {
  if (tone.chi === "hello") {
    $("title").textContent = tone.sid || tone.sigil;
    if (tone.home && tone.home !== state.home) { state.home = tone.home; relabel(); }
    if (live) remember(state.sigil, tone);
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
  if (tone.wane === undefined || tone.wane <= state.lastWane) return; // notices; already drawn
  drawPetal(tone);
  if (live) {
    remember(state.sigil, tone);
    markSeen(state.sigil, tone.wane);
  }
}
