// The Private Link Center page in a real browser: Debian's headless Chromium driven by
// puppeteer-core (pinned in package.json) against a running privlinkd. Prints one line per check,
// "PASS NAME[: detail]" or "FAIL NAME: detail" (lib.sh's plk_tally counts them); exits 1 when a
// check failed. Every message the page logs at error or warning level fails the check
// console_clean, except the one failed load per request a scenario provokes on purpose (a
// refused action's 400, the 401s before the token is given).
//
//   node console_test.mjs --url http://127.0.0.1:PORT --scenario dataplane \
//        --approve ENDPOINT --refuse ENDPOINT --busy ENDPOINT --screenshot FILE
//   node console_test.mjs --url http://127.0.0.1:PORT --scenario token --token-file FILE \
//        --screenshot FILE
import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';
import puppeteer from 'puppeteer-core';

const {values: opt} = parseArgs({options: {
  url: {type: 'string'}, scenario: {type: 'string'}, screenshot: {type: 'string'},
  approve: {type: 'string'}, refuse: {type: 'string'}, busy: {type: 'string'},
  'token-file': {type: 'string'}, chromium: {type: 'string', default: '/usr/bin/chromium'},
}});
const WAIT_MS = 15000;  // the page refreshes every 2 s; a state it must reach gets 7 refreshes

let failed = 0;
function verdict(name, ok, detail = '') {
  if (!ok) failed += 1;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}

// The API as the test reads it, beside the page (Node's fetch sends no Origin: the API's browser
// rules let it through like curl).
const token = opt['token-file'] ? readFileSync(opt['token-file'], 'utf8').trim() : '';
async function api(method, path, body) {
  const headers = token ? {Authorization: `Bearer ${token}`} : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(opt.url + path, {method, headers,
    body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await res.text();
  return {status: res.status, body: text ? JSON.parse(text) : null};
}
const connectionPath = (service, endpoint) =>
  `/v1/privateLinkServices/${service}/privateEndpointConnections/${endpoint}`;
async function connectionOf(endpoint) {
  const state = (await api('GET', '/v1/state')).body;
  for (const service of state.privateLinkServices) {
    for (const c of service.privateEndpointConnections ?? []) {
      if (c.privateEndpoint === endpoint) return {service: service.name, ...c};
    }
  }
  return null;
}

const sameList = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
const rowsOf = (page, section, attr) =>
  page.$$eval(`#${section} tbody tr`, (rows, a) => rows.map(r => r.getAttribute(a)), attr);

// The resources the API holds are the page's rows: services, endpoints with network, IP and
// status, and the Pending connections.
async function checkLists(page) {
  const services = (await api('GET', '/v1/privateLinkServices')).body.value;
  const endpoints = (await api('GET', '/v1/privateEndpoints')).body.value;
  const shownServices = await rowsOf(page, 'services', 'data-service');
  verdict('lists_services', sameList(shownServices, services.map(s => s.name)),
    `page ${shownServices} api ${services.map(s => s.name)}`);
  const shown = await page.$$eval('#endpoints tbody tr', rows =>
    rows.map(r => [...r.querySelectorAll('td')].slice(0, 5).map(td => td.textContent).join('|')));
  const expected = endpoints.map(e =>
    [e.name, e.network, e.ip, e.privateLinkService, e.connectionStatus].join('|'));
  verdict('lists_endpoints', sameList(shown, expected), `page ${shown} api ${expected}`);
  const pending = services.flatMap(s => (s.privateEndpointConnections ?? [])
    .filter(c => c.status === 'Pending').map(c => c.privateEndpoint));
  const shownPending = await rowsOf(page, 'pending', 'data-endpoint');
  verdict('lists_pending', pending.length > 0 && sameList(shownPending, pending),
    `page ${shownPending} api ${pending}`);
}

// A refused action shows the API's own message and changes nothing: a description over the
// workflow's limit.
async function checkRefused(page, endpoint) {
  const before = await connectionOf(endpoint);
  const description = 'x'.repeat(1000);
  const row = `#pending tr[data-endpoint="${endpoint}"]`;
  await page.type(`${row} input`, description, {delay: 0});
  await page.click(`${row} button.approve`);
  await page.waitForSelector('#error:not([hidden])', {timeout: WAIT_MS});
  const shown = await page.$eval('#error-text', e => e.textContent);
  const expected = await api('POST', `${connectionPath(before.service, endpoint)}/approve`,
    {description});
  const message = expected.body?.error?.message ?? '';
  verdict('refused_action_shows_api_error',
    expected.status === 400 && message !== '' && shown.endsWith(message), `page '${shown}'`);
  const after = await connectionOf(endpoint);
  verdict('refused_action_changes_nothing', after.status === 'Pending' &&
    JSON.stringify(after) === JSON.stringify(before), `status ${after.status}`);
  await page.click('#error-close');
}

// Approve or reject on the page, with a description: the row leaves the pending table, the
// connection has that status and description in /v1/state, and the endpoint's row shows it.
async function checkDecision(page, endpoint, action, status) {
  const row = `#pending tr[data-endpoint="${endpoint}"]`;
  const description = `${status.toLowerCase()} on the Private Link Center page`;
  await page.$eval(`${row} input`, input => { input.value = ''; });
  await page.type(`${row} input`, description);
  await page.click(`${row} button.${action}`);
  await page.waitForSelector(row, {hidden: true, timeout: WAIT_MS});
  const c = await connectionOf(endpoint);
  verdict(`${action}_on_page_is_${status.toLowerCase()}_in_state`,
    c?.status === status && c.description === description, JSON.stringify(c));
  const shown = await page.waitForFunction((e, s) => document.querySelector(
    `#endpoints tr[data-endpoint="${e}"] .badge`)?.textContent === s,
  {timeout: WAIT_MS}, endpoint, status).then(() => true).catch(() => false);
  verdict(`endpoint_row_shows_${status.toLowerCase()}`, shown);
}

// Live figures: the busy endpoint's bytes-in rate turns non-zero on its chart; its flows cell and
// the NAT ports in use are those of the API; the drop reasons shown are the API's non-zero ones.
async function checkLive(page, busy) {
  const rate = await page.waitForFunction(e => {
    const cell = document.querySelector(`#endpoints tr[data-endpoint="${e}"] td.chart`);
    const text = cell?.querySelector('span.series0')?.textContent ?? '';
    return cell?.querySelector('svg polyline') && !/^0 B\/s$/.test(text) && text;
  }, {timeout: WAIT_MS, polling: 200}, busy).then(h => h.jsonValue()).catch(() => null);
  verdict('live_bytes_chart', rate !== null, `bytes in ${rate}`);

  // Ports in use move with the traffic: the capacity must be the API's, the count a number.
  const natShown = Object.fromEntries(await page.$$eval('#services .nat', nats =>
    nats.map(n => [n.dataset.ip, n.querySelector('span:last-child').textContent])));
  const stats = (await api('GET', '/v1/stats')).body.dataplane;
  verdict('nat_port_usage_shown', Object.keys(natShown).length === stats.natPorts.length &&
    stats.natPorts.every(n => new RegExp(`^\\d+ / ${n.capacity}$`).test(natShown[n.ip] ?? '')),
    JSON.stringify(natShown));

  // The busy endpoint always has downloads under way: its flow count is above 0.
  const flows = await page.$eval(`#endpoints tr[data-endpoint="${busy}"] td:last-child span`,
    e => Number(e.textContent)).catch(() => NaN);
  verdict('flows_chart', Number.isInteger(flows) && flows > 0 &&
    await page.$(`#endpoints tr[data-endpoint="${busy}"] td:last-child svg polyline`) !== null,
  `flows ${flows}`);

  // Two refreshes after `before`: the second read /v1/stats after it.
  const before = (await api('GET', '/v1/stats')).body.dataplane.drops;
  for (let i = 0; i < 2; ++i) {
    const status = await page.$eval('#status', e => e.textContent);
    await page.waitForFunction(s => document.querySelector('#status').textContent !== s,
      {timeout: WAIT_MS}, status);
  }
  const shownDrops = Object.fromEntries(await page.$$eval('#drops tbody tr',
    rows => rows.map(r => [r.dataset.reason, Number(r.cells[1].textContent.replace(/,/g, ''))])));
  const after = (await api('GET', '/v1/stats')).body.dataplane.drops;
  const consistent = Object.entries(before).every(([reason, n]) => n === 0 ||
    (shownDrops[reason] >= n && shownDrops[reason] <= after[reason])) &&
    Object.keys(shownDrops).every(reason => after[reason] > 0);
  verdict('drop_counters_shown', consistent, JSON.stringify(shownDrops));
}

async function checkToken(page) {
  const asked = await page.waitForSelector('#token-form:not([hidden])', {timeout: WAIT_MS})
    .then(() => true).catch(() => false);
  verdict('token_asked', asked);
  if (!asked) return;
  await page.type('#token', token);
  await page.click('#token-form button');
  await page.waitForSelector('#services tbody tr', {timeout: WAIT_MS});
  const services = (await api('GET', '/v1/privateLinkServices')).body.value;
  const shown = await rowsOf(page, 'services', 'data-service');
  verdict('token_sent_with_each_call', sameList(shown, services.map(s => s.name)), `${shown}`);
}

const browser = await puppeteer.launch({executablePath: opt.chromium, headless: true,
  // As root Chromium needs --no-sandbox; /dev/shm in a test runner may be small.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run']});
const logged = [];
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1400, height: 900});
  page.on('console', m => {
    if (m.type() === 'error' || m.type() === 'warn') logged.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', e => logged.push(`uncaught: ${e.message}`));
  await page.goto(opt.url + '/', {waitUntil: 'domcontentloaded'});
  let allowed = [];
  if (opt.scenario === 'dataplane') {
    await page.waitForSelector(`#pending tr[data-endpoint="${opt.approve}"]`, {timeout: WAIT_MS});
    await checkLists(page);
    await checkRefused(page, opt.refuse);
    await checkDecision(page, opt.approve, 'approve', 'Approved');
    await checkDecision(page, opt.refuse, 'reject', 'Rejected');
    await checkLive(page, opt.busy);
    allowed = [/status of 400/];
  } else if (opt.scenario === 'token') {
    await checkToken(page);
    allowed = [/status of 401/, /status of 401/, /status of 401/];
  } else {
    throw new Error(`--scenario: '${opt.scenario}' is not dataplane or token`);
  }
  await page.screenshot({path: opt.screenshot, fullPage: true});
  // Each allowed pattern excuses one failed load; anything else is an error of the page.
  const unexpected = logged.filter(line => {
    const i = allowed.findIndex(re => /Failed to load resource/.test(line) && re.test(line));
    if (i < 0) return true;
    allowed.splice(i, 1);
    return false;
  });
  verdict('console_clean', unexpected.length === 0, unexpected.join(' | '));
} catch (e) {
  verdict('browser_steps', false, `${e.message} (console: ${logged.join(' | ')})`);
} finally {
  await browser.close();
}
process.exit(failed === 0 ? 0 : 1);
