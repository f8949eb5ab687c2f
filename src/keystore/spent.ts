// The spent log, `<keystore>.spent`: the keyIds this keystore has handed out, each kept until
// its take time plus the key TTL (by then any copy of its slot has expired too). It is what makes
// a replayed slot or an earlier copy of the keystore file harmless (docs/security.md),
// and what answers a replayed /key-exchange with 409 (docs/security.md). It is a separate file, synced
// on its own, so rolling back the keystore file alone does not roll it back; an attacker who can
// roll back both files at once is out of its reach (docs/security.md says what closes that).
//
// Format: header, 512 bytes: magic "SKIPSPv1", 8 zero bytes, the keystore's 16-byte file id,
//   16-byte HMAC-SHA-256 (truncated) of bytes 0..31 under the spent key; the rest zero.
// Entries, 64 bytes each at 512 + 64 * i (eight to a sector, so a torn write never splits one):
//   all zeros = free; else tag (16) = HMAC(spent key, "keyId" || keyId) truncated, u64 until ms,
//   then a 16-byte HMAC over file id || u32 index || tag || until; the rest zero.
//   An entry whose time has passed is free; an entry that fails its MAC is ignored and reported.
//
// Room: a take must not be refused for want of disk space, so the log holds a written (not
// sparse) free entry for every key the keystore holds. The file grows by writing zeros, open
// rewrites the free entries (filling holes left by a truncate), and the keystore reserves an
// entry with each put (`reserve`) that its take then uses (`record`). Node has no fallocate;
// writing the bytes is what makes a file system allocate them (ext4, XFS, tmpfs). A
// copy-on-write file system (btrfs, ZFS) may still need room to overwrite: docs/security.md.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { KeyId } from '../ids/key-id.js';
import type { StoreFile, StoreFs } from './file-io.js';
import { FreeList } from './free-list.js';
import { GroupSync } from './group-sync.js';
import type { StoreKeys } from './slots.js';

export const SPENT_HEADER_BYTES = 512;
export const SPENT_ENTRY_BYTES = 64;
const MAGIC = Buffer.from('SKIPSPv1');
const MAC = 16;
/** Entries added each time the file grows (64 KiB). */
const GROW_ENTRIES = 1024;
/** Entries rewritten per write when open fills the free entries (4 KiB). */
const FILL_ENTRIES = 64;

export const spentPath = (keystorePath: string): string => `${keystorePath}.spent`;
const entryOffset = (i: number): number => SPENT_HEADER_BYTES + i * SPENT_ENTRY_BYTES;

function mac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, MAC);
}

function header(keys: StoreKeys): Buffer {
  const h = Buffer.alloc(SPENT_HEADER_BYTES);
  MAGIC.copy(h, 0);
  keys.fileId.copy(h, 16);
  mac(keys.spentKey, h.subarray(0, 32)).copy(h, 32);
  return h;
}

export interface SpentOpenReport {
  /** Entries still in force. */
  spent: number;
  /** Entries that failed authentication (damaged or forged); ignored. */
  corrupt: number;
}

export class SpentLog {
  /** tag (hex) -> entry index and until ms. */
  private readonly entries = new Map<string, { index: number; untilMs: number }>();
  private readonly places: FreeList;
  private readonly syncer: GroupSync;
  /** Free entries promised to held keys; never more than the free entries. */
  private reserved = 0;
  /** Free entries that open could not rewrite (a full or failing disk); left unused. */
  unfilled = 0;

  private constructor(
    private readonly file: StoreFile,
    private readonly keys: StoreKeys,
    private readonly now: () => number,
  ) {
    this.syncer = new GroupSync(file);
    this.places = new FreeList(file, entryOffset, GROW_ENTRIES, async (bytes, from) => {
      await file.write(from, Buffer.alloc(bytes - from));
      await this.syncer.sync();
    });
  }

  /**
   * Creates the log for a new (or upgraded) keystore, replacing a stale one left by a crash
   * between creating the log and creating the keystore; durable when it resolves.
   */
  static async create(fs: StoreFs, path: string, keys: StoreKeys, now: () => number): Promise<SpentLog> {
    const h = header(keys);
    let file = await fs.openExisting(path);
    if (file) {
      await file.truncate(0);
      await file.write(0, h);
      await file.sync();
    } else file = await fs.create(path, h, 0o600);
    return new SpentLog(file, keys, now);
  }

  /** Opens the log of an existing keystore; its absence or a foreign one is a ConfigError. */
  static async open(
    fs: StoreFs,
    path: string,
    keys: StoreKeys,
    now: () => number,
    readOnly = false,
  ): Promise<{ log: SpentLog; report: SpentOpenReport }> {
    const file = await fs.openExisting(path, readOnly);
    const refuse = (why: string): ConfigError =>
      new ConfigError([
        `${path}: ${why}. It records the keys this keystore handed out; without it an earlier copy ` +
          'of the keystore could hand a key out again, so the KP will not start. If the keystore was ' +
          'restored on purpose, move both files aside and start with an empty keystore',
      ]);
    if (!file) throw refuse('the spent log is missing');
    const log = new SpentLog(file, keys, now);
    try {
      const h = await file.read(0, SPENT_HEADER_BYTES);
      if (h.length !== SPENT_HEADER_BYTES || !timingSafeEqual(h, header(keys)))
        throw refuse('this spent log belongs to another keystore, or is damaged');
      return { log, report: await log.load(readOnly) };
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  private async load(readOnly: boolean): Promise<SpentOpenReport> {
    const size = await this.file.size();
    const capacity = Math.max(0, Math.floor((size - SPENT_HEADER_BYTES) / SPENT_ENTRY_BYTES));
    const data = await this.file.read(SPENT_HEADER_BYTES, capacity * SPENT_ENTRY_BYTES);
    const now = this.now();
    let corrupt = 0;
    for (let i = 0; i < capacity; i++) {
      const e = data.subarray(i * SPENT_ENTRY_BYTES, (i + 1) * SPENT_ENTRY_BYTES);
      const tag = e.subarray(0, 16);
      const until = e.subarray(16, 24);
      const ok = timingSafeEqual(e.subarray(24, 24 + MAC), this.entryMac(i, tag, until));
      const untilMs = Number(until.readBigUInt64BE());
      if (ok && untilMs > now) this.entries.set(tag.toString('hex'), { index: i, untilMs });
      else if (!ok && e.some((b) => b !== 0)) corrupt++;
    }
    const used = new Set([...this.entries.values()].map((e) => e.index));
    const unusable = readOnly ? new Set<number>() : await this.fill(data, capacity, used);
    data.fill(0);
    this.places.reset(capacity, (i) => !used.has(i) && !unusable.has(i));
    this.unfilled = unusable.size;
    return { spent: this.entries.size, corrupt };
  }

  /** Rewrites every free entry with zeros, so each is allocated on disk; returns the free
   * entries whose rewrite failed. Entries in force are written back unchanged. */
  private async fill(data: Buffer, capacity: number, used: Set<number>): Promise<Set<number>> {
    const failed = new Set<number>();
    for (let first = 0; first < capacity; first += FILL_ENTRIES) {
      const count = Math.min(FILL_ENTRIES, capacity - first);
      const chunk = Buffer.from(
        data.subarray(first * SPENT_ENTRY_BYTES, (first + count) * SPENT_ENTRY_BYTES),
      );
      for (let i = 0; i < count; i++)
        if (!used.has(first + i)) chunk.fill(0, i * SPENT_ENTRY_BYTES, (i + 1) * SPENT_ENTRY_BYTES);
      try {
        await this.file.write(entryOffset(first), chunk);
      } catch {
        for (let i = first; i < first + count; i++) if (!used.has(i)) failed.add(i);
      } finally {
        chunk.fill(0);
      }
    }
    if (capacity > failed.size) await this.syncer.sync();
    return failed;
  }

  private entryMac(index: number, tag: Buffer, until: Buffer): Buffer {
    const i = Buffer.alloc(4);
    i.writeUInt32BE(index);
    return mac(this.keys.spentKey, this.keys.fileId, i, tag, until);
  }

  private tag(keyId: KeyId): Buffer {
    return mac(this.keys.spentKey, Buffer.from('keyId'), Buffer.from(keyId, 'hex'));
  }

  /** True when `keyId` was handed out and its entry is still in force. */
  has(keyId: KeyId): boolean {
    const e = this.entries.get(this.tag(keyId).toString('hex'));
    return e !== undefined && e.untilMs > this.now();
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Promises one free entry, written on disk, to a key about to be held: grows the file (by
   * writing zeros) when every free entry is promised. Rejects when the disk has no room.
   */
  async reserve(): Promise<void> {
    while (this.places.freeCount <= this.reserved) await this.places.growOnce();
    this.reserved++;
  }

  /** Gives back the entry promised to a key that leaves without a take (expired, or not stored). */
  unreserve(): void {
    if (this.reserved > 0) this.reserved--;
  }

  /**
   * Records `keyId` as handed out until `untilMs`, in an entry reserved for it. Durable when it
   * resolves; `has` is true only from then on. On a rejection the reservation stands, and the
   * entry was overwritten with zeros if the disk allowed it.
   */
  async record(keyId: KeyId, untilMs: number): Promise<void> {
    const tag = this.tag(keyId);
    const key = tag.toString('hex');
    // An entry still in force already refuses the keyId; one whose time has passed (not yet
    // swept) refuses nothing, so it is freed and a new entry written, never trusted.
    const old = this.entries.get(key);
    if (old && old.untilMs > this.now()) return this.unreserve();
    if (old) {
      this.entries.delete(key);
      this.places.release(old.index);
    }
    this.reserved--;
    const index = await this.places.allocate();
    const e = Buffer.alloc(SPENT_ENTRY_BYTES);
    tag.copy(e, 0);
    e.writeBigUInt64BE(BigInt(untilMs), 16);
    this.entryMac(index, tag, e.subarray(16, 24)).copy(e, 24);
    try {
      await this.file.write(entryOffset(index), e);
      await this.syncer.sync();
    } catch (err) {
      await this.file
        .write(entryOffset(index), Buffer.alloc(SPENT_ENTRY_BYTES))
        .then(() => this.syncer.sync())
        .catch(() => {});
      this.places.release(index);
      this.reserved++;
      throw err;
    }
    this.entries.set(key, { index, untilMs });
  }

  /** Frees entries whose time has passed (no write: a passed entry reads as free). */
  sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) {
      if (e.untilMs <= now) {
        this.entries.delete(k);
        this.places.release(e.index);
      }
    }
  }

  /** fdatasync calls on the log since it was opened. */
  get syncCount(): number {
    return this.syncer.syncs;
  }

  async close(): Promise<void> {
    await this.syncer.idle();
    await this.file.close();
  }
}
