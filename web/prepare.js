// Rows to batch requests in the browser, the way `openbatch prepare` makes them (src/cli/prepare.cpp,
// src/cli/csv.cpp, src/cli/input_table.cpp): the same CSV reading, the same {Column} templates, the
// same request bodies and custom_ids. Pure functions; errors are thrown as Error with the CLI's words.

// RFC 4180 CSV, as cli/csv.cpp reads it: the first record is the header; quoted fields may hold commas,
// doubled quotes and line breaks; blank lines are dropped; short rows are padded; a leading byte order
// mark is dropped. Returns { header, rows }.
export function parseCsv(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records = [];
  let record = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let started = false;
  const endField = () => { record.push(field); field = ''; wasQuoted = false; started = false; };
  const endRecord = () => {
    endField();
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; ++i; continue; }
        quoted = false;
        wasQuoted = true;
      } else {
        field += c;
      }
      continue;
    }
    if (c === ',') {
      endField();
    } else if (c === '\n' || c === '\r') {
      endRecord();
      if (c === '\r' && text[i + 1] === '\n') ++i;
    } else if (c === '"') {
      if (started || wasQuoted) {
        throw new Error(`CSV record ${records.length + 1}: a quote inside an unquoted field (quote the field and double the quote)`);
      }
      quoted = true;
      started = true;
    } else {
      if (wasQuoted) throw new Error(`CSV record ${records.length + 1}: text after the closing quote of a field`);
      field += c;
      started = true;
    }
  }
  if (quoted) throw new Error(`CSV record ${records.length + 1}: a quoted field is not closed before the end of the file`);
  if (started || wasQuoted || record.length) endRecord();
  if (!records.length) throw new Error('the CSV file has no header');
  const [header, ...body] = records;
  const rows = body.map((row, r) => {
    if (row.length > header.length) {
      throw new Error(`CSV record ${r + 2} has ${row.length} fields, the header ${header.length}`);
    }
    while (row.length < header.length) row.push('');
    return row;
  });
  return { header, rows };
}

// A JSONL file of objects as a table: columns are the keys in the order first seen; strings stay as
// they are, null is empty, other values are their JSON text.
export function parseJsonlTable(text) {
  const objects = [];
  const header = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj;
    try { obj = JSON.parse(line); } catch { obj = undefined; }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`line ${i + 1} is not a JSON object`);
    for (const k of Object.keys(obj)) if (!header.includes(k)) header.push(k);
    objects.push(obj);
  });
  const rows = objects.map((o) => header.map((k) => {
    const v = o[k];
    return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  }));
  return { header, rows };
}

// A JSONL file whose lines are already batch requests ({custom_id, method, url, body}), or null when it
// is not one (then it is a table of rows). Returns { count, urls, models }.
export function batchInputSummary(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) return null;
  let first;
  try { first = JSON.parse(lines[0]); } catch { return null; }
  if (!first || typeof first !== 'object' || !('custom_id' in first) || !('body' in first)) return null;
  const urls = new Set();
  const models = new Set();
  for (const l of lines) {
    try {
      const j = JSON.parse(l);
      if (j.url) urls.add(j.url);
      if (j.body?.model) models.add(j.body.model);
    } catch { /* the server names the line when it validates the batch */ }
  }
  return { count: lines.length, urls: [...urls], models: [...models] };
}

// Replaces {Column} with the row's value; {{ and }} stand for literal braces.
export function fillTemplate(template, header, row) {
  let out = '';
  for (let i = 0; i < template.length; ++i) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      out += c;
      ++i;
    } else if (c === '{') {
      const close = template.indexOf('}', i);
      if (close < 0) throw new Error("user template: '{' without '}' (write {{ for a brace)");
      const name = template.slice(i + 1, close);
      const col = header.indexOf(name);
      if (col < 0) throw new Error(`user template: no column named '${name}' (columns: ${header.join(', ')})`);
      out += row[col];
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

// The custom_id of each row: the id column's value, or task-<row index> as the guide writes it.
export function rowIds(table, idColumn) {
  if (!idColumn) return table.rows.map((_, i) => `task-${i}`);
  const col = table.header.indexOf(idColumn);
  if (col < 0) throw new Error(`no column named '${idColumn}'`);
  const seen = new Set();
  return table.rows.map((row, i) => {
    const id = row[col];
    if (!id) throw new Error(`row ${i} has an empty ${idColumn}`);
    if (seen.has(id)) throw new Error(`row ${i} repeats ${idColumn} '${id}'`);
    seen.add(id);
    return id;
  });
}

// The response_format of every request, or null. format: 'text', 'json_object' or 'json_schema' (with
// schemaText: OpenAI's {name, schema, strict} object or a bare JSON Schema).
export function responseFormat(format, schemaText) {
  if (format === 'json_object') return { type: 'json_object' };
  if (format !== 'json_schema') return null;
  let schema;
  try { schema = JSON.parse(schemaText); } catch { schema = null; }
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw new Error('JSON schema: not a JSON object');
  const spec = 'schema' in schema && 'name' in schema ? schema : { name: 'output', schema, strict: true };
  return { type: 'json_schema', json_schema: spec };
}

// The endpoints a batch of rows can go to, and what each takes: the server's endpoint table
// (src/openai/endpoint_table.cpp), which a unit test (src/api/web_endpoints_test.cpp) checks these
// lists against. TEXT_ENDPOINTS generate text (a system prompt, temperature, max tokens);
// RICH_ENDPOINTS also take an image and an output format.
export const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/completions', '/v1/embeddings'];
export const TEXT_ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/completions'];
export const RICH_ENDPOINTS = ['/v1/chat/completions', '/v1/responses'];
// The server's words for them (openai/endpoints.h batch_endpoints_phrase, OpenAI's order).
const ENDPOINTS_PHRASE = "'/v1/chat/completions', '/v1/completions', '/v1/embeddings', and '/v1/responses'";

// What the endpoint takes of the options (as `openbatch prepare` checks them): embeddings take only the
// input, completions no image and no response format. Throws with the reason.
function checkEndpoint(o) {
  if (!ENDPOINTS.includes(o.endpoint)) throw new Error(`endpoint: one of ${ENDPOINTS_PHRASE} (not ${o.endpoint})`);
  const json = o.format === 'json_object' || o.format === 'json_schema';
  if (!TEXT_ENDPOINTS.includes(o.endpoint)) {
    const extra = o.system ? 'system prompt' : o.imageColumn ? 'image column' : json ? 'output'
      : o.temperature !== null && o.temperature !== undefined ? 'temperature'
        : o.maxTokens !== null && o.maxTokens !== undefined ? 'max tokens' : null;
    if (extra) throw new Error(`${extra}: ${o.endpoint} takes only the input`);
  }
  if (!RICH_ENDPOINTS.includes(o.endpoint) && o.imageColumn) throw new Error(`image column: ${o.endpoint} takes text only`);
  if (!RICH_ENDPOINTS.includes(o.endpoint) && json) throw new Error(`output: ${o.endpoint} answers text only`);
}

// The body of one request to o.endpoint, in that endpoint's own fields.
function requestBody(o, user, imageUrl, format) {
  const body = { model: o.model };
  if (o.endpoint === '/v1/embeddings') return { ...body, input: user };
  if (o.temperature !== null && o.temperature !== undefined) body.temperature = o.temperature;
  const maxTokens = o.maxTokens !== null && o.maxTokens !== undefined ? o.maxTokens : null;
  if (o.endpoint === '/v1/completions') {
    if (maxTokens !== null) body.max_tokens = maxTokens;
    body.prompt = o.system ? `${o.system}\n\n${user}` : user;
    return body;
  }
  if (o.endpoint === '/v1/responses') {
    if (maxTokens !== null) body.max_output_tokens = maxTokens;
    // text.format carries json_schema's name, schema and strict beside its type.
    if (format) body.text = { format: { type: format.type, ...(format.json_schema || {}) } };
    if (o.system) body.instructions = o.system;
    body.input = imageUrl
      ? [{ role: 'user', content: [{ type: 'input_text', text: user }, { type: 'input_image', image_url: imageUrl }] }]
      : user;
    return body;
  }
  const messages = [];
  if (o.system) messages.push({ role: 'system', content: o.system });
  if (imageUrl) {
    messages.push({ role: 'user', content: [{ type: 'text', text: user }, { type: 'image_url', image_url: { url: imageUrl } }] });
  } else {
    messages.push({ role: 'user', content: user });
  }
  if (maxTokens !== null) body.max_tokens = maxTokens;
  if (format) body.response_format = format;
  body.messages = messages;
  return body;
}

// One request per row. o: { model, endpoint, system, user, idColumn, imageColumn, format, schemaText,
// temperature, maxTokens } (temperature and maxTokens: numbers or null). Chat and Responses requests
// carry the system prompt (as instructions for Responses) and the filled user template (with the row's
// image URL, if any); completions prompt with the system prompt, a blank line and the template;
// embeddings requests embed the template.
export function buildRequests(table, o) {
  checkEndpoint(o);
  const ids = rowIds(table, o.idColumn);
  const format = o.endpoint === '/v1/embeddings' ? null : responseFormat(o.format, o.schemaText);
  let imageCol = -1;
  if (o.imageColumn && (imageCol = table.header.indexOf(o.imageColumn)) < 0) {
    throw new Error(`image column: no column named '${o.imageColumn}'`);
  }
  return table.rows.map((row, i) => {
    const user = fillTemplate(o.user, table.header, row);
    const imageUrl = imageCol >= 0 ? row[imageCol] : '';
    return { custom_id: ids[i], method: 'POST', url: o.endpoint, body: requestBody(o, user, imageUrl, format) };
  });
}

export function toJsonl(requests) { return requests.map((r) => JSON.stringify(r)).join('\n') + '\n'; }
