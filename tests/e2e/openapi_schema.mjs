// OpenAI's own OpenAPI document (the openai/openai-openapi repository's openapi.json, 2026-08-21
// revision), as JSON Schemas that an answer of openbatch can be validated against with Ajv. OpenAI's
// answers carry null for optional fields they do not set, so every property a schema does not require
// may be null; `nullable` (OpenAPI 3.0's spelling) becomes a null alternative; discriminators (a hint for
// code generators) are dropped.
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';

const here = dirname(fileURLToPath(import.meta.url));
export const OPENAPI_DOC = process.env.OPENBATCH_OPENAPI_DOC ??
  join(here, '../../../shared/reference/openai-openapi-2026-08-21.json');

const orNull = (schema) => ({ anyOf: [schema, { type: 'null' }] });

function relax(node) {
  if (Array.isArray(node)) return node.map(relax);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'discriminator' || key === 'nullable') continue;
    out[key] = relax(value);
  }
  if (out.properties && typeof out.properties === 'object' && !Array.isArray(out.properties)) {
    const required = new Set(out.required ?? []);
    for (const [name, schema] of Object.entries(out.properties)) {
      if (!required.has(name)) out.properties[name] = orNull(schema);
    }
  }
  return node.nullable === true ? orNull(out) : out;
}

let validators = null;

// A function (schemaName, value) that returns null when value validates against
// components.schemas[schemaName], else a description of the errors. null when the document is missing.
export function openapiValidator() {
  if (!existsSync(OPENAPI_DOC)) return null;
  if (validators) return validators;
  const doc = JSON.parse(readFileSync(OPENAPI_DOC, 'utf8'));
  const ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false, allErrors: true });
  const id = 'https://openbatch.test/openai-openapi.json';
  ajv.addSchema({ $id: id, components: { schemas: relax(doc.components.schemas) } });
  const compiled = new Map();
  validators = (name, value) => {
    if (!compiled.has(name)) {
      const v = ajv.getSchema(`${id}#/components/schemas/${name}`);
      if (!v) throw new Error(`no schema ${name} in ${OPENAPI_DOC}`);
      compiled.set(name, v);
    }
    const v = compiled.get(name);
    if (v(value)) return null;
    return ajv.errorsText(v.errors.slice(0, 8), { separator: '\n' });
  };
  return validators;
}
