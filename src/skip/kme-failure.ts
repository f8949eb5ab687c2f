// What the router hears when the KME gave no usable key (etsi014 and hybrid key sources).

import { HttpError } from '../errors.js';
import type { KeyId } from '../ids/key-id.js';
import { KmeError } from '../kme/errors.js';
import type { KmeClient } from '../kme/client.js';
import type { ResolvedRemote } from '../config/remote-ids.js';
import type { SkipDeps } from './deps.js';

/** Seconds a router is told to wait when the KME is unavailable. */
export const KME_RETRY_S = 5;

/**
 * Unavailable: 503 + Retry-After. Not found at dec_keys: 400. This KP refused by the KME, or TLS
 * with it failing: 500 and an error line naming the KME, the SAE ID and the reason. A malformed
 * answer: refused and logged, 502. A size the KME cannot deliver: 400 naming what it can.
 */
export async function kmeFailure(
  deps: SkipDeps,
  kme: KmeClient,
  remote: ResolvedRemote,
  e: unknown,
  at: { keyId?: KeyId; bits?: number },
): Promise<unknown> {
  if (!(e instanceof KmeError)) return e;
  const who = { kme: kme.name, saeId: remote.saeId, remote: remote.id, ...at };
  switch (e.failure) {
    case 'unavailable':
      deps.log.warn('kme unavailable', { ...who, reason: e.reason });
      return new HttpError(
        503,
        `the QKD key manager for "${remote.id}" cannot deliver a key now; retry in ${KME_RETRY_S} s`,
        { 'Retry-After': String(KME_RETRY_S) },
      );
    case 'not_found':
      return new HttpError(400, 'key not found: unknown keyId, or already taken or expired');
    case 'unauthorized':
    case 'tls':
      deps.log.error('kme refused this key provider', { ...who, failure: e.failure, reason: e.reason });
      return new HttpError(
        500,
        `this Key Provider cannot use its QKD key manager for "${remote.id}" (its log says why)`,
      );
    case 'malformed':
      deps.log.error('kme answer refused', { ...who, reason: e.reason });
      return new HttpError(502, `the QKD key manager for "${remote.id}" gave an unusable answer; no key`);
    case 'size': {
      const sizes = await supportedSizes(kme, remote);
      const bits = at.bits ?? 0;
      if (sizes === undefined || bits < sizes.min || bits > sizes.max || bits % 8 !== 0) {
        const can = sizes ? `; it delivers ${sizes.text}` : ` (${e.reason})`;
        return new HttpError(
          400,
          `"size" ${bits} bits: the QKD key manager for "${remote.id}" cannot deliver it${can}`,
        );
      }
      // The size is one it delivers: the KME refused for another reason.
      deps.log.warn('kme refused the request', { ...who, reason: e.reason });
      return new HttpError(502, `the QKD key manager for "${remote.id}" refused the request`);
    }
    case 'refused':
      deps.log.warn('kme refused the request', { ...who, reason: e.reason });
      return new HttpError(502, `the QKD key manager for "${remote.id}" refused the request`);
  }
}

async function supportedSizes(
  kme: KmeClient,
  remote: ResolvedRemote,
): Promise<{ min: number; max: number; text: string } | undefined> {
  try {
    const s = await kme.status(remote.saeId);
    const text =
      s.minKeySize === s.maxKeySize
        ? `${s.minKeySize} bits only`
        : `${s.minKeySize} to ${s.maxKeySize} bits in multiples of 8 (default ${s.keySize})`;
    return { min: s.minKeySize, max: s.maxKeySize, text };
  } catch {
    return undefined;
  }
}
