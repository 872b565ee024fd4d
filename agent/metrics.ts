// The agent's Prometheus /metrics (and /healthz): what it traced, what it lost and why,
// its buffer toward the collector. Label values are fixed sets (reason, type): no
// per-flow or per-pod series here; flow metrics are the collector's.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as prom from 'prom-client';
import type { AgentCounters } from './agent';
import type { SenderStats } from './export/sender';

export interface AgentMetricsSource {
  counters: AgentCounters;
  sender: { stats(): SenderStats };
}

export function agentMetricsRegistry(src: AgentMetricsSource): prom.Registry {
  const reg = new prom.Registry();
  prom.collectDefaultMetrics({ register: reg, prefix: 'tcpscope_agent_process_' });
  const gauge = (name: string, help: string, read: () => number) =>
    new prom.Gauge({ name, help, registers: [reg], collect() { this.set(read()); } });
  const c = src.counters;
  new prom.Gauge({
    name: 'tcpscope_agent_events_total', help: 'events traced and sent toward the collector, by type', labelNames: ['type'], registers: [reg],
    collect() {
      this.set({ type: 'session' }, c.sessions);
      this.set({ type: 'retransmit' }, c.retransmits);
    },
  });
  new prom.Gauge({
    name: 'tcpscope_agent_lost_total', help: 'events or lines lost, by reason', labelNames: ['reason'], registers: [reg],
    collect() {
      const st = src.sender.stats();
      this.set({ reason: 'bpftrace_lost' }, c.bpftraceLost);
      this.set({ reason: 'parse_reject' }, c.rejectedLines);
      this.set({ reason: 'buffer_overflow' }, st.droppedEvents);
      this.set({ reason: 'probe_missed' }, c.probeMisses);
    },
  });
  gauge('tcpscope_agent_flow_records_total', 'flow-interval records (sessions summed per flow in the kernel) sent', () => c.flowRecords);
  gauge('tcpscope_agent_followed_sessions_total', 'sessions of followed pods sent one by one (also counted in the flow sums)', () => c.followedSessions);
  gauge('tcpscope_agent_retransmit_failed_total', 'tcp_retransmit_skb attempts that failed (err != 0): nothing was sent', () => c.retransmitFailed);
  gauge('tcpscope_agent_out_of_scope_total', 'events not reported because of --scope pods', () => c.outOfScope);
  gauge('tcpscope_agent_bpftrace_restarts_total', 'bpftrace restarts after it died', () => c.restarts);
  gauge('tcpscope_agent_collector_connected', '1 while the ingest stream is open', () => (src.sender.stats().connected ? 1 : 0));
  gauge('tcpscope_agent_buffered_batches', 'unacknowledged batches held for resending', () => src.sender.stats().buffered);
  gauge('tcpscope_agent_buffered_bytes', 'bytes of unacknowledged batches', () => src.sender.stats().bufferedBytes);
  gauge('tcpscope_agent_reconnects_total', 'ingest stream reconnects', () => src.sender.stats().reconnects);
  return reg;
}

/** Serves /metrics and /healthz on all interfaces at `port`; resolves with the bound port. */
export async function serveAgentMetrics(reg: prom.Registry, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': reg.contentType });
    res.end(await reg.metrics());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot serve agent metrics on port ${port}: ${err.message}`)));
    server.listen(port, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}
