// The TLS 1.3 key schedule (RFC 8446 §7.1) for one hash, on node:crypto HMAC: HKDF-Extract,
// HKDF-Expand-Label, Derive-Secret, the binder key, traffic secrets, finished keys, and the
// traffic key and IV of a secret (§7.3). SHA-384 for the engine; SHA-256 for RFC 8448's traces.

import { createHash, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

export type Hash = 'sha256' | 'sha384';
export const HASH_LEN: Record<Hash, number> = { sha256: 32, sha384: 48 };

/** HMAC with `key` imported as a KeyObject: node:crypto on Node 24 spends ~18 us re-importing a
 * Buffer key in each createHmac, a KeyObject ~1 us. Either way OpenSSL holds a copy of the key
 * until the object is collected (docs/tls13-engine.md, "Key material"). */
export function hmac(hash: Hash, key: Buffer, ...data: Buffer[]): Buffer {
  const h = createHmac(hash, createSecretKey(key));
  for (const d of data) h.update(d);
  return h.digest();
}

export function digest(hash: Hash, ...data: Buffer[]): Buffer {
  const h = createHash(hash);
  for (const d of data) h.update(d);
  return h.digest();
}

export function hkdfExtract(hash: Hash, salt: Buffer, ikm: Buffer): Buffer {
  return hmac(hash, salt.length > 0 ? salt : Buffer.alloc(HASH_LEN[hash]), ikm);
}

/** HKDF-Expand (RFC 5869) of `length` bytes. */
export function hkdfExpand(hash: Hash, prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let prev: Buffer = Buffer.alloc(0);
  for (let i = 1, got = 0; got < length; i++) {
    prev = hmac(hash, prk, prev, info, Buffer.from([i]));
    blocks.push(prev);
    got += prev.length;
  }
  const out = Buffer.concat(blocks);
  const result = Buffer.from(out.subarray(0, length));
  out.fill(0);
  return result;
}

export function expandLabel(
  hash: Hash,
  secret: Buffer,
  label: string,
  context: Buffer,
  length: number,
): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, full.length]),
    full,
    Buffer.from([context.length]),
    context,
  ]);
  return hkdfExpand(hash, secret, info, length);
}

/** Derive-Secret(secret, label, messages) with the transcript hash already taken. */
export function deriveSecret(hash: Hash, secret: Buffer, label: string, transcriptHash: Buffer): Buffer {
  return expandLabel(hash, secret, label, transcriptHash, HASH_LEN[hash]);
}

export function emptyHash(hash: Hash): Buffer {
  return digest(hash);
}

/** Early secret from an external PSK; its binder key ("ext binder"). */
export function earlySecret(hash: Hash, psk: Buffer): Buffer {
  return hkdfExtract(hash, Buffer.alloc(HASH_LEN[hash]), psk);
}

export function binderKey(hash: Hash, early: Buffer, external = true): Buffer {
  return deriveSecret(hash, early, external ? 'ext binder' : 'res binder', emptyHash(hash));
}

export function finishedKey(hash: Hash, baseKey: Buffer): Buffer {
  return expandLabel(hash, baseKey, 'finished', Buffer.alloc(0), HASH_LEN[hash]);
}

/** verify_data of a Finished message (or a PSK binder) over a transcript hash. */
export function finishedMac(hash: Hash, baseKey: Buffer, transcriptHash: Buffer): Buffer {
  const key = finishedKey(hash, baseKey);
  try {
    return hmac(hash, key, transcriptHash);
  } finally {
    key.fill(0);
  }
}

/** Constant-time comparison of MACs of possibly different lengths. */
export function macEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Handshake secret from the early secret and the (EC)DHE shared secret (zeros for psk_ke). */
export function handshakeSecret(hash: Hash, early: Buffer, shared: Buffer | undefined): Buffer {
  const salt = deriveSecret(hash, early, 'derived', emptyHash(hash));
  try {
    return hkdfExtract(hash, salt, shared ?? Buffer.alloc(HASH_LEN[hash]));
  } finally {
    salt.fill(0);
  }
}

export function masterSecret(hash: Hash, handshake: Buffer): Buffer {
  const salt = deriveSecret(hash, handshake, 'derived', emptyHash(hash));
  try {
    return hkdfExtract(hash, salt, Buffer.alloc(HASH_LEN[hash]));
  } finally {
    salt.fill(0);
  }
}

/** The AEAD key and IV of a traffic secret (§7.3); AES-256-GCM: 32 + 12 bytes. */
export function trafficKeys(hash: Hash, secret: Buffer, keyLength: number): { key: Buffer; iv: Buffer } {
  return {
    key: expandLabel(hash, secret, 'key', Buffer.alloc(0), keyLength),
    iv: expandLabel(hash, secret, 'iv', Buffer.alloc(0), 12),
  };
}

/** The next application traffic secret after a KeyUpdate (§7.2). */
export function nextTrafficSecret(hash: Hash, secret: Buffer): Buffer {
  return expandLabel(hash, secret, 'traffic upd', Buffer.alloc(0), HASH_LEN[hash]);
}

/** A running transcript hash: messages are added, and the hash so far is read any time. */
export class Transcript {
  private h;
  constructor(private readonly hash: Hash) {
    this.h = createHash(hash);
  }
  add(...messages: Buffer[]): void {
    for (const m of messages) this.h.update(m);
  }
  /** Hash of everything added so far (the running hash goes on). */
  current(): Buffer {
    return this.h.copy().digest();
  }
  /** Hash of everything added so far plus `extra`, without adding it. */
  with(extra: Buffer): Buffer {
    return this.h.copy().update(extra).digest();
  }
  /** After a HelloRetryRequest: ClientHello1 is replaced by message_hash(Hash(ClientHello1)) (§4.4.1). */
  static afterRetry(hash: Hash, clientHello1: Buffer): Transcript {
    const t = new Transcript(hash);
    const h = digest(hash, clientHello1);
    t.add(Buffer.from([254, 0, 0, h.length]), h);
    return t;
  }
}

/** Both directions' traffic secrets of one stage. */
export interface TrafficSecrets {
  client: Buffer;
  server: Buffer;
}

/**
 * The secrets of one connection in their order (§7.1): early (from the external PSK), handshake
 * (with the (EC)DHE shared secret, or zeros for psk_ke), master. Each step wipes the secret it
 * replaces; wipe() wipes the one held. The traffic secrets handed out are the caller's to wipe.
 */
export class KeySchedule {
  private secret: Buffer;
  private stage: 'early' | 'handshake' | 'master' = 'early';

  constructor(
    private readonly hash: Hash,
    psk: Buffer,
  ) {
    this.secret = earlySecret(hash, psk);
  }

  private expect(stage: KeySchedule['stage']): void {
    if (this.stage !== stage) throw new Error(`key schedule at ${this.stage}, not ${stage}`);
  }

  /** The external PSK's binder key (§4.2.11.2). */
  binderKey(): Buffer {
    this.expect('early');
    return binderKey(this.hash, this.secret);
  }

  /** To the handshake secret; the handshake traffic secrets over ClientHello..ServerHello. */
  handshake(shared: Buffer | undefined, transcriptHash: Buffer): TrafficSecrets {
    this.expect('early');
    const hs = handshakeSecret(this.hash, this.secret, shared);
    this.secret.fill(0);
    this.secret = hs;
    this.stage = 'handshake';
    return {
      client: deriveSecret(this.hash, hs, 'c hs traffic', transcriptHash),
      server: deriveSecret(this.hash, hs, 's hs traffic', transcriptHash),
    };
  }

  /** To the master secret; the application traffic secrets over ClientHello..server Finished. */
  application(transcriptHash: Buffer): TrafficSecrets {
    this.expect('handshake');
    const master = masterSecret(this.hash, this.secret);
    this.secret.fill(0);
    this.secret = master;
    this.stage = 'master';
    return {
      client: deriveSecret(this.hash, master, 'c ap traffic', transcriptHash),
      server: deriveSecret(this.hash, master, 's ap traffic', transcriptHash),
    };
  }

  /** The exporter master secret (same transcript as application()). */
  exporter(transcriptHash: Buffer): Buffer {
    this.expect('master');
    return deriveSecret(this.hash, this.secret, 'exp master', transcriptHash);
  }

  wipe(): void {
    this.secret.fill(0);
  }
}
