// IngestLog: the write-ahead log that makes an acknowledgement a promise. Each accepted
// batch is appended (length, CRC-32, protobuf bytes) and fsynced, in groups, before its
// ack is sent; after a crash the log is replayed, so nothing acknowledged is lost, and the
// delivery watermarks replayed with it make a resent batch count once. A checkpoint moves
// everything into the RollupStore and empties the log.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER = 8;
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface ReplayResult {
  records: number;
  bytes: number;
  truncatedTail: number; // bytes of a torn last record that were cut off
}

export class IngestLog {
  private fd: number;
  private size: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  syncs = 0;

  constructor(readonly file: string, private readonly groupMs = 2) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a+');
    this.size = fs.fstatSync(this.fd).size;
  }

  /** Reads every whole record from the start; a torn tail (crash mid-write) is cut off. */
  replay(onRecord: (payload: Buffer) => void): ReplayResult {
    const data = this.size ? fs.readFileSync(this.file) : Buffer.alloc(0);
    let off = 0;
    let records = 0;
    while (off + HEADER <= data.length) {
      const len = data.readUInt32LE(off);
      const crc = data.readUInt32LE(off + 4);
      if (len > MAX_RECORD_BYTES || off + HEADER + len > data.length) break;
      const payload = data.subarray(off + HEADER, off + HEADER + len);
      if (crc32(payload) !== crc) break;
      onRecord(payload);
      records++;
      off += HEADER + len;
    }
    const truncatedTail = data.length - off;
    if (truncatedTail > 0) {
      fs.ftruncateSync(this.fd, off);
      this.size = off;
    }
    return { records, bytes: off, truncatedTail };
  }

  /** Appends a record; `durable` runs once it is on disk. */
  append(payload: Uint8Array, durable: () => void): void {
    const header = Buffer.alloc(HEADER);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    this.pending.push(header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    this.pendingBytes += HEADER + payload.length;
    this.waiting.push(durable);
    if (this.pendingBytes > 4 * 1024 * 1024) this.sync();
    else if (!this.timer) this.timer = setTimeout(() => this.sync(), this.groupMs);
  }

  /** Runs `done` once everything appended so far is on disk. */
  whenDurable(done: () => void): void {
    if (this.pending.length === 0) done();
    else this.waiting.push(done);
  }

  /** Writes and fsyncs what is pending, then runs the waiting callbacks. */
  sync(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    let written = 0;
    while (written < buf.length) written += fs.writeSync(this.fd, buf, written, buf.length - written);
    fs.fdatasyncSync(this.fd);
    this.syncs++;
    this.size += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }

  /** Empties the log (after a checkpoint has made its contents durable elsewhere). */
  reset(): void {
    this.sync();
    fs.ftruncateSync(this.fd, 0);
    fs.fdatasyncSync(this.fd);
    this.size = 0;
  }

  get bytes(): number {
    return this.size + this.pendingBytes;
  }

  close(): void {
    this.sync();
    fs.closeSync(this.fd);
  }
}
