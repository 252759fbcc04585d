// Private Link Center: services, endpoints, pending connections with approve and reject, live
// traffic and drop counters, read from privlinkd's public REST API (docs/openapi.yaml) and
// nothing else. No framework and no build step: the page is served from memory by the API.
'use strict';

const REFRESH_MS = 2000;  // how often the page reads the API
const HISTORY = 60;       // samples a chart keeps: two minutes at REFRESH_MS
// Rows whose active flows are counted, each a walk of the flow table by the API: enough for an
// operator's page, bounded for a large deployment (the rest show '–').
const FLOW_COUNT_ROWS = 50;
const TOKEN_KEY = 'privlink-api-token';

let token = sessionStorage.getItem(TOKEN_KEY) || '';
const history = new Map();  // chart key -> {last: {at, values}, points: [[...values], ...]}
let pendingShown = '';      // the pending rows on screen, so typing is not wiped by a refresh
let latestRefresh = 0;      // a refresh draws only if no later one started meanwhile
let timer = null;           // the one pending tick

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = {method, headers, cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, `${method} ${path}: the answer is not JSON (HTTP ${res.status})`);
  }
  if (res.status === 401) showTokenForm();
  if (!res.ok) throw new ApiError(res.status, data?.error?.message ?? `HTTP ${res.status}`);
  return data;
}

// Every item of a list, following its nextLink pages.
async function listAll(path) {
  const items = [];
  for (let next = path; next;) {
    const page = await api('GET', next);
    items.push(...page.value);
    next = page.nextLink;
  }
  return items;
}

const segment = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
// Building the page (DOM nodes only: API data never becomes markup)

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function fillTable(section, rows, emptyText) {
  const root = document.getElementById(section);
  root.querySelector('tbody').replaceChildren(...rows);
  const empty = root.querySelector('.empty');
  if (emptyText !== undefined) empty.textContent = emptyText;
  empty.hidden = rows.length > 0;
  root.querySelector('table').hidden = rows.length === 0;
}

function formatBytes(perSecond) {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let value = perSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

// A sparkline of up to two series (an SVG polyline each), scaled to the larger's peak.
function sparkline(points, labels) {
  const width = 120;
  const height = 28;
  const svgNs = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  const peak = Math.max(1, ...points.flat());
  labels.forEach((label, series) => {
    const line = document.createElementNS(svgNs, 'polyline');
    const step = width / (HISTORY - 1);
    const offset = HISTORY - points.length;
    line.setAttribute('points', points.map((p, i) =>
      `${((offset + i) * step).toFixed(1)},${(height - 1 - (p[series] / peak) * (height - 2)).toFixed(1)}`)
      .join(' '));
    line.setAttribute('class', `series${series}`);
    svg.append(line);
  });
  svg.setAttribute('aria-label', labels.join(' and '));
  return svg;
}

// Adds a sample of counters (rate: per second since the last sample) or of levels to a chart.
function record(key, values, asRate) {
  const now = performance.now();
  let entry = history.get(key);
  if (!entry) history.set(key, entry = {points: []});
  let point = values;
  if (asRate) {
    if (!entry.last) point = values.map(() => 0);
    else {
      const seconds = Math.max((now - entry.last.at) / 1000, 0.001);
      point = values.map((v, i) => Math.max(0, v - entry.last.values[i]) / seconds);
    }
  }
  entry.last = {at: now, values};
  entry.points.push(point);
  if (entry.points.length > HISTORY) entry.points.shift();
  return entry.points;
}

function trafficCell(key, sample) {
  if (!sample) return h('td', {class: 'muted'}, 'no dataplane');
  const points = record(key, [sample.bytesIn, sample.bytesOut], true);
  const [rateIn, rateOut] = points[points.length - 1];
  return h('td', {class: 'chart'}, sparkline(points, ['bytes in', 'bytes out']),
    h('span', {class: 'series0'}, formatBytes(rateIn)), ' / ',
    h('span', {class: 'series1'}, formatBytes(rateOut)));
}

function flowsCell(key, count) {
  if (count === undefined) return h('td', {class: 'muted'}, '–');
  const points = record(key, [count], false);
  return h('td', {class: 'chart'}, sparkline(points, ['flows']), h('span', {}, count));
}

// ---------------------------------------------------------------------------------------------
// Sections

function renderPending(services) {
  const pending = [];
  for (const service of services) {
    for (const c of service.privateEndpointConnections ?? []) {
      if (c.status === 'Pending') pending.push({service: service.name, connection: c});
    }
  }
  const shown = JSON.stringify(pending.map(p => [p.service, p.connection.name]));
  if (shown === pendingShown) return;
  pendingShown = shown;
  fillTable('pending', pending.map(({service, connection}) => {
    const description = h('input', {type: 'text', 'aria-label': `description for ${connection.name}`,
      placeholder: 'description (optional)'});
    const act = action => () => decide(action, service, connection.name, description.value);
    return h('tr', {'data-service': service, 'data-endpoint': connection.name},
      h('td', {}, service), h('td', {}, connection.privateEndpoint),
      h('td', {}, connection.subscription), h('td', {}, connection.requestMessage),
      h('td', {}, description),
      h('td', {class: 'actions'},
        h('button', {type: 'button', class: 'approve', onclick: act('approve')}, 'Approve'),
        h('button', {type: 'button', class: 'reject', onclick: act('reject')}, 'Reject')));
  }));
}

function natCell(service, sample) {
  const usage = new Map((sample?.natPorts ?? []).map(n => [n.ip, n]));
  const draining = new Set(service.drainingNatIps ?? []);
  return h('td', {}, service.natIps.map(ip => {
    const n = usage.get(ip);
    const share = n && n.capacity > 0 ? n.inUse / n.capacity : 0;
    return h('div', {class: 'nat', 'data-ip': ip}, h('span', {}, ip),
      draining.has(ip) ? h('span', {class: 'badge draining'}, 'draining') : null,
      n ? h('meter', {min: '0', max: '1', value: String(share),
        title: `${n.inUse} of ${n.capacity} ports in use`}) : null,
      n ? h('span', {class: 'muted'}, `${n.inUse} / ${n.capacity}`) : null);
  }));
}

function backendsCell(service) {
  const health = new Map((service.backendHealth ?? []).map(b => [b.ip, b.health]));
  return h('td', {}, service.backends.map(b => {
    const state = health.get(b.ip) ?? b.state;
    return h('div', {}, h('span', {class: `badge ${String(state).toLowerCase()}`}, state), ' ',
      b.ip, b.weight > 1 ? h('span', {class: 'muted'}, ` ×${b.weight}`) : null);
  }));
}

function renderServices(services, samples, flows) {
  fillTable('services', services.map(service => {
    const sample = samples.get(service.name);
    const counts = {};
    for (const c of service.privateEndpointConnections ?? []) {
      counts[c.status] = (counts[c.status] ?? 0) + 1;
    }
    return h('tr', {'data-service': service.name},
      h('td', {}, h('strong', {}, service.name), h('div', {class: 'alias'}, service.alias)),
      natCell(service, sample), backendsCell(service),
      h('td', {}, Object.entries(counts).map(([status, n]) =>
        h('div', {}, h('span', {class: `badge ${status.toLowerCase()}`}, status), ` ${n}`))),
      trafficCell(`service:${service.name}`, sample),
      flowsCell(`service-flows:${service.name}`, flows.get(service.name)));
  }));
}

function renderEndpoints(endpoints, samples, flows) {
  fillTable('endpoints', endpoints.map(e => h('tr', {'data-endpoint': e.name},
    h('td', {}, h('strong', {}, e.name)), h('td', {}, e.network), h('td', {}, e.ip),
    h('td', {}, e.privateLinkService),
    h('td', {}, h('span', {class: `badge ${e.connectionStatus.toLowerCase()}`}, e.connectionStatus)),
    trafficCell(`endpoint:${e.name}`, samples.get(e.name)),
    flowsCell(`endpoint-flows:${e.name}`, flows.get(e.name)))));
}

function renderDrops(dataplane) {
  if (!dataplane) {
    fillTable('drops', [], 'No dataplane: privlinkd runs the control plane alone.');
    return;
  }
  const rows = Object.entries(dataplane.drops).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => h('tr', {'data-reason': reason}, h('td', {}, h('code', {}, reason)),
      h('td', {class: 'number'}, n.toLocaleString('en'))));
  fillTable('drops', rows, 'No packet dropped.');
}

// Active flows per endpoint and per service (each a walk of the flow table by the API).
async function flowCounts(kind, names) {
  const counts = new Map();
  await Promise.all(names.slice(0, FLOW_COUNT_ROWS).map(async name => {
    const reply = await api('GET', `/v1/flows/count?${kind}=${segment(name)}`);
    counts.set(name, reply.total);
  }));
  return counts;
}

async function refresh() {
  const sequence = ++latestRefresh;
  const [services, endpoints, stats] = await Promise.all([
    listAll('/v1/privateLinkServices'), listAll('/v1/privateEndpoints'), api('GET', '/v1/stats')]);
  const dataplane = stats.dataplane;
  const serviceSamples = new Map((dataplane?.services ?? []).map(s => [s.name, s]));
  const endpointSamples = new Map((dataplane?.endpoints ?? []).map(e => [e.name, e]));
  const [serviceFlows, endpointFlows] = dataplane
    ? await Promise.all([flowCounts('service', services.map(s => s.name)),
      flowCounts('endpoint', endpoints.map(e => e.name))])
    : [new Map(), new Map()];
  if (sequence !== latestRefresh) return;  // a later refresh (after an action) draws instead
  renderPending(services);
  renderServices(services, serviceSamples, serviceFlows);
  renderEndpoints(endpoints, endpointSamples, endpointFlows);
  renderDrops(dataplane);
  const plane = dataplane
    ? `dataplane: ${dataplane.workers} worker${dataplane.workers === 1 ? '' : 's'}, ` +
      `${dataplane.flows.total} flows, ${dataplane.dropsTotal} drops`
    : 'no dataplane';
  document.getElementById('status').textContent =
    `snapshot ${stats.control.snapshotGeneration} · ${plane} · updated ` +
    new Date().toLocaleTimeString('en-GB');
  // Charts of rows that are gone go with them.
  const shown = new Set([...services.map(s => `service:${s.name}`),
    ...services.map(s => `service-flows:${s.name}`), ...endpoints.map(e => `endpoint:${e.name}`),
    ...endpoints.map(e => `endpoint-flows:${e.name}`)]);
  for (const key of history.keys()) if (!shown.has(key)) history.delete(key);
}

// ---------------------------------------------------------------------------------------------
// Actions, errors and the token

async function decide(action, service, endpoint, description) {
  try {
    await api('POST',
      `/v1/privateLinkServices/${segment(service)}/privateEndpointConnections/${segment(endpoint)}/${action}`,
      description ? {description} : {});
  } catch (e) {
    showError(`${action === 'approve' ? 'Approve' : 'Reject'} ${endpoint} on ${service}: ${e.message}`);
    return;
  }
  hideError();
  pendingShown = '';
  tick();  // at once, so the row leaves; a refresh already under way is not drawn
}

function showError(message) {
  document.getElementById('error-text').textContent = message;
  document.getElementById('error').hidden = false;
}

function hideError() {
  document.getElementById('error').hidden = true;
}

function showTokenForm() {
  document.getElementById('token-form').hidden = false;
}

// Reads the API every REFRESH_MS; stops while the token form waits for a token. One loop only:
// starting it again replaces the pending tick.
async function tick() {
  clearTimeout(timer);
  timer = null;
  try {
    await refresh();
  } catch (e) {
    document.getElementById('status').textContent = `cannot read the API: ${e.message}`;
    if (e.status === 401) return;
  }
  clearTimeout(timer);
  timer = setTimeout(tick, REFRESH_MS);
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('error-close').addEventListener('click', hideError);
  document.getElementById('token-form').addEventListener('submit', event => {
    event.preventDefault();
    token = document.getElementById('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    document.getElementById('token-form').hidden = true;
    pendingShown = '';
    tick();
  });
  tick();
});
