// The embedded store behind RollupStore: SQLite (better-sqlite3, synchronous, one file,
// WAL journal, incremental vacuum so deletes give disk space back). One row per (10 s
// bucket, flow key); a commit adds sums to existing rows and records delivery watermarks in
// the same transaction. Retention and a size cap (oldest buckets first) are enforced by prune.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import { type FlowAgg, mergeAgg } from '../aggregate/flows';
import { LogHistogram } from '../aggregate/histogram';
import type { FlowFilter, RollupRow, RollupStore, StoreStats } from './rollup-store';

interface Row {
  bucket: number; key: string; local: string; remote: string; service_port: number; direction: number;
  sessions: number; failed: number; tx: number; rx: number; retrans_segs: number; retrans_events: number; retrans_event_segs: number;
  by_state: string; durations: string; dur_total: number; dur_max: number; srtt_sum: number; srtt_count: number;
  first_us: number; last_us: number;
}

const COLUMNS = 'bucket, key, local, remote, local_ns, local_pod, remote_ns, remote_pod, service_port, direction, sessions, failed, tx, rx, retrans_segs, retrans_events, retrans_event_segs, by_state, durations, dur_total, dur_max, srtt_sum, srtt_count, first_us, last_us';

function toAgg(r: Row): FlowAgg {
  const h = new LogHistogram();
  for (const [b, c] of JSON.parse(r.durations) as Array<[number, number]>) h.counts.set(b, c);
  h.total = r.dur_total;
  h.max = r.dur_max;
  return {
    key: r.key, local: JSON.parse(r.local) as Endpoint, remote: JSON.parse(r.remote) as Endpoint, servicePort: r.service_port, direction: r.direction,
    sessions: r.sessions, failedConnects: r.failed, txBytes: r.tx, rxBytes: r.rx, retransSegs: r.retrans_segs, retransmitEvents: r.retrans_events, retransEventSegs: r.retrans_event_segs,
    byState: new Map(JSON.parse(r.by_state) as Array<[number, number]>), durationsUs: h, srttSumUs: r.srtt_sum, srttCount: r.srtt_count,
    firstUs: r.first_us, lastUs: r.last_us,
  };
}

function toParams(bucket: number, a: FlowAgg): unknown[] {
  return [
    bucket, a.key, JSON.stringify(a.local), JSON.stringify(a.remote), a.local.namespace, a.local.pod, a.remote.namespace, a.remote.pod,
    a.servicePort, a.direction, a.sessions, a.failedConnects, a.txBytes, a.rxBytes, a.retransSegs, a.retransmitEvents, a.retransEventSegs,
    JSON.stringify([...a.byState]), JSON.stringify([...a.durationsUs.counts]), a.durationsUs.total, a.durationsUs.max,
    a.srttSumUs, a.srttCount, a.firstUs, a.lastUs,
  ];
}

export class SqliteRollupStore implements RollupStore {
  private readonly db: Database.Database;
  private readonly bucketUs: number;
  private readonly stmts: Record<'get' | 'put' | 'mark' | 'marks' | 'oldest' | 'deleteBefore' | 'count', Database.Statement>;

  constructor(readonly file: string, bucketSeconds: number) {
    this.bucketUs = bucketSeconds * 1e6;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fresh = !fs.existsSync(file);
    this.db = new Database(file);
    if (fresh) this.db.pragma('auto_vacuum = INCREMENTAL');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: a commit survives a process crash
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS rollups (
        bucket INTEGER NOT NULL, key TEXT NOT NULL, local TEXT NOT NULL, remote TEXT NOT NULL,
        local_ns TEXT, local_pod TEXT, remote_ns TEXT, remote_pod TEXT, service_port INTEGER, direction INTEGER,
        sessions INTEGER, failed INTEGER, tx INTEGER, rx INTEGER, retrans_segs INTEGER, retrans_events INTEGER, retrans_event_segs INTEGER,
        by_state TEXT, durations TEXT, dur_total INTEGER, dur_max REAL, srtt_sum INTEGER, srtt_count INTEGER,
        first_us INTEGER, last_us INTEGER,
        PRIMARY KEY (bucket, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS watermarks (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.stmts = {
      get: this.db.prepare(`SELECT ${COLUMNS} FROM rollups WHERE bucket = ? AND key = ?`),
      put: this.db.prepare(`INSERT OR REPLACE INTO rollups (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(',')})`),
      mark: this.db.prepare('INSERT INTO watermarks (run_id, seq) VALUES (?, ?) ON CONFLICT(run_id) DO UPDATE SET seq = max(seq, excluded.seq)'),
      marks: this.db.prepare('SELECT run_id, seq FROM watermarks'),
      oldest: this.db.prepare('SELECT min(bucket) AS b FROM rollups'),
      deleteBefore: this.db.prepare('DELETE FROM rollups WHERE bucket < ?'),
      count: this.db.prepare('SELECT count(*) AS n FROM rollups'),
    };
  }

  commit(rows: RollupRow[], watermarks: Map<string, number>): void {
    this.db.transaction(() => {
      for (const { bucketStartUs, agg } of rows) {
        const cur = this.stmts.get.get(bucketStartUs, agg.key) as Row | undefined;
        let out = agg;
        if (cur) {
          out = toAgg(cur);
          mergeAgg(out, agg);
        }
        this.stmts.put.run(...toParams(bucketStartUs, out));
      }
      for (const [run, seq] of watermarks) this.stmts.mark.run(run, seq);
    })();
  }

  watermarks(): Map<string, number> {
    return new Map((this.stmts.marks.all() as Array<{ run_id: string; seq: number }>).map((r) => [r.run_id, r.seq]));
  }

  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[] {
    let sql = `SELECT ${COLUMNS} FROM rollups WHERE bucket > ? AND bucket < ?`;
    const params: unknown[] = [sinceUs - this.bucketUs, untilUs];
    if (filter?.pod) {
      sql += ' AND ((local_ns = ? AND local_pod = ?) OR (remote_ns = ? AND remote_pod = ?))';
      params.push(filter.pod.namespace, filter.pod.name, filter.pod.namespace, filter.pod.name);
    }
    if (filter?.namespace) {
      sql += ' AND (local_ns = ? OR remote_ns = ?)';
      params.push(filter.namespace, filter.namespace);
    }
    if (filter?.localNamespace) {
      sql += ' AND local_ns = ?';
      params.push(filter.localNamespace);
    }
    const out = new Map<string, FlowAgg>();
    for (const r of this.db.prepare(sql).iterate(...params) as IterableIterator<Row>) {
      const a = toAgg(r);
      const m = out.get(a.key);
      if (m) mergeAgg(m, a);
      else out.set(a.key, a);
    }
    return [...out.values()];
  }

  prune(nowUs: number, retentionUs: number, maxBytes: number): { removedRows: number } {
    let removedRows = this.stmts.deleteBefore.run(nowUs - retentionUs).changes;
    // size cap: drop the oldest buckets until the file (and its WAL) fits
    for (let guard = 0; guard < 10_000 && this.bytes() > maxBytes; guard++) {
      const oldest = (this.stmts.oldest.get() as { b: number | null }).b;
      if (oldest === null) break;
      const n = Number((this.stmts.count.get() as { n: number }).n);
      const drop = Math.max(1, Math.ceil(n / 20)); // about 5% of the rows per step, oldest first
      removedRows += this.db.prepare('DELETE FROM rollups WHERE bucket <= (SELECT bucket FROM rollups ORDER BY bucket LIMIT 1 OFFSET ?)').run(drop - 1).changes;
      this.compact();
    }
    if (removedRows > 0) this.compact();
    return { removedRows };
  }

  private compact(): void {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  private bytes(): number {
    let n = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        n += fs.statSync(f).size;
      } catch {
        /* no WAL file */
      }
    }
    return n;
  }

  stats(): StoreStats {
    const b = (this.stmts.oldest.get() as { b: number | null }).b;
    return { rows: Number((this.stmts.count.get() as { n: number }).n), bytes: this.bytes(), oldestBucketUs: b ?? undefined };
  }

  close(): void {
    this.db.close();
  }
}

export function openEmbeddedStore(file: string, bucketSeconds: number): RollupStore {
  return new SqliteRollupStore(file, bucketSeconds);
}
