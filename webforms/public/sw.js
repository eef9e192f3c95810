// fieldapp's service worker for /fill: the pages, the bundle, the forms and their files are
// answered from the network when it is there (and kept), and from this cache when it is not.
// Submissions are not handled here: the page keeps them in IndexedDB until the server has them.

const CACHE = 'fieldapp-fill-v1';
const STATIC = '/static/';
const BUNDLE = '/static/fill/';

// The server puts the content-hashed URLs of app.css and the bundle in front of this script
// (self.FIELDAPP_PRECACHE, see fieldapp/fill/views.py), so a new build is a new service worker;
// without them, the plain names of the bundle's asset list.
const PRECACHE = Array.isArray(self.FIELDAPP_PRECACHE) ? self.FIELDAPP_PRECACHE : null;
// /static/app.<hash>.css, /static/fill.<hash>/fill.js: the same file under any hash
const HASHED = /^\/static\/([^/]+?)\.[0-9a-f]{10}(\.[^./]+)?(\/|$)/;

function plain(pathname) {
  return pathname.replace(HASHED, (_all, stem, ext, slash) => `${STATIC}${stem}${ext || ''}${slash}`);
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      if (PRECACHE) {
        await cache.addAll(PRECACHE);
      } else {
        const response = await fetch(`${BUNDLE}assets.json`, { cache: 'no-store' });
        if (response.ok) {
          const files = await response.json();
          await cache.addAll([`${STATIC}app.css`, ...files.map((name) => `${BUNDLE}${name}`)]);
        }
      }
      await self.skipWaiting();
    })(),
  );
});

// Files of older builds are dropped once this one is in place (a page kept from before finds
// the current build's file of the same name through plain()).
self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      if (PRECACHE) {
        const keep = new Set(PRECACHE.map((url) => new URL(url, self.location.origin).href));
        const cache = await caches.open(CACHE);
        for (const request of await cache.keys()) {
          const url = new URL(request.url);
          if (url.pathname.startsWith(STATIC) && !keep.has(url.href)) await cache.delete(request);
        }
      }
      await self.clients.claim();
    })(),
  );
});

async function cachedStatic(cache, url) {
  const wanted = plain(url.pathname);
  for (const request of await cache.keys()) {
    const candidate = new URL(request.url);
    if (candidate.pathname.startsWith(STATIC) && plain(candidate.pathname) === wanted) {
      return cache.match(request, { ignoreVary: true });
    }
  }
  return undefined;
}

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
    const url = new URL(request.url);
    // a form opened for a case from "My visits" (?case=&list=) is the form's own page: the
    // page script reads the case from the address
    if (url.searchParams.has('case') && !url.searchParams.has('edit')) {
      const page = await cache.match(url.origin + url.pathname, { ignoreVary: true });
      if (page) return page;
    }
    const other = url.pathname.startsWith(STATIC) ? await cachedStatic(cache, url) : undefined;
    if (other) return other;
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
