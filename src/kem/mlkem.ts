// ML-KEM-1024 (FIPS 203). Two backends behind one interface; this module alone chooses:
//   native: node:crypto encapsulate/decapsulate (Node >= 24.7 with OpenSSL >= 3.5), ~15x faster;
//   noble:  @noble/post-quantum, pure JS, for Node 20/22 and builds without ML-KEM.
// Keys are held as raw FIPS 203 encodings (ek 1568 bytes, dk 3168 bytes, seed d||z 64 bytes).

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

export interface KemBackend {
  readonly name: BackendName;
  /** ML-KEM.KeyGen_internal(d, z) (FIPS 203 Alg. 16) from seed = d || z. */
  keygen(seed: Uint8Array): { ek: Buffer; dk: Buffer };
  preparePublic(ek: Uint8Array): PreparedPublic;
  preparePrivate(dk: Uint8Array): PreparedPrivate;
}

/** The part of node:crypto that Node >= 24.7 adds (absent from @types/node 20). */
interface NativeKem {
  encapsulate(key: KeyObject): { sharedKey: Buffer; ciphertext: Buffer };
  decapsulate(key: KeyObject, ciphertext: Uint8Array): Buffer;
}

export const noble: KemBackend = {
  name: 'noble',
  keygen(seed) {
    const { publicKey, secretKey } = ml_kem1024.keygen(Uint8Array.from(seed));
    return { ek: Buffer.from(publicKey), dk: Buffer.from(secretKey) };
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
  preparePrivate(dk) {
    const key = Uint8Array.from(dk);
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
  const privateKeyObject = (
    key: { seed?: Uint8Array; expanded?: Uint8Array },
    form: 'seed' | 'expanded',
  ): KeyObject => {
    const der = pkcs8Der(key, form);
    try {
      return nodeCrypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  };
  return {
    name: 'native',
    keygen(seed) {
      const priv = privateKeyObject({ seed }, 'seed');
      const both = priv.export({ format: 'der', type: 'pkcs8' });
      try {
        // OpenSSL exports the "both" form: the expanded key is the last 3168 bytes.
        const dk = Buffer.from(both.subarray(both.length - MLKEM1024.expanded));
        return { ek: Buffer.from(ekOf(dk)), dk };
      } finally {
        both.fill(0);
      }
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
    preparePrivate(dk) {
      const key = privateKeyObject({ expanded: dk }, 'expanded');
      return { ek: Buffer.from(ekOf(dk)), decapsulate: (ct) => api.decapsulate(key, ct), wipe: () => {} };
    },
  };
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
