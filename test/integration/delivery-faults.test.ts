// Delivery under faults, with real processes: the network between agent and collector cut
// with nftables and healed, a collector unreachable for longer than the agent's buffer
// holds, a frozen (SIGSTOPped) collector, and certificate files replaced while both sides
// run. Totals from the collector's HTTP API are compared with what the agent generated:
// every event is counted once, or counted as dropped, never both and never neither.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FaultAgentReport } from '../lib/fault-agent';
import { kernelTest } from '../lib/kernel';
import { createTestNet, type Host, type TestNet } from '../lib/netns';
import { CLI, freePort, type Proc, startProc, startScript } from '../lib/procs';
import { makeRotatingPki, SecretDir } from '../lib/rotating-pki';

const FAULT_AGENT = path.resolve(__dirname, '..', 'lib', 'fault-agent.js');
const GRPC_PORT = 7400;
const HTTP_PORT = 7401;
const QUERY_PORT = 7402;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes, directories and (optionally) a test network, all removed when the test ends, failed or not. */
interface Fixture {
  net?: TestNet;
  procs: Proc[];
  tmp(prefix: string): string;
  /** The tcpscope CLI, inside `host`'s namespace when given. */
  cli(args: string[], host?: Host): Proc;
  /** test/lib/fault-agent.js, inside `host`'s namespace when given. */
  agent(args: string[], host?: Host): Proc;
}

async function fixture(t: TestContext, withNet: boolean): Promise<Fixture> {
  const procs: Proc[] = [];
  const dirs: string[] = [];
  let net: TestNet | undefined;
  t.after(async () => {
    for (const p of procs) {
      if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill('SIGCONT');
      await p.kill('SIGKILL');
    }
    await net?.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  if (withNet) net = await createTestNet();
  const run = (argv: string[], host?: Host) => {
    const p = host ? startProc(['netns', 'exec', host.ns, process.execPath, ...argv], {}, 'ip') : startScript(argv[0]!, argv.slice(1));
    procs.push(p);
    return p;
  };
  return {
    net, procs,
    tmp(prefix) {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    cli: (args, host) => run([CLI, ...args], host),
    agent: (args, host) => run([FAULT_AGENT, ...args], host),
  };
}

/** GET on the collector's HTTP API: from this process, or with curl inside `host`'s namespace. */
async function api(http: string, urlPath: string, host?: Host): Promise<any> {
  const url = `http://${http}${urlPath}`;
  if (host) return JSON.parse(await host.exec('curl', ['-sf', '--max-time', '10', url]));
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return res.json();
}

interface Counted {
  /** all flows, every agent */
  sessions: number;
  /** sessions applied from this agent (status) */
  agentSessions: number;
  txBytes: number;
  retransSegs: number;
  /** events the agent reported dropped because its buffer was full (status losses) */
  overflow: number;
  duplicates: number;
  connected: boolean;
}

async function counted(http: string, node: string, host?: Host): Promise<Counted> {
  const flows = await api(http, '/api/v1/flows?since=1h&limit=100000', host) as { flows?: Array<Record<string, string | number | undefined>> };
  let sessions = 0, txBytes = 0, retransSegs = 0;
  for (const f of flows.flows ?? []) {
    sessions += Number(f.sessions ?? 0);
    txBytes += Number(f.txBytes ?? 0);
    retransSegs += Number(f.retransSegs ?? 0);
  }
  const status = await api(http, '/api/v1/status', host) as { agents?: Array<{ nodeName: string; connected?: boolean; sessions?: string | number; duplicates?: string | number; losses?: Array<{ reason: string; count: string | number }> }> };
  const a = status.agents?.find((x) => x.nodeName === node);
  assert.ok(a, `agent ${node} in /api/v1/status: ${JSON.stringify(status)}`);
  const overflow = Number(a.losses?.find((l) => l.reason === 'LOSS_REASON_BUFFER_OVERFLOW')?.count ?? 0);
  return { sessions, agentSessions: Number(a.sessions ?? 0), txBytes, retransSegs, overflow, duplicates: Number(a.duplicates ?? 0), connected: !!a.connected };
}

function report(p: Proc): FaultAgentReport {
  const line = p.stdout.filter((l) => l.startsWith('{')).pop();
  assert.ok(line, `fault agent printed no report; stderr: ${p.stderr.slice(-10).join('\n')}`);
  return JSON.parse(line) as FaultAgentReport;
}

type LiveStats = { generated: number; connected: boolean; buffered: number; bufferedBytes: number; inFlight: number; reconnects: number; lastError: string; acked: number; rss: number };

function statsLines(p: Proc): LiveStats[] {
  return p.stdout.filter((l) => l.startsWith('stats ')).map((l) => JSON.parse(l.slice(6)) as LiveStats);
}

/** Waits until the agent's latest `stats` line satisfies `ok`. */
async function waitStats(p: Proc, what: string, ok: (s: LiveStats) => boolean, ms = 30_000): Promise<LiveStats> {
  const end = Date.now() + ms;
  let last: LiveStats | undefined;
  while (Date.now() < end) {
    const line = p.stdout.filter((l) => l.startsWith('stats ')).pop();
    if (line) {
      last = JSON.parse(line.slice(6)) as LiveStats;
      if (ok(last)) return last;
    }
    if (p.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`agent never ${what}; last stats: ${JSON.stringify(last)}; stderr: ${p.stderr.slice(-5).join('\n')}`);
}

async function nft(host: Host, ...commands: string[][]): Promise<void> {
  for (const c of commands) await host.exec('nft', c);
}

/** Drops every packet to or from the collector port, both ways, in `host`'s namespace. */
async function cutCollectorPort(host: Host, port: number): Promise<void> {
  await nft(host,
    ['add', 'table', 'inet', 'tcps_cut'],
    ['add', 'chain', 'inet', 'tcps_cut', 'input', '{ type filter hook input priority 0; policy accept; }'],
    ['add', 'chain', 'inet', 'tcps_cut', 'output', '{ type filter hook output priority 0; policy accept; }'],
    ['add', 'rule', 'inet', 'tcps_cut', 'input', 'tcp', 'dport', String(port), 'counter', 'drop'],
    ['add', 'rule', 'inet', 'tcps_cut', 'output', 'tcp', 'sport', String(port), 'counter', 'drop'],
  );
}

async function dropCounter(host: Host): Promise<number> {
  const out = await host.exec('nft', ['list', 'table', 'inet', 'tcps_cut']);
  return [...out.matchAll(/packets (\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
}

function mutualTlsCollectorArgs(server: Host, tls: { cert: string; key: string; ca: string }, dataDir: string): string[] {
  return [
    'collector', '--data-dir', dataDir, '--checkpoint-seconds', '2',
    '--grpc-listen', `${server.addr4}:${GRPC_PORT}`, '--query-listen', `127.0.0.1:${QUERY_PORT}`, '--http-listen', `127.0.0.1:${HTTP_PORT}`,
    '--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-client-ca', tls.ca,
  ];
}

kernelTest('network cut with nftables for longer than keepalive detection, then healed: every event counted exactly once (or, past a small buffer, reported dropped)', async (t) => {
  const fx = await fixture(t, true);
  const { client, server } = fx.net!;
  const pki = makeRotatingPki(server.addr4);
  t.after(() => pki.cleanup());
  const dataDir = fx.tmp('tcpscope-cut-');
  const collector = fx.cli(mutualTlsCollectorArgs(server, { cert: pki.server1.cert, key: pki.server1.key, ca: pki.ca }, dataDir), server);
  await collector.waitFor(/collector: ingest/);

  const rate = 20_000, seconds = 10, node = 'cut';
  const agent = fx.agent([
    '--collector', `${server.addr4}:${GRPC_PORT}`, '--rate', String(rate), '--seconds', String(seconds), '--node', node,
    '--tls-ca', pki.ca, '--tls-cert', pki.client.cert, '--tls-key', pki.client.key, '--stats-ms', '250', '--drain-seconds', '90',
  ], client);
  // a second agent through the same cut with a buffer of 20 batches: batches written before
  // the cut whose acks were lost in it must not be both counted and reported dropped
  const smallNode = 'cut-small', keep = 20;
  const small = fx.agent([
    '--collector', `${server.addr4}:${GRPC_PORT}`, '--rate', String(rate / 2), '--seconds', String(seconds), '--node', smallNode, '--buffer-batches', String(keep),
    '--tls-ca', pki.ca, '--tls-cert', pki.client.cert, '--tls-key', pki.client.key, '--stats-ms', '250', '--drain-seconds', '90',
  ], client);
  await waitStats(agent, 'acknowledged a batch', (s) => s.acked > 0);
  await waitStats(small, 'acknowledged a batch', (s) => s.acked > 0);
  await sleep(2000);
  // the sender's keepalive is 20 s + 10 s timeout: a 35 s cut outlasts it, so the agent
  // gives the stalled stream up and reconnects through its backoff once the path heals
  await cutCollectorPort(server, GRPC_PORT);
  const cutAt = Date.now();
  const before = await waitStats(agent, 'buffered during the cut', (s) => s.buffered > 20, 10_000);
  await waitStats(agent, 'noticed the dead stream', (s) => s.reconnects >= 1, 40_000);
  await sleep(Math.max(0, 35_000 - (Date.now() - cutAt)));
  const dropped = await dropCounter(server);
  await server.exec('nft', ['delete', 'table', 'inet', 'tcps_cut']);
  assert.ok(dropped > 0, 'the cut dropped packets');

  assert.equal(await agent.exited, 0, `agent failed: ${agent.stderr.slice(-10).join('\n')}`);
  assert.equal(await small.exited, 0, `small-buffer agent failed: ${small.stderr.slice(-10).join('\n')}`);
  const r = report(agent);
  const rs = report(small);
  const c = await counted(`127.0.0.1:${HTTP_PORT}`, node, server);
  const cs = await counted(`127.0.0.1:${HTTP_PORT}`, smallNode, server);
  process.stdout.write(`# network cut 35 s: generated ${r.generated}, counted ${c.agentSessions}, dropped ${r.droppedEvents}; ${dropped} packets dropped by nft; ` +
    `${before.buffered} batches buffered 1 s into the cut, peak ${r.peakBuffered}; agent reconnects ${r.reconnects}, duplicate acks ${r.duplicates} (collector: ${c.duplicates}); ` +
    `small buffer: generated ${rs.generated}, counted ${cs.agentSessions}, dropped ${cs.overflow} (agent ${rs.droppedEvents}), peak buffered ${rs.peakBuffered}, duplicate acks ${rs.duplicates}\n`);
  assert.equal(r.generated, rate * seconds);
  assert.equal(r.buffered, 0, 'every batch acknowledged');
  assert.equal(r.droppedEvents, 0);
  assert.ok(r.reconnects >= 1, 'the agent reconnected after the cut');
  assert.equal(c.agentSessions, r.generated, 'every generated session counted exactly once');
  assert.equal(c.overflow, 0);
  assert.equal(rs.generated, (rate / 2) * seconds);
  assert.equal(rs.buffered, 0);
  assert.ok(rs.peakBuffered <= keep);
  assert.ok(cs.overflow > 0, 'the small buffer overflowed during the cut');
  assert.equal(cs.overflow, rs.droppedEvents);
  assert.equal(cs.agentSessions + cs.overflow, rs.generated, 'counted once or reported dropped, never both');
  // the flows (the aggregates users read) hold exactly what both agents delivered
  assert.equal(c.sessions, c.agentSessions + cs.agentSessions);
  await collector.kill('SIGTERM');
}, 150_000);

test('collector unreachable for longer than the buffer holds: the exact number dropped is reported', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, false);
  const [g, q, h] = [await freePort(), await freePort(), await freePort()];
  const rate = 10_000, seconds = 4, batch = 500, keep = 10, node = 'unreachable';
  // nobody listens on g yet: every batch waits in the buffer, which keeps the newest 10
  const agent = fx.agent(['--collector', `127.0.0.1:${g}`, '--rate', String(rate), '--seconds', String(seconds), '--node', node,
    '--batch', String(batch), '--buffer-batches', String(keep), '--stats-ms', '250', '--drain-seconds', '60']);
  const full = await waitStats(agent, 'finished generating', (s) => s.generated === rate * seconds, 15_000);
  assert.equal(full.connected, false);
  await sleep(1000);
  const dataDir = fx.tmp('tcpscope-unreach-');
  const collector = fx.cli(['collector', '--data-dir', dataDir, '--grpc-listen', `127.0.0.1:${g}`, '--query-listen', `127.0.0.1:${q}`, '--http-listen', `127.0.0.1:${h}`]);
  await collector.waitFor(/collector: ingest/);
  assert.equal(await agent.exited, 0, `agent failed: ${agent.stderr.slice(-10).join('\n')}`);
  const r = report(agent);
  const c = await counted(`127.0.0.1:${h}`, node);
  process.stdout.write(`# unreachable: generated ${r.generated}, counted ${c.sessions}, reported dropped ${c.overflow} (agent: ${r.droppedEvents} in ${r.droppedBatches} batches), peak buffered ${r.peakBuffered}\n`);
  assert.equal(r.generated, rate * seconds);
  assert.equal(r.buffered, 0);
  assert.equal(r.peakBuffered, keep, 'the buffer filled up to its bound and no further');
  assert.ok(c.sessions > 0 && c.sessions <= keep * batch, `what the buffer kept was delivered: at most 10 batches of ${batch}`);
  assert.ok(c.overflow > 0);
  assert.equal(c.overflow, r.generated - c.sessions, 'the collector reports exactly what was not delivered');
  assert.equal(r.droppedEvents, c.overflow);
  await collector.kill('SIGTERM');
});

test('a frozen collector (SIGSTOP) does not grow the agent: buffer within its bounds, counted + dropped == generated', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, false);
  const [g, q, h] = [await freePort(), await freePort(), await freePort()];
  const dataDir = fx.tmp('tcpscope-frozen-');
  const collector = fx.cli(['collector', '--data-dir', dataDir, '--grpc-listen', `127.0.0.1:${g}`, '--query-listen', `127.0.0.1:${q}`, '--http-listen', `127.0.0.1:${h}`, '--checkpoint-seconds', '2']);
  await collector.waitFor(/collector: ingest/);
  const rate = 20_000, seconds = 10, node = 'frozen', maxBatches = 40, maxBytes = 256 * 1024, maxInFlight = 8;
  const agent = fx.agent(['--collector', `127.0.0.1:${g}`, '--rate', String(rate), '--seconds', String(seconds), '--node', node,
    '--buffer-batches', String(maxBatches), '--buffer-bytes', String(maxBytes), '--max-in-flight', String(maxInFlight), '--stats-ms', '250', '--drain-seconds', '60']);
  await waitStats(agent, 'acknowledged a batch', (s) => s.acked > 0);
  await sleep(1500);
  const beforeFreeze = await waitStats(agent, 'reported', () => true);
  const seen = statsLines(agent).length;
  collector.child.kill('SIGSTOP');
  await sleep(5000);
  const frozen = await waitStats(agent, 'reported', () => true);
  collector.child.kill('SIGCONT');
  const duringFreeze = statsLines(agent).slice(seen);
  const rssFrozenPeak = Math.max(...duringFreeze.map((s) => s.rss));
  assert.equal(await agent.exited, 0, `agent failed: ${agent.stderr.slice(-10).join('\n')}`);
  const r = report(agent);
  const c = await counted(`127.0.0.1:${h}`, node);
  const mb = (b: number) => (b / 1048576).toFixed(1);
  process.stdout.write(`# frozen 5 s: generated ${r.generated}, counted ${c.sessions}, dropped ${c.overflow} (agent ${r.droppedEvents}); ` +
    `peak buffer ${r.peakBuffered} batches / ${mb(r.peakBufferedBytes)} MiB (bounds ${maxBatches} / ${mb(maxBytes)}), peak in flight ${r.peakInFlight}; ` +
    `RSS ${mb(r.rssStartBytes)} MiB at start, ${mb(beforeFreeze.rss)} MiB before the freeze, peak ${mb(rssFrozenPeak)} MiB during it, ${mb(r.rssPeakBytes)} MiB over the run; ` +
    `buffered ${frozen.buffered} at the end of the freeze\n`);
  assert.equal(r.generated, rate * seconds);
  assert.equal(r.buffered, 0);
  assert.ok(r.peakBuffered <= maxBatches, `buffer ${r.peakBuffered} batches > ${maxBatches}`);
  assert.ok(r.peakBufferedBytes <= maxBytes, `buffer ${r.peakBufferedBytes} bytes > ${maxBytes}`);
  assert.ok(r.peakInFlight <= maxInFlight);
  assert.ok(duringFreeze.length >= 15, 'the agent reported throughout the freeze');
  for (const s of duringFreeze) {
    assert.ok(s.buffered <= maxBatches && s.bufferedBytes <= maxBytes && s.inFlight <= maxInFlight, `agent over its bounds while frozen: ${JSON.stringify(s)}`);
  }
  // 100k events arrive during the freeze; kept (as before the fix, in gRPC's write queue) they
  // grew the agent by 80-120 MiB; bounded, what grows is the garbage of generating them
  assert.ok(rssFrozenPeak - beforeFreeze.rss < 48 * 1048576, `agent RSS grew by ${mb(rssFrozenPeak - beforeFreeze.rss)} MiB during the freeze`);
  assert.ok(c.overflow > 0, 'a 5 s freeze at 20k events/s overflows a 256 KiB buffer');
  assert.equal(c.overflow, r.droppedEvents);
  assert.equal(c.sessions + c.overflow, r.generated, 'every event counted once or reported dropped, never both');
  await collector.kill('SIGTERM');
});

/** The CN of the certificate the collector presents now (a fresh TLS handshake from `host`). */
async function servedCn(host: Host, addr: string, ca: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', host.ns, 'openssl', 's_client', '-connect', addr, '-CAfile', ca, '-alpn', 'h2', '-verify_return_error'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    c.stderr.on('data', (d) => (o += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.on('exit', () => {
      clearTimeout(timer);
      resolve(o);
    });
    c.on('error', reject);
  });
  const m = /subject=.*CN\s*=\s*([\w.-]+)/.exec(out);
  if (!m) throw new Error(`no server certificate from ${addr}: ${out.slice(0, 500)}`);
  return m[1]!;
}

/** Resets the agent's connections to the collector for a moment (TCP RST on its next packets), so it reconnects. */
async function resetConnections(host: Host, port: number): Promise<void> {
  await nft(host,
    ['add', 'table', 'inet', 'tcps_rst'],
    ['add', 'chain', 'inet', 'tcps_rst', 'output', '{ type filter hook output priority 0; policy accept; }'],
    ['add', 'rule', 'inet', 'tcps_rst', 'output', 'tcp', 'dport', String(port), 'reject', 'with', 'tcp', 'reset'],
  );
  await sleep(1000);
  await host.exec('nft', ['delete', 'table', 'inet', 'tcps_rst']);
}

kernelTest('certificate files replaced while running: collector serves its new certificate, an expired agent certificate is refused with the reason, a fresh one gets in', async (t) => {
  const fx = await fixture(t, true);
  const { client, server } = fx.net!;
  const pki = makeRotatingPki(server.addr4);
  t.after(() => pki.cleanup());
  const secrets = fx.tmp('tcpscope-certs-');
  const serverTls = new SecretDir(path.join(secrets, 'collector'));
  serverTls.install({ 'tls.crt': pki.server1.cert, 'tls.key': pki.server1.key, 'ca.crt': pki.ca });
  const agentTls = new SecretDir(path.join(secrets, 'agent'));
  agentTls.install({ 'tls.crt': pki.client.cert, 'tls.key': pki.client.key, 'ca.crt': pki.ca });
  const collectorAddr = `${server.addr4}:${GRPC_PORT}`;

  const collector = fx.cli(mutualTlsCollectorArgs(server, { cert: serverTls.path('tls.crt'), key: serverTls.path('tls.key'), ca: serverTls.path('ca.crt') }, fx.tmp('tcpscope-rot-')), server);
  await collector.waitFor(/collector: ingest/);
  const rate = 2000, seconds = 25, node = 'rotated';
  const agent = fx.agent(['--collector', collectorAddr, '--rate', String(rate), '--seconds', String(seconds), '--node', node, '--batch', '200',
    '--tls-ca', agentTls.path('ca.crt'), '--tls-cert', agentTls.path('tls.crt'), '--tls-key', agentTls.path('tls.key'), '--stats-ms', '200', '--drain-seconds', '60'], client);
  await waitStats(agent, 'connected', (s) => s.connected && s.acked > 0);
  assert.equal(await servedCn(client, collectorAddr, pki.ca), 'tcpscope-collector-1');

  // 1. the collector's Secret gets a new certificate (same CA): served from the next handshake on
  serverTls.install({ 'tls.crt': pki.server2.cert, 'tls.key': pki.server2.key, 'ca.crt': pki.ca });
  const swapped = Date.now();
  let cn = '';
  while (Date.now() - swapped < 15_000 && (cn = await servedCn(client, collectorAddr, pki.ca)) !== 'tcpscope-collector-2') await sleep(500);
  assert.equal(cn, 'tcpscope-collector-2', 'the collector serves the replaced certificate without a restart');
  const reloadMs = Date.now() - swapped;
  const r0 = (await waitStats(agent, 'reported', () => true)).reconnects;
  await resetConnections(client, GRPC_PORT);
  await waitStats(agent, 'reconnected to the new certificate', (s) => s.reconnects > r0 && s.connected, 30_000);

  // 2. the agent's Secret gets an expired certificate: its next connection is refused, with the reason on both sides
  agentTls.install({ 'tls.crt': pki.expiredClient.cert, 'tls.key': pki.expiredClient.key, 'ca.crt': pki.ca });
  await sleep(6000); // FileWatcherCertificateProvider re-reads every 5 s
  await resetConnections(client, GRPC_PORT);
  const refused = await waitStats(agent, 'was refused for its expired certificate', (s) => !s.connected && /expired/i.test(s.lastError), 30_000);
  await collector.waitFor(/expired/i, 10_000);
  await sleep(2000);
  const stillOut = await waitStats(agent, 'reported', () => true);
  assert.equal(stillOut.connected, false, 'no connection with an expired certificate');

  // 3. a valid certificate again: the agent gets back in and delivers what it kept meanwhile
  agentTls.install({ 'tls.crt': pki.client.cert, 'tls.key': pki.client.key, 'ca.crt': pki.ca });
  await waitStats(agent, 'reconnected with the renewed certificate', (s) => s.connected && s.acked > stillOut.acked, 40_000);
  assert.equal(await agent.exited, 0, `agent failed: ${agent.stderr.slice(-10).join('\n')}`);
  const r = report(agent);
  const c = await counted(`127.0.0.1:${HTTP_PORT}`, node, server);
  const collectorSaid = collector.stderr.find((l) => /expired/i.test(l)) ?? '';
  process.stdout.write(`# certificates: new server certificate served ${reloadMs} ms after the swap; agent refused with "${refused.lastError}"; ` +
    `collector logged: ${collectorSaid.slice(0, 300)}; generated ${r.generated}, counted ${c.sessions}, reconnects ${r.reconnects}\n`);
  assert.equal(r.generated, rate * seconds);
  assert.equal(r.buffered, 0);
  assert.equal(r.droppedEvents, 0);
  assert.equal(c.sessions, r.generated, 'nothing lost across two certificate swaps and a refusal');
  assert.equal(c.txBytes, r.txBytes);
  assert.equal(c.retransSegs, r.retransSegs);
  await collector.kill('SIGTERM');
});
