// The offline copy of the web chat itself: the page and its modules, so a reload while
// this device's humd cannot be reached still opens the page (which then shows the petals
// this browser kept, read-only: offline.js). The API and streams always go to the network.
const SHELL_CACHE = "hum-shell-v1";
const SHELL = [
  "/", "/static/style.css", "/static/main.js", "/static/dom.js", "/static/list.js", "/static/view.js",
  "/static/petals.js", "/static/scroll.js", "/static/compose.js", "/static/enrol.js", "/static/offline.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });

function isShell(url) {
  return url.origin === self.location.origin && (url.pathname === "/" || url.pathname.startsWith("/static/"));
}

// The network first (a fresh page whenever the humd answers), the kept copy when it does not.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !isShell(url)) return;
  const key = url.pathname === "/" ? "/" : url.pathname;
  event.respondWith(
    fetch(event.request).then((res) => {
      if (res.ok) {
        const copy = res.clone();
        caches.open(SHELL_CACHE).then((cache) => cache.put(key, copy));
      }
      return res;
    }, () => caches.match(key).then((kept) => kept || Response.error())),
  );
});
