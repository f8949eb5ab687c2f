// How GET /key obtains a key that the peer KP also holds (draft §2 step 2: "synchronizes the key
// and keyId with KP Bob through an arbitrary protocol"). The ML-KEM-1024 exchange over mutual TLS
// (docs/peer-protocol.md, peer/client.ts) implements it.

import type { KeyId } from '../ids/key-id.js';
import type { ResolvedRemote } from '../config/remote-ids.js';

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

/** A file of this KP's own for the peer link is unusable (its certificate is out of its validity
 * period, its copy of the peer's public key does not load): 500, and the log names the file. */
export class LocalPeerLinkError extends Error {
  constructor(
    readonly peer: string,
    readonly file: string,
    readonly problem: string,
  ) {
    super(`peer link to "${peer}" broken here: ${file}: ${problem}`);
    this.name = 'LocalPeerLinkError';
  }
}

/** The peer's TLS refused this KP's certificate (it sent an alert about it): 502. */
export class PeerCertificateRefusedError extends Error {
  constructor(
    readonly peer: string,
    reason: string,
  ) {
    super(`peer KP "${peer}" refused this KP's certificate: ${reason}`);
    this.name = 'PeerCertificateRefusedError';
  }
}

/** TLS with the peer failed otherwise (its certificate refused here, no common suite): 502. */
export class PeerTlsError extends Error {
  constructor(
    readonly peer: string,
    reason: string,
  ) {
    super(`TLS with peer KP "${peer}" failed: ${reason}`);
    this.name = 'PeerTlsError';
  }
}
