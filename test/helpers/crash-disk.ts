// A disk for power-loss tests (in the spirit of SQLite's crash-test VFS). It keeps what was
// synced apart from what was only written. At the cut every further I/O call hangs forever, as on
// a dead machine, and `imageAfterCut` builds what the platters hold: the synced state plus, of
// the writes since the last sync, either none but a torn last one or a random subset (page-cache
// writeback order), with the last applied write torn at a 512-byte boundary.
//
// It can also fail as a real disk does. Space is counted in 4 KiB pages, as tmpfs does: a
// truncate that grows a file is sparse, and a write that reaches a page never written needs a
// free one (`freePages`; at 0 the write stops at that page with ENOSPC, its earlier pages
// written). `fault` makes every write, truncate and sync fail with EROFS (nothing changes) or EIO
// (reads too; a failed sync leaves the writes before it unsynced: they may or may not survive a
// power loss, as after a real fsync error).
import type { StoreFile, StoreFs } from '../../src/keystore/file-io.js';

type Op = { kind: 'write'; offset: number; data: Buffer } | { kind: 'truncate'; size: number };

export const PAGE = 4096;
export type DiskFault = 'EIO' | 'EROFS';

const ioError = (code: string): Error => Object.assign(new Error(`${code} (simulated disk)`), { code });

function applyOp(img: Buffer, op: Op, upTo?: number): Buffer {
  if (op.kind === 'truncate') {
    const out = Buffer.alloc(op.size);
    img.copy(out, 0, 0, Math.min(img.length, op.size));
    return out;
  }
  const data = upTo === undefined ? op.data : op.data.subarray(0, upTo);
  const end = op.offset + data.length;
  const out = end > img.length ? Buffer.concat([img, Buffer.alloc(end - img.length)]) : img;
  data.copy(out, op.offset);
  return out;
}

export class CrashDisk implements StoreFs {
  private readonly durable = new Map<string, Buffer>();
  private readonly files = new Map<string, SimFile>();
  /** Pages written, per file (a page once written stays allocated until a truncate drops it). */
  private readonly pages = new Map<string, Set<number>>();
  ios = 0;
  /** fdatasync calls that ran, on every file. */
  syncs = 0;
  cutAt = Infinity;
  /** Pages the disk can still allocate. */
  freePages = Infinity;
  fault: DiskFault | undefined;
  /** Fails the disk (`fault`, or full: no free page) for the I/Os numbered [from, until). */
  schedule: { from: number; until: number; fault: DiskFault | 'ENOSPC' } | undefined;

  get isCut(): boolean {
    return this.ios >= this.cutAt;
  }

  /** Counts an I/O; past the cut it never settles. */
  gate<T>(fn: () => T): Promise<T> {
    this.ios++;
    const s = this.schedule;
    if (s) {
      const on = this.ios >= s.from && this.ios < s.until;
      this.fault = on && s.fault !== 'ENOSPC' ? s.fault : undefined;
      this.freePages = on && s.fault === 'ENOSPC' ? 0 : Infinity;
    }
    if (this.isCut) return new Promise<T>(() => {});
    return Promise.resolve().then(fn);
  }

  /** Fails the way `fault` says, for an operation that changes the disk (`reads`: one that does not). */
  check(reads = false): void {
    if (this.fault === 'EIO' || (this.fault === 'EROFS' && !reads)) throw ioError(this.fault);
  }

  /** The pages `path` has written. */
  pagesOf(path: string): Set<number> {
    let p = this.pages.get(path);
    if (!p) this.pages.set(path, (p = new Set()));
    return p;
  }

  /** Allocates the pages of [offset, end) in order; returns where the first that cannot be
   * allocated starts, or `end`. */
  allocate(path: string, offset: number, end: number): number {
    const pages = this.pagesOf(path);
    for (let p = Math.floor(offset / PAGE); p * PAGE < end; p++) {
      if (pages.has(p)) continue;
      if (this.freePages <= 0) return Math.max(offset, p * PAGE);
      this.freePages--;
      pages.add(p);
    }
    return end;
  }

  /** Frees the pages of `path` past `size`. */
  shrink(path: string, size: number): void {
    const pages = this.pagesOf(path);
    for (const p of pages) {
      if (p * PAGE >= size) {
        pages.delete(p);
        this.freePages++;
      }
    }
  }

  openExisting(path: string, readOnly = false): Promise<StoreFile | undefined> {
    return this.gate(() => {
      this.check(readOnly);
      const img = this.durable.get(path);
      if (!img) return undefined;
      const f = new SimFile(this, path, img);
      this.files.set(path, f);
      return f;
    });
  }

  create(path: string, initial: Uint8Array): Promise<StoreFile> {
    return this.gate(() => {
      this.check();
      if (this.durable.has(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
      if (this.allocate(path, 0, initial.length) < initial.length) throw ioError('ENOSPC');
      this.durable.set(path, Buffer.from(initial));
      const f = new SimFile(this, path, Buffer.from(initial));
      this.files.set(path, f);
      return f;
    });
  }

  synced(path: string, img: Buffer): void {
    this.durable.set(path, Buffer.from(img));
  }

  /** A new disk holding what survives the power loss, for every file on it; `rnd` in [0, 1). */
  imageAfterCut(rnd: () => number): CrashDisk {
    const disk = new CrashDisk();
    for (const [path, pages] of this.pages) disk.pages.set(path, new Set(pages));
    for (const path of new Set([...this.durable.keys(), ...this.files.keys()])) {
      let img: Buffer = Buffer.from(this.durable.get(path) ?? Buffer.alloc(0));
      const ops = this.files.get(path)?.unsynced ?? [];
      const subset = rnd() < 0.5;
      const applied = subset ? ops.filter(() => rnd() < 0.5) : ops.slice(-1);
      applied.forEach((op, i) => {
        const last = i === applied.length - 1;
        if (last && op.kind === 'write' && !(subset && rnd() < 0.5)) {
          const sectors = Math.ceil(op.data.length / 512);
          img = applyOp(img, op, Math.floor(rnd() * (sectors + 1)) * 512);
        } else img = applyOp(img, op);
      });
      disk.durable.set(path, img);
    }
    return disk;
  }

  /** What a power loss now would leave of a file's synced writes (for inspection). */
  onPlatters(path: string): Buffer {
    return Buffer.from(this.durable.get(path) ?? Buffer.alloc(0));
  }

  /** The current bytes of a file, synced or not (for inspection). */
  bytes(path: string): Buffer {
    return this.files.get(path)?.current ?? this.durable.get(path) ?? Buffer.alloc(0);
  }
}

class SimFile implements StoreFile {
  current: Buffer;
  unsynced: Op[] = [];

  constructor(
    private readonly disk: CrashDisk,
    private readonly path: string,
    img: Buffer,
  ) {
    this.current = Buffer.from(img);
  }

  size(): Promise<number> {
    return this.disk.gate(() => this.current.length);
  }
  read(offset: number, length: number): Promise<Buffer> {
    return this.disk.gate(() => {
      this.disk.check(true);
      return Buffer.from(this.current.subarray(offset, offset + length));
    });
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.disk.gate(() => {
      this.disk.check();
      const end = offset + data.length;
      const upTo = this.disk.allocate(this.path, offset, end);
      if (upTo > offset) {
        const op: Op = { kind: 'write', offset, data: Buffer.from(data.subarray(0, upTo - offset)) };
        this.current = applyOp(this.current, op);
        this.unsynced.push(op);
      }
      if (upTo < end) throw ioError('ENOSPC');
    });
  }
  truncate(size: number): Promise<void> {
    return this.disk.gate(() => {
      this.disk.check();
      const op: Op = { kind: 'truncate', size };
      this.current = applyOp(this.current, op);
      this.unsynced.push(op);
      this.disk.shrink(this.path, size);
    });
  }
  sync(): Promise<void> {
    return this.disk.gate(() => {
      this.disk.syncs++;
      this.disk.check();
      this.disk.synced(this.path, this.current);
      this.unsynced = [];
    });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
