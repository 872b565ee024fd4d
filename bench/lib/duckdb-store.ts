// The DuckDB candidate for the rollup store, kept for bench/store.ts only (SQLite won:
// docs/store.md). Same tables as collector/store/sqlite-store.ts, written the way DuckDB is
// fast: append-only through appenders in one transaction per commit (sums happen at read
// time, so upsert-add holds logically), reports as GROUP BYs. @duckdb/node-api is async,
// so this implements RollupStore's methods as promises (the collector's interface is sync).
import { DuckDBConnection, DuckDBInstance, type DuckDBAppender } from '@duckdb/node-api';
import * as fs from 'node:fs';
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import type { FlowAgg } from '../../collector/aggregate/flows';
import { LogHistogram } from '../../collector/aggregate/histogram';
import type { FlowFilter, RollupRow, StoreStats } from '../../collector/store/rollup-store';

type Async<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : T[K] };
export type AsyncRollupStore = Async<{
  commit(rows: RollupRow[], watermarks: Map<string, number>): void;
  watermarks(): Map<string, number>;
  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[];
  prune(nowUs: number, retentionUs: number, maxBytes: number): { removedRows: number };
  stats(): StoreStats;
  close(): void;
}>;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS flows (id INTEGER, key VARCHAR, local VARCHAR, remote VARCHAR, local_ns VARCHAR, local_pod VARCHAR,
    remote_ns VARCHAR, remote_pod VARCHAR, service_port INTEGER, direction INTEGER);
  CREATE TABLE IF NOT EXISTS rollups (bucket BIGINT, flow INTEGER, sessions BIGINT, failed BIGINT, tx BIGINT, rx BIGINT,
    retrans_segs BIGINT, retrans_events BIGINT, retrans_event_segs BIGINT, dur_max DOUBLE, srtt_sum BIGINT, srtt_count BIGINT,
    first_us BIGINT, last_us BIGINT);
  CREATE TABLE IF NOT EXISTS states (bucket BIGINT, flow INTEGER, state INTEGER, events BIGINT);
  CREATE TABLE IF NOT EXISTS durations (bucket BIGINT, flow INTEGER, bin INTEGER, count BIGINT);
  CREATE TABLE IF NOT EXISTS watermarks (run_id VARCHAR PRIMARY KEY, seq BIGINT);
`;

export class DuckdbRollupStore implements AsyncRollupStore {
  private flowIds = new Map<string, number>();

  private constructor(readonly file: string, private readonly instance: DuckDBInstance, private readonly conn: DuckDBConnection, private readonly bucketSeconds: number) {}

  static async open(file: string, bucketSeconds: number): Promise<DuckdbRollupStore> {
    const instance = await DuckDBInstance.create(file);
    const conn = await instance.connect();
    await conn.run(SCHEMA);
    const s = new DuckdbRollupStore(file, instance, conn, bucketSeconds);
    const r = await conn.runAndReadAll('SELECT key, id FROM flows');
    for (const [key, id] of r.getRows()) s.flowIds.set(String(key), Number(id));
    return s;
  }

  async commit(rows: RollupRow[], watermarks: Map<string, number>): Promise<void> {
    await this.conn.run('BEGIN TRANSACTION');
    try {
      const flows = await this.conn.createAppender('flows');
      const roll = await this.conn.createAppender('rollups');
      const states = await this.conn.createAppender('states');
      const durs = await this.conn.createAppender('durations');
      for (const { bucketStartUs, agg: a } of rows) {
        const bucket = BigInt(Math.floor(bucketStartUs / 1e6));
        let flow = this.flowIds.get(a.key);
        if (flow === undefined) {
          flow = this.flowIds.size + 1;
          this.flowIds.set(a.key, flow);
          appendRow(flows, [flow, a.key, JSON.stringify(a.local), JSON.stringify(a.remote), a.local.namespace, a.local.pod, a.remote.namespace, a.remote.pod, a.servicePort, a.direction]);
        }
        roll.appendBigInt(bucket);
        roll.appendInteger(flow);
        for (const v of [a.sessions, a.failedConnects, a.txBytes, a.rxBytes, a.retransSegs, a.retransmitEvents, a.retransEventSegs]) roll.appendBigInt(BigInt(v));
        roll.appendDouble(a.durationsUs.max);
        roll.appendBigInt(BigInt(a.srttSumUs));
        roll.appendBigInt(BigInt(a.srttCount));
        roll.appendBigInt(BigInt(Math.round(a.firstUs)));
        roll.appendBigInt(BigInt(Math.round(a.lastUs)));
        roll.endRow();
        for (const [state, n] of a.byState) {
          states.appendBigInt(bucket); states.appendInteger(flow); states.appendInteger(state); states.appendBigInt(BigInt(n)); states.endRow();
        }
        for (const [bin, n] of a.durationsUs.counts) {
          durs.appendBigInt(bucket); durs.appendInteger(flow); durs.appendInteger(bin); durs.appendBigInt(BigInt(n)); durs.endRow();
        }
      }
      for (const ap of [flows, roll, states, durs]) ap.closeSync();
      for (const [run, seq] of watermarks) {
        await this.conn.run('INSERT INTO watermarks VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET seq = greatest(seq, excluded.seq)', [run, seq]);
      }
      await this.conn.run('COMMIT');
    } catch (err) {
      await this.conn.run('ROLLBACK');
      throw err;
    }
  }

  async watermarks(): Promise<Map<string, number>> {
    const r = await this.conn.runAndReadAll('SELECT run_id, seq FROM watermarks');
    return new Map(r.getRows().map(([k, v]) => [String(k), Number(v)]));
  }

  async query(sinceUs: number, untilUs: number, filter?: FlowFilter): Promise<FlowAgg[]> {
    const where: string[] = [];
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    if (filter?.pod) {
      const [ns, p] = [q(filter.pod.namespace), q(filter.pod.name)];
      where.push(`((local_ns = ${ns} AND local_pod = ${p}) OR (remote_ns = ${ns} AND remote_pod = ${p}))`);
    }
    if (filter?.namespace) where.push(`(local_ns = ${q(filter.namespace)} OR remote_ns = ${q(filter.namespace)})`);
    if (filter?.localNamespace) where.push(`local_ns = ${q(filter.localNamespace)}`);
    const flowCond = where.length ? ` AND flow IN (SELECT id FROM flows WHERE ${where.join(' AND ')})` : '';
    const win = `bucket * 1000000 < ${Math.ceil(untilUs)} AND (bucket + ${this.bucketSeconds}) * 1000000 > ${Math.floor(sinceUs)}${flowCond}`;
    const out = new Map<number, FlowAgg>();
    const sums = await this.conn.runAndReadAll(`
      SELECT s.*, f.key, f.local, f.remote, f.service_port, f.direction FROM (
        SELECT flow, sum(sessions), sum(failed), sum(tx), sum(rx), sum(retrans_segs), sum(retrans_events), sum(retrans_event_segs),
          max(dur_max), sum(srtt_sum), sum(srtt_count), min(first_us), max(last_us)
        FROM rollups WHERE ${win} GROUP BY flow) s JOIN flows f ON f.id = s.flow`);
    for (const r of sums.getRows()) {
      const n = r.map((v) => (typeof v === 'bigint' ? Number(v) : v)) as Array<number | string>;
      const h = new LogHistogram();
      h.max = Number(n[8]);
      out.set(Number(n[0]), {
        key: String(n[13]), local: JSON.parse(String(n[14])) as Endpoint, remote: JSON.parse(String(n[15])) as Endpoint,
        servicePort: Number(n[16]), direction: Number(n[17]),
        sessions: Number(n[1]), failedConnects: Number(n[2]), txBytes: Number(n[3]), rxBytes: Number(n[4]), retransSegs: Number(n[5]),
        retransmitEvents: Number(n[6]), retransEventSegs: Number(n[7]), byState: new Map(), durationsUs: h,
        srttSumUs: Number(n[9]), srttCount: Number(n[10]), firstUs: Number(n[11]), lastUs: Number(n[12]),
      });
    }
    const st = await this.conn.runAndReadAll(`SELECT flow, state, sum(events) FROM states WHERE ${win} GROUP BY flow, state`);
    for (const [f, s, c] of st.getRows()) out.get(Number(f))?.byState.set(Number(s), Number(c));
    const bins = await this.conn.runAndReadAll(`SELECT flow, bin, sum(count) FROM durations WHERE ${win} GROUP BY flow, bin`);
    for (const [f, b, c] of bins.getRows()) {
      const h = out.get(Number(f))?.durationsUs;
      if (!h) continue;
      h.counts.set(Number(b), Number(c));
      h.total += Number(c);
    }
    return [...out.values()];
  }

  /** Retention only: DuckDB does not give deleted space back to the file system (no shrinking without a rewrite). */
  async prune(nowUs: number, retentionUs: number, _maxBytes: number): Promise<{ removedRows: number }> {
    const horizon = Math.floor((nowUs - retentionUs) / 1e6) - this.bucketSeconds;
    return this.deleteThrough(horizon);
  }

  async deleteThrough(bucket: number): Promise<{ removedRows: number }> {
    const r = await this.conn.run(`DELETE FROM rollups WHERE bucket <= ${bucket}`);
    await this.conn.run(`DELETE FROM states WHERE bucket <= ${bucket}`);
    await this.conn.run(`DELETE FROM durations WHERE bucket <= ${bucket}`);
    await this.conn.run('CHECKPOINT');
    return { removedRows: r.rowsChanged };
  }

  bytes(): number {
    let n = 0;
    for (const f of [this.file, `${this.file}.wal`]) {
      try {
        n += fs.statSync(f).size;
      } catch {
        /* no WAL */
      }
    }
    return n;
  }

  async stats(): Promise<StoreStats> {
    const r = await this.conn.runAndReadAll('SELECT count(*), min(bucket) FROM rollups');
    const [n, b] = r.getRows()[0]!;
    return { rows: Number(n), bytes: this.bytes(), oldestBucketUs: b === null ? undefined : Number(b) * 1e6 };
  }

  async close(): Promise<void> {
    await this.conn.run('CHECKPOINT');
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

function appendRow(ap: DuckDBAppender, values: Array<number | string>): void {
  for (const v of values) {
    if (typeof v === 'string') ap.appendVarchar(v);
    else ap.appendInteger(v);
  }
  ap.endRow();
}
