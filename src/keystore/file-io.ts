// The only file operations the keystore performs. Production uses node:fs; the power-loss test
// plugs in a disk that loses whatever was not synced (test/helpers/crash-disk.ts).

import { link, open, rm, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname } from 'node:path';

export interface StoreFile {
  size(): Promise<number>;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Grows (or shrinks) the file; new bytes read as zeros. */
  truncate(size: number): Promise<void>;
  /** fdatasync: what was written before this call survives a power loss once it resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreFs {
  /** Opens an existing file for reading and writing (or only reading); undefined if absent. */
  openExisting(path: string, readOnly?: boolean): Promise<StoreFile | undefined>;
  /** Creates `path` holding `initial`, atomically and durably; fails if it exists. */
  create(path: string, initial: Uint8Array, mode: number): Promise<StoreFile>;
}

class NodeFile implements StoreFile {
  constructor(private readonly fh: FileHandle) {}
  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.fh.read(buf, 0, length, offset);
    return bytesRead === length ? buf : buf.subarray(0, bytesRead);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }
  truncate(size: number): Promise<void> {
    return this.fh.truncate(size);
  }
  sync(): Promise<void> {
    return this.fh.datasync();
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

export const nodeFs: StoreFs = {
  async openExisting(path, readOnly = false) {
    try {
      return new NodeFile(await open(path, readOnly ? constants.O_RDONLY : constants.O_RDWR));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  async create(path, initial, mode) {
    // Write and sync a temporary file, then link it into place: link fails if `path` exists, so
    // an existing keystore is never replaced, and the name appears only with whole contents.
    const tmp = `${path}.new-${process.pid}`;
    const fh = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await fh.write(initial, 0, initial.length, 0);
      await fh.sync();
      await link(tmp, path);
    } catch (e) {
      await fh.close();
      throw e;
    } finally {
      await rm(tmp, { force: true });
    }
    const dir = await open(dirname(path), constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return new NodeFile(fh);
  },
};
