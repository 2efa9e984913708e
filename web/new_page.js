// #/new : a batch from a file dropped on the page. A JSONL file of batch requests goes as it is; a CSV
// (or a JSONL file of rows) becomes one request per row, as `openbatch prepare` makes them: a system
// prompt, a user template with {Column} placeholders, the endpoint, JSON mode. Submitted through the
// Files and Batches API like any client's; then the page of the new batch opens.
import { apiJson, el } from './api.js';
import { ENDPOINTS, TEXT_ENDPOINTS as TEXT, RICH_ENDPOINTS as RICH, parseCsv, parseJsonlTable, batchInputSummary, buildRequests, toJsonl } from './prepare.js';

const MAX_PREVIEW_ROWS = 3;

export function newPage(view, { setError }) {
  let file = null;     // { name, text }
  let table = null;    // { header, rows } for a table of rows
  let ready = null;    // { count, urls, models } for a file of batch requests
  let models = [];

  const fileInput = el('input', { type: 'file', id: 'file', accept: '.csv,.jsonl,.ndjson,.txt,text/csv,application/jsonl' });
  const dropLabel = el('span', {}, el('b', {}, 'Drop a CSV or JSONL file here'), ' or click to choose one');
  const drop = el('label', { class: 'drop', for: 'file' }, dropLabel, fileInput);
  const fileInfo = el('div', { id: 'file-info', class: 'muted' });

  const model = el('select', { id: 'model' });
  const endpoint = el('select', { id: 'endpoint' }, ...ENDPOINTS.map((e) => el('option', { value: e }, e)));
  const system = el('textarea', { id: 'system', rows: 4, placeholder: 'You are a helpful assistant…' });
  const user = el('textarea', { id: 'user', rows: 3, placeholder: 'Categorize this movie: {Overview}' });
  const columns = el('div', { class: 'chips', id: 'columns' });
  const idColumn = el('select', { id: 'id-column' });
  const imageColumn = el('select', { id: 'image-column' });
  const format = el('select', { id: 'format' },
    el('option', { value: 'text' }, 'text'),
    el('option', { value: 'json_object' }, 'JSON object (json_object)'),
    el('option', { value: 'json_schema' }, 'JSON schema (json_schema)'));
  const schema = el('textarea', { id: 'schema', rows: 5, placeholder: '{"type": "object", "properties": {...}}' });
  const temperature = el('input', { id: 'temperature', type: 'number', step: '0.1', min: '0', max: '2', placeholder: 'default' });
  const maxTokens = el('input', { id: 'max-tokens', type: 'number', step: '1', min: '1', placeholder: 'default' });
  const description = el('input', { id: 'description', type: 'text', placeholder: 'what this batch is for' });
  const preview = el('pre', { id: 'preview', class: 'preview' });
  const sample = el('div', { id: 'sample' });
  const problem = el('p', { id: 'problem', class: 'bad', role: 'status' });
  const summary = el('p', { class: 'muted small', id: 'summary' });
  let disposed = false;
  const submit = el('button', { id: 'submit', class: 'primary', type: 'submit', disabled: true }, 'Create batch');

  const field = (label, input, hint) => el('label', { class: 'field' }, el('span', {}, label), input, hint ? el('span', { class: 'muted small' }, hint) : null);
  // The fields each endpoint takes (prepare.js): embeddings only the input; completions no image and no
  // output format.
  const forEndpoints = [];  // [node, the endpoints that show it]
  const tableOnly = [];
  const only = (endpoints, node) => { forEndpoints.push([node, endpoints]); return node; };
  const shown = (node) => !node.hidden;
  const rowsOnly = (node) => { tableOnly.push(node); return node; };

  const form = el('form', { class: 'new-batch', onsubmit: (e) => { e.preventDefault(); create(); } },
    card('1. Input file', drop, fileInfo, sample),
    rowsOnly(card('2. Requests',
      el('div', { class: 'grid2' }, field('Model', model), field('Endpoint', endpoint)),
      only(TEXT, field('System prompt', system)),
      field('User message', user, 'a {Column} placeholder is the row\'s value; {{ and }} are braces'),
      columns,
      el('div', { class: 'grid2' },
        field('custom_id', idColumn),
        only(RICH, field('Image URL column', imageColumn))),
      only(TEXT, el('div', { class: 'grid3' },
        only(RICH, field('Output', format)), field('Temperature', temperature), field('Max tokens', maxTokens))),
      only(RICH, field('JSON schema', schema)))),
    card('3. Create',
      field('Description', description, 'kept in the batch\'s metadata'),
      summary,
      el('details', { open: true }, el('summary', {}, 'first request line'), preview),
      problem,
      el('div', { class: 'actions' }, submit)));

  view.replaceChildren(el('nav', { class: 'crumbs' }, el('a', { href: '#/' }, '← batches')), el('h2', {}, 'New batch'), form);

  function card(title, ...body) { return el('section', { class: 'card' }, el('h3', {}, title), ...body); }
  function options(select, values, first) {
    const keep = select.value;
    select.replaceChildren(...(first ? [el('option', { value: '' }, first)] : []), ...values.map((v) => el('option', { value: v }, v)));
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  }

  // The requests the form describes now (throws with the reason they cannot be made).
  function requests() {
    if (!file) throw new Error('Choose an input file.');
    if (ready) return null;
    if (!user.value) throw new Error('Write the user message (with {Column} placeholders).');
    // Only what the chosen endpoint shows counts: a field hidden for it keeps its value for later.
    const text = shown(system.closest('label'));
    const rich = shown(format.closest('label'));
    return buildRequests(table, {
      model: model.value, endpoint: endpoint.value, system: text ? system.value : '', user: user.value,
      idColumn: idColumn.value, imageColumn: rich ? imageColumn.value : '', format: rich ? format.value : 'text',
      schemaText: schema.value,
      temperature: !text || temperature.value === '' ? null : Number(temperature.value),
      maxTokens: !text || maxTokens.value === '' ? null : Number(maxTokens.value),
    });
  }

  function update() {
    for (const n of tableOnly) n.hidden = !table;
    for (const [n, endpoints] of forEndpoints) n.hidden = !endpoints.includes(endpoint.value);
    if (format.value !== 'json_schema') schema.closest('label').hidden = true;
    try {
      const reqs = requests();
      if (ready) {
        summary.textContent = `${ready.count} requests to ${ready.urls.join(', ') || '?'}, sent as they are.`;
        preview.textContent = JSON.stringify(JSON.parse(file.text.split('\n').find((l) => l.trim())), null, 2);
      } else {
        summary.textContent = `${reqs.length} requests, one per row, to ${endpoint.value}.`;
        preview.textContent = reqs.length ? JSON.stringify(reqs[0], null, 2) : '';
        if (!reqs.length) throw new Error('The file has no rows.');
      }
      problem.textContent = '';
      submit.disabled = false;
    } catch (e) {
      problem.textContent = file ? e.message : '';
      if (!file) summary.textContent = '';
      submit.disabled = true;
    }
  }

  function showTable() {
    const chip = (name) => el('button', { type: 'button', class: 'chip', title: `insert {${name}}`, onclick: () => {
      const at = user.selectionStart ?? user.value.length;
      user.value = `${user.value.slice(0, at)}{${name}}${user.value.slice(user.selectionEnd ?? at)}`;
      update();
    } }, `{${name}}`);
    columns.replaceChildren(el('span', { class: 'muted small' }, 'columns: '), ...table.header.map(chip));
    options(idColumn, table.header, 'task-<row index>, as in the guide');
    options(imageColumn, table.header, 'none');
    if (!user.value) {
      // A first guess: the column with the longest text.
      const widths = table.header.map((_, c) => table.rows.slice(0, 20).reduce((n, r) => n + r[c].length, 0));
      user.value = `{${table.header[widths.indexOf(Math.max(...widths))]}}`;
    }
    sample.replaceChildren(el('div', { class: 'scroll' }, el('table', { class: 'sample' },
      el('thead', {}, el('tr', {}, table.header.map((h) => el('th', {}, h)))),
      el('tbody', {}, table.rows.slice(0, MAX_PREVIEW_ROWS).map((r) => el('tr', {}, r.map((v) => el('td', {}, v.length > 80 ? `${v.slice(0, 80)}…` : v))))))));
  }

  async function load(f) {
    setError('');
    table = null;
    ready = null;
    sample.replaceChildren();
    columns.replaceChildren();
    try {
      const text = await f.text();
      file = { name: f.name, text };
      const jsonl = /\.(jsonl|ndjson)$/i.test(f.name) || (!/\.csv$/i.test(f.name) && text.trimStart().startsWith('{'));
      ready = jsonl ? batchInputSummary(text) : null;
      if (ready) {
        if (ready.urls.length === 1) endpoint.value = ready.urls[0];
        fileInfo.textContent = `${f.name}: a batch input file, ${ready.count} requests${ready.models.length ? ` for ${ready.models.join(', ')}` : ''}.`;
      } else {
        table = jsonl ? parseJsonlTable(text) : parseCsv(text);
        fileInfo.textContent = `${f.name}: ${table.rows.length} rows, ${table.header.length} columns.`;
        showTable();
      }
      dropLabel.replaceChildren(el('b', {}, f.name), ' — drop another file to replace it');
    } catch (e) {
      file = null;
      fileInfo.textContent = '';
      problem.textContent = `${f.name}: ${e.message}`;
      submit.disabled = true;
      return;
    }
    update();
  }

  async function create() {
    submit.disabled = true;
    submit.textContent = 'Uploading…';
    try {
      const reqs = requests();
      const body = ready ? file.text : toJsonl(reqs);
      const name = ready ? file.name : `${file.name.replace(/\.[^.]*$/, '')}-requests.jsonl`;
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([body], { type: 'application/jsonl' }), name);
      const uploaded = await apiJson('/v1/files', { method: 'POST', body: form });
      submit.textContent = 'Creating the batch…';
      const metadata = { source: 'dashboard', file: file.name.slice(0, 512) };
      if (description.value) metadata.description = description.value.slice(0, 512);
      const batch = await apiJson('/v1/batches', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input_file_id: uploaded.id, endpoint: ready && ready.urls.length === 1 ? ready.urls[0] : endpoint.value, completion_window: '24h', metadata }),
      });
      if (!disposed) location.hash = `#/batches/${batch.id}`;
    } catch (e) {
      problem.textContent = e.message;
      submit.disabled = false;
      submit.textContent = 'Create batch';
    }
  }

  fileInput.addEventListener('change', () => fileInput.files[0] && load(fileInput.files[0]));
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) load(e.dataTransfer.files[0]); });
  for (const input of [model, endpoint, system, user, idColumn, imageColumn, format, schema, temperature, maxTokens]) {
    input.addEventListener('input', update);
    input.addEventListener('change', update);
  }

  apiJson('/v1/models').then((list) => {
    if (disposed) return;
    models = list.data.map((m) => m.id);
    options(model, models);
    update();
  }).catch((e) => setError(e.message));
  update();
  return () => { disposed = true; };
}
