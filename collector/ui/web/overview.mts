// The overview page: the hot-spot table (grouping, window, namespace) and the node-pair
// heat map (retransmitted segments by local node x remote node), refreshed every 10 s.
import { getJson } from './api.mjs';
import { fmtBytes, fmtNum, h, podHref, stateName } from './dom.mjs';
import { type HotspotRow, type HotspotsResponse, segs } from './wire.mjs';

const GROUPINGS = ['pod', 'workload', 'namespace', 'node', 'node-pair', 'remote', 'flow'];
const WINDOWS = ['15m', '1h', '6h', '24h', '72h'];

export function renderOverview(root: HTMLElement, params: URLSearchParams): () => void {
  const by = GROUPINGS.includes(params.get('by') ?? '') ? params.get('by')! : 'pod';
  const since = WINDOWS.includes(params.get('since') ?? '') ? params.get('since')! : '1h';
  const ns = params.get('namespace') ?? '';

  const bySel = h('select', { id: 'by', name: 'by' }, ...GROUPINGS.map((g) => h('option', { value: g, selected: g === by }, g)));
  const sinceSel = h('select', { id: 'since', name: 'since' }, ...WINDOWS.map((w) => h('option', { value: w, selected: w === since }, `last ${w}`)));
  const nsInput = h('input', { id: 'namespace', name: 'namespace', placeholder: 'all namespaces', value: ns, size: 16 });
  const form = h('form', { class: 'controls' }, h('label', {}, 'group by ', bySel), h('label', {}, 'window ', sinceSel), h('label', {}, 'namespace ', nsInput), h('button', { type: 'submit' }, 'show'));
  const onChange = () => form.requestSubmit();
  bySel.addEventListener('change', onChange);
  sinceSel.addEventListener('change', onChange);

  const tableBox = h('section', { id: 'hotspots' }, h('p', { class: 'muted' }, 'loading…'));
  const heatBox = h('section', { id: 'heatmap' }, h('p', { class: 'muted' }, 'loading…'));
  root.replaceChildren(
    h('h2', {}, 'Retransmit hot spots'), form, tableBox,
    h('h2', {}, 'Node pairs'), h('p', { class: 'muted' }, 'Retransmitted segments by local node (rows) and remote node (columns): a hot row or column points at a node, one hot cell at the link between two nodes.'),
    heatBox,
  );

  const q = (extra: Record<string, string>) => new URLSearchParams({ since, ...(ns ? { namespace: ns } : {}), ...extra }).toString();
  const load = async () => {
    try {
      const [table, pairs] = await Promise.all([
        getJson<HotspotsResponse>(`/api/v1/hotspots?${q({ by })}`),
        getJson<HotspotsResponse>(`/api/v1/hotspots?${q({ by: 'node-pair', limit: '1000' })}`),
      ]);
      tableBox.replaceChildren(hotspotTable(table, by));
      heatBox.replaceChildren(heatMap(pairs.rows ?? []));
    } catch (err) {
      tableBox.replaceChildren(h('p', { class: 'error' }, `cannot load hot spots: ${(err as Error).message}`));
    }
  };
  void load();
  const timer = setInterval(load, 10_000);
  return () => clearInterval(timer);
}

function hotspotTable(r: HotspotsResponse, by: string): HTMLElement {
  const rows = r.rows ?? [];
  if (rows.length === 0) return h('p', { class: 'note' }, r.note || 'nothing to report in the window');
  const head = ['#', by, 'retrans segs', 'retrans events', 'per session', 'per MB sent', 'states', 'failed connects', 'sessions', 'sent', 'finding'];
  return h('table', { class: 'hotspots' },
    h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows.map((row, i) => hotspotRow(row, i + 1, by))));
}

function hotspotRow(r: HotspotRow, rank: number, by: string): HTMLElement {
  const href = by === 'pod' ? podHref(r.key) : undefined;
  const states = (r.states ?? []).map((s) => `${stateName(s.state)} ${s.events ?? 0}`).join(', ');
  return h('tr', { 'data-key': r.key },
    h('td', { class: 'num' }, rank),
    h('td', { class: 'key' }, href ? h('a', { href }, r.key) : r.key),
    h('td', { class: 'num', 'data-col': 'segs' }, fmtNum(segs(r))),
    h('td', { class: 'num', 'data-col': 'events' }, fmtNum(r.retransmitEvents)),
    h('td', { class: 'num' }, fmtNum(r.retransPerSession, 2)),
    h('td', { class: 'num' }, fmtNum(r.retransPerMb, 2)),
    h('td', { 'data-col': 'states' }, states),
    h('td', { class: 'num', 'data-col': 'failed' }, fmtNum(r.failedConnects)),
    h('td', { class: 'num', 'data-col': 'sessions' }, fmtNum(r.sessions)),
    h('td', { class: 'num' }, fmtBytes(r.txBytes)),
    h('td', { class: 'finding' }, r.finding ?? '', r.evidence ? h('div', { class: 'evidence' }, r.evidence) : null));
}

/** Rows: local nodes; columns: remote nodes (and service/external); cells shaded by retransmitted segments. */
export function heatMap(rows: HotspotRow[]): HTMLElement {
  const cells = new Map<string, number>();
  const locals = new Set<string>();
  const remotes = new Set<string>();
  for (const r of rows) {
    const [l, rem] = r.key.split(' -> ');
    if (l === undefined || rem === undefined) continue;
    locals.add(l);
    remotes.add(rem);
    cells.set(`${l}\n${rem}`, (cells.get(`${l}\n${rem}`) ?? 0) + segs(r));
  }
  if (cells.size === 0) return h('p', { class: 'note' }, 'no retransmits between nodes in the window');
  const max = Math.max(...cells.values());
  const ls = [...locals].sort();
  const rs = [...remotes].sort();
  return h('table', { class: 'heatmap' },
    h('thead', {}, h('tr', {}, h('th', {}, 'local \\ remote'), ...rs.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...ls.map((l) => h('tr', {}, h('th', { scope: 'row' }, l), ...rs.map((c) => {
      const v = cells.get(`${l}\n${c}`) ?? 0;
      const heat = max > 0 ? v / max : 0;
      return h('td', {
        'data-local': l, 'data-remote': c, 'data-value': v, class: v === max && v > 0 ? 'cell hottest' : 'cell',
        style: `--heat: ${heat.toFixed(3)}`, title: `${l} -> ${c}: ${v} retransmitted segments`,
      }, v ? fmtNum(v) : '');
    })))));
}
