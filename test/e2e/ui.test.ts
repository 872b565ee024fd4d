// The web UI in a real browser: Debian's chromium (scripts/ui-deps.sh installs it; never a
// downloaded browser) driven by playwright-core, against a collector behind a query token
// fed known events by two agents through the real ingest path. Checks the hot-spot table's
// rows and numbers, the node-pair heat map's hottest cell, and the pod page showing an event
// pushed after it loaded. Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type LocalAttributor, startAgent } from '../../agent/agent';
import type { RetransmitRecord, SessionRecord } from '../../agent/records';
import { agentSettings, collectorSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction, TcpState } from '../../common/tcp';
import { type RunningCollector, startCollector } from '../../collector/collector';
import type { RemoteIndex, RemoteLookup } from '../../collector/resolve/resolver';
import type { PodRef } from '../../gen/tcpscope/v1/events';
import { ReplaySource } from '../lib/replay-source';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '../../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const log = makeLogger('test', 'silent');

/** Installs chromium when it is missing and we are root; the reason to skip otherwise. */
function chromiumMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  if (process.getuid?.() === 0) {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts/ui-deps.sh')], { encoding: 'utf8', timeout: 600_000 });
    if (fs.existsSync(CHROMIUM)) return undefined;
    return `chromium is missing and scripts/ui-deps.sh could not install it: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' ')}`;
  }
  return 'chromium is missing (/usr/bin/chromium) and installing it needs root: run scripts/ui-deps.sh as root';
}
const skip = chromiumMissing();

// The cluster: four pods on three nodes.
interface Pod { ns: string; name: string; node: string; addr: string }
const pods: Pod[] = [
  { ns: 'shop', name: 'web', node: 'node-a', addr: '10.1.0.1' },
  { ns: 'shop', name: 'api', node: 'node-a', addr: '10.1.0.2' },
  { ns: 'shop', name: 'db', node: 'node-b', addr: '10.2.0.1' },
  { ns: 'infra', name: 'cache', node: 'node-c', addr: '10.3.0.1' },
];
const byAddr = new Map(pods.map((p) => [p.addr, p]));
const podRef = (p: Pod): PodRef => ({ uid: `uid-${p.name}`, namespace: p.ns, name: p.name, container: 'app', workloadKind: 'ReplicaSet', workloadName: `${p.name}-5d8f`, hostNetwork: false });
const attributor: LocalAttributor = { attribute: (r) => { const p = byAddr.get(r.laddr); return p ? podRef(p) : undefined; } };
const remoteIndex: RemoteIndex = {
  resolve(addr: string): RemoteLookup {
    const p = byAddr.get(addr);
    return p ? { kind: 'pod', uid: `uid-${p.name}`, namespace: p.ns, name: p.name, container: 'app', workload: { kind: 'Deployment', name: p.name }, node: p.node } : { kind: 'external' };
  },
};

const now = Date.now() * 1000;
let seq = 0;
function session(from: Pod, to: Pod, rport: number, over: Partial<SessionRecord> = {}): SessionRecord {
  seq++;
  return {
    kind: 'session', timeUs: now - 60e6 + seq, family: 4, laddr: from.addr, lport: 40000 + seq, raddr: to.addr, rport,
    txBytes: 1000, rxBytes: 5000, durationUs: 20_000, retransSegs: 0, pid: 7, comm: 'app', netnsInode: 1, cgroupId: 1,
    direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 100, bornBeforeTrace: false, ...over,
  };
}
function retransmit(from: Pod, to: Pod, rport: number, state: TcpState, timeUs = now - 30e6 + ++seq, lport = 40001): RetransmitRecord {
  return {
    kind: 'retransmit', timeUs, family: 4, laddr: from.addr, lport, raddr: to.addr, rport, state, caState: 4,
    netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, pid: 0, segs: 1,
  };
}

const [web, api, db, cache] = pods as [Pod, Pod, Pod, Pod];
const TOKEN = 'ui-test-token-5b1e';
let collector: RunningCollector;
let browser: Browser;
let sourceA: ReplaySource;
let tmp = '';
const cleanups: Array<() => Promise<void> | void> = [];

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  if (skip) return;
  // the page's modules from the current sources (npm run build does the same)
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'collector/ui/tsconfig.json')], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `the web UI does not compile:\n${tsc.stdout}${tsc.stderr}`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-ui-test-'));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.writeFileSync(path.join(tmp, 'token'), `${TOKEN}\n`);
  collector = await startCollector(loadConfig(collectorSettings, {
    grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', queryTokenFile: path.join(tmp, 'token'),
  }, {}), { log, remoteIndex });
  cleanups.push(() => collector.close());
  const agentFor = async (node: string) => {
    const source = new ReplaySource();
    const agent = await startAgent(loadConfig(agentSettings, { nodeName: node, collector: collector.grpcAddress, batchMaxEvents: 100, batchFlushMs: 20 }, {}), {
      log, source, attributor, kernel: { kernelRelease: 'test', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
    });
    cleanups.push(() => agent.stop(100));
    return source;
  };
  sourceA = await agentFor('node-a');
  const sourceB = await agentFor('node-b');
  // node-a: web -> db:5432, 10 sessions, 12 retransmits in ESTABLISHED; api -> cache:6379, 5 sessions, 3 in ESTABLISHED
  for (let i = 0; i < 10; i++) sourceA.emit(session(web, db, 5432));
  for (let i = 0; i < 12; i++) sourceA.emit(retransmit(web, db, 5432, TcpState.TCP_STATE_ESTABLISHED));
  for (let i = 0; i < 5; i++) sourceA.emit(session(api, cache, 6379));
  for (let i = 0; i < 3; i++) sourceA.emit(retransmit(api, cache, 6379, TcpState.TCP_STATE_ESTABLISHED));
  // node-b: db -> cache:6379, 4 sessions, 2 failed connects, 2 retransmits in SYN_SENT
  for (let i = 0; i < 4; i++) sourceB.emit(session(db, cache, 6379));
  for (let i = 0; i < 2; i++) sourceB.emit(session(db, cache, 6379, { failedConnect: true, txBytes: 0, rxBytes: 0, durationUs: 1_000_000 }));
  for (let i = 0; i < 2; i++) sourceB.emit(retransmit(db, cache, 6379, TcpState.TCP_STATE_SYN_SENT));
  await until(() => collector.state.eventsTotal() === 10 + 12 + 5 + 3 + 4 + 2 + 2, 'the known events at the collector');

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* keep cleaning */
    }
  }
});

/** A page that may talk to the collector only; `failed` collects page errors and failed or outside requests. */
async function newPage(): Promise<{ page: Page; failed: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  cleanups.push(() => page.close());
  const failed: string[] = [];
  page.on('pageerror', (e) => failed.push(e.message));
  page.on('requestfailed', (r) => { if (!r.url().includes('/api/v1/events')) failed.push(`${r.url()}: ${r.failure()?.errorText}`); });
  // no internet: every request the page makes must go to the collector
  await page.route('**/*', (route) => (route.request().url().startsWith(`http://${collector.httpAddress}/`) ? route.continue() : route.abort()));
  return { page, failed };
}

test('the UI and its API answer only what they should: assets open, the API behind the token', { skip }, async () => {
  const base = `http://${collector.httpAddress}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.equal((await fetch(`${base}/ui/main.mjs`)).status, 200);
  assert.equal((await fetch(`${base}/api/v1/hotspots`)).status, 401);
  assert.equal((await fetch(`${base}/api/v1/hotspots`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal((await fetch(`${base}/ui/../../package.json`)).status, 404);
});

test('the hot-spot table ranks the known pods with their numbers, and the heat map marks node-a -> node-b hottest', { skip }, async () => {
  const { page, failed } = await newPage();
  await page.goto(`http://${collector.httpAddress}/?by=pod&since=1h#token=${TOKEN}`);
  await page.waitForSelector('table.hotspots tbody tr');
  assert.ok(!page.url().includes(TOKEN), 'the token left the address bar');
  const rows = await page.$$eval('table.hotspots tbody tr', (trs) => trs.map((tr) => ({
    key: tr.getAttribute('data-key'),
    segs: tr.querySelector('[data-col=segs]')!.textContent,
    events: tr.querySelector('[data-col=events]')!.textContent,
    sessions: tr.querySelector('[data-col=sessions]')!.textContent,
    failed: tr.querySelector('[data-col=failed]')!.textContent,
    states: tr.querySelector('[data-col=states]')!.textContent,
    finding: tr.querySelector('.finding')!.textContent,
  })));
  assert.deepEqual(rows.map((r) => [r.key, r.segs, r.events, r.sessions, r.failed, r.states]), [
    ['shop/web', '12', '12', '10', '0', 'ESTABLISHED 12'],
    ['shop/api', '3', '3', '5', '0', 'ESTABLISHED 3'],
    ['shop/db', '2', '2', '4', '2', 'SYN_SENT 2'],
  ]);
  assert.match(rows[0]!.finding!, /network path/);
  assert.match(rows[2]!.finding!, /overloaded or unreachable/);

  const cells = await page.$$eval('table.heatmap td.cell', (tds) => tds.map((td) => [td.getAttribute('data-local'), td.getAttribute('data-remote'), Number(td.getAttribute('data-value'))]));
  assert.deepEqual(cells.filter((c) => (c[2] as number) > 0).sort(), [['node-a', 'node-b', 12], ['node-a', 'node-c', 3], ['node-b', 'node-c', 2]]);
  const hottest = await page.$$eval('table.heatmap td.hottest', (tds) => tds.map((td) => [td.getAttribute('data-local'), td.getAttribute('data-remote')]));
  assert.deepEqual(hottest, [['node-a', 'node-b']]);
  await page.screenshot({ path: path.join(ARTIFACTS, 'ui-hotspots.png'), fullPage: true });

  // regrouping by node through the selector
  await page.selectOption('#by', 'node');
  await page.locator('table.hotspots tbody tr:first-child[data-key="node-a"]').waitFor();
  const nodes = await page.$$eval('table.hotspots tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-key'), tr.querySelector('[data-col=segs]')!.textContent]));
  assert.deepEqual(nodes, [['node-a', '15'], ['node-b', '2']]);
  assert.deepEqual(failed, [], 'no page errors, no failed or outside requests');
  await page.close();
});

test('the pod page lists the pod\'s flows and shows an event pushed after it loaded', { skip }, async () => {
  const { page, failed } = await newPage();
  await page.goto(`http://${collector.httpAddress}/pod/shop/web#token=${TOKEN}`);
  await page.waitForSelector('table.flows tbody tr');
  const flows = await page.$$eval('table.flows tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-local'), tr.getAttribute('data-remote'), tr.querySelector('[data-col=sessions]')!.textContent, tr.querySelector('[data-col=segs]')!.textContent]));
  assert.deepEqual(flows, [['shop/web', 'shop/db', '10', '12']]);
  // the recent events arrive first (10 sessions + 12 retransmits of web)
  await page.locator('#events tbody tr').nth(21).waitFor();
  assert.equal(await page.locator('#events tbody tr').count(), 22);
  await page.waitForSelector('#live-status.live');
  // now a new retransmit, from a port no earlier event used
  sourceA.emit(retransmit(web, db, 5432, TcpState.TCP_STATE_SYN_SENT, Date.now() * 1000, 45678));
  await page.locator('#events tbody tr').nth(22).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#events tbody tr').count(), 23);
  const first = await page.$eval('#events tbody tr', (tr) => ({ cls: tr.className, text: tr.textContent }));
  assert.equal(first.cls, 'retrans');
  assert.match(first.text!, /shop\/web:45678/);
  assert.match(first.text!, /shop\/db:5432/);
  assert.match(first.text!, /SYN_SENT/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'ui-pod.png'), fullPage: true });
  assert.deepEqual(failed, [], 'no page errors, no failed or outside requests');
  await page.close();
});
