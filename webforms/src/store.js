// The browser's own storage for /fill: drafts of unfinished forms and the outbox of submissions
// not yet acknowledged by the server. Both are IndexedDB object stores; every record carries the
// username, so that on a shared tablet one worker never sees or sends another's.

const DB_NAME = 'fieldapp-fill';
const DB_VERSION = 1;
export const DRAFTS = 'drafts';
export const OUTBOX = 'outbox';

let opening = null;

function open() {
  if (opening === null) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(DRAFTS)) db.createObjectStore(DRAFTS, { keyPath: 'key' });
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: 'key' });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

// One transaction; resolves only once it is committed ('strict': written to disk).
async function transact(store, mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode, { durability: 'strict' });
    const request = action(tx.objectStore(store));
    let result;
    request.onsuccess = () => {
      result = request.result;
    };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

export const put = (store, value) => transact(store, 'readwrite', (s) => s.put(value));
export const get = (store, key) => transact(store, 'readonly', (s) => s.get(key));
export const remove = (store, key) => transact(store, 'readwrite', (s) => s.delete(key));
export const all = (store) => transact(store, 'readonly', (s) => s.getAll());

export async function mine(store, user) {
  const items = await all(store);
  return items.filter((item) => item.user === user);
}

export function draftKey(user, formId, editOf) {
  return `${user}|${formId}|${editOf || ''}`;
}

export function outboxKey(user, instanceId) {
  return `${user}|${instanceId}`;
}
