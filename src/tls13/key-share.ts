// The server's half of an (EC)DHE key exchange for each group this engine takes (RFC 8446
// §4.2.8, §7.4): x25519, secp256r1, secp384r1 on node:crypto, and the hybrid X25519MLKEM768
// (draft-ietf-tls-ecdhe-mlkem: ML-KEM-768, then x25519). ML-KEM-768 is Node's own where the
// runtime has it (Node >= 24.7 with OpenSSL 3.5), else @noble/post-quantum. A share that is not
// a valid point or key is refused with illegal_parameter.

import * as nodeCrypto from 'node:crypto';
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { TAG, encode } from '../kem/der.js';
import { ALERT, GROUP } from './constants.js';
import { AlertError } from './record.js';

/** Server preference, best first: the hybrid (post-quantum) group, then the classical ones. */
export const SERVER_GROUPS: readonly number[] = [
  GROUP.x25519mlkem768,
  GROUP.x25519,
  GROUP.secp256r1,
  GROUP.secp384r1,
];

export const GROUP_NAMES: Record<number, string> = {
  [GROUP.x25519mlkem768]: 'X25519MLKEM768',
  [GROUP.x25519]: 'x25519',
  [GROUP.secp256r1]: 'secp256r1',
  [GROUP.secp384r1]: 'secp384r1',
};

const MLKEM768_EK = 1184;
const MLKEM768_CT = 1088;

/** DER of OID 2.16.840.1.101.3.4.4.2 (id-alg-ml-kem-768). */
const OID_MLKEM768 = Buffer.from('608648016503040402', 'hex');

type Encapsulate = (ek: Buffer) => { cipherText: Uint8Array; sharedSecret: Uint8Array };

/** Node's ML-KEM-768 encapsulation, or undefined when this runtime has none. */
function nativeEncapsulate(): Encapsulate | undefined {
  const api = nodeCrypto as unknown as {
    encapsulate?: (key: KeyObject) => { sharedKey: Buffer; ciphertext: Buffer };
  };
  if (typeof api.encapsulate !== 'function') return undefined;
  const encapsulate = api.encapsulate;
  try {
    nodeCrypto.generateKeyPairSync('ml-kem-768' as 'x25519');
  } catch {
    return undefined;
  }
  return (ek) => {
    const spki = encode(
      TAG.SEQUENCE,
      encode(TAG.SEQUENCE, encode(TAG.OID, OID_MLKEM768)),
      encode(TAG.BIT_STRING, Buffer.from([0]), ek),
    );
    // The import checks the key as FIPS 203 asks (a bad key throws: illegal_parameter).
    const { sharedKey, ciphertext } = encapsulate(
      createPublicKey({ key: spki, format: 'der', type: 'spki' }),
    );
    return { cipherText: ciphertext, sharedSecret: sharedKey };
  };
}

/** Chosen at the first hybrid handshake, not at start-up: Node's own, else noble's. */
let chosen768: Encapsulate | undefined;
const encapsulate768: Encapsulate = (ek) =>
  (chosen768 ??= nativeEncapsulate() ?? ((key) => ml_kem768.encapsulate(key)))(ek);

export interface ServerShare {
  /** key_exchange of the server's KeyShareEntry. */
  share: Buffer;
  /** The shared secret fed to the key schedule (wiped by the caller). */
  shared: Buffer;
}

const bad = (group: number, why: string): AlertError =>
  new AlertError(ALERT.illegalParameter, `${GROUP_NAMES[group] ?? group} key share ${why}`);

function x25519(client: Buffer): ServerShare {
  if (client.length !== 32) throw bad(GROUP.x25519, `of ${client.length} bytes, not 32`);
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const peer = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: client.toString('base64url') },
    format: 'jwk',
  });
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: peer });
  } catch {
    // OpenSSL refuses a low-order point ("failed during derivation") before the zero check below.
    throw bad(GROUP.x25519, 'is a low-order point');
  }
  if (shared.every((b) => b === 0)) throw bad(GROUP.x25519, 'gives an all-zero secret');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { share: Buffer.from(x, 'base64url'), shared };
}

function ecdh(group: number, curve: string, pointLength: number, client: Buffer): ServerShare {
  if (client.length !== pointLength || client[0] !== 4)
    throw bad(group, 'is not an uncompressed point of the right length');
  const e = createECDH(curve);
  const share = e.generateKeys();
  try {
    return { share, shared: e.computeSecret(client) };
  } catch {
    throw bad(group, 'is not a point on the curve');
  }
}

function hybrid(client: Buffer): ServerShare {
  if (client.length !== MLKEM768_EK + 32)
    throw bad(GROUP.x25519mlkem768, `of ${client.length} bytes, not ${MLKEM768_EK + 32}`);
  let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    enc = encapsulate768(Buffer.from(client.subarray(0, MLKEM768_EK)));
  } catch {
    throw bad(GROUP.x25519mlkem768, 'holds an invalid ML-KEM-768 key');
  }
  const ec = x25519(client.subarray(MLKEM768_EK));
  const share = Buffer.concat([enc.cipherText, ec.share]);
  if (share.length !== MLKEM768_CT + 32) throw new Error('ML-KEM-768 ciphertext of the wrong length');
  const shared = Buffer.concat([enc.sharedSecret, ec.shared]);
  enc.sharedSecret.fill(0);
  ec.shared.fill(0);
  return { share, shared };
}

/** The server's share and the shared secret for `group` against the client's share. */
export function serverShare(group: number, client: Buffer): ServerShare {
  switch (group) {
    case GROUP.x25519:
      return x25519(client);
    case GROUP.secp256r1:
      return ecdh(group, 'prime256v1', 65, client);
    case GROUP.secp384r1:
      return ecdh(group, 'secp384r1', 97, client);
    case GROUP.x25519mlkem768:
      return hybrid(client);
    default:
      throw new Error(`group ${group} is not served`);
  }
}

export interface ClientShare {
  group: number;
  /** key_exchange of the client's KeyShareEntry. */
  share: Buffer;
  /** The shared secret from the server's key_exchange; illegal_parameter if it is not valid. */
  finish(server: Buffer): Buffer;
}

/** A client key share for `group` (the client side of serverShare). */
export function clientShare(group: number): ClientShare {
  switch (group) {
    case GROUP.x25519: {
      const { privateKey, publicKey } = generateKeyPairSync('x25519');
      return {
        group,
        share: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'),
        finish(server) {
          if (server.length !== 32) throw bad(group, `of ${server.length} bytes, not 32`);
          const peer = createPublicKey({
            key: { kty: 'OKP', crv: 'X25519', x: server.toString('base64url') },
            format: 'jwk',
          });
          return diffieHellman({ privateKey, publicKey: peer });
        },
      };
    }
    case GROUP.secp256r1:
    case GROUP.secp384r1: {
      const e = createECDH(group === GROUP.secp256r1 ? 'prime256v1' : 'secp384r1');
      return {
        group,
        share: e.generateKeys(),
        finish(server) {
          try {
            return e.computeSecret(server);
          } catch {
            throw bad(group, 'is not a point on the curve');
          }
        },
      };
    }
    case GROUP.x25519mlkem768: {
      const kem = ml_kem768.keygen();
      const ec = clientShare(GROUP.x25519);
      return {
        group,
        share: Buffer.concat([kem.publicKey, ec.share]),
        finish(server) {
          if (server.length !== MLKEM768_CT + 32) throw bad(group, `of ${server.length} bytes`);
          const ss = ml_kem768.decapsulate(server.subarray(0, MLKEM768_CT), kem.secretKey);
          kem.secretKey.fill(0);
          return Buffer.concat([ss, ec.finish(server.subarray(MLKEM768_CT))]);
        },
      };
    }
    default:
      throw new Error(`group ${group} is not supported`);
  }
}
