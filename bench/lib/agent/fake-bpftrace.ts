// A stand-in for bpftrace, for running the real agent (`tcpscope agent --bpftrace <this>`)
// without the kernel: `--version` answers as bpftrace 0.17 does; run as `bpftrace -B line
// <program.bt>` it ignores the program, prints the attach banner and our ready line, then
// S lines (one R line in 50) at TCPSCOPE_BENCH_LINES_PER_S, paced every 10 ms, with times
// from CLOCK_MONOTONIC as bpftrace's nsecs. It waits when the agent stops reading (the pipe
// is full) instead of buffering, and at exit writes the lines it printed and the seconds it
// ran to TCPSCOPE_BENCH_FAKE_REPORT when set. SIGINT (the runner's stop) ends it.
import * as fs from 'node:fs';
import { retransmitLine, sessionLine, TrafficModel, type NodeShape } from './traffic';

function main(): void {
  if (process.argv.includes('--version')) {
    process.stdout.write('bpftrace v0.17.0\n');
    return;
  }
  const rate = Number(process.env.TCPSCOPE_BENCH_LINES_PER_S ?? 50_000);
  const node: NodeShape = {
    ip: '192.168.10.11', hostNetns: 4026531840, hostCgroupId: 7,
    pods: Array.from({ length: 100 }, (_, i) => ({ ip: `10.244.0.${i + 2}`, netns: 4026532000 + i, cgroupId: 5000 + i })),
  };
  // a pool of lines without their time: the time is put in front as they go out
  const model = new TrafficModel(node, 7);
  const pool: Array<[string, string]> = [];
  for (let i = 0; i < 20_000; i++) {
    const line = i % 50 === 49 ? retransmitLine(model.retransmit()) : sessionLine(model.session());
    pool.push([line[0]!, line.slice(line.indexOf(' ', 2))]);
  }
  const nsecs = () => process.hrtime.bigint().toString();
  let written = 0;
  const report = process.env.TCPSCOPE_BENCH_FAKE_REPORT;
  const started = process.hrtime.bigint();
  const done = () => {
    if (report) fs.writeFileSync(report, JSON.stringify({ lines: written, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
    process.exit(0);
  };
  process.on('SIGINT', done);
  process.on('SIGTERM', done);
  process.stdout.on('error', done); // the agent went away
  process.stdout.write(`Attaching 3 probes...\nB ${nsecs()}\n`);

  const t0 = process.hrtime.bigint();
  let waiting = false;
  const tick = () => {
    if (waiting) return;
    const due = Math.floor((rate * Number(process.hrtime.bigint() - t0)) / 1e9) - written;
    if (due <= 0) return;
    const n = Math.min(due, Math.max(1000, rate / 10)); // after a stall, catch up over a few ticks
    const now = nsecs();
    let text = '';
    for (let i = 0; i < n; i++) {
      const [tag, rest] = pool[(written + i) % pool.length]!;
      text += `${tag} ${now}${rest}\n`;
    }
    written += n;
    if (!process.stdout.write(text)) {
      waiting = true;
      process.stdout.once('drain', () => { waiting = false; });
    }
  };
  setInterval(tick, 10);
}

main();
