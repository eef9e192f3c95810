// fieldapp's service worker for /fill: the pages, the bundle, the forms and their files are
// answered from the network when it is there (and kept), and from this cache when it is not.
// Submissions are not handled here: the page keeps them in IndexedDB until the server has them.

const CACHE = 'fieldapp-fill-v1';
const STATIC = '/static/';
const BUNDLE = '/static/fill/';

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const response = await fetch(`${BUNDLE}assets.json`, { cache: 'no-store' });
      if (response.ok) {
        const files = await response.json();
        await cache.addAll([`${STATIC}app.css`, ...files.map((name) => `${BUNDLE}${name}`)]);
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

function handled(url) {
  if (url.origin !== self.location.origin) return false;
  if (url.pathname === '/fill/sw.js') return false;
  return url.pathname === '/fill' || url.pathname.startsWith('/fill/') || url.pathname.startsWith(STATIC);
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.status === 200 && response.type === 'basic' && !response.redirected) {
      await cache.put(request.url, response.clone());
    }
    return response;
  } catch (error) {
    const cached = await cache.match(request.url, { ignoreVary: true, ignoreSearch: false });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!handled(url)) return;
  event.respondWith(networkFirst(request));
});
