// Resolved flow-interval events (what the collector's aggregator is given after decode and
// resolve) for N distinct flows: 5000 pods on 200 nodes, each flow one local pod talking to
// one remote pod (50%), Service (30%) or external address (20%) on its port. Every event
// carries fresh strings, as a decoded batch's do, so what a flow keeps is what it really keeps.
import type { ResolvedEvent } from '../../../collector/events';
import { Direction, TcpState } from '../../../common/tcp';

const PODS = 5000;
const ip = (a: number, i: number) => `${a}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** The i-th flow's event in the bucket starting at bucketUs (events i < n are n distinct flows). */
export function flowEvent(i: number, bucketUs: number): ResolvedEvent {
  const p = i % PODS;
  const r = Math.floor(i / PODS);
  const kind = r % 10 < 5 ? 'pod' : r % 10 < 8 ? 'service' : 'external';
  const node = `node-${p % 200}`;
  const ns = `ns-${p % 100}`;
  const svc = kind === 'external' ? 443 : [80, 443, 5432, 6379, 8080, 9090][r % 6]!;
  const sessions = 1 + (i % 20);
  const laddr = ip(10, p + 1);
  const raddr = kind === 'pod' ? ip(11, r + 1) : kind === 'service' ? ip(172, r + 1) : ip(203, r + 1);
  const rp = (r * 31) % PODS;
  return {
    ev: {
      type: 'flow', timeUs: bucketUs + 1_000_000 + (i % 8_000_000), startUs: bucketUs + (i % 8_000_000), node, family: 4, laddr, lport: 0, raddr, rport: svc,
      direction: Direction.DIRECTION_OUTBOUND, netnsInode: 4026532000 + p, cgroupId: 9000 + p, localPod: undefined,
      sessions, failedConnects: i % 50 === 0 ? 1 : 0, txBytes: 700 * sessions, rxBytes: 20_000 * sessions, retransSegs: i % 20 === 0 ? 3 : 0,
      srttSumUs: 150 * sessions, durations: sessions > 3 ? [[41, sessions - 3], [45, 2], [53, 1]] : [[41, sessions]],
      retransmits: i % 20 === 0 ? [{ state: TcpState.TCP_STATE_ESTABLISHED, events: 2, segs: 3 }] : [],
    },
    local: { addr: laddr, port: 0, node, namespace: ns, pod: `app-${p}-5d4f8b6c7-${(p * 7919).toString(36).slice(-5)}`, container: 'app', workload: `Deployment/app-${p}`, kind: 'pod' },
    remote: kind === 'pod'
      ? { addr: raddr, port: svc, node: `node-${rp % 200}`, namespace: `ns-${rp % 100}`, pod: `app-${rp}-5d4f8b6c7-${(r * 104729).toString(36).slice(-5)}`, container: '', workload: `Deployment/app-${rp}`, kind: 'pod' }
      : kind === 'service'
        ? { addr: raddr, port: svc, node: '', namespace: `ns-${r % 100}`, pod: '', container: '', workload: `Service/svc-${r}`, kind: 'service' }
        : { addr: raddr, port: svc, node: '', namespace: '', pod: '', container: '', workload: '', kind: 'external' },
  };
}
