// One form in ODK Web Forms: load the XForm and its files through /fill/collect, resume a
// draft kept on this device, keep saving the draft while the worker types, and on "Send" put
// the submission in the outbox (IndexedDB) before anything else, then send it.

import { OdkWebForm, POST_SUBMIT__NEW_INSTANCE, webFormsPlugin } from '@getodk/web-forms';
import { createApp, h } from 'vue';
import { formLanguageFor, t, timeText } from './i18n.js';
import * as outbox from './outbox.js';
import { DRAFTS, draftKey, get, put, remove } from './store.js';

const META_NS = 'http://openrosa.org/xforms';

function byId(id) {
  return document.getElementById(id);
}

function say(text, kind = 'info') {
  const node = byId('fill-message');
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = !text;
}

function timeOf(iso) {
  return timeText(new Date(iso), true);
}

// -- instance XML -----------------------------------------------------------------------------

function parseXml(text) {
  return new DOMParser().parseFromString(text, 'text/xml');
}

function metaElement(doc, localName) {
  const all = doc.getElementsByTagNameNS('*', localName);
  return all.length > 0 ? all[0] : null;
}

function instanceIdOf(xml) {
  const node = metaElement(parseXml(xml), 'instanceID');
  return node ? node.textContent.trim() : '';
}

// Whatever the engine did, a new submission carries no deprecatedID and a correction names
// exactly the version the server holds now (so the server records it as an edit of it).
//
// Web Forms 0.22 does not run an ``odk-instance-first-load`` setvalue on a node that is not
// relevant when the form opens (fixed upstream after 0.22), so an entity declared in a group
// shown later (the registration's mother and first child) can arrive without its new id: give
// such an entity a fresh UUID, as the form's ``uuid()`` would have.
function fixMeta(xml, editCurrent) {
  const doc = parseXml(xml);
  const instanceId = metaElement(doc, 'instanceID');
  let deprecated = metaElement(doc, 'deprecatedID');
  if (!editCurrent) {
    if (deprecated !== null) deprecated.parentNode.removeChild(deprecated);
  } else if (deprecated === null || deprecated.textContent !== editCurrent) {
    if (deprecated === null) {
      deprecated = doc.createElementNS(META_NS, 'orx:deprecatedID');
      instanceId.parentNode.appendChild(deprecated);
    }
    deprecated.textContent = editCurrent;
  }
  for (const entity of doc.getElementsByTagNameNS('*', 'entity')) {
    const create = entity.getAttribute('create');
    if ((create === '1' || create === 'true') && !entity.getAttribute('id')) {
      entity.setAttribute('id', crypto.randomUUID());
    }
  }
  return new XMLSerializer().serializeToString(doc);
}

// A draft is reloaded through the engine's edit mode, which moves instanceID to deprecatedID
// and makes a new instanceID. For a new form the draft's instanceID is blanked first (so no
// deprecatedID appears); for a correction it is set back to the server's version.
function draftForRestore(draft) {
  const doc = parseXml(draft.xml);
  const instanceId = metaElement(doc, 'instanceID');
  if (instanceId !== null) instanceId.textContent = draft.editCurrent || '';
  const deprecated = metaElement(doc, 'deprecatedID');
  if (deprecated !== null) deprecated.parentNode.removeChild(deprecated);
  return new XMLSerializer().serializeToString(doc);
}

async function payloadParts(payload) {
  const data = payload.data[0];
  const xmlFile = data.get('xml_submission_file');
  const xml = await xmlFile.text();
  const files = [];
  for (const [name, value] of data.entries()) {
    if (name === 'xml_submission_file' || !(value instanceof Blob)) continue;
    files.push({ name: value.name || name, type: value.type, blob: value });
  }
  return { xml, files };
}

// -- the engine's root node (for drafts) --------------------------------------------------------

// Web Forms does not hand its form state to the host page; its header component gets the root
// node as the prop ``form``. Find it in the mounted component tree.
function findRoot(vnode, depth = 0) {
  if (!vnode || depth > 400) return null;
  const component = vnode.component;
  if (component) {
    const form = component.props && component.props.form;
    if (form && typeof form.prepareInstancePayload === 'function') return form;
    return findRoot(component.subTree, depth + 1);
  }
  if (Array.isArray(vnode.children)) {
    for (const child of vnode.children) {
      const found = findRoot(child, depth + 1);
      if (found) return found;
    }
  }
  if (vnode.suspense && vnode.suspense.activeBranch) {
    return findRoot(vnode.suspense.activeBranch, depth + 1);
  }
  return null;
}

// -- a case chosen from "My visits" -----------------------------------------------------------

function findNode(node, path, depth = 0) {
  if (!node || depth > 200) return null;
  const state = node.currentState || {};
  if (state.reference === path || (node.definition && node.definition.nodeset === path)) return node;
  const children = Array.isArray(state.children) ? state.children : [];
  for (const child of children) {
    const found = findNode(child, path, depth + 1);
    if (found) return found;
  }
  return null;
}

// Set the questions that choose the case (the page's ``caseSteps``: first those that make the
// picker relevant, then the picker itself, ``null`` standing for the case id). The engine keeps
// only values among the question's choices, so an id that is not in the worker's list chooses
// nothing.
async function chooseCase(mounted, cfg) {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    const root = findRoot(mounted && mounted.$ && mounted.$.subTree);
    if (root !== null) {
      let chosen = true;
      for (const [path, value] of cfg.caseSteps) {
        const node = findNode(root, path);
        if (node === null || typeof node.selectValue !== 'function') {
          chosen = false;
          break;
        }
        node.selectValue(value === null ? cfg.caseId : value);
      }
      const picker = findNode(root, cfg.caseSteps[cfg.caseSteps.length - 1][0]);
      if (chosen && picker !== null && picker.currentState.value.includes(cfg.caseId)) return true;
    }
    await new Promise((resolve) => window.setTimeout(resolve, 100));
  }
  return false;
}

// -- the form's language ------------------------------------------------------------------------

// Open the form in the translation of the page's language (the worker's setting, else the
// browser's) when the form has one; the form's own language menu still switches it.
function showPageLanguage(root, tries = 0) {
  const form = root();
  if (form === null || !Array.isArray(form.languages)) {
    if (tries < 100) window.setTimeout(() => showPageLanguage(root, tries + 1), 100);
    return;
  }
  const wanted = formLanguageFor(form.languages);
  const active = form.currentState && form.currentState.activeLanguage;
  if (wanted !== null && (!active || active.language !== wanted.language)) form.setLanguage(wanted);
  document.getElementById('webform').dataset.formLanguage = wanted ? wanted.language : '';
}

// -- the page ---------------------------------------------------------------------------------

export async function startForm(cfg) {
  // a visit opened for a case keeps its draft apart from the form's other drafts
  const key = draftKey(cfg.user, cfg.formId, cfg.edit || (cfg.caseId ? `case:${cfg.caseId}` : ''));
  const container = byId('webform');
  const loading = byId('webform-loading');
  let app = null;
  let mounted = null;
  let dirty = false;
  let timer = null;
  let lastSaved = '';
  let paused = false;

  let formXml = null;
  try {
    const formResponse = await fetch(cfg.formUrl, { credentials: 'same-origin' });
    if (formResponse.ok) formXml = await formResponse.text();
  } catch (error) {
    formXml = null; // offline, and this form was never opened here with a connection
  }
  if (formXml === null) {
    loading.textContent = t('loadFailed', 'The form could not be loaded. Connect to the network and reload.');
    return;
  }

  const fetchFormAttachment = (url) => {
    const name = String(url.href || url).split('/').pop();
    return fetch(cfg.attachments + encodeURIComponent(decodeURIComponent(name)), {
      credentials: 'same-origin',
    });
  };

  // saves run one after another: each reads the form when its turn comes, so an older state
  // can never be written over a newer one
  let saving = Promise.resolve();
  function saveDraft() {
    timer = null;
    saving = saving.then(saveNow, saveNow);
    return saving;
  }

  async function saveNow() {
    if (!dirty || paused || mounted === null) return;
    const root = findRoot(mounted && mounted.$ && mounted.$.subTree);
    if (root === null) return;
    dirty = false;
    const { xml, files } = await payloadParts(await root.prepareInstancePayload({ payloadType: 'monolithic' }));
    if (paused || xml === lastSaved) return;
    const savedAt = new Date().toISOString();
    await put(DRAFTS, {
      key,
      user: cfg.user,
      formId: cfg.formId,
      formTitle: cfg.formTitle,
      edit: cfg.edit || '',
      editCurrent: cfg.editCurrent || '',
      caseId: cfg.caseId || '',
      caseList: cfg.caseList || '',
      xml,
      files,
      savedAt,
    });
    lastSaved = xml;
    const status = byId('draft-status');
    status.textContent = t('draftSaved', 'Draft saved on this device at {time}.', { time: timeOf(savedAt) });
    status.dataset.savedAt = savedAt;
    byId('draft-actions').hidden = false;
  }

  function changed() {
    if (paused) return;
    dirty = true;
    if (timer === null) timer = window.setTimeout(saveDraft, 400);
  }

  async function onSubmit(payload, done) {
    paused = true;
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    await saving.catch(() => null); // no draft save may land after the draft is removed
    try {
      const parts = await payloadParts(payload);
      const xml = fixMeta(parts.xml, cfg.editCurrent);
      const instanceId = instanceIdOf(xml);
      await outbox.enqueue(cfg, {
        instanceId,
        formId: cfg.formId,
        formTitle: cfg.formTitle,
        edit: cfg.edit || '',
        xml,
        files: parts.files,
        createdAt: new Date().toISOString(),
      });
      await remove(DRAFTS, key);
      lastSaved = '';
      dirty = false;
      byId('draft-status').textContent = '';
      byId('draft-actions').hidden = true;
      say(t('sending', 'Saved on this device; sending…'));
      const left = await outbox.flush(cfg);
      const stillHere = left.some((item) => item.instanceId === instanceId);
      if (stillHere) {
        say(t('waitingNetwork', 'Saved on this device. It will be sent when the network is back.'), 'waiting');
      } else {
        say(cfg.edit ? t('correctionSent', 'Correction sent.') : t('sent', 'Sent. You can fill the form again.'), 'ok');
      }
      if (cfg.edit || cfg.caseId) {
        done();
        container.hidden = true;
        const back = document.createElement('a');
        back.href = cfg.index;
        back.className = 'button primary';
        back.textContent = cfg.caseId ? t('backToVisits', 'Back to your visits') : t('backToForms', 'Back to your forms');
        byId('fill-message').append(' ', back);
      } else {
        done({ next: POST_SUBMIT__NEW_INSTANCE });
      }
    } catch (error) {
      say(t('saveFailed', 'This could not be saved on the device; nothing was sent. Try “Send” again.'), 'error');
      done();
    } finally {
      window.setTimeout(() => {
        paused = false;
      }, 500);
    }
  }

  // what to load: this device's draft first, else the sent-back submission, else a new form
  const draft = await get(DRAFTS, key);
  let editInstance;
  if (draft) {
    const restored = draftForRestore(draft);
    editInstance = {
      resolveInstance: () => restored,
      attachmentFileNames: draft.files.map((f) => f.name),
      resolveAttachment: async (name) => {
        const file = draft.files.find((f) => f.name === name);
        return new Response(file.blob, { headers: { 'Content-Type': file.type || 'application/octet-stream' } });
      },
    };
    lastSaved = draft.xml;
    const status = byId('draft-status');
    status.textContent = t('draftRestored', 'Draft from {time} restored.', { time: timeOf(draft.savedAt) });
    status.dataset.savedAt = draft.savedAt;
    status.dataset.restored = '1';
    byId('draft-actions').hidden = false;
  } else if (cfg.edit) {
    editInstance = {
      resolveInstance: () => fetch(cfg.editUrl, { credentials: 'same-origin' }),
      attachmentFileNames: cfg.editFiles,
      resolveAttachment: (name) =>
        fetch(cfg.editAttachments + encodeURIComponent(name), { credentials: 'same-origin' }),
    };
  }

  byId('draft-discard').addEventListener('click', async () => {
    if (!window.confirm(t('discardConfirm', 'Discard this draft? What you typed will be lost.'))) return;
    paused = true;
    await saving.catch(() => null);
    await remove(DRAFTS, key);
    window.location.reload();
  });

  const props = {
    formXml,
    fetchFormAttachment,
    missingResourceBehavior: 'BLANK',
    onSubmit,
  };
  if (editInstance) props.editInstance = editInstance;
  loading.remove();
  app = createApp({ render: () => h(OdkWebForm, props) });
  app.use(webFormsPlugin);
  // the date picker's words and order in the page's language (day.month.year, Monday first)
  const primevue = app.config.globalProperties.$primevue;
  if (primevue && cfg.datepicker) Object.assign(primevue.config.locale, cfg.datepicker);
  mounted = app.mount(container);
  showPageLanguage(() => findRoot(mounted && mounted.$ && mounted.$.subTree));
  if (!editInstance && cfg.caseSteps && cfg.caseSteps.length > 0) {
    const chosen = await chooseCase(mounted, cfg);
    container.dataset.caseChosen = chosen ? cfg.caseId : '';
    if (chosen) changed();
    else say(t('caseGone', 'This case is not in your list any more; choose it in the form.'), 'waiting');
  }

  for (const type of ['input', 'change', 'click']) {
    container.addEventListener(type, changed, true);
  }
  // a closed tab or a reload: save what is there (the periodic save has most of it already)
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden' && dirty) saveDraft();
  });
  window.addEventListener('pagehide', () => {
    if (dirty) saveDraft();
  });
}
