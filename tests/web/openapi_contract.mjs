// Holds docs/openapi.yaml to the responses the API tests received (tests/control/framework/
// response_log.h writes them, one JSON line each). For each response: the operation its method
// and path name must document its status, a JSON body must validate against the schema documented
// for that status (JSON Schema 2020-12, as OpenAPI 3.1 uses it: ajv's Ajv2020), a 204 must be
// empty, and a content type must be one the document lists. A response to a path or method the
// document does not have (the tests' 404 and 405 probes) must still be the document's Error.
// Prints what it checked and every mismatch; exits 1 on any.
//
// The document is the JSON privlinkd serves (control/api/embed_assets.py --json), not the YAML.
//
//   node openapi_contract.mjs OPENAPI_JSON RESPONSE_LOG
import {readFileSync} from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [documentPath, logPath] = process.argv.slice(2);
if (!documentPath || !logPath) {
  console.error('usage: node openapi_contract.mjs OPENAPI_JSON RESPONSE_LOG');
  process.exit(2);
}
const document = JSON.parse(readFileSync(documentPath, 'utf8'));
const DOC_ID = 'https://privlink.invalid/openapi.json';  // where $refs resolve
const ajv = new Ajv2020({strict: false, allErrors: true});
addFormats(ajv);
ajv.addSchema({...document, $id: DOC_ID});

// JSON pointer segments escape '~' and '/'.
const pointer = parts => parts.map(p => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const resolve = object => {
  let o = object;
  while (o?.$ref) o = o.$ref.slice(2).split('/').reduce((at, k) =>
    at[k.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  return o;
};

// The document's operations as regular expressions over the path.
const operations = [];
for (const [path, item] of Object.entries(document.paths)) {
  const source = path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+');
  operations.push({path, regex: new RegExp(`^${source}$`), item});
}
const validators = new Map();
function validatorFor(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.getSchema(`${DOC_ID}#${ref}`));
  return validators.get(ref);
}

const lines = readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l));
const problems = [];
const covered = new Set();
let bodiesValidated = 0;
let outside = 0;
for (const r of lines) {
  const path = r.path.split('?')[0];
  const where = `${r.method} ${r.path} -> ${r.status}`;
  const op = operations.find(o => o.regex.test(path));
  const operation = op?.item[r.method.toLowerCase()];
  let ref;
  let contentTypes = ['application/json'];
  if (!operation) {
    // No such route: the HTTP layer's own answer, which must still be the Error shape.
    outside += 1;
    if (r.status < 400) problems.push(`${where}: a success for a route the document lacks`);
    ref = '/components/schemas/Error';
  } else {
    const statusKey = String(r.status) in (operation.responses ?? {}) ? String(r.status) : 'default';
    const declared = operation.responses?.[statusKey];
    const response = resolve(declared);
    if (!response) {
      problems.push(`${where}: status ${r.status} is not documented for ${r.method} ${op.path}`);
      continue;
    }
    covered.add(`${r.method} ${op.path} ${r.status}`);
    const content = response.content ?? {};
    contentTypes = Object.keys(content);
    if (contentTypes.length === 0) {
      if (r.body !== '') problems.push(`${where}: documented without a body, got ${r.body.length} bytes`);
      continue;
    }
    // Where the response object is in the document: a shared one (components/responses) or inline.
    const at = declared.$ref ? declared.$ref.slice(1)
      : `/paths/${pointer([op.path, r.method.toLowerCase(), 'responses', statusKey])}`;
    if (content['application/json']) ref = `${at}/content/${pointer(['application/json'])}/schema`;
  }
  const type = (r.contentType || '').split(';')[0].trim();
  if (r.body !== '' && type && !contentTypes.includes(type)) {
    problems.push(`${where}: Content-Type ${type} is not one the document lists (${contentTypes})`);
    continue;
  }
  if (r.body === '' && contentTypes.includes('application/json')) {
    problems.push(`${where}: an empty body where the document says JSON`);
    continue;
  }
  if (!ref || type !== 'application/json') continue;
  let body;
  try {
    body = JSON.parse(r.body);
  } catch {
    problems.push(`${where}: the body is not JSON`);
    continue;
  }
  const validate = validatorFor(ref);
  if (!validate) {
    problems.push(`${where}: no schema at ${ref}`);
    continue;
  }
  bodiesValidated += 1;
  if (!validate(body)) {
    const errors = validate.errors.slice(0, 3).map(e => `${e.instancePath || '/'} ${e.message}` +
      (e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : '')).join('; ');
    problems.push(`${where}: ${errors}; body ${r.body.slice(0, 300)}`);
  }
}

const documentedStatuses = [];
for (const {path, item} of operations) {
  for (const [verb, operation] of Object.entries(item)) {
    if (!operation?.responses) continue;
    for (const status of Object.keys(operation.responses)) {
      documentedStatuses.push(`${verb.toUpperCase()} ${path} ${status}`);
    }
  }
}
console.log(`${lines.length} responses from the API tests: ${bodiesValidated} JSON bodies ` +
  `validated, ${outside} to routes outside the document (checked as Error); ` +
  `${covered.size} of ${documentedStatuses.length} documented operation statuses seen`);
for (const p of problems) console.log(`MISMATCH ${p}`);
if (lines.length === 0) console.log('MISMATCH no responses were logged');
process.exit(problems.length === 0 && lines.length > 0 ? 0 : 1);
