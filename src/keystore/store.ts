// The durable keystore: one file of fixed-size encrypted slots (format in slots.ts).
// - put: the record is written and synced before put resolves; concurrent puts share one
//   fdatasync (group commit).
// - put: an entry in the spent log is reserved first (spent.ts), so a key is acknowledged only
//   when its take can be recorded; a disk that refuses either write fails the put
//   (StoreUnavailableError), and nothing is held.
// - take: the index entry is removed synchronously, so of any number of concurrent takes exactly
//   one proceeds. The keyId is written to the spent log and synced; only then is the key handed
//   out. If the spent log cannot be written, the key goes back to the index, still takeable
//   (StoreUnavailableError).
// - take costs that one fdatasync. The slot is overwritten with zeros at once but not synced for
//   the take; it returns to the free list only after a later fdatasync of the file has covered
//   the zeros: the next put's group commit, or a sync of its own WIPE_SYNC_MS after the wipe if
//   no put comes, or close(). Why no state is lost or served twice:
//   - the spent entry is kept until max(take time + ttl, the record's expiry), and it is durable
//     before the key leaves. So while the slot's record can still be read (zeros not yet on the
//     platters: a crash, a failed write or sync), the next open finds it spent (before its
//     expiry) or expired (after), and wipes it (report.replayed). Slots are one sector each, so
//     after a crash an uncovered slot holds the whole record or zeros, never a mix.
//   - a slot on the free list is zeros on the platters. A put's slot therefore holds, after a
//     crash, its new record or zeros (the put was not acknowledged), never a taken key's record
//     brought back by a lost overwrite; a taken key's slot leaves the index at once and is
//     allocated again only once covered, so no two keys share a slot while either can be read.
//   - a wipe whose write or covering sync fails keeps its slot off the free list until the next
//     open, which refuses and wipes it through the spent log.
// - expiry wipes unclaimed keys the same way; freed slots are reused; the file grows in chunks.
// - open: scan every slot, rebuild the index, wipe expired, corrupt (reported) and duplicate slots,
//   and slots whose keyId the spent log (spent.ts) says was handed out: a replayed slot or an
//   earlier copy of the file. A take records its keyId there before the key leaves.

import { Cleanup } from '../cleanup.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { KeyId } from '../ids/key-id.js';
import type { SystemId } from '../ids/system-id.js';
import { nodeFs, type StoreFile, type StoreFs } from './file-io.js';
import { FreeList } from './free-list.js';
import { GroupSync } from './group-sync.js';
import { SpentLog, spentPath } from './spent.js';
import { lockKeystore, realPath, type KeystoreLock } from './lock.js';
import type { MasterKey } from './master-key.js';
import {
  HEADER_BYTES,
  SLOT_BYTES,
  newHeader,
  openHeader,
  openSlot,
  sealSlot,
  slotOffset,
  type StoreKeys,
} from './slots.js';
import { DuplicateKeyIdError, StoreFullError, unavailable, type KeyStore, type TakeResult } from './types.js';

export interface FileKeyStoreOptions {
  path: string;
  master: MasterKey;
  /** How long an untaken key is kept (config key_ttl_seconds). */
  ttlMs: number;
  fs?: StoreFs;
  now?: () => number;
  log?: Logger;
  /** Slots added each time the file grows. */
  growSlots?: number;
  /** Scan only: no wiping, no writing (keystore stats). */
  readOnly?: boolean;
  /** Expiry sweep period; 0 turns the timer off (tests sweep by hand). */
  sweepEveryMs?: number;
  /** Keys held for one remote system at most (config max_held_keys_per_remote); default none. */
  maxHeldPerRemote?: number;
  /** Keys held in all, at most (config max_held_keys): bounds the index in memory. */
  maxHeld?: number;
  /** Longest wait of a taken key's wiped slot for an fdatasync (default WIPE_SYNC_MS). */
  wipeSyncMs?: number;
}

export interface OpenReport {
  created: boolean;
  slots: number;
  used: number;
  expiredWiped: number;
  /** Indexes of slots that failed authentication (torn or damaged); wiped unless read-only. */
  corrupt: number[];
  duplicatesWiped: number;
  /** Slots holding a key the spent log says was handed out (a replayed slot or an earlier copy
   * of the file); wiped unless read-only. */
  replayed: number[];
  /** Spent-log entries in force, and ones that failed authentication. */
  spent: number;
  spentCorrupt: number;
  /** True when a version 1 keystore was given its spent log now. */
  upgraded: boolean;
}

export interface StoreStats {
  slots: number;
  used: number;
  free: number;
  oldestAgeMs: number | null;
  fileBytes: number;
}

interface Entry {
  slot: number;
  remote: SystemId;
  createdMs: number;
  expiresMs: number;
  /** An entry of the spent log is reserved for this key's take. */
  reserved: boolean;
}

const ZERO_SLOT = Buffer.alloc(SLOT_BYTES);
/** Longest wait of a taken key's zeros for a put's fdatasync before they get one of their own. */
const WIPE_SYNC_MS = 1_000;
/** Slots read per I/O while scanning at open (512 KiB). */
const SCAN_CHUNK = 1024;

/** The keys derived from the master key, wiped once no store will use them. */
const wipeKeys = (k: StoreKeys): void => void (k.slotKey.fill(0), k.spentKey.fill(0));

/** What createNew and openExisting hand to the store. */
interface Opened {
  file: StoreFile;
  keys: StoreKeys;
  spent: SpentLog | undefined;
  spentReport: { spent: number; corrupt: number };
  created: boolean;
  upgraded: boolean;
}

export class FileKeyStore implements KeyStore {
  readonly kind = 'encrypted file';
  private readonly index = new Map<KeyId, Entry>();
  /** Keys held (and being stored) per remote system, for maxHeldPerRemote. */
  private readonly perRemote = new Map<SystemId, number>();
  private readonly pending = new Set<KeyId>();
  /** Keys whose take is recording its spent entry: out of the index, back in if that fails. */
  private readonly taking = new Set<KeyId>();
  /** Zeros being written over taken keys' slots. */
  private readonly wiping = new Set<Promise<void>>();
  /** Taken keys' slots holding unsynced zeros: each goes back to the free list once synced. */
  private readonly uncovered = new Set<Promise<void>>();
  /** Syncs the uncovered slots if no put has synced them by then. */
  private wipeTimer: NodeJS.Timeout | undefined;
  private readonly slots: FreeList;
  private readonly syncer: GroupSync;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private expiredTotal = 0;
  private readonly now: () => number;

  private constructor(
    private readonly file: StoreFile,
    private readonly keys: StoreKeys,
    private readonly o: FileKeyStoreOptions,
    /** Absent only for a version 1 keystore opened read-only (it has none yet). */
    private readonly spent: SpentLog | undefined,
    /** Releases the spent log, the keys, the file and the lock, in that order. */
    private readonly cleanup: Cleanup,
  ) {
    this.syncer = new GroupSync(file);
    this.slots = new FreeList(file, slotOffset, o.growSlots ?? 1024);
    this.now = o.now ?? Date.now;
  }

  /** Opens (or creates) the keystore; a wrong master key or foreign file is a ConfigError. Whatever
   * the open took (lock, file, keys, spent log) is on one cleanup stack: a failed open unwinds it,
   * and close() does. */
  static async open(o: FileKeyStoreOptions): Promise<{ store: FileKeyStore; report: OpenReport }> {
    const fs = o.fs ?? nodeFs;
    const cleanup = new Cleanup(({ step, error }) =>
      o.log?.warn('cleanup step failed', {
        step,
        error: (error as NodeJS.ErrnoException).code ?? errorMessage(error),
      }),
    );
    try {
      // The simulated disks of the tests have no real path to lock; read-only scans need no lock.
      const lock = o.fs || o.readOnly ? undefined : await lockKeystore(o.path);
      if (lock) cleanup.defer('keystore lock', () => lock.release());
      if (lock && !lock.held)
        o.log?.warn('keystore not locked', { path: o.path, reason: 'no abstract UNIX sockets here' });
      // Beside the real file, so a symlinked keystore_path finds the same log.
      const spentFile = spentPath(o.fs ? o.path : realPath(o.path));
      const existing = await fs.openExisting(o.path, o.readOnly);
      const opened = existing
        ? await FileKeyStore.openExisting(o, fs, existing, spentFile, lock, cleanup)
        : await FileKeyStore.createNew(o, fs, spentFile, lock, cleanup);
      const store = new FileKeyStore(opened.file, opened.keys, o, opened.spent, cleanup);
      const report = await store.scan(opened.created);
      const { spent, corrupt } = opened.spentReport;
      Object.assign(report, { spent, spentCorrupt: corrupt, upgraded: opened.upgraded });
      const every = o.sweepEveryMs ?? Math.min(o.ttlMs, 60_000);
      if (!o.readOnly && every > 0)
        store.sweeper = setInterval(() => void store.sweep().catch(() => {}), every).unref();
      return { store, report };
    } catch (e) {
      return cleanup.fail(e);
    }
  }

  /** A new keystore: the spent log first, then the file holding only its header. */
  private static async createNew(
    o: FileKeyStoreOptions,
    fs: StoreFs,
    spentFile: string,
    lock: KeystoreLock | undefined,
    cleanup: Cleanup,
  ): Promise<Opened> {
    if (o.readOnly) throw new ConfigError([`${o.path}: no keystore there`]);
    const made = newHeader(o.master);
    cleanup.defer('keystore keys', () => wipeKeys(made.keys));
    // The spent log first: a crash before the keystore exists leaves a stale log that the next
    // start replaces, never a keystore without its log.
    let spent: SpentLog;
    let file: StoreFile;
    try {
      const log = await SpentLog.create(fs, spentFile, made.keys, o.now ?? Date.now);
      cleanup.defer('spent log', () => log.close());
      spent = log;
      file = await fs.create(o.path, made.header, 0o600);
    } catch (e) {
      throw new ConfigError([
        `${o.path}: cannot create the keystore (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
      ]);
    }
    cleanup.defer('keystore file', () => file.close());
    await lock?.pinFile();
    return {
      file,
      keys: made.keys,
      spent,
      spentReport: { spent: 0, corrupt: 0 },
      created: true,
      upgraded: false,
    };
  }

  /** An existing keystore: its header under the master key, then its spent log (made now for a
   * version 1 keystore, before the header says version 2). */
  private static async openExisting(
    o: FileKeyStoreOptions,
    fs: StoreFs,
    file: StoreFile,
    spentFile: string,
    lock: KeystoreLock | undefined,
    cleanup: Cleanup,
  ): Promise<Opened> {
    cleanup.defer('keystore file', () => file.close());
    await lock?.pinFile();
    const now = o.now ?? Date.now;
    const opened = openHeader(await file.read(0, HEADER_BYTES), o.master, o.path);
    const keys = opened.keys;
    cleanup.defer('keystore keys', () => wipeKeys(keys));
    const result: Opened = {
      file,
      keys,
      spent: undefined,
      spentReport: { spent: 0, corrupt: 0 },
      created: false,
      upgraded: false,
    };
    if (opened.upgraded && !o.readOnly) {
      const spent = await SpentLog.create(fs, spentFile, keys, now);
      cleanup.defer('spent log', () => spent.close());
      result.spent = spent;
      await file.write(0, opened.upgraded);
      await file.sync();
      result.upgraded = true;
    } else if (!opened.upgraded) {
      const s = await SpentLog.open(fs, spentFile, keys, now, o.readOnly);
      cleanup.defer('spent log', () => s.log.close());
      result.spent = s.log;
      result.spentReport = s.report;
    }
    return result;
  }

  private async scan(created: boolean): Promise<OpenReport> {
    const size = await this.file.size();
    const slots = Math.max(0, Math.floor((size - HEADER_BYTES) / SLOT_BYTES));
    const report: OpenReport = {
      created,
      slots,
      used: 0,
      expiredWiped: 0,
      corrupt: [],
      duplicatesWiped: 0,
      replayed: [],
      spent: 0,
      spentCorrupt: 0,
      upgraded: false,
    };
    const wipe: number[] = [];
    const now = this.now();
    for (let first = 0; first < slots; first += SCAN_CHUNK) {
      const count = Math.min(SCAN_CHUNK, slots - first);
      const chunk = await this.file.read(slotOffset(first), count * SLOT_BYTES);
      for (let i = 0; i < count; i++) {
        const slot = first + i;
        const c = openSlot(this.keys, slot, chunk.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES));
        if (c.kind === 'free') continue;
        if (c.kind === 'corrupt') {
          report.corrupt.push(slot);
          wipe.push(slot);
          continue;
        }
        const r = c.record;
        r.key.fill(0);
        if (r.expiresMs <= now) {
          report.expiredWiped++;
          wipe.push(slot);
        } else if (this.spent?.has(r.keyId)) {
          report.replayed.push(slot);
          wipe.push(slot);
        } else if (this.index.has(r.keyId)) {
          report.duplicatesWiped++;
          wipe.push(slot);
        } else {
          this.index.set(r.keyId, {
            slot,
            remote: r.remote,
            createdMs: r.createdMs,
            expiresMs: r.expiresMs,
            reserved: false,
          });
          this.countRemote(r.remote, 1);
        }
      }
      chunk.fill(0);
    }
    report.used = this.index.size;
    // The slot count is the file's, read-only or not (stats report it).
    const used = new Set([...this.index.values()].map((e) => e.slot));
    this.slots.reset(slots, (s) => !used.has(s));
    if (this.o.readOnly) return report;
    for (const slot of wipe) await this.file.write(slotOffset(slot), ZERO_SLOT);
    if (wipe.length > 0) await this.syncer.sync();
    await this.reserveHeld();
    if (report.replayed.length > 0) {
      this.o.log?.warn('keystore replayed slots wiped', {
        path: this.o.path,
        slots: report.replayed.slice(0, 100),
        note: 'these slots held keys already handed out: a stop before their wipe, or the file (or parts of it) copied back',
      });
    }
    if (report.corrupt.length > 0) {
      this.o.log?.warn('keystore corrupt slots wiped', {
        path: this.o.path,
        slots: report.corrupt.slice(0, 100),
      });
    }
    return report;
  }

  /** Reserves a spent-log entry for every key found at open; one the disk has no room for is
   * reserved at its take (which the disk may then refuse, leaving the key held). */
  private async reserveHeld(): Promise<void> {
    let short = 0;
    let error = '';
    for (const e of this.index.values()) {
      if (short === 0 && this.spent) {
        try {
          await this.spent.reserve();
          e.reserved = true;
          continue;
        } catch (err) {
          error = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
        }
      }
      short++;
    }
    const unfilled = this.spent?.unfilled ?? 0;
    if (short > 0 || unfilled > 0) {
      this.o.log?.warn('keystore spent log short of room', {
        path: spentPath(this.o.path),
        keysWithoutRoom: short,
        entriesNotWritten: unfilled,
        ...(error && { error }),
        note: 'takes of these keys need room on the disk; new keys are refused (503) until there is',
      });
    }
  }

  async put(keyId: KeyId, key: Buffer, remote: SystemId): Promise<void> {
    this.assertWritable();
    if (this.index.has(keyId) || this.pending.has(keyId) || this.taking.has(keyId))
      throw new DuplicateKeyIdError(keyId);
    if (this.spent?.has(keyId)) throw new DuplicateKeyIdError(keyId, 'delivered');
    const max = this.o.maxHeldPerRemote;
    if (max !== undefined && (this.perRemote.get(remote) ?? 0) >= max) throw new StoreFullError(remote, max);
    const total = this.o.maxHeld;
    if (total !== undefined && this.index.size + this.pending.size >= total)
      throw new StoreFullError(remote, total, 'all');
    this.pending.add(keyId);
    this.countRemote(remote, 1);
    let reserved = false;
    let stored = false;
    try {
      // Room for the take's spent entry before the key is acknowledged.
      await this.spent?.reserve();
      reserved = this.spent !== undefined;
      const slot = await this.slots.allocate();
      const createdMs = this.now();
      const expiresMs = createdMs + this.o.ttlMs;
      const sealed = sealSlot(this.keys, slot, { keyId, key, remote, createdMs, expiresMs });
      try {
        await this.file.write(slotOffset(slot), sealed);
        await this.syncer.sync();
      } catch (e) {
        // Not acknowledged. The slot may or may not hold the record: wipe it if we can.
        await this.wipe(slot).catch(() => {});
        throw e;
      }
      this.index.set(keyId, { slot, remote, createdMs, expiresMs, reserved });
      stored = true;
    } catch (e) {
      throw unavailable(e, 'put');
    } finally {
      this.pending.delete(keyId);
      if (!stored) {
        this.countRemote(remote, -1);
        if (reserved) this.spent?.unreserve();
      }
    }
  }

  async take(keyId: KeyId, remote: SystemId): Promise<TakeResult> {
    this.assertWritable();
    const e = this.index.get(keyId);
    if (!e) return { kind: 'not-found' };
    if (e.remote !== remote) return { kind: 'wrong-remote' };
    // From here on no other take can see this key (until it comes back, if the take fails).
    this.index.delete(keyId);
    if (e.expiresMs <= this.now()) {
      this.expiredTotal++;
      this.forget(e);
      await this.wipe(e.slot).catch(() => {});
      return { kind: 'not-found' };
    }
    this.taking.add(keyId);
    let key: Buffer | undefined;
    let gone = false;
    try {
      const c = openSlot(this.keys, e.slot, await this.file.read(slotOffset(e.slot), SLOT_BYTES));
      if (c.kind !== 'record' || c.record.keyId !== keyId) {
        gone = true;
        this.forget(e);
        await this.wipe(e.slot).catch(() => {});
        throw new Error(`keystore slot ${e.slot} no longer holds keyId ${keyId}`);
      }
      key = c.record.key;
      if (!e.reserved && this.spent) {
        await this.spent.reserve();
        e.reserved = true;
      }
      // Durable before the key leaves: no copy of the slot can be served again. It outlives the
      // record (its expiry), so the slot's zeros need no sync of their own.
      await this.spent?.record(keyId, Math.max(this.now() + this.o.ttlMs, e.expiresMs));
    } catch (err) {
      key?.fill(0);
      if (gone) throw err;
      this.index.set(keyId, e);
      throw unavailable(err, 'take');
    } finally {
      this.taking.delete(keyId);
    }
    this.countRemote(e.remote, -1);
    this.wipeAfterTake(e.slot);
    return { kind: 'ok', key };
  }

  async recordDelivered(keyId: KeyId): Promise<'recorded' | 'spent'> {
    this.assertWritable();
    if (!this.spent) throw new Error('this keystore has no spent log');
    if (this.spent.has(keyId) || this.index.has(keyId) || this.pending.has(keyId) || this.taking.has(keyId))
      return 'spent';
    this.taking.add(keyId);
    try {
      await this.spent.reserve();
      try {
        await this.spent.record(keyId, this.now() + this.o.ttlMs);
      } catch (e) {
        this.spent.unreserve();
        throw e;
      }
      return 'recorded';
    } catch (e) {
      throw unavailable(e, 'take');
    } finally {
      this.taking.delete(keyId);
    }
  }

  /** Counts out a key that leaves the store without a take. */
  private forget(e: Entry): void {
    this.countRemote(e.remote, -1);
    if (e.reserved) this.spent?.unreserve();
  }

  /** The slot of a taken key: zeros written at once, synced by the next fdatasync of the file
   * (header: take costs one fdatasync), and only then free. */
  private wipeAfterTake(slot: number): void {
    const failed = (err: unknown): void => {
      this.o.log?.warn('keystore slot wipe failed', {
        path: this.o.path,
        slot,
        error: (err as NodeJS.ErrnoException).code ?? errorMessage(err),
        note: 'the key was delivered and the spent log refuses the slot; it is wiped at the next start',
      });
    };
    const written: Promise<void> = this.file
      .write(slotOffset(slot), ZERO_SLOT)
      .then(() => this.coverWipe(slot, failed), failed)
      .finally(() => this.wiping.delete(written));
    this.wiping.add(written);
  }

  /** Frees a wiped slot once an fdatasync has covered its zeros; asks for one after
   * wipeSyncMs if no put has. */
  private coverWipe(slot: number, failed: (err: unknown) => void): void {
    const covered: Promise<void> = this.syncer
      .ride()
      .then(() => this.slots.release(slot), failed)
      .finally(() => this.uncovered.delete(covered));
    this.uncovered.add(covered);
    if (this.closed) return; // close() syncs
    this.wipeTimer ??= setTimeout(() => {
      this.wipeTimer = undefined;
      if (this.syncer.riding > 0) void this.syncer.sync().catch(() => {}); // the riders report it
    }, this.o.wipeSyncMs ?? WIPE_SYNC_MS).unref();
  }

  /** Resolves once the zeros over taken keys' slots are written (not yet synced: header). */
  async settled(): Promise<void> {
    while (this.wiping.size > 0) await Promise.all(this.wiping);
  }

  /** Syncs the zeros of taken keys' slots and frees them. */
  private async coverWipes(): Promise<void> {
    await this.settled();
    clearTimeout(this.wipeTimer);
    this.wipeTimer = undefined;
    if (this.syncer.riding > 0) await this.syncer.sync().catch(() => {}); // the riders report it
    await Promise.all(this.uncovered);
  }

  /** Wipes every expired key; returns how many. */
  async sweep(): Promise<number> {
    if (this.closed || this.o.readOnly) return 0;
    this.spent?.sweep();
    const now = this.now();
    const expired = [...this.index.entries()].filter(([, e]) => e.expiresMs <= now);
    for (const [id, e] of expired) {
      this.index.delete(id);
      this.forget(e);
    }
    this.expiredTotal += expired.length;
    await Promise.all(expired.map(([, e]) => this.wipe(e.slot)));
    if (expired.length > 0) this.o.log?.info('keys expired', { count: expired.length });
    return expired.length;
  }

  stats(fileBytes?: number): StoreStats {
    let oldest: number | null = null;
    for (const e of this.index.values()) if (oldest === null || e.createdMs < oldest) oldest = e.createdMs;
    return {
      slots: this.slots.capacity,
      used: this.index.size,
      free: this.slots.capacity - this.index.size,
      oldestAgeMs: oldest === null ? null : this.now() - oldest,
      fileBytes: fileBytes ?? slotOffset(this.slots.capacity),
    };
  }

  async check(): Promise<void> {
    this.assertWritable();
    await this.syncer.sync();
  }

  counts(): { expired: number; used: number; free: number } {
    return { expired: this.expiredTotal, used: this.index.size, free: this.slots.capacity - this.index.size };
  }

  /** fdatasync calls on the keystore file and its spent log since open. */
  get syncCount(): number {
    return this.syncer.syncs + (this.spent?.syncCount ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    await this.coverWipes();
    await this.syncer.idle();
    const [first] = await this.cleanup.unwind();
    if (first) throw first.error;
  }

  /** Keys held for each remote system, for metrics. */
  heldPerRemote(): ReadonlyMap<SystemId, number> {
    return this.perRemote;
  }

  private countRemote(remote: SystemId, by: 1 | -1): void {
    const n = (this.perRemote.get(remote) ?? 0) + by;
    if (n > 0) this.perRemote.set(remote, n);
    else this.perRemote.delete(remote);
  }

  private assertWritable(): void {
    if (this.closed) throw new Error('keystore is closed');
    if (this.o.readOnly) throw new Error('keystore is open read-only');
  }

  /** Zeros the slot, syncs, and only then lets it be reused. */
  private async wipe(slot: number): Promise<void> {
    await this.file.write(slotOffset(slot), ZERO_SLOT);
    await this.syncer.sync();
    this.slots.release(slot);
  }
}
