// A tiny element builder: text always goes in as text (never as HTML), so names from the
// cluster cannot inject markup.

type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function fmtNum(v: number | undefined, digits = 0): string {
  const n = v ?? 0;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function fmtBytes(v: number | undefined): string {
  const n = v ?? 0;
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** TCP_STATE_ESTABLISHED -> ESTABLISHED */
export function stateName(s: string | undefined): string {
  return (s ?? 'UNKNOWN').replace(/^TCP_STATE_/, '');
}

export function podHref(nsName: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(nsName) ? `/pod/${nsName}` : undefined;
}
