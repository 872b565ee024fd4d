// Known TCP traffic for kernel tests, run inside a test namespace (ip netns exec):
//   node workload.js server ADDR PORT[,PORT...]      prints "listening", serves until SIGTERM
//   node workload.js client '{"raddr":..,"rport":..,"conns":..,"upBytes":..,"downBytes":..}'
// Each connection: the client sends a 12-byte header (up, down, closer) and `up` bytes, the
// server answers `down` bytes, then one side closes first. The client prints one JSON line
// per connection with its ports and the exact payload bytes each way.
import * as net from 'node:net';
import type { WorkloadConn, WorkloadPlan } from './netns';

const HEADER = 12;

function server(addr: string, ports: number[]): void {
  const servers = ports.map((port) => {
    const srv = net.createServer((s) => {
      let got = 0;
      let header: Buffer | null = null;
      let pending = Buffer.alloc(0);
      s.on('data', (d) => {
        got += d.length;
        if (!header) {
          pending = Buffer.concat([pending, d]);
          if (pending.length < HEADER) return;
          header = pending.subarray(0, HEADER);
        }
        const up = header.readUInt32BE(0), down = header.readUInt32BE(4), closer = header.readUInt32BE(8);
        if (got === HEADER + up) {
          s.write(Buffer.alloc(down, 0x61));
          if (closer === 1) s.end();
        }
      });
      s.on('error', () => undefined);
    });
    srv.listen(port, addr);
    return srv;
  });
  let listening = 0;
  for (const s of servers) s.on('listening', () => ++listening === servers.length && process.stdout.write('listening\n'));
  process.on('SIGTERM', () => {
    for (const s of servers) s.close();
    process.exit(0);
  });
}

function oneConnection(plan: WorkloadPlan, closer: 'client' | 'server'): Promise<WorkloadConn> {
  return new Promise((resolve, reject) => {
    const c = net.connect(plan.rport, plan.raddr);
    let rx = 0, lport = 0, laddr = '';
    c.on('connect', () => {
      lport = c.localPort!;
      laddr = c.localAddress!;
      const h = Buffer.alloc(HEADER);
      h.writeUInt32BE(plan.upBytes, 0);
      h.writeUInt32BE(plan.downBytes, 4);
      h.writeUInt32BE(closer === 'server' ? 1 : 0, 8);
      c.write(Buffer.concat([h, Buffer.alloc(plan.upBytes, 0x62)]));
      if (plan.downBytes === 0 && closer === 'client') c.end();
    });
    c.on('data', (d) => {
      rx += d.length;
      if (rx === plan.downBytes && closer === 'client') c.end();
    });
    c.on('error', reject);
    c.on('close', () => {
      if (rx !== plan.downBytes) reject(new Error(`received ${rx} bytes, expected ${plan.downBytes}`));
      else resolve({ laddr, lport, raddr: plan.raddr, rport: plan.rport, txBytes: HEADER + plan.upBytes, rxBytes: rx, closer });
    });
  });
}

async function client(plan: WorkloadPlan): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < plan.conns) {
      const i = next++;
      const closer = plan.closer === 'alternate' ? (i % 2 ? 'server' : 'client') : plan.closer ?? 'client';
      const conn = await oneConnection(plan, closer);
      process.stdout.write(JSON.stringify(conn) + '\n');
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.concurrency ?? 1) }, worker));
}

if (require.main === module) {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'server' && a && b) server(a, b.split(',').map(Number));
  else if (mode === 'client' && a) client(JSON.parse(a) as WorkloadPlan).catch((err) => {
    process.stderr.write(`workload client: ${err instanceof Error ? err.message : err}\n`);
    process.exit(1);
  });
  else {
    process.stderr.write('usage: workload.js server ADDR PORTS | client PLAN_JSON\n');
    process.exit(2);
  }
}
