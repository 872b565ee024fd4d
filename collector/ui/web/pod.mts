// The per-pod page: the pod's flows over a window (peers, sessions, bytes, durations,
// retransmits by state) and its events live: recent ones first, then each new one as the
// collector streams it (/api/v1/events?follow=true, NDJSON).
import { getJson, streamNdjson } from './api.mjs';
import { fmtBytes, fmtNum, h, stateName } from './dom.mjs';
import { type EventRecord, type Flow, type FlowsResponse, endpointName, segs } from './wire.mjs';

const MAX_EVENTS = 500;

export function renderPod(root: HTMLElement, pod: string, params: URLSearchParams): () => void {
  const since = params.get('since') ?? '1h';
  const flowsBox = h('section', { id: 'flows' }, h('p', { class: 'muted' }, 'loading…'));
  const status = h('span', { id: 'live-status', class: 'muted' }, 'connecting…');
  const tbody = h('tbody', {});
  const events = h('table', { id: 'events', class: 'events' },
    h('thead', {}, h('tr', {}, ...['time', 'type', 'local', 'remote', 'state / bytes', 'duration', 'node'].map((t) => h('th', {}, t)))), tbody);
  root.replaceChildren(
    h('p', {}, h('a', { href: '/' }, '← hot spots')),
    h('h2', {}, 'Pod ', h('code', { id: 'pod-name' }, pod)),
    h('h3', {}, `Flows, last ${since}`), flowsBox,
    h('h3', {}, 'Live events ', status), events,
  );

  const loadFlows = async () => {
    try {
      const r = await getJson<FlowsResponse>(`/api/v1/flows?${new URLSearchParams({ pod, since })}`);
      flowsBox.replaceChildren(flowTable(r, pod));
    } catch (err) {
      flowsBox.replaceChildren(h('p', { class: 'error' }, `cannot load flows: ${(err as Error).message}`));
    }
  };
  void loadFlows();
  const timer = setInterval(loadFlows, 10_000);

  const abort = new AbortController();
  const follow = async () => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        status.textContent = 'live';
        status.className = 'live';
        await streamNdjson(`/api/v1/events?${new URLSearchParams({ pod, follow: 'true', last: '100' })}`, (o) => {
          tbody.prepend(eventRow(o as EventRecord));
          while (tbody.rows.length > MAX_EVENTS) tbody.deleteRow(-1);
        }, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) return;
        status.textContent = `disconnected: ${(err as Error).message}; retrying`;
        status.className = 'error';
      }
      await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4))));
    }
  };
  void follow();
  return () => {
    clearInterval(timer);
    abort.abort();
  };
}

function flowTable(r: FlowsResponse, pod: string): HTMLElement {
  const flows = r.flows ?? [];
  if (flows.length === 0) return h('p', { class: 'note' }, r.note || 'no flows in the window');
  const head = ['local', 'remote', 'port', 'sessions', 'failed', 'sent', 'received', 'p50 / p99 ms', 'retrans segs', 'states'];
  return h('table', { class: 'flows' },
    h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...flows.map((f) => flowRow(f, pod))));
}

function flowRow(f: Flow, pod: string): HTMLElement {
  const name = (e: Flow['local']) => {
    const n = endpointName(e);
    return n === pod ? h('strong', {}, n) : e?.kind === 'pod' ? h('a', { href: `/pod/${n}` }, n) : n;
  };
  return h('tr', { 'data-remote': endpointName(f.remote), 'data-local': endpointName(f.local) },
    h('td', {}, name(f.local)), h('td', {}, name(f.remote)), h('td', { class: 'num' }, f.servicePort ?? 0),
    h('td', { class: 'num', 'data-col': 'sessions' }, fmtNum(f.sessions)), h('td', { class: 'num' }, fmtNum(f.failedConnects)),
    h('td', { class: 'num' }, fmtBytes(f.txBytes)), h('td', { class: 'num' }, fmtBytes(f.rxBytes)),
    h('td', { class: 'num' }, `${fmtNum(f.duration?.p50Ms, 1)} / ${fmtNum(f.duration?.p99Ms, 1)}`),
    h('td', { class: 'num', 'data-col': 'segs' }, fmtNum(segs(f))),
    h('td', {}, (f.retransByState ?? []).map((s) => `${stateName(s.state)} ${s.events ?? 0}`).join(', ')));
}

function eventRow(e: EventRecord): HTMLElement {
  const ms = Number(BigInt(e.timeUnixNs ?? '0') / 1_000_000n);
  const t = new Date(ms);
  const time = `${t.toLocaleTimeString('en-GB', { hour12: false })}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const retrans = e.type === 'EVENT_TYPE_RETRANS';
  const flow = e.type === 'EVENT_TYPE_FLOW';
  const local = `${endpointName(e.local)}${e.local?.port ? `:${e.local.port}` : ''}`;
  const remote = `${endpointName(e.remote)}${e.remote?.port ? `:${e.remote.port}` : ''}`;
  const failed = Number(e.failedConnects ?? 0);
  const what = retrans ? stateName(e.state)
    : flow ? `${fmtNum(Number(e.sessions ?? 0))} sessions${failed ? `, ${fmtNum(failed)} failed connects` : ''} in ${fmtNum((e.intervalMs ?? 0) / 1000, 1)} s, tx ${fmtBytes(e.txBytes)} rx ${fmtBytes(e.rxBytes)}`
    : e.failedConnect ? 'failed connect' : `tx ${fmtBytes(e.txBytes)} rx ${fmtBytes(e.rxBytes)}`;
  return h('tr', { class: retrans ? 'retrans' : flow ? 'flow' : 'life', 'data-time-ms': ms },
    h('td', {}, time), h('td', {}, retrans ? 'retrans' : flow ? 'flow sum' : 'session'), h('td', {}, local), h('td', {}, remote),
    h('td', {}, what), h('td', { class: 'num' }, retrans ? '' : `${flow ? 'median ' : ''}${fmtNum(e.durationMs, 1)} ms`), h('td', {}, e.node ?? ''));
}
