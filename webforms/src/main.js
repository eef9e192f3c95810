// fieldapp's /fill pages: the outbox count on every page, the worker's index, and one form.

import './fill.css';
import { startForm } from './form.js';
import { setLanguage, t } from './i18n.js';
import { prepareOffline, showDrafts } from './index-page.js';
import * as outbox from './outbox.js';

function config() {
  const data = document.getElementById('fill-page').dataset;
  const webform = document.getElementById('webform');
  setLanguage(data.lang, data.messages);
  let datepicker = null;
  try {
    datepicker = JSON.parse(data.datepicker || 'null');
  } catch (error) {
    datepicker = null;
  }
  return {
    lang: data.lang || 'en',
    datepicker,
    user: data.user,
    csrf: data.csrf,
    index: data.index,
    collect: data.collect,
    sw: data.sw,
    scope: data.scope,
    bundle: data.bundle,
    formId: data.formId || '',
    formTitle: data.formTitle || '',
    formUrl: data.formUrl || '',
    attachments: data.attachments || '',
    edit: data.edit || '',
    editCurrent: data.editCurrent || '',
    editUrl: data.editUrl || '',
    editAttachments: data.editAttachments || '',
    editFiles: webform ? JSON.parse(webform.dataset.editFiles || '[]') : [],
    ...chosenCase(data),
  };
}

// "My visits" opens a follow-up form with ?case=<id>&list=<dataset>; the page says which
// questions choose a case of each list (and which must be answered first to show them)
function chosenCase(data) {
  const params = new URLSearchParams(window.location.search);
  const caseId = params.get('case') || '';
  const caseList = params.get('list') || '';
  let fields = {};
  try {
    fields = JSON.parse(data.caseFields || '{}');
  } catch (error) {
    fields = {};
  }
  const steps = Object.prototype.hasOwnProperty.call(fields, caseList) ? fields[caseList] : null;
  if (!caseId || !Array.isArray(steps) || data.edit) return { caseId: '', caseList: '', caseSteps: [] };
  return { caseId, caseList, caseSteps: steps };
}

function showOutbox(items, problem) {
  const box = document.getElementById('outbox');
  const text = document.getElementById('outbox-text');
  box.dataset.count = String(items.length);
  if (items.length === 0) {
    box.hidden = true;
    text.textContent = '';
    return;
  }
  const refused = items.filter((item) => item.problem);
  let message = t('waiting', '{count} waiting to send.', { count: items.length });
  if (refused.length > 0) {
    message +=
      ' ' + t('refused', 'The server refused {count}: {problem}', { count: refused.length, problem: refused[0].problem });
  }
  else if (problem) message += ` ${problem}`;
  text.textContent = message;
  box.hidden = false;
}

// Caches are shared by everyone using this browser: when another worker logs in, drop the
// previous worker's pages and case lists (drafts and the outbox are kept per worker).
async function forgetOtherWorker(cfg) {
  let previous = null;
  try {
    previous = window.localStorage.getItem('fieldapp-fill-user');
    window.localStorage.setItem('fieldapp-fill-user', cfg.user);
  } catch (error) {
    return;
  }
  if (previous !== null && previous !== cfg.user && 'caches' in window) {
    for (const name of await caches.keys()) {
      if (name.startsWith('fieldapp-fill')) await caches.delete(name);
    }
  }
}

async function registerWorker(cfg) {
  if (!('serviceWorker' in navigator)) return false;
  await navigator.serviceWorker.register(cfg.sw, { scope: cfg.scope });
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
      window.setTimeout(resolve, 3000);
    });
  }
  return Boolean(navigator.serviceWorker.controller);
}

async function main() {
  const cfg = config();
  outbox.onChange(showOutbox);
  document.getElementById('outbox-send').addEventListener('click', () => outbox.flush(cfg));
  if (navigator.onLine) await forgetOtherWorker(cfg);
  const ready = registerWorker(cfg).catch(() => false);
  outbox.keepSending(cfg);
  if (cfg.formId) {
    await startForm(cfg);
  } else {
    await showDrafts(cfg);
    if ((await ready) && navigator.onLine) await prepareOffline(cfg);
  }
  document.body.dataset.fillReady = '1';
}

main();
