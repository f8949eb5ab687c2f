// The keyId of a QKD key is the KME's key_ID, a UUID, as 32 lowercase hex digits: the hyphens
// dropped, so either KP rebuilds the UUID from the keyId alone, with no table.

import type { KeyId } from '../ids/key-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);

/** The keyId for a key_ID: lowercase, without hyphens. */
export function keyIdOfUuid(uuid: string): KeyId {
  if (!isUuid(uuid)) throw new Error('not a UUID');
  return uuid.replaceAll('-', '').toLowerCase() as KeyId;
}

/** The key_ID a keyId stands for; undefined when the keyId is not 32 hex digits. */
export function uuidOfKeyId(keyId: string): string | undefined {
  if (!/^[0-9a-f]{32}$/.test(keyId)) return undefined;
  const h = keyId;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
