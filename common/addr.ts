// IP addresses between their text form (as bpftrace's ntop() prints them) and the bytes
// the wire carries (4 or 16, network order). Checked: a bad address throws.
import { isIPv4, isIPv6 } from 'node:net';

export function ipToBytes(ip: string): Buffer {
  if (isIPv4(ip)) {
    const p = ip.split('.');
    return Buffer.of(+p[0]!, +p[1]!, +p[2]!, +p[3]!);
  }
  if (isIPv6(ip)) return ipv6ToBytes(ip);
  throw new Error(`not an IP address: "${ip}"`);
}

function ipv6ToBytes(ip: string): Buffer {
  const out = Buffer.alloc(16);
  let text = ip;
  // IPv4-mapped tail (::ffff:1.2.3.4)
  const dot = text.lastIndexOf('.');
  let tail: number[] = [];
  if (dot !== -1) {
    const colon = text.lastIndexOf(':');
    const v4 = text.slice(colon + 1).split('.').map(Number);
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, colon + 1) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill('0'), ...r];
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i] ?? '0', 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail.length) {
    out[12] = tail[0]! >> 8; out[13] = tail[0]! & 0xff; out[14] = tail[1]! >> 8; out[15] = tail[1]! & 0xff;
  }
  return out;
}

/** Bytes to text; IPv6 in the compressed form (RFC 5952). Throws on a length other than 4 or 16. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new Error(`address must be 4 or 16 bytes, got ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // longest run of zero groups (length >= 2) becomes ::
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
