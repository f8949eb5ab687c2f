// Loading ML-KEM-1024 key files for the peer link, with errors that name the file.

import { readFileSync } from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import {
  KeyMismatchError,
  dkIsValid,
  ekIsValid,
  type KemBackend,
  type PreparedPrivate,
  type PreparedPublic,
} from './mlkem.js';
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
 * Private key from a PKCS#8 PEM in any of OpenSSL 3.5's three forms (seed and expanded, as
 * `openssl genpkey`, `skip-server keygen` and Node 24 write it; seed only, as Node 26 exports it and
 * `keygen --form seed` writes it; expanded only), used in
 * the form it was read. With both, they must be one key; an expanded key must pass FIPS 203
 * §7.3. When `publicPath` is given, that public key must be the pair's. A form this runtime cannot
 * load is an error naming the file, the form and the runtime.
 */
export function loadPrivateKey(path: string, kem: KemBackend, publicPath?: string): PreparedPrivate {
  const what = 'ML-KEM-1024 private key';
  const pem = read(path, what);
  let decoded: DecodedPrivate | undefined;
  try {
    decoded = named(path, what, () => decodePrivatePem(pem));
    const { form, expanded } = decoded;
    if (expanded && !dkIsValid(expanded))
      throw new ConfigError([`${path}: ${what}: expanded key fails the FIPS 203 hash check (corrupt?)`]);
    let prepared: PreparedPrivate;
    try {
      prepared = kem.preparePrivate(decoded);
    } catch (e) {
      if (e instanceof KeyMismatchError)
        throw new ConfigError([
          `${path}: ${what}: the seed and the expanded key in the file do not belong together`,
        ]);
      throw new ConfigError([
        `${path}: ${what}: this runtime (Node ${process.version}, ${kem.name} ML-KEM) cannot load ` +
          `the "${form}" form (${errorCode(e) ?? errorMessage(e)})`,
      ]);
    }
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
    decoded?.seed?.fill(0);
    decoded?.expanded?.fill(0);
  }
}
