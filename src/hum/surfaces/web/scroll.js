// Following the newest text of a hum: keep it in sight, unless the reader scrolled up to read back.
import { $, state } from "./dom.js";

// "At the bottom" allows this much: a finger's slack, and a line still being drawn.
const BOTTOM_SLACK_PX = 48;

export function atBottom() {
  const view = $("hum-view");
  return view.scrollHeight - view.scrollTop - view.clientHeight <= BOTTOM_SLACK_PX;
}

export function toBottom() {
  const view = $("hum-view");
  view.scrollTop = view.scrollHeight;
  state.stick = true;
  $("jump").hidden = true;
}

let scrollQueued = false;
// Something was drawn: keep it in sight, or offer to jump to it.
export function drew() {
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
export function scrolled() {
  const view = $("hum-view");
  if (atBottom()) {
    state.stick = true;
    $("jump").hidden = true;
  } else if (view.scrollTop < state.lastTop) {
    state.stick = false;
  }
  state.lastTop = view.scrollTop;
}

export function resetScroll() {
  state.stick = true;
  state.lastTop = 0;
  $("jump").hidden = true;
}
