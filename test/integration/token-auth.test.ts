// Agents proven by projected ServiceAccount tokens instead of client certificates: the
// collector asks the (test) Kubernetes API with TokenReview; a token for another audience,
// another ServiceAccount or no token at all is refused with a clear error.
import { KubeConfig } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent } from '../../agent/agent';
import { type RunningCollector, startCollector } from '../../collector/collector';
import { agentSettings, collectorSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction } from '../../common/tcp';
import { KubeApiServer } from '../kube-apiserver/server';
import { makeTestPki, type TestPki } from '../lib/certs';
import { ReplaySource } from '../lib/replay-source';

const AGENT_SA = 'system:serviceaccount:tcpscope:tcpscope-agent';
let pki: TestPki;
let api: KubeApiServer;
let collector: RunningCollector;
const quiet = makeLogger('t', 'silent');

before(async () => {
  pki = makeTestPki();
  api = await new KubeApiServer({
    tokens: [
      { token: 'collector-token', user: 'system:serviceaccount:tcpscope:tcpscope-collector', rules: [{ verbs: ['create'], resources: ['tokenreviews'] }] },
      { token: 'agent-token', user: AGENT_SA, rules: [], audiences: ['tcpscope'] },
      { token: 'agent-token-wrong-audience', user: AGENT_SA, rules: [], audiences: ['vault'] },
      { token: 'other-sa-token', user: 'system:serviceaccount:default:nosy', rules: [], audiences: ['tcpscope'] },
    ],
  }).start();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 't', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'collector-token' }],
    contexts: [{ name: 'c', cluster: 't', user: 'u' }],
    currentContext: 'c',
  });
  collector = await startCollector(loadConfig(collectorSettings, {
    grpcListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', httpListen: '127.0.0.1:0',
    tlsCert: pki.serverCert, tlsKey: pki.serverKey, agentTokenAudience: 'tcpscope', agentServiceAccount: AGENT_SA,
  }, {}), { log: quiet, kubeConfig: kc });
});

after(async () => {
  await collector?.close();
  await api?.stop();
  pki?.cleanup();
});

async function tryAgent(token: string | undefined): Promise<{ acked: number; lastError: string }> {
  const flags: Record<string, string> = { nodeName: 'tok-node', collector: collector.grpcAddress.replace('127.0.0.1', 'localhost'), tlsCa: pki.ca, batchFlushMs: '20' };
  if (token) {
    flags.tokenFile = path.join(pki.dir, `token-${token}`);
    fs.writeFileSync(flags.tokenFile, token);
  }
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, flags, {}), { log: quiet, source, kernel: { kernelRelease: 't', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' } });
  source.emit({
    kind: 'session', timeUs: Date.now() * 1000, family: 4, laddr: '198.18.0.1', lport: 1, raddr: '198.18.0.2', rport: 2, txBytes: 1, rxBytes: 1, durationUs: 1,
    retransSegs: 0, pid: 1, comm: 'x', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 1, bornBeforeTrace: false,
  });
  const end = Date.now() + 10_000;
  while (agent.sender.stats().acked === 0 && !/not accepted|token|ServiceAccount/.test(agent.sender.stats().lastError) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  const st = agent.sender.stats();
  await agent.stop(50);
  return { acked: st.acked, lastError: st.lastError };
}

test('an agent with a valid ServiceAccount token for our audience is accepted', async () => {
  const r = await tryAgent('agent-token');
  assert.equal(r.acked, 1, r.lastError);
  assert.ok(api.requests().some((q) => q.resource.includes('tokenreviews')), 'the collector asked the API server');
});

test('a token for another audience is refused', async () => {
  const r = await tryAgent('agent-token-wrong-audience');
  assert.equal(r.acked, 0);
  assert.match(r.lastError, /token rejected|not for audience/);
});

test('a token of another ServiceAccount is refused', async () => {
  const r = await tryAgent('other-sa-token');
  assert.equal(r.acked, 0);
  assert.match(r.lastError, /ServiceAccount system:serviceaccount:default:nosy may not send events/);
});

test('a made-up token and a missing token are refused', async () => {
  assert.match((await tryAgent('not-a-token')).lastError, /token rejected/);
  assert.match((await tryAgent(undefined)).lastError, /missing ServiceAccount token/);
});
