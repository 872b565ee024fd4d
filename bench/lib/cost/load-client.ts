// The client side of the cost benchmark's session load, run inside the client namespace:
// sessions of connect, send 100 B (asking for N bytes), receive N bytes, close, either paced
// (a token bucket refilled every 1 ms tick, many sessions in flight) or unpaced (a closed
// loop: each finished session starts the next). Phases: warm-up, then a measured window
// the bench samples CPU around, then a drain. Prints one JSON line per phase:
//   {"phase":"measure"}                         the window begins (sample CPU now)
//   {"phase":"done","ms":..,"sessions":..,"errors":..,"started":..}   the window ends
//   {"phase":"exit","started":..,"completed":..,"errors":..,"unfinished":..,"errorCodes":{..}}
// It exits after the drain and, with waitForAck, once its stdin says so (a line or EOF): the
// bench reads this process's CPU and network counters at "done", so it must still be there.
//   ip netns exec <ns> node load-client.js '<LoadPlan as JSON>'
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadPlan {
  host: string;
  port: number;
  /** Sessions started per second; 0 = unpaced (closed loop of `concurrency` sessions). */
  rate: number;
  /** Bytes the server answers with. */
  size: number;
  warmupMs: number;
  measureMs: number;
  /** Sessions in flight at most (paced: a session due beyond it waits for a free slot). */
  concurrency: number;
  /** Longest wait for sessions in flight after the window (default 3000). */
  drainMs?: number;
  /** Exit only after a line (or EOF) on stdin, at most 30 s after the window. */
  waitForAck?: boolean;
}

export interface WindowReport { phase: 'done'; ms: number; sessions: number; errors: number; started: number }
export interface ExitReport { phase: 'exit'; started: number; completed: number; errors: number; unfinished: number; errorCodes: Record<string, number> }

const REQUEST_BYTES = 100;

function run(plan: LoadPlan): void {
  const request = Buffer.alloc(REQUEST_BYTES, 0x61);
  request.writeUInt32BE(plan.size, 0);
  const unpaced = plan.rate <= 0;
  let inflight = 0, started = 0, completed = 0, errors = 0;
  let open = true;
  const errorCodes: Record<string, number> = {};

  const startOne = () => {
    inflight++;
    started++;
    let got = 0;
    let failed = false;
    const s = net.connect(plan.port, plan.host, () => s.write(request));
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    // the server's FIN: close now (no half-close round through libuv's shutdown)
    s.on('end', () => s.destroy());
    s.on('error', (err: NodeJS.ErrnoException) => {
      failed = true;
      const code = err.code ?? 'other';
      errorCodes[code] = (errorCodes[code] ?? 0) + 1;
    });
    s.on('close', () => {
      inflight--;
      if (!failed && got === plan.size) completed++;
      else errors++;
      if (unpaced && open) startOne();
      else if (!open && inflight === 0) finish();
    });
  };

  let tick: NodeJS.Timeout | undefined;
  if (unpaced) {
    for (let i = 0; i < plan.concurrency; i++) startOne();
  } else {
    // token bucket: refilled from the clock every tick, at most 10 ms of sessions banked
    const cap = Math.max(2, plan.rate / 100);
    let tokens = 1;
    let last = performance.now();
    tick = setInterval(() => {
      const now = performance.now();
      tokens = Math.min(cap, tokens + ((now - last) * plan.rate) / 1000);
      last = now;
      while (tokens >= 1 && inflight < plan.concurrency) {
        tokens--;
        startOne();
      }
    }, 1);
  }

  let w0 = { t: 0, completed: 0, errors: 0, started: 0 };
  setTimeout(() => {
    w0 = { t: performance.now(), completed, errors, started };
    process.stdout.write('{"phase":"measure"}\n');
    setTimeout(() => {
      const r: WindowReport = { phase: 'done', ms: performance.now() - w0.t, sessions: completed - w0.completed, errors: errors - w0.errors, started: started - w0.started };
      process.stdout.write(`${JSON.stringify(r)}\n`);
      open = false;
      if (tick) clearInterval(tick);
      if (inflight === 0) finish();
      setTimeout(() => {
        drained = true;
        finish();
      }, plan.drainMs ?? 3000).unref();
      if (plan.waitForAck) {
        const ack = () => {
          acked = true;
          finish();
        };
        process.stdin.once('data', ack).once('end', ack).resume();
        setTimeout(ack, 30_000).unref();
      }
    }, plan.measureMs);
  }, plan.warmupMs);

  let finished = false;
  let drained = false;
  let acked = !plan.waitForAck;
  function finish(): void {
    drained ||= inflight === 0;
    if (finished || !drained || !acked) return;
    finished = true;
    const r: ExitReport = { phase: 'exit', started, completed, errors, unfinished: inflight, errorCodes };
    process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
  }
}

if (require.main === module) {
  let plan: LoadPlan;
  try {
    plan = JSON.parse(process.argv[2] ?? '') as LoadPlan;
    if (!plan.host || !(plan.port > 0) || !(plan.size >= 0) || !(plan.concurrency > 0)) throw new Error('host, port, size, concurrency required');
  } catch (err) {
    process.stderr.write(`load-client: bad plan: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  run(plan);
}
