// How GET /key obtains a key that the peer KP also holds (draft §2 step 2: "synchronizes the key
// and keyId with KP Bob through an arbitrary protocol"). The ML-KEM-1024 exchange over mutual TLS
// (design/peer-protocol.md, peer/client.ts) implements it.

import type { KeyId } from '../skip/key-id.js';
import type { ResolvedRemote } from '../skip/remote-ids.js';

export interface KeyAgreement {
  /**
   * Agrees `bytes` bytes of key under `keyId` with `remote`, resolving only once the peer has
   * stored it. The caller owns the returned buffer and wipes it. Rejects with PeerUnreachableError
   * (no answer: 503), PeerBusyError (full for now: 503 with Retry-After) or PeerRefusedError (any
   * other answer: 502); then no key exists.
   */
  agree(remote: ResolvedRemote, keyId: KeyId, bytes: number): Promise<Buffer>;
  close(): void;
}

export class PeerUnreachableError extends Error {
  constructor(
    readonly peer: string,
    reason: string,
  ) {
    super(`peer KP "${peer}" unreachable: ${reason}`);
    this.name = 'PeerUnreachableError';
  }
}

export class PeerRefusedError extends Error {
  constructor(
    readonly peer: string,
    reason: string,
  ) {
    super(`peer KP "${peer}" refused the key: ${reason}`);
    this.name = 'PeerRefusedError';
  }
}

/** The peer, or our queue towards it, is full for now: answer 503 with Retry-After. */
export class PeerBusyError extends Error {
  constructor(
    readonly peer: string,
    readonly reason: string,
    readonly retryAfterS: number,
  ) {
    super(`peer KP "${peer}" is busy: ${reason}`);
    this.name = 'PeerBusyError';
  }
}
