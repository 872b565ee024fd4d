// Label and field selectors as the Kubernetes API server parses and applies them:
// labels `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`;
// fields `f=v`, `f==v`, `f!=v` joined by commas (AND), with the real server's field sets.
// A bad selector throws SelectorError, which the server answers with 400 BadRequest.

export class SelectorError extends Error {}

type LabelOp = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | '!exists' | 'gt' | 'lt';
export interface LabelRequirement { key: string; op: LabelOp; values: string[] }
export interface FieldRequirement { field: string; op: 'eq' | 'neq'; value: string }

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new SelectorError(`unable to parse requirement: unbalanced parentheses in "${s}"`);
  out.push(cur);
  return out;
}

function checkKey(key: string): string {
  if (!LABEL_KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'`);
  return key;
}

function checkValue(v: string): string {
  if (v.length > 63 || !LABEL_VALUE.test(v)) throw new SelectorError(`unable to parse requirement: invalid label value: "${v}"`);
  return v;
}

export function parseLabelSelector(text: string | undefined | null): LabelRequirement[] {
  if (!text || !text.trim()) return [];
  const reqs: LabelRequirement[] = [];
  for (const rawPart of splitTop(text)) {
    const part = rawPart.trim();
    if (!part) throw new SelectorError(`unable to parse requirement: empty requirement in "${text}"`);
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim()));
      if (m[3]!.trim() === '') throw new SelectorError(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty`);
      reqs.push({ key: checkKey(m[1]!), op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^=!<>\s]+)\s*(==|!=|=|<|>)\s*(.*)$/.exec(part))) {
      const op = m[2] === '!=' ? 'neq' : m[2] === '<' ? 'lt' : m[2] === '>' ? 'gt' : 'eq';
      const v = m[3]!.trim();
      if ((op === 'lt' || op === 'gt') && !/^-?\d+$/.test(v)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      reqs.push({ key: checkKey(m[1]!), op, values: [op === 'lt' || op === 'gt' ? v : checkValue(v)] });
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      reqs.push({ key: checkKey(m[1]!), op: '!exists', values: [] });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part), op: 'exists', values: [] });
    } else {
      throw new SelectorError(`unable to parse requirement: found '${part}', expected: ',', '=', '!=', 'in', 'notin'`);
    }
  }
  return reqs;
}

export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key]! : undefined;
    switch (r.op) {
      case 'eq': if (v !== r.values[0]) return false; break;
      case 'neq': if (v === r.values[0]) return false; break;
      case 'in': if (v === undefined || !r.values.includes(v)) return false; break;
      case 'notin': if (v !== undefined && r.values.includes(v)) return false; break;
      case 'exists': if (!has) return false; break;
      case '!exists': if (has) return false; break;
      case 'gt': case 'lt': {
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        if (r.op === 'gt' ? !(+v > +r.values[0]!) : !(+v < +r.values[0]!)) return false;
        break;
      }
    }
  }
  return true;
}

/** Field selector values may escape `\`, `,` and `=` with a backslash, as the real parser allows. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) { cur += ch + s[i + 1]; i++; continue; }
    if (ch === sep) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  out.push(cur);
  return out;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\' || c === ',' || c === '=') return c;
    throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
  });
}

export function parseFieldSelector(text: string | undefined | null): FieldRequirement[] {
  if (!text || !text.trim()) return [];
  const reqs: FieldRequirement[] = [];
  for (const part of splitEscaped(text, ',')) {
    const m = /^([^=!\s]+)\s*(==|!=|=)(.*)$/s.exec(part.trim());
    if (!m) throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`);
    reqs.push({ field: m[1]!, op: m[2] === '!=' ? 'neq' : 'eq', value: unescape(m[3]!) });
  }
  return reqs;
}

type FieldGetter = (o: KObject) => string;
const META: Record<string, FieldGetter> = {
  'metadata.name': (o) => o.metadata?.name ?? '',
  'metadata.namespace': (o) => o.metadata?.namespace ?? '',
};
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** The fields each resource can be selected by (as the real server's field label conversion allows). */
export const FIELD_SETS: Record<string, Record<string, FieldGetter>> = {
  pods: {
    ...META,
    'spec.nodeName': (o) => str(o.spec?.nodeName),
    'spec.restartPolicy': (o) => str(o.spec?.restartPolicy),
    'spec.schedulerName': (o) => str(o.spec?.schedulerName),
    'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName),
    'spec.hostNetwork': (o) => String(o.spec?.hostNetwork === true),
    'status.phase': (o) => str(o.status?.phase),
    'status.podIP': (o) => str(o.status?.podIP),
    'status.nominatedNodeName': (o) => str(o.status?.nominatedNodeName),
  },
  nodes: { ...META, 'spec.unschedulable': (o) => String(o.spec?.unschedulable === true) },
  namespaces: { ...META, 'status.phase': (o) => str(o.status?.phase) },
  replicasets: { ...META, 'status.replicas': (o) => str(o.status?.replicas ?? 0) },
  jobs: { ...META, 'status.successful': (o) => str(o.status?.successful ?? 0) },
};

export function fieldGetters(resource: string): Record<string, FieldGetter> {
  return FIELD_SETS[resource] ?? META;
}

/** Checks every field is selectable for the resource (the real error text) and returns a matcher. */
export function compileFieldSelector(resource: string, reqs: FieldRequirement[]): (o: KObject) => boolean {
  const getters = fieldGetters(resource);
  const compiled = reqs.map((r) => {
    const g = getters[r.field];
    if (!g) throw new SelectorError(`field label not supported: ${r.field}`);
    return { g, r };
  });
  return (o) => compiled.every(({ g, r }) => (g(o) === r.value) === (r.op === 'eq'));
}

/** A Kubernetes object as JSON: only metadata is assumed. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>;
    annotations?: Record<string, string>; creationTimestamp?: string | null; deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number; ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
    generateName?: string; [k: string]: unknown;
  };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  status?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  [k: string]: unknown;
}
