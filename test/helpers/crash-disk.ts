// A disk for power-loss tests (in the spirit of SQLite's crash-test VFS). It keeps what was
// synced apart from what was only written. At the cut every further I/O call hangs forever, as on
// a dead machine, and `imageAfterCut` builds what the platters hold: the synced state plus, of
// the writes since the last sync, either none but a torn last one or a random subset (page-cache
// writeback order), with the last applied write torn at a 512-byte boundary.
import type { StoreFile, StoreFs } from '../../src/keystore/file-io.js';

type Op = { kind: 'write'; offset: number; data: Buffer } | { kind: 'truncate'; size: number };

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
  ios = 0;
  cutAt = Infinity;

  get isCut(): boolean {
    return this.ios >= this.cutAt;
  }

  /** Counts an I/O; past the cut it never settles. */
  gate<T>(fn: () => T): Promise<T> {
    this.ios++;
    if (this.isCut) return new Promise<T>(() => {});
    return Promise.resolve().then(fn);
  }

  openExisting(path: string): Promise<StoreFile | undefined> {
    return this.gate(() => {
      const img = this.durable.get(path);
      if (!img) return undefined;
      const f = new SimFile(this, path, img);
      this.files.set(path, f);
      return f;
    });
  }

  create(path: string, initial: Uint8Array): Promise<StoreFile> {
    return this.gate(() => {
      if (this.durable.has(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
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

  /** The current durable bytes of a file (for inspection). */
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
    return this.disk.gate(() => Buffer.from(this.current.subarray(offset, offset + length)));
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.disk.gate(() => {
      const op: Op = { kind: 'write', offset, data: Buffer.from(data) };
      this.current = applyOp(this.current, op);
      this.unsynced.push(op);
    });
  }
  truncate(size: number): Promise<void> {
    return this.disk.gate(() => {
      const op: Op = { kind: 'truncate', size };
      this.current = applyOp(this.current, op);
      this.unsynced.push(op);
    });
  }
  sync(): Promise<void> {
    return this.disk.gate(() => {
      this.disk.synced(this.path, this.current);
      this.unsynced = [];
    });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
