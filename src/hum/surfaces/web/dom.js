// What every module of the web chat shares: the page's elements, its state, and the JSON API.
//
// `api` says why a request failed in one place: a browser that was removed or
// never enrolled gets the enrolment page (enrol.js), an unreachable humd the
// offline mode (offline.js); both hook in through `onRefused` / `onUnreachable`.

export const $ = (id) => document.getElementById(id);

export const state = {
  sigil: null, source: null, lastWane: 0, bubble: null, blooming: false, names: {},
  reading: null, // the line saying how far the open bloom's long read got (its notes with `progress`)
  home: null, // the open hum's home (HumdId), from its hello
  me: null, // this humd's HumdId, from /api/events
  peers: null, peersSeen: 0, triedAt: -1, // linked devices, how many updates so far, the update we last retried on
  lost: false, // the hum's home is gone; waiting for it
  offline: false, // the humd serving this page cannot be reached: read-only, from what this browser kept
  stick: true, lastTop: 0, // follow the newest text unless the reader scrolled up
};

export const hooks = { onRefused: null, onUnreachable: null };

export function setStatus(text) { $("status").textContent = text; }

export class Refused extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    if (hooks.onUnreachable) hooks.onUnreachable();
    throw new Error("cannot reach this device's humd");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const code = data.error && data.error.code;
    const message = (data.error && data.error.message) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && hooks.onRefused) hooks.onRefused(code, message);
    throw new Refused(res.status, code, message);
  }
  return data;
}
