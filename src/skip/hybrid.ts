// The hybrid key source's combiner (docs/key-sources.md): the served key is
//   HKDF-SHA-384(IKM = qkd_key || mlkem_key, salt = keyId bytes,
//                info = "skip-server hybrid key v1" || 0x00 || u16(len M) || M || u16(len S) || S,
//                L = key length)
// where M is the system ID of the KP that issued the key (router A's, the master SAE) and S the
// other one's, both UTF-8; u16 big-endian. Both keys have the served length; an attacker must
// learn both to learn the result.

import { hkdfSync } from 'node:crypto';
import type { KeyId } from '../ids/key-id.js';

export const HYBRID_LABEL = 'skip-server hybrid key v1';

function lengthPrefixed(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(2);
  n.writeUInt16BE(b.length);
  return Buffer.concat([n, b]);
}

/** The served key from the QKD key and the ML-KEM key of the same length; the inputs are not wiped. */
export function hybridKey(qkd: Buffer, mlkem: Buffer, keyId: KeyId, master: string, slave: string): Buffer {
  if (qkd.length !== mlkem.length || qkd.length === 0)
    throw new Error(`hybrid inputs differ in length (${qkd.length} and ${mlkem.length} bytes)`);
  const ikm = Buffer.concat([qkd, mlkem]);
  const info = Buffer.concat([
    Buffer.from(HYBRID_LABEL, 'ascii'),
    Buffer.from([0]),
    lengthPrefixed(master),
    lengthPrefixed(slave),
  ]);
  try {
    return Buffer.from(hkdfSync('sha384', ikm, Buffer.from(keyId, 'hex'), info, qkd.length));
  } finally {
    ikm.fill(0);
  }
}
