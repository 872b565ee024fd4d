// SqliteRollupStore: the embedded history behind RollupStore, in one SQLite file
// (better-sqlite3 12: synchronous like the interface, WAL journal). Chosen over DuckDB by
// bench/store.ts on our own queries (figures in docs/store.md).
//
// Layout: `flows` names each flow key once (endpoints as JSON, pod/namespace columns for
// filters); `rollups` holds the sums per (bucket, flow); `states` and `durations` hold the
// per-(bucket, flow) retransmit-state counts and duration-histogram bins as rows, so a
// commit is a pure SQL upsert-add and a window report is three GROUP BYs whose merged
// histograms give the same percentiles as merging in memory.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import type { FlowAgg } from '../aggregate/flows';
import { LogHistogram } from '../aggregate/histogram';
import type { FlowFilter, RollupRow, RollupStore, StoreStats } from './rollup-store';

const SCHEMA_VERSION = 2;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS flows (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, local TEXT NOT NULL, remote TEXT NOT NULL,
    local_ns TEXT NOT NULL, local_pod TEXT NOT NULL, remote_ns TEXT NOT NULL, remote_pod TEXT NOT NULL,
    service_port INTEGER NOT NULL, direction INTEGER NOT NULL,
    last_bucket INTEGER NOT NULL -- newest bucket with a row: flows older than every bucket are removed
  );
  CREATE INDEX IF NOT EXISTS flows_local ON flows (local_ns, local_pod);
  CREATE INDEX IF NOT EXISTS flows_remote ON flows (remote_ns, remote_pod);
  -- bucket: the bucket's start in Unix seconds
  CREATE TABLE IF NOT EXISTS rollups (
    bucket INTEGER NOT NULL, flow INTEGER NOT NULL,
    sessions INTEGER NOT NULL, failed INTEGER NOT NULL, tx INTEGER NOT NULL, rx INTEGER NOT NULL,
    retrans_segs INTEGER NOT NULL, retrans_events INTEGER NOT NULL, retrans_event_segs INTEGER NOT NULL,
    dur_max REAL NOT NULL, srtt_sum INTEGER NOT NULL, srtt_count INTEGER NOT NULL,
    first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,
    PRIMARY KEY (bucket, flow)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS states (
    bucket INTEGER NOT NULL, flow INTEGER NOT NULL, state INTEGER NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (bucket, flow, state)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS durations (
    bucket INTEGER NOT NULL, flow INTEGER NOT NULL, bin INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (bucket, flow, bin)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS watermarks (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
`;

export interface SqliteStoreOptions {
  bucketSeconds: number;
  /** fsync every commit (default). The collector truncates its ingest log after a commit, so a commit must survive power loss. */
  durable?: boolean;
}

interface FlowRef {
  id: number;
  lastBucket: number;
}

/** What a flow id stands for (immutable per key): read from `flows` once, on first use. */
interface FlowInfo {
  key: string;
  local: Endpoint;
  remote: Endpoint;
  servicePort: number;
  direction: number;
}

export class SqliteRollupStore implements RollupStore {
  private readonly db: Database.Database;
  private readonly bucketSeconds: number;
  private flowIds = new Map<string, FlowRef>();
  private readonly flowInfos = new Map<number, FlowInfo>();
  private readonly put: {
    flow: Database.Statement; lastBucket: Database.Statement; rollup: Database.Statement;
    state: Database.Statement; duration: Database.Statement; mark: Database.Statement; flowInfo: Database.Statement;
  };
  private readonly commitTx: (rows: RollupRow[], watermarks: Map<string, number>) => void;

  constructor(readonly file: string, opts: SqliteStoreOptions) {
    if (!Number.isInteger(opts.bucketSeconds) || opts.bucketSeconds < 1) throw new Error(`bucketSeconds must be a positive integer, got ${opts.bucketSeconds}`);
    this.bucketSeconds = opts.bucketSeconds;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    try {
      // incremental auto-vacuum must be chosen before the first table exists; it lets prune give pages back to the disk
      if (!this.db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'meta'").get()) this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.durable === false ? 'NORMAL' : 'FULL'}`);
      this.db.pragma('cache_size = -32768'); // 32 MiB page cache
      this.db.pragma('temp_store = MEMORY');
      this.db.pragma('journal_size_limit = 16777216'); // the WAL is cut back to 16 MiB after checkpoints
      const has = (t: string) => !!this.db.prepare('SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?').get('table', t);
      if (has('rollups') && !has('meta')) throw new Error('it holds rollups in an older layout (one table, JSON columns): move the file away to start afresh');
      this.db.exec(SCHEMA);
      this.checkSchema();
    } catch (err) {
      this.db.close();
      throw new Error(`cannot open the store ${file}: ${(err as Error).message}`);
    }
    this.put = {
      flow: this.db.prepare(`INSERT INTO flows (key, local, remote, local_ns, local_pod, remote_ns, remote_pod, service_port, direction, last_bucket)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      lastBucket: this.db.prepare('UPDATE flows SET last_bucket = ? WHERE id = ?'),
      rollup: this.db.prepare(`INSERT INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (bucket, flow) DO UPDATE SET
          sessions = sessions + excluded.sessions, failed = failed + excluded.failed, tx = tx + excluded.tx, rx = rx + excluded.rx,
          retrans_segs = retrans_segs + excluded.retrans_segs, retrans_events = retrans_events + excluded.retrans_events,
          retrans_event_segs = retrans_event_segs + excluded.retrans_event_segs, dur_max = max(dur_max, excluded.dur_max),
          srtt_sum = srtt_sum + excluded.srtt_sum, srtt_count = srtt_count + excluded.srtt_count,
          first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)`),
      state: this.db.prepare('INSERT INTO states VALUES (?, ?, ?, ?) ON CONFLICT (bucket, flow, state) DO UPDATE SET events = events + excluded.events'),
      duration: this.db.prepare('INSERT INTO durations VALUES (?, ?, ?, ?) ON CONFLICT (bucket, flow, bin) DO UPDATE SET count = count + excluded.count'),
      flowInfo: this.db.prepare('SELECT key, local, remote, service_port, direction FROM flows WHERE id = ?'),
      mark: this.db.prepare('INSERT INTO watermarks VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET seq = max(seq, excluded.seq)'),
    };
    this.loadFlowIds();
    this.commitTx = this.db.transaction((rows: RollupRow[], watermarks: Map<string, number>) => {
      for (const { bucketStartUs, agg: a } of rows) {
        const bucket = Math.floor(bucketStartUs / 1e6);
        const flow = this.flowId(a, bucket);
        this.put.rollup.run(bucket, flow, a.sessions, a.failedConnects, a.txBytes, a.rxBytes, a.retransSegs, a.retransmitEvents,
          a.retransEventSegs, a.durationsUs.max, a.srttSumUs, a.srttCount, a.firstUs, a.lastUs);
        for (const [state, n] of a.byState) this.put.state.run(bucket, flow, state, n);
        for (const [bin, n] of a.durationsUs.counts) this.put.duration.run(bucket, flow, bin, n);
      }
      for (const [run, seq] of watermarks) this.put.mark.run(run, seq);
    });
  }

  private checkSchema(): void {
    const row = this.db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: number } | undefined;
    if (!row) this.db.prepare("INSERT INTO meta VALUES ('schema', ?), ('bucket_seconds', ?)").run(SCHEMA_VERSION, this.bucketSeconds);
    else if (row.value !== SCHEMA_VERSION) throw new Error(`schema version ${row.value}, this collector reads ${SCHEMA_VERSION}: move the file away to start afresh`);
    const b = this.db.prepare("SELECT value FROM meta WHERE name = 'bucket_seconds'").get() as { value: number };
    if (b.value !== this.bucketSeconds) throw new Error(`written with ${b.value} s buckets, configured ${this.bucketSeconds} s: keep the bucket width or start a new data directory`);
  }

  private loadFlowIds(): void {
    this.flowIds = new Map();
    for (const r of this.db.prepare('SELECT id, key, last_bucket FROM flows').iterate() as IterableIterator<{ id: number; key: string; last_bucket: number }>) {
      this.flowIds.set(r.key, { id: r.id, lastBucket: r.last_bucket });
    }
  }

  private flowInfo(id: number): FlowInfo {
    let f = this.flowInfos.get(id);
    if (!f) {
      const r = this.put.flowInfo.get(id) as
        { key: string; local: string; remote: string; service_port: number; direction: number };
      f = { key: r.key, local: JSON.parse(r.local) as Endpoint, remote: JSON.parse(r.remote) as Endpoint, servicePort: r.service_port, direction: r.direction };
      this.flowInfos.set(id, f);
    }
    return f;
  }

  private flowId(a: FlowAgg, bucket: number): number {
    const ref = this.flowIds.get(a.key);
    if (ref) {
      if (bucket > ref.lastBucket) {
        this.put.lastBucket.run(bucket, ref.id);
        ref.lastBucket = bucket;
      }
      return ref.id;
    }
    const id = Number(this.put.flow.run(a.key, JSON.stringify(a.local), JSON.stringify(a.remote), a.local.namespace, a.local.pod,
      a.remote.namespace, a.remote.pod, a.servicePort, a.direction, bucket).lastInsertRowid);
    this.flowIds.set(a.key, { id, lastBucket: bucket });
    return id;
  }

  commit(rows: RollupRow[], watermarks: Map<string, number>): void {
    try {
      this.commitTx(rows, watermarks);
    } catch (err) {
      this.loadFlowIds(); // the transaction rolled back: forget flow ids it handed out
      this.flowInfos.clear();
      throw err;
    }
  }

  watermarks(): Map<string, number> {
    return new Map((this.db.prepare('SELECT run_id, seq FROM watermarks').all() as Array<{ run_id: string; seq: number }>).map((r) => [r.run_id, r.seq]));
  }

  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[] {
    // buckets that overlap [since, until): start + width > since and start < until
    const lo = Math.floor(sinceUs / 1e6) - this.bucketSeconds;
    const hi = Math.ceil(untilUs / 1e6);
    const where: string[] = [];
    const fp: unknown[] = [];
    if (filter?.pod) {
      where.push('((local_ns = ? AND local_pod = ?) OR (remote_ns = ? AND remote_pod = ?))');
      fp.push(filter.pod.namespace, filter.pod.name, filter.pod.namespace, filter.pod.name);
    }
    if (filter?.namespace) {
      where.push('(local_ns = ? OR remote_ns = ?)');
      fp.push(filter.namespace, filter.namespace);
    }
    if (filter?.localNamespace) {
      where.push('local_ns = ?');
      fp.push(filter.localNamespace);
    }
    const flowCond = where.length ? ` AND flow IN (SELECT id FROM flows WHERE ${where.join(' AND ')})` : '';
    const win = `bucket > ? AND bucket < ? AND (bucket * 1000000 < ?) AND ((bucket + ${this.bucketSeconds}) * 1000000 > ?)${flowCond}`;
    const params = [lo, hi, untilUs, sinceUs, ...fp];

    const out = new Map<number, FlowAgg>();
    // columns by position (raw rows: no object per row)
    const sums = this.db.prepare(`SELECT flow, sum(sessions), sum(failed), sum(tx), sum(rx), sum(retrans_segs), sum(retrans_events),
        sum(retrans_event_segs), max(dur_max), sum(srtt_sum), sum(srtt_count), min(first_us), max(last_us)
      FROM rollups WHERE ${win} GROUP BY flow`).raw();
    for (const r of sums.iterate(...params) as IterableIterator<number[]>) {
      const f = this.flowInfo(r[0]!);
      const h = new LogHistogram();
      h.max = r[8]!;
      out.set(r[0]!, {
        key: f.key, local: { ...f.local }, remote: { ...f.remote }, servicePort: f.servicePort, direction: f.direction,
        sessions: r[1]!, failedConnects: r[2]!, txBytes: r[3]!, rxBytes: r[4]!, retransSegs: r[5]!, retransmitEvents: r[6]!,
        retransEventSegs: r[7]!, byState: new Map(), durationsUs: h, srttSumUs: r[9]!, srttCount: r[10]!, firstUs: r[11]!, lastUs: r[12]!,
      });
    }
    const states = this.db.prepare(`SELECT flow, state, sum(events) FROM states WHERE ${win} GROUP BY flow, state`).raw();
    for (const [flow, state, n] of states.iterate(...params) as IterableIterator<number[]>) out.get(flow!)?.byState.set(state!, n!);
    const bins = this.db.prepare(`SELECT flow, bin, sum(count) FROM durations WHERE ${win} GROUP BY flow, bin`).raw();
    for (const [flow, bin, n] of bins.iterate(...params) as IterableIterator<number[]>) {
      const h = out.get(flow!)?.durationsUs;
      if (!h) continue;
      h.counts.set(bin!, n!);
      h.total += n!;
    }
    return [...out.values()];
  }

  prune(nowUs: number, retentionUs: number, maxBytes: number): { removedRows: number } {
    // retention: buckets that ended before now - retention
    const horizon = Math.floor((nowUs - retentionUs) / 1e6) - this.bucketSeconds;
    let removedRows = this.deleteThrough(horizon);
    if (removedRows > 0) this.compact();
    // size cap: the oldest buckets go until the file and its WAL fit
    while (this.bytes() > maxBytes) {
      const { n } = this.db.prepare('SELECT count(*) AS n FROM rollups').get() as { n: number };
      if (n === 0) break; // only the empty schema is left
      const share = Math.min(1, (this.bytes() - maxBytes * 0.9) / this.bytes()); // aim 10% under the cap: fewer rounds
      const offset = Math.max(0, Math.min(n - 1, Math.ceil(n * share) - 1));
      const { bucket } = this.db.prepare('SELECT bucket FROM rollups ORDER BY bucket LIMIT 1 OFFSET ?').get(offset) as { bucket: number };
      removedRows += this.deleteThrough(bucket);
      this.compact();
    }
    return { removedRows };
  }

  /** Deletes every bucket at or before `bucket` (Unix seconds); returns the rollup rows removed. */
  private deleteThrough(bucket: number): number {
    return this.db.transaction(() => {
      const n = this.db.prepare('DELETE FROM rollups WHERE bucket <= ?').run(bucket).changes;
      if (n === 0) return 0;
      this.db.prepare('DELETE FROM states WHERE bucket <= ?').run(bucket);
      this.db.prepare('DELETE FROM durations WHERE bucket <= ?').run(bucket);
      // flows whose newest row is gone
      this.db.prepare('DELETE FROM flows WHERE last_bucket <= ?').run(bucket);
      for (const [key, ref] of this.flowIds) {
        if (ref.lastBucket > bucket) continue;
        this.flowIds.delete(key);
        this.flowInfos.delete(ref.id);
      }
      return n;
    })();
  }

  /** Gives freed pages back to the file system and empties the WAL into the file. */
  private compact(): void {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** The database's size on disk: the file and its WAL. */
  bytes(): number {
    let n = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        n += fs.statSync(f).size;
      } catch {
        /* no WAL yet */
      }
    }
    return n;
  }

  stats(): StoreStats {
    const r = this.db.prepare('SELECT count(*) AS n, min(bucket) AS b FROM rollups').get() as { n: number; b: number | null };
    return { rows: r.n, bytes: this.bytes(), oldestBucketUs: r.b === null ? undefined : r.b * 1e6 };
  }

  close(): void {
    if (!this.db.open) return;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

export function openSqliteStore(file: string, bucketSeconds: number): RollupStore {
  return new SqliteRollupStore(file, { bucketSeconds });
}
