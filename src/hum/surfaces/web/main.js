// hum web chat: a list of hums, one hum read from its petal log, and this browser as a device.
// Each concern is a module: list.js, view.js (+ petals.js, scroll.js), compose.js, enrol.js, offline.js.
import { $, api, hooks, setStatus, state } from "./dom.js";
import { placeholder, wireComposer } from "./compose.js";
import { whoami, wireEnrolment } from "./enrol.js";
import { renderList } from "./list.js";
import { goOffline, recallList, registerWorker, rememberList, whenBack } from "./offline.js";
import { scrolled, toBottom } from "./scroll.js";
import { closeHum, openHum, resume, watchPeers } from "./view.js";

async function showList() {
  closeHum();
  $("list-view").hidden = false;
  $("hum-view").hidden = true;
  $("back").hidden = true;
  $("new").hidden = false;
  $("title").textContent = "hum";
  placeholder();
  try {
    const data = await api("GET", "/api/hums");
    rememberList(data);
    show(data);
    setStatus("");
  } catch (err) {
    const kept = state.offline ? recallList() : null;
    if (kept) show(kept); else setStatus(`cannot list hums: ${err.message}`);
  }
}

function show(data) {
  Object.assign(state.names, data.names || {});
  if (data.humdId) state.me = state.me || data.humdId;
  $("title").textContent = `hum · ${data.name}`;
  renderList(data.hums);
}

function route() {
  const m = location.hash.match(/^#\/hum\/([0-9a-f]+)$/);
  if (m) openHum(m[1]); else showList();
}

wireEnrolment();
hooks.onUnreachable = goOffline;
whenBack(() => { if (state.sigil) resume(); else showList(); });
wireComposer();
$("back").addEventListener("click", () => { location.hash = ""; });
$("hum-view").addEventListener("scroll", scrolled, { passive: true });
$("jump").addEventListener("click", toBottom);
window.addEventListener("hashchange", route);
registerWorker();
watchPeers();
whoami();
route();
