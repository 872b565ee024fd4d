// Logging for every tcpscope process: pino, JSON lines on stderr (stdout belongs to
// command output), plus a rate limiter for lines that report dropped data.
import pino from 'pino';

export type Logger = pino.Logger;

export function makeLogger(name: string, level = process.env.TCPSCOPE_LOG_LEVEL ?? 'info', dest?: pino.DestinationStream): Logger {
  return pino({ name, level, base: { name } }, dest ?? pino.destination({ fd: 2, sync: true }));
}

/**
 * Says "N things were dropped" at most once per interval and key: every drop is counted (a
 * metric), the log line only summarises what happened since the last line. Different keys
 * (e.g. different reasons) get their own lines.
 */
export class RateLimitedLog {
  private readonly state = new Map<string, { pending: number; lastAt: number }>();
  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs = 10_000,
  ) {}

  add(count: number, fields: Record<string, unknown> = {}, key = ''): void {
    let st = this.state.get(key);
    if (!st) {
      if (this.state.size > 1000) this.state.clear();
      st = { pending: 0, lastAt: 0 };
      this.state.set(key, st);
    }
    st.pending += count;
    const now = Date.now();
    if (now - st.lastAt < this.intervalMs) return;
    st.lastAt = now;
    this.log.warn({ ...fields, count: st.pending }, this.message);
    st.pending = 0;
  }
}
