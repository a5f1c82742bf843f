// The web chat's service worker: push notifications and the offline copy of hums.
importScripts("sw-push.js", "sw-offline.js");
