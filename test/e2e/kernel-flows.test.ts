// The whole path on the real kernel: two test hosts in network namespaces, a workload of
// known connections with known byte counts and packet loss on one port; a real agent
// process (bpftrace) streams to a real collector process; `tcpscope flows -o json` must
// show exactly those flows with their counts, and the retransmitted segments must equal
// the kernel's own count for each namespace. Run twice: with the always-on path (sessions
// summed per flow in the kernel) and with one event per session: the same answers
// (test/integration/flow-sums.test.ts checks the in-kernel retransmit counting).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after } from 'node:test';
import { kernelTest } from '../lib/kernel';
import { createTestNet, runWorkloadClient, startWorkloadServer, type TestNet, type WorkloadConn } from '../lib/netns';
import { CLI, freePort, type Proc, startProc } from '../lib/procs';

const procs: Proc[] = [];
let net: TestNet | undefined;
const stopAll = async () => {
  for (const p of procs.splice(0)) await p.kill('SIGTERM');
  await net?.cleanup();
  net = undefined;
};
after(stopAll);

interface JsonEndpoint { addr: string; port?: number; kind: string; node: string }
interface JsonFlow {
  local: JsonEndpoint; remote: JsonEndpoint; servicePort: number; direction: string; sessions?: string; failedConnects?: string;
  txBytes?: string; rxBytes?: string; retransSegs?: string; retransmitEvents?: string; retransEventSegs?: string; retransByState?: Array<{ state: string; events: string }>;
  duration?: { p50Ms?: number; maxMs?: number };
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(process.execPath, [CLI, ...args], { timeout: 30_000, maxBuffer: 256 * 1024 * 1024 }, (err, out, errOut) => (err ? reject(new Error(`${args.join(' ')}: ${errOut || err.message}`)) : resolve(out))));
}

const n = (v: string | number | undefined) => Number(v ?? 0);

for (const [sessions, retransmitLimit] of [['flows', 1000], ['events', 1000]] as const) {
kernelTest(`agent (--sessions ${sessions} --retransmit-limit ${retransmitLimit}) -> collector -> tcpscope flows -o json: exactly the workload's flows, bytes exact, retransmits match the kernel`, async (t) => {
  await stopAll();
  net = await createTestNet(t);
  const [ingest, query, http] = [await freePort(), await freePort(), await freePort()];
  const collector = startProc(['collector', '--grpc-listen', `127.0.0.1:${ingest}`, '--query-listen', `127.0.0.1:${query}`, '--http-listen', `127.0.0.1:${http}`]);
  procs.push(collector);
  await collector.waitFor(/collector: ingest/);
  const agent = startProc(['agent', '--collector', `127.0.0.1:${ingest}`, '--node-name', 'kernel-node', '--batch-flush-ms', '200', '--sessions', sessions, '--retransmit-limit', String(retransmitLimit)]);
  procs.push(agent);
  await agent.waitFor(/agent: tracing/, 60_000);

  const { client, server } = net;
  const cleanPort = 18080;
  const lossyPort = 18081;
  const srv = await startWorkloadServer(server, server.addr4, [cleanPort, lossyPort]);
  await net.dropOnInput(server, lossyPort, 10);
  const clientRetransBefore = await net.retransSegs(client);
  const serverRetransBefore = await net.retransSegs(server);
  const clean = await runWorkloadClient(client, { raddr: server.addr4, rport: cleanPort, conns: 6, upBytes: 3000, downBytes: 70_000, closer: 'alternate' });
  const lossy = await runWorkloadClient(client, { raddr: server.addr4, rport: lossyPort, conns: 4, upBytes: 400_000, downBytes: 1000, closer: 'client' });
  await srv.stop();
  const clientRetrans = (await net.retransSegs(client)) - clientRetransBefore;
  const serverRetrans = (await net.retransSegs(server)) - serverRetransBefore;

  // wait until the collector has every session (both ends of 10 connections = 20)
  const mine = (f: JsonFlow) => [client.addr4, server.addr4].includes(f.local.addr) && [client.addr4, server.addr4].includes(f.remote.addr);
  let flows: JsonFlow[] = [];
  const end = Date.now() + 20_000;
  for (;;) {
    flows = ((JSON.parse(await cli(['flows', '-o', 'json', '--since', '10m', '--collector', `127.0.0.1:${query}`])) as { flows?: JsonFlow[] }).flows ?? []).filter(mine);
    if (flows.reduce((s, f) => s + n(f.sessions), 0) >= 20 || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 500));
  }

  const flow = (local: string, port: number, dir: string) => flows.find((f) => f.local.addr === local && f.servicePort === port && f.direction === dir);
  const sum = (conns: WorkloadConn[], k: 'txBytes' | 'rxBytes') => conns.reduce((s, c) => s + c[k], 0);
  assert.equal(flows.length, 4, `client and server side of two services: ${JSON.stringify(flows.map((f) => [f.local.addr, f.servicePort, f.direction]))}`);

  const cleanOut = flow(client.addr4, cleanPort, 'DIRECTION_OUTBOUND')!;
  const cleanIn = flow(server.addr4, cleanPort, 'DIRECTION_INBOUND')!;
  assert.ok(cleanOut && cleanIn, 'both ends of the clean service');
  assert.equal(n(cleanOut.sessions), 6);
  assert.equal(n(cleanOut.txBytes), sum(clean, 'txBytes'), 'client bytes sent, exact');
  assert.equal(n(cleanOut.rxBytes), sum(clean, 'rxBytes'), 'client bytes received, exact');
  assert.equal(n(cleanIn.sessions), 6);
  assert.equal(n(cleanIn.rxBytes), sum(clean, 'txBytes'), 'server bytes received, exact');
  assert.equal(n(cleanIn.txBytes), sum(clean, 'rxBytes'), 'server bytes sent, exact');
  assert.equal(n(cleanOut.retransmitEvents), 0, 'no loss on the clean port');
  assert.ok(n(cleanOut.duration?.maxMs) > 0 && n(cleanOut.duration?.maxMs) < 30_000, 'durations plausible');

  const lossyOut = flow(client.addr4, lossyPort, 'DIRECTION_OUTBOUND')!;
  const lossyIn = flow(server.addr4, lossyPort, 'DIRECTION_INBOUND')!;
  assert.ok(lossyOut && lossyIn, 'both ends of the lossy service');
  assert.equal(n(lossyOut.sessions), 4);
  assert.equal(n(lossyOut.txBytes), sum(lossy, 'txBytes'), 'bytes exact despite retransmissions');
  const segs = flows.filter((f) => f.local.addr === client.addr4).reduce((s, f) => s + n(f.retransSegs), 0);
  const serverSegs = flows.filter((f) => f.local.addr === server.addr4).reduce((s, f) => s + n(f.retransSegs), 0);
  const events = n(lossyOut.retransmitEvents);
  process.stdout.write(`# kernel e2e: client retransmitted ${segs} segments (kernel: ${clientRetrans}), ${events} retransmit events; server ${serverSegs} (kernel: ${serverRetrans})\n`);
  assert.ok(segs > 0, 'loss caused retransmits');
  assert.equal(segs, clientRetrans, 'retransmitted segments equal the kernel\'s TcpRetransSegs for the client namespace');
  assert.equal(serverSegs, serverRetrans, 'and for the server namespace');
  assert.ok(events > 0 && events <= segs, `retransmit events (${events}) are at most the segments (${segs})`);
  const eventSegs = flows.filter((f) => f.local.addr === client.addr4).reduce((s, f) => s + n(f.retransEventSegs), 0);
  assert.equal(eventSegs, clientRetrans, 'the segments the retransmit events carry (GSO-aware) add up to the kernel\'s count too');
  const est = lossyOut.retransByState?.find((s) => s.state === 'TCP_STATE_ESTABLISHED');
  assert.ok(est && n(est.events) >= events / 2, 'the lossy flow retransmits mostly in ESTABLISHED');

  // status shows the agent and its kernel
  const st = JSON.parse(await cli(['status', '-o', 'json', '--collector', `127.0.0.1:${query}`])) as { agents: Array<{ nodeName: string; connected: boolean; kernel?: { retransmitErrField?: boolean } }> };
  const a = st.agents.find((x) => x.nodeName === 'kernel-node');
  assert.equal(a?.connected, true);

  // what the agent sent: flow records on the always-on path, session events otherwise
  const observed = async (type: string) => {
    const out: Array<{ type: string; sessions?: string; retransmits?: number; local: JsonEndpoint }> = [];
    for (const port of [cleanPort, lossyPort]) {
      const text = await cli(['observe', '--type', type, '--port', String(port), '--since', '10m', '-o', 'json', '--collector', `127.0.0.1:${query}`]);
      out.push(...text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.local.addr === client.addr4 || e.local.addr === server.addr4));
    }
    return out;
  };
  const flowRecords = await observed('flow');
  const lifeRecords = await observed('life');
  if (sessions === 'flows') {
    assert.ok(flowRecords.length >= 4 && flowRecords.length <= 20, `flow records (${flowRecords.length}): one per flow and interval`);
    assert.equal(flowRecords.reduce((s, e) => s + n(e.sessions), 0), 20, 'the flow records stand for all 20 session ends');
    assert.equal(lifeRecords.filter((e) => e.type === 'EVENT_TYPE_LIFE').length, 0, 'no per-session events on the always-on path');
    // retransmits: one by one up to the limit per interval, the rest counted in the kernel; together all of them
    const allEvents = flows.reduce((s, f) => s + n(f.retransmitEvents), 0);
    const oneByOne = (await observed('retrans')).length;
    const counted = flowRecords.reduce((s, e) => s + n(e.retransmits), 0);
    process.stdout.write(`# retransmit events: ${oneByOne} one by one, ${counted} counted in the kernel (limit ${retransmitLimit} per interval)\n`);
    assert.equal(oneByOne + counted, allEvents, 'every retransmit event is either sent or counted');
    if (retransmitLimit >= allEvents) assert.equal(counted, 0);
  } else {
    assert.equal(flowRecords.length, 0);
    assert.equal(lifeRecords.length, 20, 'one event per session end');
  }
}, 240_000);
}

