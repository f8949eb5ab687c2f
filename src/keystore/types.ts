// What the SKIP handlers and the peer listener need from a keystore: store.ts implements it.

import type { KeyId } from '../ids/key-id.js';
import type { SystemId } from '../ids/system-id.js';

export type TakeResult =
  | { readonly kind: 'ok'; readonly key: Buffer }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'wrong-remote' };

export interface KeyStore {
  /** For the start-up log. */
  readonly kind: string;
  /**
   * Stores a copy of `key` bound to `remote`. Resolves once stored; rejects with
   * DuplicateKeyIdError if the keyId is already held, or was handed out within the key TTL (a
   * replayed exchange); with StoreFullError when `remote` has its maximum of keys waiting; with
   * StoreUnavailableError when the disk refuses the key or the room for its take.
   * The caller still owns and wipes `key`.
   */
  put(keyId: KeyId, key: Buffer, remote: SystemId): Promise<void>;
  /**
   * One-time retrieval (draft §4.2.2): exactly one caller gets the key; its delivery is durable
   * (the store refuses every copy of it) before it resolves, and the store's copy is wiped after.
   * Rejects with StoreUnavailableError when the disk refuses, the key still held. The caller
   * owns the returned buffer and wipes it. A take by the wrong remote system changes nothing.
   */
  take(keyId: KeyId, remote: SystemId): Promise<TakeResult>;
  /**
   * For a key served from elsewhere (a KME) under `keyId`: records its delivery in the spent log,
   * durable when it resolves, so no later request for it is served within the key TTL. 'spent'
   * when it was delivered (or is held, or being taken) already; rejects with
   * StoreUnavailableError when the disk refuses.
   */
  recordDelivered?(keyId: KeyId): Promise<'recorded' | 'spent'>;
  /** Health: resolves when the store can still make writes durable. */
  check(): Promise<void>;
  /** Keys wiped unclaimed since start, and slots in use and free, for metrics. */
  counts(): { expired: number; used: number; free: number };
  /** Keys waiting for each remote system's router, for metrics. */
  heldPerRemote?(): ReadonlyMap<SystemId, number>;
  close(): Promise<void>;
}

export class DuplicateKeyIdError extends Error {
  /** held: the keyId waits in the store; delivered: it was handed out (the spent log knows it). */
  constructor(
    keyId: KeyId,
    readonly reason: 'held' | 'delivered' = 'held',
  ) {
    super(`keyId ${keyId} ${reason === 'held' ? 'is already held' : 'was already delivered'}`);
    this.name = 'DuplicateKeyIdError';
  }
}

/** put refused: the store holds `max` keys for this remote system, or in all, already (docs/security.md). */
export class StoreFullError extends Error {
  constructor(
    readonly remote: SystemId,
    readonly max: number,
    /** Which cap: this remote system's, or all keys held. */
    readonly scope: 'remote' | 'all' = 'remote',
  ) {
    super(
      scope === 'remote'
        ? `${max} keys for "${remote}" are waiting to be collected (max_held_keys_per_remote)`
        : `${max} keys in all are waiting to be collected (max_held_keys)`,
    );
    this.name = 'StoreFullError';
  }
}

/** The disk refused a write or a sync (full, failing or read-only): nothing was stored or taken;
 * a key the store held is still held. Answered with 503 and Retry-After. */
export class StoreUnavailableError extends Error {
  constructor(
    /** The errno code (ENOSPC, EIO, EROFS, ...) or the message of the failure. */
    readonly code: string,
    readonly during: 'put' | 'take',
  ) {
    super(`the keystore cannot ${during === 'put' ? 'store a key' : 'record a delivery'} now (${code})`);
    this.name = 'StoreUnavailableError';
  }
}

/** Seconds a router or a peer is told to wait after a StoreUnavailableError. */
export const STORE_RETRY_S = 10;

/** A StoreUnavailableError for an I/O failure (an error with an errno code); other errors as they are. */
export function unavailable(e: unknown, during: 'put' | 'take'): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? new StoreUnavailableError(code, during) : e;
}
