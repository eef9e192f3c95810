// The worker's index (/fill): drafts kept on this device, and getting the forms ready offline.

import { dateText, t, timeText } from './i18n.js';
import { DRAFTS, mine } from './store.js';

function timeOf(iso) {
  const date = new Date(iso);
  return `${dateText(date)} ${timeText(date)}`;
}

export async function showDrafts(cfg) {
  const drafts = await mine(DRAFTS, cfg.user);
  const section = document.getElementById('drafts');
  const list = document.getElementById('drafts-list');
  list.replaceChildren();
  drafts.sort((a, b) => b.savedAt.localeCompare(a.savedAt));
  for (const draft of drafts) {
    const item = document.createElement('li');
    item.className = 'fill-item draft';
    const title = document.createElement('strong');
    title.textContent = draft.formTitle || draft.formId;
    const when = document.createElement('span');
    when.className = 'muted';
    when.textContent = draft.edit
      ? t('correctionSaved', 'correction, saved {time}', { time: timeOf(draft.savedAt) })
      : t('draftSavedAt', 'saved {time}', { time: timeOf(draft.savedAt) });
    const link = document.createElement('a');
    link.className = 'button';
    let params = draft.edit ? `?edit=${encodeURIComponent(draft.edit)}` : '';
    if (!draft.edit && draft.caseId) {
      params = `?case=${encodeURIComponent(draft.caseId)}&list=${encodeURIComponent(draft.caseList || '')}`;
    }
    link.href = `${cfg.index}/${encodeURIComponent(draft.formId)}${params}`;
    link.textContent = t('resume', 'Resume');
    item.append(title, when, link);
    list.append(item);
  }
  section.hidden = drafts.length === 0;
}

async function warm(url, init) {
  const response = await fetch(url, { credentials: 'same-origin', ...init });
  return response.ok ? response : null;
}

// Fetch every open form's page, XForm and files once, so that the service worker has them.
export async function prepareOffline(cfg) {
  const note = document.getElementById('offline-ready');
  const links = [...document.querySelectorAll('a.fill-form, .returned a.button')];
  let failed = 0;
  await warm(cfg.index);
  for (const link of links) {
    if (!(await warm(link.href))) failed += 1;
  }
  for (const link of document.querySelectorAll('a.fill-form')) {
    const formId = link.dataset.formId;
    const base = `${cfg.collect}/forms/${encodeURIComponent(formId)}`;
    if (!(await warm(`${base}.xml`))) failed += 1;
    const manifest = await warm(`${base}/manifest`, { headers: { 'X-OpenRosa-Version': '1.0' } });
    if (manifest === null) continue; // a form without files has no manifest to speak of
    const doc = new DOMParser().parseFromString(await manifest.text(), 'text/xml');
    for (const node of doc.getElementsByTagNameNS('*', 'downloadUrl')) {
      if (!(await warm(node.textContent.trim()))) failed += 1;
    }
  }
  note.textContent = failed
    ? t('offlineSome', 'Some forms could not be prepared for offline use; open this page again with a connection.')
    : t('offlineReady', 'These forms are ready to use without a connection.');
  note.dataset.ready = failed ? '0' : '1';
}
