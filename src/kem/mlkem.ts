// ML-KEM-1024 (FIPS 203). Two backends behind one interface; this module alone chooses:
//   native: node:crypto encapsulate/decapsulate (Node >= 24.7 with OpenSSL >= 3.5), ~15x faster;
//   noble:  @noble/post-quantum, pure JS, for Node 20/22 and builds without ML-KEM.
// Keys are held as raw FIPS 203 encodings (ek 1568 bytes, dk 3168 bytes, seed d||z 64 bytes).
// A private key is used in the form it was read (seed, expanded, or both, checked to agree):
// the native backend never relies on which PKCS#8 form the runtime exports (Node 24 exports
// seed+expanded, Node 26 seed only), and takes ek from the runtime's own public key object.

import * as nodeCrypto from 'node:crypto';
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { MLKEM1024, pkcs8Der, spkiDer } from './pem.js';

export type BackendName = 'native' | 'noble';

export interface Encapsulation {
  ciphertext: Buffer;
  /** 32 bytes; the caller wipes it. */
  sharedSecret: Buffer;
}

/** An encapsulation key, checked and prepared once, for many encapsulations. */
export interface PreparedPublic {
  readonly ek: Buffer;
  encapsulate(): Encapsulation;
}

/** A decapsulation key, checked and prepared once. */
export interface PreparedPrivate {
  readonly ek: Buffer;
  /** ML-KEM.Decaps (FIPS 203 Alg. 21): never fails on a well-sized ciphertext (implicit rejection). */
  decapsulate(ciphertext: Uint8Array): Buffer;
  wipe(): void;
}

/** A private key as a file holds it: the seed d || z, the expanded dk, or both. */
export interface PrivateKeyParts {
  seed?: Uint8Array | undefined;
  expanded?: Uint8Array | undefined;
}

/** The seed and the expanded key of one private key do not belong together. */
export class KeyMismatchError extends Error {}

export interface KemBackend {
  readonly name: BackendName;
  /** The encapsulation key of ML-KEM.KeyGen_internal(d, z) (FIPS 203 Alg. 16), seed = d || z. */
  publicFromSeed(seed: Uint8Array): Buffer;
  preparePublic(ek: Uint8Array): PreparedPublic;
  /** A decapsulation key from a seed, an expanded key, or both; with both, a KeyMismatchError
   * unless they are one key. The caller keeps and wipes `key`'s buffers. */
  preparePrivate(key: PrivateKeyParts): PreparedPrivate;
}

/** The part of node:crypto that Node >= 24.7 adds (absent from @types/node 20). */
interface NativeKem {
  encapsulate(key: KeyObject): { sharedKey: Buffer; ciphertext: Buffer };
  decapsulate(key: KeyObject, ciphertext: Uint8Array): Buffer;
}

export const noble: KemBackend & {
  /** Both halves of ML-KEM.KeyGen_internal(d, z); the caller wipes dk. */
  keygen(seed: Uint8Array): { ek: Buffer; dk: Buffer };
} = {
  name: 'noble',
  keygen(seed) {
    const copy = Uint8Array.from(seed);
    const { publicKey, secretKey } = ml_kem1024.keygen(copy);
    const out = { ek: Buffer.from(publicKey), dk: Buffer.from(secretKey) };
    secretKey.fill(0);
    copy.fill(0);
    return out;
  },
  publicFromSeed(seed) {
    const { ek, dk } = noble.keygen(seed);
    dk.fill(0);
    return ek;
  },
  preparePublic(ek) {
    const key = Buffer.from(ek);
    const prepared = ml_kem1024.prepare(key);
    return {
      ek: key,
      encapsulate() {
        const { cipherText, sharedSecret } = prepared.encapsulate();
        const out = { ciphertext: Buffer.from(cipherText), sharedSecret: Buffer.from(sharedSecret) };
        sharedSecret.fill(0);
        return out;
      },
    };
  },
  preparePrivate({ seed, expanded }) {
    let key: Uint8Array;
    if (seed) {
      key = noble.keygen(seed).dk;
      if (expanded && !timingSafeEqual(key, expanded)) {
        key.fill(0);
        throw new KeyMismatchError('the seed and the expanded key do not belong together');
      }
    } else if (expanded) key = Uint8Array.from(expanded);
    else throw new Error('no private key given');
    return {
      ek: Buffer.from(ekOf(key)),
      decapsulate(ct) {
        const ss = ml_kem1024.decapsulate(ct, key);
        const out = Buffer.from(ss);
        ss.fill(0);
        return out;
      },
      wipe: () => void key.fill(0),
    };
  },
};

function nativeApi(): NativeKem | undefined {
  const api = nodeCrypto as unknown as Partial<NativeKem>;
  if (typeof api.encapsulate !== 'function' || typeof api.decapsulate !== 'function') return undefined;
  try {
    nodeCrypto.generateKeyPairSync('ml-kem-1024' as 'x25519');
    return api as NativeKem;
  } catch {
    return undefined;
  }
}

function makeNative(api: NativeKem): KemBackend {
  const privateKeyObject = (key: PrivateKeyParts, form: 'seed' | 'expanded'): KeyObject => {
    const der = pkcs8Der(key, form);
    try {
      return nodeCrypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  };
  /** ek of a private key object, from the runtime's public key (SPKI: ek is its last bytes). */
  const ekOfKey = (key: KeyObject): Buffer => {
    const spki = nodeCrypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
    return Buffer.from(spki.subarray(spki.length - MLKEM1024.publicKey));
  };
  const prepared = (key: KeyObject, ek: Buffer): PreparedPrivate => ({
    ek,
    decapsulate: (ct) => api.decapsulate(key, ct),
    wipe: () => {},
  });
  const backend: KemBackend = {
    name: 'native',
    publicFromSeed(seed) {
      return ekOfKey(privateKeyObject({ seed }, 'seed'));
    },
    preparePublic(ek) {
      const raw = Buffer.from(ek);
      const key = nodeCrypto.createPublicKey({ key: spkiDer(raw), format: 'der', type: 'spki' });
      return {
        ek: raw,
        encapsulate() {
          const { sharedKey, ciphertext } = api.encapsulate(key);
          return { ciphertext, sharedSecret: sharedKey };
        },
      };
    },
    preparePrivate({ seed, expanded }) {
      if (!seed && !expanded) throw new Error('no private key given');
      const fromExpanded = expanded
        ? prepared(privateKeyObject({ expanded }, 'expanded'), Buffer.from(ekOf(expanded)))
        : undefined;
      if (!seed) return fromExpanded!;
      const key = privateKeyObject({ seed }, 'seed');
      const fromSeed = prepared(key, ekOfKey(key));
      if (fromExpanded && !samePrivateKey(backend, fromSeed, fromExpanded))
        throw new KeyMismatchError('the seed and the expanded key do not belong together');
      return fromSeed;
    },
  };
  return backend;
}

/**
 * Pairwise check of two decapsulation keys: the same ek, the same K for an honest ciphertext
 * (which exercises dkPKE) and for a random one (implicit rejection, which exercises z).
 */
function samePrivateKey(kem: KemBackend, a: PreparedPrivate, b: PreparedPrivate): boolean {
  if (!a.ek.equals(b.ek)) return false;
  const honest = kem.preparePublic(a.ek).encapsulate();
  const random = nodeCrypto.randomBytes(MLKEM1024.ciphertext);
  const secrets = [a.decapsulate(honest.ciphertext), b.decapsulate(honest.ciphertext)];
  secrets.push(a.decapsulate(random), b.decapsulate(random));
  try {
    return timingSafeEqual(secrets[0]!, secrets[1]!) && timingSafeEqual(secrets[2]!, secrets[3]!);
  } finally {
    for (const x of [honest.sharedSecret, ...secrets]) x.fill(0);
  }
}

let nativeBackend: KemBackend | null | undefined;

/** The native backend when this runtime has ML-KEM-1024, else undefined. */
export function native(): KemBackend | undefined {
  if (nativeBackend === undefined) {
    const api = nativeApi();
    nativeBackend = api ? makeNative(api) : null;
  }
  return nativeBackend ?? undefined;
}

/** `auto` picks native when available. Asking for native where there is none is an error. */
export function selectBackend(choice: 'auto' | BackendName = 'auto'): KemBackend {
  if (choice === 'noble') return noble;
  const n = native();
  if (n) return n;
  if (choice === 'native') {
    throw new Error(`native ML-KEM needs Node >= 24.7 with OpenSSL >= 3.5; this is Node ${process.version}`);
  }
  return noble;
}

// FIPS 203 key layout and checks.

const K = 4; // ML-KEM-1024 module rank
const Q = 3329;
const DK_PKE = 384 * K;

/** ek inside dk = dkPKE || ek || H(ek) || z (FIPS 203 Alg. 16, line 3). */
export function ekOf(dk: Uint8Array): Uint8Array {
  return dk.subarray(DK_PKE, DK_PKE + MLKEM1024.publicKey);
}

/** FIPS 203 §7.2 encapsulation key check: every 12-bit coefficient of t-hat is below q. */
export function ekIsValid(ek: Uint8Array): boolean {
  if (ek.length !== MLKEM1024.publicKey) return false;
  for (let i = 0; i < DK_PKE; i += 3) {
    const a = ek[i]! | ((ek[i + 1]! & 0x0f) << 8);
    const b = (ek[i + 1]! >> 4) | (ek[i + 2]! << 4);
    if (a >= Q || b >= Q) return false;
  }
  return true;
}

/** FIPS 203 §7.3 decapsulation key check: the stored H(ek) matches SHA3-256 of the stored ek. */
export function dkIsValid(dk: Uint8Array): boolean {
  if (dk.length !== MLKEM1024.expanded) return false;
  const at = DK_PKE + MLKEM1024.publicKey;
  const h = createHash('sha3-256').update(ekOf(dk)).digest();
  return timingSafeEqual(h, dk.subarray(at, at + 32)) && ekIsValid(ekOf(dk));
}
