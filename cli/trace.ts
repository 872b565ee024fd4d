// `tcpscope trace life|retrans`: the book's tcplife and tcpretrans on one host (placeholder,
// filled in by the bpftrace work).
import type { Command } from 'commander';

export function registerTrace(program: Command): void {
  program.command('trace').description('trace TCP sessions or retransmits on this host (no collector needed)');
}
