// Who may write to and read from the collector: agents need a client certificate from the
// right CA (not expired); the collector's name must match; the query API needs the bearer
// token. Each failure is refused with a clear error on both sides.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../agent/agent';
import { type RunningCollector, startCollector } from '../../collector/collector';
import { agentSettings, collectorSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction } from '../../common/tcp';
import { QueryConnection } from '../../cli/client';
import { makeTestPki, type TestPki } from '../lib/certs';
import { ReplaySource } from '../lib/replay-source';

let pki: TestPki;
let collector: RunningCollector;
const collectorLog: string[] = [];
const TOKEN = 's3cret-query-token';

before(async () => {
  pki = makeTestPki();
  fs.writeFileSync(path.join(pki.dir, 'token'), `${TOKEN}\n`);
  const sink = new Writable({ write(chunk, _e, cb) { collectorLog.push(String(chunk)); cb(); } });
  collector = await startCollector(loadConfig(collectorSettings, {
    grpcListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', httpListen: '127.0.0.1:0',
    tlsCert: pki.serverCert, tlsKey: pki.serverKey, tlsClientCa: pki.ca, queryTokenFile: path.join(pki.dir, 'token'),
  }, {}), { log: makeLogger('collector', 'info', sink) });
});

after(async () => {
  await collector?.close();
  pki?.cleanup();
});

const quiet = makeLogger('agent', 'silent');

async function agentWith(flags: Record<string, string>): Promise<{ agent: RunningAgent; source: ReplaySource }> {
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, { nodeName: `node-${Math.random().toString(36).slice(2, 7)}`, collector: collector.grpcAddress.replace('127.0.0.1', 'localhost'), batchFlushMs: 20, ...flags }, {}), {
    log: quiet, source, kernel: { kernelRelease: 'test', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  source.emit({
    kind: 'session', timeUs: Date.now() * 1000, family: 4, laddr: '198.18.0.1', lport: 40000, raddr: '198.18.0.2', rport: 80, txBytes: 1, rxBytes: 1,
    durationUs: 1, retransSegs: 0, pid: 1, comm: 'x', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 1, bornBeforeTrace: false,
  });
  return { agent, source };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('an agent with a client certificate from the collector\'s CA is accepted over mutual TLS', async () => {
  const before = collector.state.eventsTotal();
  const { agent } = await agentWith({ tlsCa: pki.ca, tlsCert: pki.clientCert, tlsKey: pki.clientKey });
  try {
    await until(() => agent.sender.stats().acked > 0);
    assert.equal(collector.state.eventsTotal(), before + 1);
  } finally {
    await agent.stop(200);
  }
});

const refused: Array<[string, Record<string, string>, RegExp, RegExp | null]> = [
  ['no client certificate', {}, /client certificate not accepted: no client certificate presented/, /no client certificate presented/],
  ['a certificate from another CA', { tlsCert: 'otherClientCert', tlsKey: 'otherClientKey' }, /client certificate not accepted: client certificate signed by an unknown CA/, /unknown CA/],
  ['an expired certificate', { tlsCert: 'expiredClientCert', tlsKey: 'expiredClientKey' }, /client certificate not accepted: client certificate expired/, /expired/],
];

for (const [name, files, agentSide, collectorSide] of refused) {
  test(`an agent with ${name} is refused, with the reason on both sides`, async () => {
    const before = collector.state.eventsTotal();
    const logMark = collectorLog.length;
    const flags: Record<string, string> = { tlsCa: pki.ca };
    for (const [k, v] of Object.entries(files)) flags[k] = (pki as unknown as Record<string, string>)[v]!;
    const { agent } = await agentWith(flags);
    try {
      await until(() => agentSide.test(agent.sender.stats().lastError));
      assert.equal(agent.sender.stats().acked, 0);
      assert.equal(collector.state.eventsTotal(), before, 'nothing was accepted');
      if (collectorSide) {
        await until(() => collectorLog.slice(logMark).some((l) => /TLS client refused|refused an agent/.test(l)));
        const line = collectorLog.slice(logMark).find((l) => /TLS client refused|refused an agent/.test(l))!;
        assert.match(line, collectorSide);
      }
    } finally {
      await agent.stop(50);
    }
  });
}

test('an agent refuses a collector whose certificate carries another name', async () => {
  const c2 = await startCollector(loadConfig(collectorSettings, {
    grpcListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', httpListen: '127.0.0.1:0',
    tlsCert: pki.wrongNameServerCert, tlsKey: pki.wrongNameServerKey, tlsClientCa: pki.ca,
  }, {}), { log: quiet });
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, { nodeName: 'n', collector: c2.grpcAddress.replace('127.0.0.1', 'localhost'), tlsCa: pki.ca, tlsCert: pki.clientCert, tlsKey: pki.clientKey }, {}), {
    log: quiet, source, kernel: { kernelRelease: 'test', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  try {
    await until(() => agent.sender.stats().lastError !== '');
    assert.match(agent.sender.stats().lastError, /altnames|does not match|Hostname/i);
  } finally {
    await agent.stop(50);
    await c2.close();
  }
});

test('an agent will not send in plaintext beyond loopback', async () => {
  await assert.rejects(
    startAgent(loadConfig(agentSettings, { nodeName: 'n', collector: '198.18.0.1:7400' }, {}), { log: quiet, source: new ReplaySource(), kernel: { kernelRelease: '', retransmitErrField: false, btf: false, tracepoints: [], bpftraceVersion: '' } }),
    /refusing to send to 198\.18\.0\.1:7400 without TLS/,
  );
});

test('a collector will not serve plaintext or an open query API beyond loopback', async () => {
  await assert.rejects(startCollector(loadConfig(collectorSettings, { grpcListen: '0.0.0.0:0', queryListen: '127.0.0.1:0', httpListen: '127.0.0.1:0' }, {}), { log: quiet }), /without TLS beyond loopback/);
  await assert.rejects(startCollector(loadConfig(collectorSettings, { grpcListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', httpListen: '0.0.0.0:0' }, {}), { log: quiet }), /without a token/);
});

test('the gRPC query API refuses a missing or bad token and answers the right one', async () => {
  const ask = (token?: string) => new QueryConnection({ collector: collector.queryAddress.replace('127.0.0.1', 'localhost'), token, tlsCa: pki.ca }).unary(new QueryConnection({ collector: 'x:1' }).client.status, {});
  await assert.rejects(ask(undefined), /missing bearer token/);
  await assert.rejects(ask('wrong'), /bad bearer token/);
  const ok = await ask(TOKEN);
  assert.equal(typeof ok.collectorVersion, 'string');
});

test('the HTTP API refuses a missing or bad token with 401 and answers the right one', async () => {
  const url = `http://${collector.httpAddress}/api/v1/status`;
  const none = await fetch(url);
  assert.equal(none.status, 401);
  assert.match(((await none.json()) as { error: string }).error, /missing bearer token/);
  const bad = await fetch(url, { headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  assert.match(((await bad.json()) as { error: string }).error, /bad bearer token/);
  const good = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(good.status, 200);
  assert.equal((await fetch(`http://${collector.httpAddress}/healthz`)).status, 200, 'probes need no token');
});
