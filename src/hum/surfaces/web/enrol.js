// This browser as a device of its own: enrolled by a QR code's one-time link, named
// (and renamed here), and told plainly when it was removed or was never enrolled.
import { $, api, hooks, setStatus, state } from "./dom.js";

let me = null; // {name, id, ...} of this browser; null on the humd's own device, where no enrolment is needed

function refusedPage(text) {
  for (const id of ["list-view", "hum-view", "composer", "offline"]) $(id).hidden = true;
  $("new").hidden = true;
  const box = $("refused");
  box.replaceChildren();
  const p = document.createElement("p");
  p.textContent = text;
  const how = document.createElement("p");
  how.className = "how";
  how.textContent = "On the device running humd: hum pair --browser, then scan its QR code with this phone.";
  box.append(p, how);
  box.hidden = false;
  setStatus("");
}

// A 401: this browser's cookie was revoked, or it has none.
export function refused(code) {
  if (code === "browser-removed") {
    refusedPage(`This browser${me ? ` (${me.name})` : ""} was removed from hum: it was revoked on the device running humd.`);
  } else {
    refusedPage("This browser is not enrolled with hum.");
  }
}

function showMe() {
  const box = $("me");
  box.replaceChildren();
  if (!me) { box.hidden = true; return; }
  box.append(`This browser: ${me.name} `);
  const rename = document.createElement("button");
  rename.type = "button";
  rename.id = "rename";
  rename.textContent = "Rename";
  rename.onclick = async () => {
    const name = prompt("A name for this browser", me.name);
    if (!name) return;
    try { me = (await api("PUT", "/api/browser", { name })).browser; showMe(); } catch (err) { setStatus(err.message); }
  };
  box.append(rename);
  box.hidden = false;
}

export async function whoami() {
  try {
    const said = await api("GET", "/api/browser");
    me = said.browser;
    state.names[said.humdId] = said.name;
    localStorage.setItem("hum.device", said.name); // named in the offline banner, even after a reload
  } catch (err) {
    return null;
  }
  showMe();
  if (location.hash === "#/enrolled" && me) setStatus(`enrolled as ${me.name}`);
  return me;
}

export function wireEnrolment() { hooks.onRefused = refused; }
