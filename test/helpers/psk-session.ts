// An external TLS 1.3 PSK as OpenSSL's `s_client -psk_session FILE` reads it: an SSL_SESSION in
// DER (OpenSSL's ssl/ssl_asn1.c layout) in a PEM "SSL SESSION PARAMETERS" block, with
// TLS_AES_256_GCM_SHA384 as its suite, so the PSK is bound to SHA-384. s_client takes the
// identity from -psk_identity, not from the file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAG, encode } from '../../src/kem/der.js';

/** A non-negative INTEGER: big-endian bytes, a leading zero when the top bit is set. */
const int = (n: number): Buffer => {
  const hex = n.toString(16);
  const b = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  return encode(TAG.INTEGER, b[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), b]) : b);
};
const octets = (b: Buffer): Buffer => encode(TAG.OCTET_STRING, b);
/** An explicit context tag [n], constructed. */
const ctx = (n: number, inner: Buffer): Buffer => encode(0xa0 + n, inner);

export function pskSessionPem(identity: string, keyHex: string, suite = [0x13, 0x02]): string {
  const body = Buffer.concat([
    int(1), // SSL_SESSION_ASN1_VERSION
    int(0x0304), // TLS 1.3
    octets(Buffer.from(suite)),
    octets(Buffer.alloc(0)), // session id
    octets(Buffer.from(keyHex, 'hex')), // master key: the PSK
    ctx(1, int(Math.floor(Date.now() / 1000))), // time
    ctx(2, int(86_400)), // timeout
    ctx(8, octets(Buffer.from(identity))), // psk identity
  ]);
  const b64 = encode(TAG.SEQUENCE, body).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN SSL SESSION PARAMETERS-----\n${b64.trimEnd()}\n-----END SSL SESSION PARAMETERS-----\n`;
}

/** Writes the session file; returns the s_client arguments that use it. */
export function pskSessionArgs(dir: string, identity: string, keyHex: string, name = identity): string[] {
  const file = join(dir, `${name}-psk-session.pem`);
  writeFileSync(file, pskSessionPem(identity, keyHex), { mode: 0o600 });
  return [
    '-tls1_3',
    '-ciphersuites',
    'TLS_AES_256_GCM_SHA384',
    '-psk_identity',
    identity,
    '-psk_session',
    file,
  ];
}
