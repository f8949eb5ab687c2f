// The keystore in an etcd v3 cluster, shared by several KP instances (docs/cluster.md). Under the
// prefix:
//   meta                 the header of the file keystore's format (salt, store id, check tag):
//                        written once, if absent; every instance proves its master key against it.
//   id/<keyId>           "h:<token>" while the key is held, "d:<token>" once delivered; kept at
//                        least key_ttl_seconds after the delivery (the spent record).
//   key/<remote hex>/<keyId>  nonce || AES-256-GCM(created ms, expires ms, key) || tag, the AAD
//                        binding the store id, localSystemID, the remote system and the keyId:
//                        etcd and its backups hold only ciphertext.
// - put: one txn: if id/<keyId> is absent, write it and the key; else read it (held or delivered).
// - take: one txn: if the key exists, delete it (its value comes back as prev_kv) and write the
//   delivered record; of concurrent takes on any instances exactly one succeeds.
// - Every write carries a random token, so a write repeated after a lost answer recognises its
//   own earlier success; a take whose answer was lost finds its value in etcd's history at the
//   revision before its delivery record.
// - Expiry: leases shared by every record that ends in the same time bucket (one lease per
//   bucket, not per key); the expiry sealed in the value is what a take checks.
// - etcd unreachable or without quorum: StoreUnavailableError (503 and Retry-After); nothing is
//   acknowledged that etcd did not commit.

import { ConfigError } from '../errors.js';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { KeyId } from '../ids/key-id.js';
import type { SystemId } from '../ids/system-id.js';
import type { Logger } from '../log.js';
import {
  EtcdClient,
  EtcdRequestError,
  EtcdUnavailableError,
  cmp,
  op,
  type EtcdClientOptions,
} from './etcd-client.js';
import type { MasterKey } from './master-key.js';
import { HEADER_BYTES, gcmOpen, newHeader, openHeader, type StoreKeys } from './slots.js';
import {
  DuplicateKeyIdError,
  StoreFullError,
  StoreUnavailableError,
  type KeyStore,
  type TakeResult,
} from './types.js';

export interface EtcdKeyStoreOptions extends EtcdClientOptions {
  prefix: string;
  localSystemId: string;
  master: MasterKey;
  ttlMs: number;
  maxHeldPerRemote?: number;
  maxHeld?: number;
  /** false: a prefix without its meta record is refused (check-config and stats write nothing). */
  create?: boolean;
  now?: () => number;
  log?: Logger;
}

export interface EtcdStats {
  held: number;
  delivered: number;
  endpoints: readonly string[];
}

/** The header bytes kept in etcd: the signed part, its nonce and tag (the rest is zeros). */
const META_BYTES = 76;
const NONCE = 12;
const TAG = 16;
/** Takes whose answer was lost, remembered so a retry here recovers the key (at most). */
const MAX_UNSETTLED = 10_000;

export class EtcdKeyStore implements KeyStore {
  readonly kind = 'etcd';
  private readonly leases = new Map<number, Promise<string>>();
  /** keyId -> the token of a take that may have committed without our hearing of it. */
  private readonly unsettled = new Map<KeyId, string>();
  private readonly taking = new Set<KeyId>();
  private expiredTotal = 0;
  private held = 0;
  private readonly bucketMs: number;
  private readonly now: () => number;
  private closed = false;

  private constructor(
    private readonly client: EtcdClient,
    private readonly o: EtcdKeyStoreOptions,
    private readonly valueKey: Buffer,
    private readonly storeId: Buffer,
  ) {
    this.now = o.now ?? Date.now;
    this.bucketMs = Math.min(60_000, o.ttlMs);
  }

  /** Connects, creates the meta record if absent and proves the master key against it. A wrong
   * master key is a ConfigError; no member answering is an EtcdUnavailableError. */
  static async open(o: EtcdKeyStoreOptions): Promise<EtcdKeyStore> {
    const client = new EtcdClient(o);
    try {
      const metaKey = Buffer.from(`${o.prefix}meta`);
      const made = newHeader(o.master);
      const tr =
        o.create === false
          ? { succeeded: false, results: [await client.range(metaKey)] }
          : await client.txn(
              [cmp.absent(metaKey)],
              [op.put(metaKey, made.header.subarray(0, META_BYTES))],
              [op.get(metaKey)],
            );
      if (!tr.succeeded && tr.results[0]?.kvs.length === 0) {
        wipe(made.keys);
        throw new ConfigError([`etcd ${o.prefix}: no keystore there`]);
      }
      let keys: StoreKeys;
      if (tr.succeeded) keys = made.keys;
      else {
        wipe(made.keys);
        const stored = tr.results[0]?.kvs[0]?.value ?? Buffer.alloc(0);
        const header = Buffer.alloc(HEADER_BYTES);
        stored.copy(header, 0, 0, Math.min(stored.length, META_BYTES));
        keys = openHeader(header, o.master, `etcd ${o.prefix}meta`).keys;
      }
      const valueKey = Buffer.from(
        hkdfSync('sha256', keys.slotKey, keys.fileId, 'skip-server etcd values v1', 32),
      );
      const storeId = Buffer.from(keys.fileId);
      wipe(keys);
      return new EtcdKeyStore(client, o, valueKey, storeId);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  private path(what: 'id' | 'key', keyId: KeyId, remote?: SystemId): Buffer {
    return what === 'id'
      ? Buffer.from(`${this.o.prefix}id/${keyId}`)
      : Buffer.from(`${this.o.prefix}key/${Buffer.from(remote!, 'utf8').toString('hex')}/${keyId}`);
  }

  async put(keyId: KeyId, key: Buffer, remote: SystemId): Promise<void> {
    this.assertOpen();
    const token = randomBytes(12).toString('hex');
    const idKey = this.path('id', keyId);
    try {
      await this.checkCaps(remote);
      const createdMs = this.now();
      const expiresMs = createdMs + this.o.ttlMs;
      const sealed = this.seal(keyId, remote, key, createdMs, expiresMs);
      const tr = await this.withLease(expiresMs, (lease) =>
        this.client.txn(
          [cmp.absent(idKey)],
          [
            op.put(idKey, Buffer.from(`h:${token}`), lease),
            op.put(this.path('key', keyId, remote), sealed, lease),
          ],
          [op.get(idKey)],
        ),
      );
      if (tr.succeeded) return void this.held++;
      const marker = tr.results[0]?.kvs[0]?.value.toString('latin1') ?? '';
      // Our own earlier attempt, whose answer was lost, stored it.
      if (marker === `h:${token}`) return void this.held++;
      throw new DuplicateKeyIdError(keyId, marker.startsWith('d:') ? 'delivered' : 'held');
    } catch (e) {
      throw this.unavailable(e, 'put');
    }
  }

  async take(keyId: KeyId, remote: SystemId): Promise<TakeResult> {
    this.assertOpen();
    // As in the file store: while a take of this keyId runs here, another finds nothing.
    if (this.taking.has(keyId)) return { kind: 'not-found' };
    this.taking.add(keyId);
    // A take here whose answer was lost may have committed: its token finds that out.
    const token = this.unsettled.get(keyId) ?? randomBytes(12).toString('hex');
    this.unsettled.delete(keyId);
    try {
      const value = await this.takeValue(keyId, remote, token);
      if (value === 'wrong-remote' || value === undefined)
        return { kind: value === undefined ? 'not-found' : 'wrong-remote' };
      this.held = Math.max(0, this.held - 1);
      const opened = this.open(keyId, remote, value);
      if (!opened) throw new Error(`the etcd value of keyId ${keyId} does not authenticate`);
      if (opened.expiresMs <= this.now()) {
        opened.key.fill(0);
        this.expiredTotal++;
        return { kind: 'not-found' };
      }
      return { kind: 'ok', key: opened.key };
    } catch (e) {
      if (e instanceof EtcdUnavailableError) this.remember(keyId, token);
      throw this.unavailable(e, 'take');
    } finally {
      this.taking.delete(keyId);
    }
  }

  /** The sealed value this take removed (now, or in an earlier attempt with `token`). */
  private async takeValue(
    keyId: KeyId,
    remote: SystemId,
    token: string,
  ): Promise<Buffer | 'wrong-remote' | undefined> {
    const idKey = this.path('id', keyId);
    const keyKey = this.path('key', keyId, remote);
    const tr = await this.withLease(this.now() + this.o.ttlMs, (lease) =>
      this.client.txn(
        [cmp.present(keyKey)],
        [op.take(keyKey), op.put(idKey, Buffer.from(`d:${token}`), lease)],
        [op.get(idKey)],
      ),
    );
    if (tr.succeeded) return tr.results[0]?.kvs[0]?.value;
    const rec = tr.results[0]?.kvs[0];
    const marker = rec?.value.toString('latin1') ?? '';
    if (marker.startsWith('h:')) return 'wrong-remote';
    if (marker !== `d:${token}` || !rec) return undefined;
    // Our take committed but its answer was lost: the key is in the revision before.
    const before = String(BigInt(rec.modRevision) - 1n);
    return (await this.client.range(keyKey, { revision: before })).kvs[0]?.value;
  }

  async recordDelivered(keyId: KeyId): Promise<'recorded' | 'spent'> {
    this.assertOpen();
    const token = randomBytes(12).toString('hex');
    const idKey = this.path('id', keyId);
    try {
      const tr = await this.withLease(this.now() + this.o.ttlMs, (lease) =>
        this.client.txn(
          [cmp.absent(idKey)],
          [op.put(idKey, Buffer.from(`d:${token}`), lease)],
          [op.get(idKey)],
        ),
      );
      const marker = tr.results[0]?.kvs[0]?.value.toString('latin1');
      return tr.succeeded || marker === `d:${token}` ? 'recorded' : 'spent';
    } catch (e) {
      throw this.unavailable(e, 'take');
    }
  }

  /** Health: a linearizable read, which needs a leader and a quorum. */
  async check(): Promise<void> {
    this.assertOpen();
    try {
      await this.client.range(Buffer.from(`${this.o.prefix}meta`), { countOnly: true });
    } catch (e) {
      throw this.unavailable(e, 'put');
    }
  }

  /** Requests to etcd in flight now, and their cap, for metrics. */
  requestsInFlight(): { value: number; max: number } {
    return { value: this.client.pending, max: this.client.maxInFlight };
  }

  counts(): { expired: number; used: number; free: number } {
    return { expired: this.expiredTotal, used: this.held, free: 0 };
  }

  /** Keys held (by every instance) and delivered keyIds remembered, for keystore stats. */
  async stats(): Promise<EtcdStats> {
    const prefix = this.o.prefix;
    const held = await this.client.range(Buffer.from(`${prefix}key/`), { prefix: true, countOnly: true });
    const ids = await this.client.range(Buffer.from(`${prefix}id/`), { prefix: true, countOnly: true });
    return { held: held.count, delivered: Math.max(0, ids.count - held.count), endpoints: this.o.endpoints };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.client.close();
      this.valueKey.fill(0);
    }
    return Promise.resolve();
  }

  /** The caps, counted in etcd over every instance (two instances may each pass the last one). */
  private async checkCaps(remote: SystemId): Promise<void> {
    const per = this.o.maxHeldPerRemote;
    const all = this.o.maxHeld;
    if (per === undefined && all === undefined) return;
    const remotePrefix = Buffer.from(`${this.o.prefix}key/${Buffer.from(remote, 'utf8').toString('hex')}/`);
    const tr = await this.client.txn(
      [],
      [op.countPrefix(remotePrefix), op.countPrefix(Buffer.from(`${this.o.prefix}key/`))],
    );
    const [mine, total] = [tr.results[0]?.count ?? 0, tr.results[1]?.count ?? 0];
    this.held = total;
    if (per !== undefined && mine >= per) throw new StoreFullError(remote, per);
    if (all !== undefined && total >= all) throw new StoreFullError(remote, all, 'all');
  }

  /** Runs `f` with the lease of the bucket that ends at or after `untilMs`; a lease etcd no
   * longer knows (expired, or the cluster restored) is granted anew once. */
  private async withLease<T>(untilMs: number, f: (lease: string) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const end = Math.ceil(untilMs / this.bucketMs) * this.bucketMs;
      const lease = await this.lease(end);
      try {
        return await f(lease);
      } catch (e) {
        if (attempt > 0 || !(e instanceof EtcdRequestError) || !/lease not found/i.test(e.message)) throw e;
        this.leases.delete(end);
      }
    }
  }

  private lease(end: number): Promise<string> {
    const now = this.now();
    for (const k of this.leases.keys()) if (k <= now) this.leases.delete(k);
    let p = this.leases.get(end);
    if (!p) {
      // Seconds to the bucket's end, and a margin for clocks and the grant's own round trip.
      p = this.client.grant(Math.ceil((end - now) / 1000) + 5);
      p.catch(() => this.leases.delete(end));
      this.leases.set(end, p);
    }
    return p;
  }

  private remember(keyId: KeyId, token: string): void {
    if (this.unsettled.size >= MAX_UNSETTLED) this.unsettled.delete(this.unsettled.keys().next().value!);
    this.unsettled.set(keyId, token);
  }

  private aad(keyId: KeyId, remote: SystemId): Buffer {
    const local = Buffer.from(this.o.localSystemId, 'utf8');
    const r = Buffer.from(remote, 'utf8');
    return Buffer.concat([
      Buffer.from('skip-server etcd v1\0'),
      this.storeId,
      Buffer.from([local.length]),
      local,
      Buffer.from([r.length]),
      r,
      Buffer.from(keyId, 'hex'),
    ]);
  }

  private seal(keyId: KeyId, remote: SystemId, key: Buffer, createdMs: number, expiresMs: number): Buffer {
    const plain = Buffer.alloc(17 + key.length);
    try {
      plain.writeBigUInt64BE(BigInt(createdMs), 0);
      plain.writeBigUInt64BE(BigInt(expiresMs), 8);
      plain[16] = key.length;
      key.copy(plain, 17);
      const nonce = randomBytes(NONCE);
      const c = createCipheriv('aes-256-gcm', this.valueKey, nonce).setAAD(this.aad(keyId, remote));
      return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
    } finally {
      plain.fill(0);
    }
  }

  private open(keyId: KeyId, remote: SystemId, v: Buffer): { key: Buffer; expiresMs: number } | undefined {
    if (v.length < NONCE + 17 + TAG) return undefined;
    const plain = gcmOpen(this.valueKey, this.aad(keyId, remote), v);
    if (!plain) return undefined;
    try {
      const len = plain[16]!;
      return { key: Buffer.from(plain.subarray(17, 17 + len)), expiresMs: Number(plain.readBigUInt64BE(8)) };
    } finally {
      plain.fill(0);
    }
  }

  private unavailable(e: unknown, during: 'put' | 'take'): unknown {
    if (e instanceof EtcdUnavailableError) return new StoreUnavailableError(e.code, during);
    return e;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('keystore is closed');
  }
}

const wipe = (k: StoreKeys): void => void (k.slotKey.fill(0), k.spentKey.fill(0));
