// Logging for every tcpscope process: pino, JSON lines on stderr (stdout belongs to
// command output), plus a rate limiter for lines that report dropped data.
import pino from 'pino';

export type Logger = pino.Logger;

export function makeLogger(name: string, level = process.env.TCPSCOPE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: true }));
}

/**
 * Says "N things were dropped" at most once per interval: every drop is counted (a metric),
 * the log line only summarises what happened since the last line.
 */
export class RateLimitedLog {
  private pending = 0;
  private lastAt = 0;
  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs = 10_000,
  ) {}

  add(count: number, fields: Record<string, unknown> = {}): void {
    this.pending += count;
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) return;
    this.lastAt = now;
    this.log.warn({ ...fields, count: this.pending }, this.message);
    this.pending = 0;
  }
}
