// Submissions wait here (IndexedDB) until the server has answered 201. They are sent on page
// load, when the browser comes back online, after each new submission and on "Send now".
// Exactly once: a resend carries the same instanceID and identical XML, which the server
// accepts without storing it twice.

import { t } from './i18n.js';
import { OUTBOX, mine, outboxKey, put, remove } from './store.js';

const listeners = new Set();
let running = null;
let lastProblem = '';

export function onChange(listener) {
  listeners.add(listener);
}

async function notify(cfg) {
  const items = await mine(OUTBOX, cfg.user);
  for (const listener of listeners) listener(items, lastProblem);
  return items;
}

export async function enqueue(cfg, item) {
  await put(OUTBOX, { ...item, key: outboxKey(cfg.user, item.instanceId), user: cfg.user });
  await notify(cfg);
}

export function waiting(cfg) {
  return notify(cfg);
}

function messageOf(text) {
  const doc = new DOMParser().parseFromString(text || '', 'text/xml');
  const node = doc.getElementsByTagName('text')[0];
  return node ? node.textContent.trim() : '';
}

async function freshToken(cfg) {
  // the token of the current session, read from a fresh copy of the index page
  const response = await fetch(cfg.index, { cache: 'no-store', credentials: 'same-origin' });
  if (!response.ok || response.redirected) return null;
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
  const node = doc.getElementById('fill-page');
  return node ? node.dataset.csrf : null;
}

async function post(cfg, item) {
  const body = new FormData();
  body.append('xml_submission_file', new Blob([item.xml], { type: 'text/xml' }), 'submission.xml');
  for (const file of item.files || []) {
    body.append(file.name, file.blob, file.name);
  }
  return fetch(`${cfg.collect}/submission`, {
    method: 'POST',
    body,
    credentials: 'same-origin',
    redirect: 'manual',
    cache: 'no-store',
    headers: { 'X-OpenRosa-Version': '1.0', 'X-CSRF-Token': cfg.csrf },
  });
}

async function sendOne(cfg, item) {
  let response = await post(cfg, item);
  if (response.status === 400 || response.status === 403) {
    // perhaps an old page's CSRF token (a page from the offline cache): try once with a fresh one
    const token = await freshToken(cfg).catch(() => null);
    if (token && token !== cfg.csrf) {
      cfg.csrf = token;
      response = await post(cfg, item);
    }
  }
  if (response.status === 201 || response.status === 202) {
    await remove(OUTBOX, item.key);
    return 'sent';
  }
  if (response.type === 'opaqueredirect' || response.status === 401) {
    lastProblem = t('loginAgain', 'Log in again to send what is waiting.');
    return 'stop';
  }
  const problem =
    messageOf(await response.text()) || t('serverAnswered', 'The server answered {status}.', { status: response.status });
  await put(OUTBOX, { ...item, problem, tries: (item.tries || 0) + 1 });
  return response.status >= 500 ? 'stop' : 'kept';
}

async function sendAll(cfg) {
  lastProblem = '';
  const items = await mine(OUTBOX, cfg.user);
  items.sort((a, b) => (a.createdAt || '').localeCompare(b.createdAt || ''));
  for (const item of items) {
    let outcome;
    try {
      outcome = await sendOne(cfg, item);
    } catch (error) {
      lastProblem = t('noConnection', 'No connection: it will be sent when the network is back.');
      break;
    }
    if (outcome === 'stop') break;
  }
  return notify(cfg);
}

export function flush(cfg) {
  if (running === null) {
    running = sendAll(cfg).finally(() => {
      running = null;
    });
  }
  return running;
}

export function keepSending(cfg) {
  window.addEventListener('online', () => flush(cfg));
  // navigator.onLine can be wrong (a captive portal, a dead link): retry now and then anyway
  window.setInterval(async () => {
    const items = await mine(OUTBOX, cfg.user);
    if (items.length > 0) flush(cfg);
  }, 20000);
  return flush(cfg);
}
