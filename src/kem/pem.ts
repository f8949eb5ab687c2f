// ML-KEM-1024 key files exactly as OpenSSL 3.5 reads and writes them
// (draft-ietf-lamps-kyber-certificates; OID id-alg-ml-kem-1024 2.16.840.1.101.3.4.4.3):
//   public:  -----BEGIN PUBLIC KEY-----  SubjectPublicKeyInfo, BIT STRING = ek (1568 bytes)
//   private: a "PRIVATE KEY" PEM block, PKCS#8 OneAsymmetricKey; privateKey OCTET STRING holds
//     seed [0] IMPLICIT OCTET STRING (64: d||z)           "seed only"
//     expandedKey OCTET STRING (3168: dk, FIPS 203)        "expanded only"
//     both SEQUENCE { seed OCTET STRING, expandedKey }     "both" (OpenSSL 3.5's default)
// This module only encodes and decodes; mlkem.ts checks that the parts agree.

import { decodeBase64, encodeBase64Lines } from './base64.js';
import { DerError, TAG, encode, readAll, readOne } from './der.js';

/** FIPS 203 Table 3, ML-KEM-1024 sizes in bytes. */
export const MLKEM1024 = {
  publicKey: 1568,
  expanded: 3168,
  seed: 64,
  ciphertext: 1568,
  sharedSecret: 32,
} as const;

/** DER of OID 2.16.840.1.101.3.4.4.3 (id-alg-ml-kem-1024). */
const OID_MLKEM1024 = Buffer.from('608648016503040403', 'hex');
const ALG_ID = encode(TAG.SEQUENCE, encode(TAG.OID, OID_MLKEM1024));

export type PrivateForm = 'seed' | 'expanded' | 'both';

export interface DecodedPrivate {
  form: PrivateForm;
  seed?: Buffer;
  expanded?: Buffer;
}

/** A key file is wrong; the message says what, never the key bytes. */
export class KeyFileError extends Error {}

function unarmor(pem: Uint8Array, label: 'PUBLIC KEY' | 'PRIVATE KEY'): Buffer {
  const text = Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength);
  const begin = Buffer.from(`-----BEGIN ${label}-----`);
  const end = Buffer.from(`-----END ${label}-----`);
  const start = text.indexOf(begin);
  const stop = start < 0 ? -1 : text.indexOf(end, start);
  if (start < 0 || stop < 0) {
    const other = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text.subarray(0, 4096).toString('latin1'))?.[1];
    if (other && other !== label) throw new KeyFileError(`expected a "${label}" PEM block, found "${other}"`);
    throw new KeyFileError(
      start < 0 ? `no "${label}" PEM block` : `"${label}" PEM block has no END line (truncated?)`,
    );
  }
  const der = decodeBase64(text.subarray(start + begin.length, stop));
  if (!der || der.length === 0) throw new KeyFileError('PEM body is not valid base64');
  return der;
}

function armor(der: Buffer, label: string): Buffer {
  return Buffer.concat([
    Buffer.from(`-----BEGIN ${label}-----\n`),
    encodeBase64Lines(der),
    Buffer.from(`-----END ${label}-----\n`),
  ]);
}

function checkAlgorithm(algId: Buffer): void {
  const [oid, ...params] = readAll(algId);
  if (!oid || oid.tag !== TAG.OID) throw new KeyFileError('algorithm identifier has no OID');
  if (!oid.value.equals(OID_MLKEM1024)) {
    throw new KeyFileError(
      `not an ML-KEM-1024 key (algorithm OID ${oidText(oid.value)}, expected 2.16.840.1.101.3.4.4.3)`,
    );
  }
  if (params.length > 0) throw new KeyFileError('ML-KEM algorithm identifier must have no parameters');
}

function oidText(oid: Buffer): string {
  if (oid.length === 0) return '(empty)';
  const parts = [Math.floor(oid[0]! / 40), oid[0]! % 40];
  let v = 0;
  for (const b of oid.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function wrapDer<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DerError) throw new KeyFileError(`malformed DER: ${e.message}`);
    throw e;
  }
}

export function decodePublicPem(pem: Uint8Array): Buffer {
  const der = unarmor(pem, 'PUBLIC KEY');
  return wrapDer(() => {
    const [alg, bits, ...rest] = readAll(readOne(der, TAG.SEQUENCE));
    if (!alg || alg.tag !== TAG.SEQUENCE || !bits || bits.tag !== TAG.BIT_STRING || rest.length > 0) {
      throw new KeyFileError('not a SubjectPublicKeyInfo');
    }
    checkAlgorithm(alg.value);
    if (bits.value[0] !== 0) throw new KeyFileError('public key BIT STRING has unused bits');
    const ek = bits.value.subarray(1);
    if (ek.length !== MLKEM1024.publicKey) {
      throw new KeyFileError(`public key is ${ek.length} bytes; ML-KEM-1024 needs ${MLKEM1024.publicKey}`);
    }
    return Buffer.from(ek);
  });
}

/** Decodes a private key file's bytes; the caller wipes `pem`, this wipes its own copies. */
export function decodePrivatePem(pem: Uint8Array): DecodedPrivate {
  const der = unarmor(pem, 'PRIVATE KEY');
  try {
    return wrapDer(() => {
      const [version, alg, key] = readAll(readOne(der, TAG.SEQUENCE));
      if (!version || version.tag !== TAG.INTEGER || version.value.length !== 1 || version.value[0]! > 1) {
        throw new KeyFileError('not a PKCS#8 private key (version)');
      }
      if (!alg || alg.tag !== TAG.SEQUENCE || !key || key.tag !== TAG.OCTET_STRING) {
        throw new KeyFileError('not a PKCS#8 private key');
      }
      checkAlgorithm(alg.value);
      const [inner, ...rest] = readAll(key.value);
      if (!inner || rest.length > 0) throw new KeyFileError('private key holds no single ML-KEM key element');
      const seedOk = (b: Buffer): Buffer => {
        if (b.length !== MLKEM1024.seed)
          throw new KeyFileError(`seed is ${b.length} bytes; needs ${MLKEM1024.seed}`);
        return Buffer.from(b);
      };
      const expandedOk = (b: Buffer): Buffer => {
        if (b.length !== MLKEM1024.expanded) {
          throw new KeyFileError(
            `expanded key is ${b.length} bytes; ML-KEM-1024 needs ${MLKEM1024.expanded}`,
          );
        }
        return Buffer.from(b);
      };
      if (inner.tag === TAG.CTX0) return { form: 'seed', seed: seedOk(inner.value) };
      if (inner.tag === TAG.OCTET_STRING) return { form: 'expanded', expanded: expandedOk(inner.value) };
      if (inner.tag === TAG.SEQUENCE) {
        const [s, x, ...more] = readAll(inner.value);
        if (!s || s.tag !== TAG.OCTET_STRING || !x || x.tag !== TAG.OCTET_STRING || more.length > 0) {
          throw new KeyFileError('"both" form must hold a seed and an expanded key');
        }
        return { form: 'both', seed: seedOk(s.value), expanded: expandedOk(x.value) };
      }
      throw new KeyFileError(`unknown ML-KEM private key form (tag 0x${inner.tag.toString(16)})`);
    });
  } finally {
    der.fill(0);
  }
}

/** SubjectPublicKeyInfo DER of an encapsulation key. */
export function spkiDer(ek: Uint8Array): Buffer {
  return encode(TAG.SEQUENCE, ALG_ID, encode(TAG.BIT_STRING, Buffer.from([0]), Buffer.from(ek)));
}

export function encodePublicPem(ek: Uint8Array): Buffer {
  return armor(spkiDer(ek), 'PUBLIC KEY');
}

/** Encodes a private key; the caller chooses the form (`both` is OpenSSL 3.5's default). */
/** PKCS#8 DER of a private key in the given form; the caller wipes it. */
export function pkcs8Der(key: { seed?: Uint8Array; expanded?: Uint8Array }, form: PrivateForm): Buffer {
  if ((form !== 'expanded' && !key.seed) || (form !== 'seed' && !key.expanded))
    throw new Error(`cannot write form "${form}"`);
  const parts: Buffer[] = [];
  const own = (b: Uint8Array): Buffer => {
    const copy = Buffer.from(b);
    parts.push(copy);
    return copy;
  };
  try {
    const inner =
      form === 'seed'
        ? encode(TAG.CTX0, own(key.seed!))
        : form === 'expanded'
          ? encode(TAG.OCTET_STRING, own(key.expanded!))
          : encode(
              TAG.SEQUENCE,
              encode(TAG.OCTET_STRING, own(key.seed!)),
              encode(TAG.OCTET_STRING, own(key.expanded!)),
            );
    parts.push(inner);
    return encode(
      TAG.SEQUENCE,
      encode(TAG.INTEGER, Buffer.from([0])),
      ALG_ID,
      encode(TAG.OCTET_STRING, inner),
    );
  } finally {
    for (const b of parts) b.fill(0);
  }
}

/** The caller wipes the returned Buffer once written. */
export function encodePrivatePem(
  key: { seed?: Uint8Array; expanded?: Uint8Array },
  form: PrivateForm,
): Buffer {
  const der = pkcs8Der(key, form);
  try {
    return armor(der, 'PRIVATE KEY');
  } finally {
    der.fill(0);
  }
}
