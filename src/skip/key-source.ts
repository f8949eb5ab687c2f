// Where a key shared with a remote system comes from, by its key_source (docs/key-sources.md):
// mlkem: the ML-KEM-1024 exchange with the peer KP, held in the keystore until router B takes it;
// etsi014: the QKD network's KMEs (enc_keys here, dec_keys at the peer's KP), nothing held here;
// hybrid: both, combined (hybrid.ts). Either source failing means no key.

import { HttpError } from '../errors.js';
import { newKeyId, type KeyId } from '../ids/key-id.js';
import { KEY_BITS } from '../config/load.js';
import type { ResolvedRemote } from '../config/remote-ids.js';
import { STORE_RETRY_S, StoreUnavailableError, type TakeResult } from '../keystore/types.js';
import type { KmeClient } from '../kme/client.js';
import { keyIdOfUuid, uuidOfKeyId } from '../kme/uuid.js';
import { agreementFailure } from './agreement-failure.js';
import type { SkipDeps } from './deps.js';
import { hybridKey } from './hybrid.js';
import { kmeFailure } from './kme-failure.js';

/** Any key length SKIP serves: what a dec_keys answer may have (the size was router A's). */
const SKIP_BYTES = { min: KEY_BITS.min / 8, max: KEY_BITS.max / 8 };

function kmeOf(deps: SkipDeps, remote: ResolvedRemote): KmeClient {
  if (!deps.kme) throw new HttpError(500, `no KME is configured for "${remote.id}"`);
  return deps.kme;
}

/** GET /key: a new key and its keyId; the caller owns and wipes the key. */
export async function issueKey(
  deps: SkipDeps,
  remote: ResolvedRemote,
  bits: number,
): Promise<{ keyId: KeyId; key: Buffer }> {
  if (remote.keySource === 'mlkem') {
    const keyId = newKeyId(deps.rng);
    try {
      return { keyId, key: await deps.agreement.agree(remote, keyId, bits / 8) };
    } catch (e) {
      throw agreementFailure(deps, remote, keyId, e);
    }
  }
  const kme = kmeOf(deps, remote);
  let qkd;
  try {
    qkd = await kme.encKey(remote.saeId, bits);
  } catch (e) {
    throw await kmeFailure(deps, kme, remote, e, { bits });
  }
  const keyId = keyIdOfUuid(qkd.uuid);
  if (remote.keySource === 'etsi014') return { keyId, key: qkd.key };
  let pq: Buffer;
  try {
    pq = await deps.agreement.agree(remote, keyId, bits / 8);
  } catch (e) {
    qkd.key.fill(0);
    throw agreementFailure(deps, remote, keyId, e);
  }
  try {
    return { keyId, key: hybridKey(qkd.key, pq, keyId, deps.config.localSystemID, remote.id) };
  } finally {
    qkd.key.fill(0);
    pq.fill(0);
  }
}

/**
 * GET /key/{keyId}: the key issued at `remote` under keyId, once. mlkem: the keystore's take.
 * etsi014: dec_keys, then its delivery recorded in the spent log (a KME that answers twice is
 * not served twice). hybrid: dec_keys, then the keystore's take of the ML-KEM key.
 */
export async function collectKey(deps: SkipDeps, remote: ResolvedRemote, keyId: KeyId): Promise<TakeResult> {
  if (remote.keySource === 'mlkem') return deps.store.take(keyId, remote.id);
  const uuid = uuidOfKeyId(keyId);
  if (uuid === undefined) return { kind: 'not-found' };
  const kme = kmeOf(deps, remote);
  const record = deps.store.recordDelivered?.bind(deps.store);
  if (remote.keySource === 'etsi014' && !record)
    throw new HttpError(500, 'this keystore cannot record deliveries of QKD keys');
  let qkd;
  try {
    qkd = await kme.decKey(remote.saeId, uuid, SKIP_BYTES);
  } catch (e) {
    throw await kmeFailure(deps, kme, remote, e, { keyId });
  }
  if (remote.keySource === 'etsi014') {
    let recorded;
    try {
      recorded = await record!(keyId);
    } catch (e) {
      qkd.key.fill(0);
      // Unlike a held key, this one left the KME at dec_keys: a retry finds it only at a KME
      // that keeps keys. The answer says so rather than "still held".
      if (e instanceof StoreUnavailableError)
        throw new HttpError(
          503,
          `${e.message}; this KP could not record the delivery, and the KME may have removed the key: retry in ${STORE_RETRY_S} s`,
          { 'Retry-After': String(STORE_RETRY_S) },
        );
      throw e;
    }
    if (recorded === 'spent') {
      qkd.key.fill(0);
      deps.log.warn('kme served a key again', {
        kme: kme.name,
        saeId: remote.saeId,
        remote: remote.id,
        keyId,
        note: 'the spent log refused it; the KME keeps keys after dec_keys',
      });
      return { kind: 'not-found' };
    }
    return { kind: 'ok', key: qkd.key };
  }
  let pq: TakeResult;
  try {
    pq = await deps.store.take(keyId, remote.id);
  } catch (e) {
    qkd.key.fill(0);
    throw e;
  }
  if (pq.kind !== 'ok') {
    qkd.key.fill(0);
    return pq;
  }
  try {
    if (pq.key.length !== qkd.key.length) {
      deps.log.error('kme answer refused', {
        kme: kme.name,
        saeId: remote.saeId,
        remote: remote.id,
        keyId,
        reason: `QKD key of ${qkd.key.length * 8} bits, ML-KEM key of ${pq.key.length * 8}`,
      });
      throw new HttpError(502, `the QKD key manager for "${remote.id}" gave an unusable answer; no key`);
    }
    return { kind: 'ok', key: hybridKey(qkd.key, pq.key, keyId, remote.id, deps.config.localSystemID) };
  } finally {
    qkd.key.fill(0);
    pq.key.fill(0);
  }
}
