// An in-memory keystore: NOT durable, keys are lost on restart. It stands behind the KeyStore
// interface until the encrypted flat-file keystore lands; the start-up log names it as such.

import { wipe } from '../bytes.js';
import type { KeyId } from '../skip/key-id.js';
import type { SystemId } from '../skip/remote-ids.js';
import { DuplicateKeyIdError, type KeyStore, type TakeResult } from './types.js';

interface Entry {
  key: Buffer;
  remote: SystemId;
  expiresAt: number;
}

export class MemoryKeyStore implements KeyStore {
  readonly kind = 'memory';
  readonly durable = false;
  private readonly keys = new Map<KeyId, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ttlMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(ttlMs, 60_000)).unref();
  }

  put(keyId: KeyId, key: Buffer, remote: SystemId): Promise<void> {
    this.sweep();
    if (this.keys.has(keyId)) return Promise.reject(new DuplicateKeyIdError(keyId));
    this.keys.set(keyId, { key: Buffer.from(key), remote, expiresAt: this.now() + this.ttlMs });
    return Promise.resolve();
  }

  take(keyId: KeyId, remote: SystemId): Promise<TakeResult> {
    this.sweep();
    const e = this.keys.get(keyId);
    if (!e) return Promise.resolve({ kind: 'not-found' });
    if (e.remote !== remote) return Promise.resolve({ kind: 'wrong-remote' });
    this.keys.delete(keyId);
    const key = Buffer.from(e.key);
    wipe(e.key);
    return Promise.resolve({ kind: 'ok', key });
  }

  get size(): number {
    return this.keys.size;
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const e of this.keys.values()) wipe(e.key);
    this.keys.clear();
    return Promise.resolve();
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, e] of this.keys) {
      if (e.expiresAt > t) continue;
      wipe(e.key);
      this.keys.delete(id);
    }
  }
}
