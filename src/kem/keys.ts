// Loading ML-KEM-1024 key files for the peer link, with errors that name the file.

import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import { dkIsValid, ekIsValid, type KemBackend, type PreparedPrivate, type PreparedPublic } from './mlkem.js';
import { KeyFileError, decodePrivatePem, decodePublicPem, type DecodedPrivate } from './pem.js';

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError([`${path}: cannot read ${what} (${errorCode(e) ?? errorMessage(e)})`]);
  }
}

function named<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KeyFileError) throw new ConfigError([`${path}: ${what}: ${e.message}`]);
    throw e;
  }
}

/** Raw encapsulation key from a PEM file, checked (FIPS 203 §7.2). */
export function readPublicKeyFile(path: string, what = 'ML-KEM-1024 public key'): Buffer {
  return named(path, what, () => {
    const ek = decodePublicPem(read(path, what));
    if (!ekIsValid(ek)) throw new KeyFileError('public key fails the FIPS 203 modulus check (corrupt?)');
    return ek;
  });
}

export function loadPublicKey(path: string, kem: KemBackend, what?: string): PreparedPublic {
  return kem.preparePublic(readPublicKeyFile(path, what));
}

/**
 * Private key from a PKCS#8 PEM in any of OpenSSL 3.5's three forms. A seed is expanded and, when
 * the file also holds the expanded key, the two must agree; an expanded key must pass FIPS 203
 * §7.3. When `publicPath` is given, that public key must be the pair's.
 */
export function loadPrivateKey(path: string, kem: KemBackend, publicPath?: string): PreparedPrivate {
  const what = 'ML-KEM-1024 private key';
  const pem = read(path, what);
  let decoded: DecodedPrivate | undefined;
  let dk: Buffer | undefined;
  try {
    decoded = named(path, what, () => decodePrivatePem(pem));
    dk = named(path, what, () => expand(decoded!, kem));
    const prepared = kem.preparePrivate(dk);
    if (publicPath !== undefined) {
      const ek = readPublicKeyFile(publicPath, 'ML-KEM-1024 public key');
      if (!ek.equals(prepared.ek)) {
        prepared.wipe();
        throw new ConfigError([
          `${publicPath}: this public key is not the pair of the private key in ${path}`,
        ]);
      }
    }
    return prepared;
  } finally {
    pem.fill(0);
    dk?.fill(0);
    decoded?.seed?.fill(0);
    decoded?.expanded?.fill(0);
  }
}

/** The expanded key (dk) of a decoded private key, checked; a new buffer the caller wipes. */
function expand(decoded: DecodedPrivate, kem: KemBackend): Buffer {
  const { seed, expanded } = decoded;
  if (seed) {
    const derived = kem.keygen(seed);
    if (expanded && !timingSafeEqual(derived.dk, expanded)) {
      derived.dk.fill(0);
      throw new KeyFileError('the seed and the expanded key in the file do not belong together');
    }
    return derived.dk;
  }
  if (!expanded || !dkIsValid(expanded))
    throw new KeyFileError('expanded key fails the FIPS 203 hash check (corrupt?)');
  return Buffer.from(expanded);
}
