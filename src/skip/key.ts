// GET /key?remoteSystemID=B[&size=N] and GET /key/{keyId}?remoteSystemID=A,
// draft-cisco-skip-02 §4.2 (status codes: Table 7).

import { KEY_BITS } from '../config/load.js';
import { HttpError, errorMessage } from '../errors.js';
import { parseDecimal, parseQuery, type Query } from '../http/query.js';
import type { Reply } from '../http/respond.js';
import type { SkipRequest } from '../http/routes.js';
import { clip } from '../log.js';
import { STORE_RETRY_S, StoreUnavailableError } from '../keystore/types.js';
import type { SkipDeps } from './deps.js';
import { parseKeyId } from '../ids/key-id.js';
import { collectKey, issueKey } from './key-source.js';
import type { ResolvedRemote } from '../config/remote-ids.js';
import { parseSystemId } from '../ids/system-id.js';

const SIZE_RULE = `${KEY_BITS.min} to ${KEY_BITS.max} bits in multiples of 8`;

function remoteFrom(deps: SkipDeps, q: Query): ResolvedRemote {
  const raw = q.get('remoteSystemID');
  if (raw === undefined || raw === '') throw new HttpError(400, 'missing query parameter "remoteSystemID"');
  const id = parseSystemId(raw);
  const remote = id && deps.remotes.resolve(id);
  if (!remote) {
    throw new HttpError(
      400,
      `unknown remoteSystemID "${clip(raw, 64)}"; GET /capabilities lists the known ones`,
    );
  }
  return remote;
}

/** §4.2, methods 2 and 3 of Table 2: a fresh (keyId, key) agreed with the peer KP. */
export async function newKey(deps: SkipDeps, req: SkipRequest): Promise<Reply> {
  const q = parseQuery(req.query, ['remoteSystemID', 'size'], 'GET /key');
  const remote = remoteFrom(deps, q);
  const rawSize = q.get('size');
  const bits =
    rawSize === undefined ? deps.config.default_key_size_bits : parseDecimal(rawSize, 'size', SIZE_RULE);
  if (bits < KEY_BITS.min || bits > KEY_BITS.max || bits % 8 !== 0)
    throw new HttpError(400, `"size" must be ${SIZE_RULE}`);

  const identity = req.identity ?? '';
  const quota = deps.quota?.reserve(identity, remote.id);
  if (quota && !quota.ok) {
    deps.metrics.identityQuotaRefused.inc({ identity });
    if (quota.first) {
      deps.log.warn('key refused: identity quota reached', {
        identity: clip(identity, 128),
        remote: remote.id,
        max: deps.config.max_held_keys_per_identity,
        retryAfterS: quota.retryAfterS,
      });
    }
    throw new HttpError(
      503,
      `this client (identity "${clip(identity, 64)}") has ${quota.held} keys for "${remote.id}" that may still ` +
        `be waiting to be collected (max_held_keys_per_identity); retry in ${quota.retryAfterS} s`,
      { 'Retry-After': String(quota.retryAfterS) },
    );
  }
  let issued;
  try {
    issued = await issueKey(deps, remote, bits);
  } catch (e) {
    if (quota) quota.cancel();
    throw e;
  }
  const { keyId, key } = issued;
  try {
    deps.metrics.keysIssued.inc();
    return {
      status: 200,
      body: { keyId, key: key.toString('hex') },
      noStore: true,
      logFields: { key: 'issued', keyId, remote: remote.id, bits, source: remote.keySource },
    };
  } finally {
    key.fill(0);
  }
}

/** §4.2, method 4 of Table 2: the key a peer agreed under keyId, handed out once then wiped. */
export async function getKey(deps: SkipDeps, req: SkipRequest): Promise<Reply> {
  const parsed = parseKeyId(req.keyIdSegment ?? '');
  const q = parseQuery(req.query, ['remoteSystemID'], 'GET /key/{keyId}');
  if (!parsed.ok) throw new HttpError(400, `malformed keyId: ${parsed.problem}`);
  const keyId = parsed.keyId;
  const remote = remoteFrom(deps, q);
  let result;
  try {
    result = await collectKey(deps, remote, keyId);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    if (e instanceof StoreUnavailableError) {
      deps.log.warn('keystore unavailable', { during: 'take', keyId, remote: remote.id, error: e.code });
      throw new HttpError(503, `${e.message}; the key is still held: retry in ${STORE_RETRY_S} s`, {
        'Retry-After': String(STORE_RETRY_S),
      });
    }
    deps.log.error('keystore take failed', { keyId, remote: remote.id, error: errorMessage(e) });
    throw new HttpError(500, 'internal error while reading or zeroizing the key');
  }
  if (result.kind === 'not-found')
    throw new HttpError(400, 'key not found: unknown keyId, or already taken or expired');
  if (result.kind === 'wrong-remote') {
    throw new HttpError(
      400,
      `keyId is not bound to remoteSystemID "${remote.id}"; ask with the ID of the KP that agreed it`,
    );
  }
  try {
    deps.metrics.keysDelivered.inc();
    return {
      status: 200,
      body: { keyId, key: result.key.toString('hex') },
      noStore: true,
      logFields: { key: 'delivered', keyId, remote: remote.id, source: remote.keySource },
    };
  } finally {
    result.key.fill(0);
  }
}
