// Durations and time windows as users type them (`15m`, `2h`, `90s`, `1d`, or an ISO time),
// checked once at the edge with a clear error.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export class InputError extends Error {}

/** "15m" -> 900000. Throws InputError with the accepted forms. */
export function parseDurationMs(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(text);
  if (!m) throw new InputError(`invalid ${what} "${text}": use a number and a unit, e.g. 90s, 15m, 2h, 1d`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!Number.isFinite(ms) || ms <= 0) throw new InputError(`invalid ${what} "${text}": must be positive`);
  return Math.round(ms);
}

/** A point in time: a duration ago ("15m") or an ISO 8601 time. */
export function parseTimeMs(text: string, nowMs: number, what = 'time'): number {
  if (/^\s*\d+(?:\.\d+)?\s*(ms|s|m|h|d|w)\s*$/.test(text)) return nowMs - parseDurationMs(text, what);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InputError(`invalid ${what} "${text}": use a duration ago (15m, 2h) or an ISO time (2026-11-26T17:00:00Z)`);
  return t;
}

export interface WindowMs {
  sinceMs: number;
  untilMs: number;
}

/** --since/--until to a checked window. The maximum span guards against accidental huge scans. */
export function parseWindow(since: string | undefined, until: string | undefined, nowMs: number, defaultSince = '15m', maxSpanMs = 31 * 86_400_000): WindowMs {
  const sinceMs = parseTimeMs(since ?? defaultSince, nowMs, '--since');
  const untilMs = until ? parseTimeMs(until, nowMs, '--until') : nowMs;
  if (untilMs <= sinceMs) throw new InputError(`empty window: --until (${new Date(untilMs).toISOString()}) is not after --since (${new Date(sinceMs).toISOString()})`);
  if (untilMs - sinceMs > maxSpanMs) throw new InputError(`window too large: ${Math.round((untilMs - sinceMs) / 86_400_000)} days; at most ${Math.round(maxSpanMs / 86_400_000)} days`);
  return { sinceMs, untilMs };
}
