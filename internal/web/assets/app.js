// mssante web app: live updates, keyboard shortcuts, directory autocomplete, idle lock.
// Our own ES module, no framework, no build step. Every page works without it.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---- Roving focus in the message list: one tab stop, arrows (or j/k) move within it.
let rovingIndex = 0;

function setupRoving() {
  const links = $$('#messages .msg-link');
  if (links.length === 0) return;
  rovingIndex = Math.min(rovingIndex, links.length - 1);
  links.forEach((a, i) => { a.tabIndex = i === rovingIndex ? 0 : -1; });
  const list = $('#messages');
  if (list.dataset.roving) return;
  list.dataset.roving = '1';
  list.addEventListener('keydown', (e) => {
    const items = $$('#messages .msg-link');
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    let next = -1;
    if (e.key === 'ArrowDown') next = Math.min(i + 1, items.length - 1);
    else if (e.key === 'ArrowUp') next = Math.max(i - 1, 0);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = items.length - 1;
    if (next >= 0) { e.preventDefault(); focusRow(next); }
  });
  list.addEventListener('focusin', (e) => {
    const items = $$('#messages .msg-link');
    const i = items.indexOf(e.target);
    if (i >= 0) { rovingIndex = i; items.forEach((a, k) => { a.tabIndex = k === i ? 0 : -1; }); }
  });
}

function focusRow(i) {
  const items = $$('#messages .msg-link');
  if (items.length === 0) return;
  rovingIndex = Math.max(0, Math.min(i, items.length - 1));
  items.forEach((a, k) => { a.tabIndex = k === rovingIndex ? 0 : -1; });
  items[rovingIndex].focus();
}

// ---- Dialogs: the help panel and the idle lock.
let lastFocus = null;

function openDialog(el) {
  lastFocus = document.activeElement;
  el.hidden = false;
  $('main').inert = true;
  const b = $('button', el);
  if (b) b.focus();
}

function closeDialog(el) {
  el.hidden = true;
  $('main').inert = false;
  if (lastFocus) lastFocus.focus();
}

function setupHelp() {
  const help = $('#help');
  if (!help) return;
  $('.dialog-close', help).addEventListener('click', () => closeDialog(help));
  help.addEventListener('click', (e) => { if (e.target === help) closeDialog(help); });
}

// ---- Keyboard shortcuts (not while typing in a field).
function typing(e) {
  const t = e.target;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

function go(sel) {
  const a = $(sel);
  if (a) a.click();
}

function setupShortcuts() {
  document.addEventListener('keydown', (e) => {
    const help = $('#help');
    if (e.key === 'Escape') {
      if (help && !help.hidden) { closeDialog(help); return; }
      const s = $('.suggest:not([hidden])');
      if (s) return; // the autocomplete closes itself
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (help && !help.hidden) return;
    switch (e.key) {
      case '?': e.preventDefault(); openDialog(help); break;
      case 'j': if ($('#messages')) { e.preventDefault(); focusRow(currentRow() + 1); } break;
      case 'k': if ($('#messages')) { e.preventDefault(); focusRow(currentRow() - 1); } break;
      case 'o': { const items = $$('#messages .msg-link'); if (items[currentRow()]) items[currentRow()].click(); break; }
      case 'u': go('#back'); break;
      case 'c': location.href = '/app/compose'; break;
      case 'r': go('#reply'); break;
      case 'a': go('#reply-all'); break;
      case 'f': go('#forward'); break;
      case 'p': location.href = '/app/patients'; break;
      case '/': e.preventDefault(); $('#q').focus(); break;
    }
  });
}

function currentRow() {
  const items = $$('#messages .msg-link');
  const i = items.indexOf(document.activeElement);
  return i >= 0 ? i : (items.length ? rovingIndex - (document.activeElement === items[rovingIndex] ? 0 : 1) : 0);
}

// ---- Live updates: the sync state and the list, from /app/events (IDLE and sync).
function setupEvents() {
  if (!window.EventSource || !$('#sync')) return;
  const es = new EventSource('/app/events');
  const show = (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    const s = $('#sync');
    $('.sync-text', s).textContent = d.text;
    s.classList.toggle('sync-error', !!d.error);
    s.classList.toggle('sync-busy', !!d.busy);
    $('.sync-icon', s).textContent = d.error ? '⚠' : '⟳';
    if (ev.type === 'sync' && !d.busy && !d.error) refreshList();
  };
  es.addEventListener('ready', show);
  es.addEventListener('sync', show);
  es.addEventListener('session-ended', () => { es.close(); location.href = '/'; });
}

let refreshing = false;
async function refreshList() {
  const list = $('#messages');
  const boxes = $('.boxes');
  if (refreshing || (!list && !$('.empty'))) return;
  refreshing = true;
  try {
    // A background request: it does not count as activity for the server's idle lock.
    const res = await fetch(location.href, { headers: { Accept: 'text/html', 'X-MSS-Background': '1' }, credentials: 'same-origin' });
    if (res.status === 423) { location.reload(); return; } // locked by the server: show its page
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const hadFocus = list && list.contains(document.activeElement);
    const newList = $('#messages', doc);
    const old = list || $('.empty');
    if (newList && old && old.outerHTML !== newList.outerHTML) {
      old.replaceWith(document.importNode(newList, true));
      setupRoving();
      if (hadFocus) focusRow(rovingIndex);
    }
    const newBoxes = $('.boxes', doc);
    if (boxes && newBoxes) boxes.replaceWith(document.importNode(newBoxes, true));
  } catch { /* offline: the next event retries */ } finally { refreshing = false; }
}

// ---- Directory autocomplete (ECO.3.1.4) on the To and Cc fields: an ARIA combobox.
function setupAutocomplete() {
  for (const input of $$('input[data-directory]')) {
    const list = document.createElement('ul');
    list.className = 'suggest';
    list.id = input.id + '-suggest';
    list.setAttribute('role', 'listbox');
    list.setAttribute('aria-label', 'Adresses trouvées dans l\'annuaire');
    list.hidden = true;
    input.after(list);
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', list.id);
    input.setAttribute('aria-expanded', 'false');
    let items = [];
    let active = -1;
    let timer = 0;
    let seq = 0;
    const close = () => {
      list.hidden = true; active = -1;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
    };
    const mark = () => {
      $$('li', list).forEach((li, i) => li.setAttribute('aria-selected', i === active ? 'true' : 'false'));
      if (active >= 0) input.setAttribute('aria-activedescendant', list.id + '-' + active);
    };
    const pick = (i) => {
      const parts = input.value.split(',');
      parts[parts.length - 1] = ' ' + items[i].address;
      input.value = parts.join(',').replace(/^\s+/, '') + ', ';
      close();
      input.focus();
      input.dispatchEvent(new Event('change', { bubbles: true }));
    };
    const search = async () => {
      const term = input.value.split(',').pop().trim();
      if (term.length < 2 || term.includes('@')) { close(); return; }
      const mine = ++seq;
      try {
        const res = await fetch('/app/directory?q=' + encodeURIComponent(term), { headers: { Accept: 'application/json' } });
        if (!res.ok || mine !== seq) return;
        items = await res.json();
      } catch { return; }
      list.replaceChildren(...items.map((e, i) => {
        const li = document.createElement('li');
        li.id = list.id + '-' + i;
        li.setAttribute('role', 'option');
        const name = document.createElement('strong');
        name.textContent = e.label;
        const detail = document.createElement('span');
        detail.className = 'muted small';
        detail.textContent = ' ' + e.detail + ' — ' + e.address;
        li.append(name, detail);
        li.addEventListener('mousedown', (ev) => { ev.preventDefault(); pick(i); });
        return li;
      }));
      active = -1;
      list.hidden = items.length === 0;
      input.setAttribute('aria-expanded', items.length ? 'true' : 'false');
      mark();
    };
    input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
    input.addEventListener('blur', () => setTimeout(close, 150));
    input.addEventListener('keydown', (e) => {
      if (list.hidden) return;
      if (e.key === 'ArrowDown') { e.preventDefault(); active = (active + 1) % items.length; mark(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); active = (active - 1 + items.length) % items.length; mark(); }
      else if (e.key === 'Enter' && active >= 0) { e.preventDefault(); pick(active); }
      else if (e.key === 'Escape') { e.preventDefault(); close(); }
    });
  }
}

// ---- "Bloquer la réponse du patient": offered only with a patient recipient.
function setupPatientOnly() {
  const opt = $('#fin-option[data-patient-only]');
  const hint = $('#mes-limit');
  if (!opt || !hint) return;
  const domain = '@' + hint.dataset.patientDomain.toLowerCase();
  const check = () => {
    const v = ($('#to').value + ',' + $('#cc').value).toLowerCase();
    const patient = v.split(',').some((x) => x.trim().replace(/>$/, '').endsWith(domain));
    opt.hidden = !patient;
    if (!patient) $('#fin').checked = false;
  };
  for (const id of ['#to', '#cc']) {
    $(id).addEventListener('input', check);
    $(id).addEventListener('change', check);
  }
  check();
}

// ---- Idle lock: the content is hidden after a period without keyboard or pointer activity.
function setupLock() {
  const after = Number(document.body.dataset.lockAfter || 0) * 1000;
  const lock = $('#lock');
  if (!after || !lock) return;
  let timer = 0;
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => { document.body.classList.add('locked'); openDialog(lock); }, after); };
  for (const ev of ['keydown', 'pointerdown', 'wheel']) document.addEventListener(ev, () => { if (lock.hidden) arm(); }, { passive: true });
  $('#unlock').addEventListener('click', () => { location.reload(); });
  arm();
}

// ---- The list options apply as soon as they change.
function setupListOptions() {
  const f = $('#list-options');
  if (!f) return;
  $$('select, input[type=checkbox]', f).forEach((el) => el.addEventListener('change', () => f.requestSubmit()));
}

setupRoving();
setupHelp();
setupShortcuts();
setupEvents();
setupAutocomplete();
setupPatientOnly();
setupLock();
setupListOptions();
