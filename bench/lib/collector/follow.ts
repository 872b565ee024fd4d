// Follows the collector's event stream (GET /api/v1/events?follow=1..., NDJSON) and hands
// each event to the caller with the time it arrived, for the freshness benchmark.
import * as http from 'node:http';

export interface FollowedEvent {
  arrivedMs: number;
  /** The event as the HTTP API writes it (EventRecord JSON: timeUnixNs, local, remote, ...). */
  ev: { type?: string; node?: string; timeUnixNs?: string; local?: { addr?: string; port?: number }; remote?: { addr?: string; port?: number } };
}

export interface Follower {
  close(): void;
}

/**
 * Opens the stream; resolves once the request has been on the wire for settleMs (the
 * collector subscribes when it reads the request, but sends its headers only with the first
 * event, so there is no answer to wait for).
 */
export function follow(httpAddr: string, query: string, onEvent: (e: FollowedEvent) => void, settleMs = 300): Promise<Follower> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${httpAddr}/api/v1/events?follow=1&${query}`, (res) => {
      if (res.statusCode !== 200) {
        process.stderr.write(`follow: HTTP ${res.statusCode}\n`);
        res.resume();
        return;
      }
      let rest = '';
      res.on('data', (chunk: Buffer) => {
        const arrivedMs = Date.now();
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop()!;
        for (const l of lines) if (l.trim()) onEvent({ arrivedMs, ev: JSON.parse(l) });
      });
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.on('socket', (sock) => sock.once('connect', () => setTimeout(() => resolve({ close: () => req.destroy() }), settleMs)));
  });
}

export function percentile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
