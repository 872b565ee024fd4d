// Renders the programs of agent/bpftrace/program.ts into agent/bpf/*.bt, for reading and
// review: the agent and the CLI always generate from the running kernel instead. Rendered
// from the format files of test/fixtures/tracepoints (kernel 6.18, with `err`), so the
// checked-in copies do not depend on the machine; a unit test keeps them in sync.
//   node dist/agent/bpf/generate.js [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { generateProgram, parseFormatFile, type KernelFormats, type ProgramOptions } from '../bpftrace/program';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'tracepoints');

export function fixtureFormats(retransmitFixture = 'tcp_retransmit_skb.6.18.format'): KernelFormats {
  return {
    setState: parseFormatFile(readFileSync(path.join(FIXTURES, 'inet_sock_set_state.6.18.format'), 'utf8')),
    retransmit: parseFormatFile(readFileSync(path.join(FIXTURES, retransmitFixture), 'utf8')),
  };
}

/** The checked-in programs: file name under agent/bpf/ -> options. */
export const RENDERED: Record<string, ProgramOptions> = {
  'tcpscope-agent.bt': { kind: 'agent', intervalSec: 1 },
  'tcplife.bt': { kind: 'life' },
  'tcpretrans.bt': { kind: 'retrans', intervalSec: 1 },
  'tcpretrans-count.bt': { kind: 'retrans-count' },
};

export function renderAll(): Map<string, string> {
  const formats = fixtureFormats();
  return new Map(Object.entries(RENDERED).map(([file, o]) => [file, generateProgram(o, formats).text]));
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of renderAll()) {
    const dest = path.join(ROOT, 'agent', 'bpf', file);
    if (check) {
      let old = '';
      try { old = readFileSync(dest, 'utf8'); } catch { /* missing = stale */ }
      if (old !== text) { stale++; process.stderr.write(`${dest} is out of date\n`); }
    } else {
      writeFileSync(dest, text);
      process.stdout.write(`wrote ${dest}\n`);
    }
  }
  process.exit(stale ? 1 : 0);
}
