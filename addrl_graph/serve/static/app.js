// The page of `python -m addrl_graph serve`: plain JS over the JSON API, no network beyond it.
// Every text from the data is set with textContent (never parsed as HTML).
'use strict';
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
                '#ff9da7', '#9c755f', '#bab0ac'];
const state = { key: sessionStorage.getItem('addrl-key') || '', user: null, chunks: [],
                sliders: {}, seq: 0, selected: null, timer: null };
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const c of children) node.append(c);
  return node;
}

async function api(path, options) {
  const headers = state.key ? { 'X-API-Key': state.key } : {};
  const response = await fetch(path, Object.assign({ headers }, options || {}));
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { $('key-box').hidden = false; }
  if (!response.ok) {
    const d = body.detail;
    const msg = Array.isArray(d) ? d.map((x) => `${(x.loc || []).slice(-1)}: ${x.msg}`).join('; ')
                                 : (d || response.statusText);
    throw new Error(msg);
  }
  return body;
}

function showError(e) { $('error').hidden = !e; $('error').textContent = e ? e.message : ''; }
const color = (name) => COLORS[Math.max(0, state.chunks.indexOf(name)) % COLORS.length];

function control() {
  return Object.entries(state.sliders).filter(([, s]) => Number(s.value) !== 1)
    .map(([name, s]) => `${name}:${Number(s.value)}`).join(',');
}

function addSlider(name) {
  const input = el('input', { type: 'range', min: -1, max: 2, step: 0.1, value: 1,
                              id: `xi-${name}` });
  input.dataset.attribute = name;
  const out = el('output', { textContent: '1.0' });
  input.addEventListener('input', () => {
    out.textContent = Number(input.value).toFixed(1);
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, 60);
  });
  state.sliders[name] = input;
  $('sliders').append(el('label', { className: 'slider' },
                         el('span', { textContent: name }), input, out));
}

async function init() {
  try {
    const health = await api('/health');
    $('run-info').textContent = `${health.model} · run ${health.run} · ${health.num_users} users`
      + ` · ${health.num_items} items · checkpoint ${health.checkpoint} (sha256 checked)`;
    const attrs = await api('/attributes');
    state.chunks = attrs.chunks;
    attrs.attributes.filter((a) => a.controllable).forEach((a) => addSlider(a.name));
    if (attrs.note) $('sliders').append(el('p', { className: 'hint', textContent: attrs.note }));
    for (const c of attrs.chunks) {
      $('legend').append(el('span', {}, el('span', { className: 'swatch',
        style: `background:${color(c)}` }), c));
    }
    showError(null);
  } catch (e) { showError(e); }
}

function itemHead(item) {
  const head = el('div', {}, el('span', { className: 'title', textContent: item.label }));
  if (item.title) head.append(el('span', { className: 'id', textContent: item.item }));
  const values = el('div', { className: 'values' });
  for (const [a, v] of Object.entries(item.values)) {
    values.append(el('span', { className: 'tag', textContent: `${a}: ${v}` }));
  }
  return [head, values];
}

function termBar(terms) {
  const bar = el('div', { className: 'bar' });
  const total = Object.values(terms).reduce((s, t) => s + Math.abs(t), 0) || 1;
  for (const [name, t] of Object.entries(terms)) {
    bar.append(el('span', { title: `${name}: ${t.toFixed(3)}`,
      style: `width:${(100 * Math.abs(t) / total).toFixed(2)}%;background:${color(name)}` }));
  }
  return bar;
}

// One diverging bar per chunk: its lift (term minus the user's mean term), scaled to the list.
function liftBars(lift, scale) {
  const bars = el('div', { className: 'lifts' });
  for (const [name, x] of Object.entries(lift)) {
    const w = (50 * Math.min(1, Math.abs(x) / scale)).toFixed(1);
    const fill = el('span', { style: `width:${w}%;background:${color(name)};`
      + (x >= 0 ? 'left:50%' : `right:50%`) });
    bars.append(el('span', { className: 'lift', title: `lift of ${name}: ${x.toFixed(3)}` },
                   el('span', { className: 'lift-name', textContent: name }),
                   el('span', { className: 'lift-track' }, fill)));
  }
  return bars;
}

function renderList(result) {
  const list = $('recs');
  list.replaceChildren();
  const scale = Math.max(1e-9, ...result.items.flatMap((i) => Object.values(i.lift || {})
    .map(Math.abs)));
  for (const item of result.items) {
    const li = el('li', {}, el('span', { className: 'score', textContent: item.score.toFixed(3) }),
                  ...itemHead(item));
    li.dataset.item = item.item;
    if (item.terms) li.append(termBar(item.terms), liftBars(item.lift, scale));
    if (item.item === state.selected) li.classList.add('selected');
    li.addEventListener('click', () => explainItem(item.item));
    list.append(li);
  }
  $('list-note').textContent = result.note ? `(${result.note})` : '';
}

async function refresh() {
  if (!state.user) return;
  const seq = ++state.seq;
  const ctl = control();
  const params = new URLSearchParams({ k: $('k').value, control: ctl,
                                       exclude_seen: $('exclude-seen').checked });
  $('recs').dataset.loading = '1';
  try {
    const result = await api(`/users/${encodeURIComponent(state.user)}/recommendations?${params}`);
    if (seq !== state.seq) return;          // a newer request is on its way
    renderList(result);
    Object.assign($('recs').dataset, { control: ctl, user: state.user, loading: '0' });
    showError(null);
  } catch (e) { if (seq === state.seq) { $('recs').dataset.loading = '0'; showError(e); } }
}

function row(cells, numeric) {
  return el('tr', {}, ...cells.map((c, j) => el(j ? 'td' : 'th',
    { textContent: c, className: j && numeric ? 'num' : '' })));
}

async function explainItem(item) {
  state.selected = item;
  for (const li of $('recs').children) li.classList.toggle('selected', li.dataset.item === item);
  try {
    const e = await api(`/users/${encodeURIComponent(state.user)}/explain/${encodeURIComponent(item)}`);
    const box = el('div', {}, ...itemHead(e),
                   el('p', { textContent: `score ${e.score.toFixed(4)}` + (e.top_attribute
                     ? ` · lifted most by ${e.top_attribute}` : '') }));
    if (e.terms) {
      const table = el('table', {}, row(['chunk', 'term', 'lift', 'id', 'text', 'image']));
      for (const [name, t] of Object.entries(e.terms)) {
        const w = e.modality_weights[name];
        table.append(row([name, t.toFixed(3), e.lift[name].toFixed(3),
                          ...['id', 'text', 'image'].map((m) => w[m].toFixed(2))], true));
      }
      box.append(table, el('p', { className: 'hint', textContent: 'term: Eq. 11; lift: term '
        + "minus the user's mean over all items; id/text/image: Eq. 8 modality weights" }));
    } else { box.append(el('p', { className: 'hint', textContent: e.note })); }
    $('explain').replaceChildren(box);
  } catch (err) { showError(err); }
}

async function chooseUser(user) {
  try {
    const u = await api(`/users/${encodeURIComponent(user)}`);
    state.user = u.user; state.selected = null;
    $('user-current').textContent = `User ${u.user}`;
    $('history-count').textContent = `(${u.num_items} items)`;
    $('history').replaceChildren(...u.history.map((item) => el('li', {}, ...itemHead(item))));
    $('explain').textContent = 'Select an item of the list.';
    await refresh();
  } catch (e) { showError(e); }
}

async function findUsers() {
  const q = $('user-query').value.trim();
  try {
    const found = await api(`/users?${new URLSearchParams({ q, limit: 20 })}`);
    if (found.users.includes(q)) return chooseUser(q);
    $('user-matches').replaceChildren(...found.users.map((u) => {
      const li = el('li', { textContent: u });
      li.addEventListener('click', () => chooseUser(u));
      return li;
    }));
    showError(found.users.length ? null : new Error(`no user id contains ${JSON.stringify(q)}`));
  } catch (e) { showError(e); }
}

$('user-find').addEventListener('click', findUsers);
$('user-query').addEventListener('keydown', (e) => { if (e.key === 'Enter') findUsers(); });
$('user-random').addEventListener('click', async () => {
  try { chooseUser((await api('/users?random=true&limit=1')).users[0]); } catch (e) { showError(e); }
});
$('k').addEventListener('change', refresh);
$('exclude-seen').addEventListener('change', refresh);
$('reset').addEventListener('click', () => {
  for (const s of Object.values(state.sliders)) { s.value = 1; s.dispatchEvent(new Event('input')); }
});
$('key-save').addEventListener('click', () => {
  state.key = $('api-key').value; sessionStorage.setItem('addrl-key', state.key);
  $('key-box').hidden = true; $('sliders').replaceChildren(); $('legend').replaceChildren();
  state.sliders = {}; init();
});
init();
