// An external TLS 1.3 PSK as OpenSSL's `s_client -psk_session FILE` reads it: an SSL_SESSION in
// DER (OpenSSL's ssl/ssl_asn1.c layout) in a PEM "SSL SESSION PARAMETERS" block, with
// TLS_AES_256_GCM_SHA384 as its suite, so the PSK is bound to SHA-384. s_client takes the
// identity from -psk_identity, not from the file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function der(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
function int(n: number): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.alloc(1), b]);
  return der(0x02, b);
}
const octets = (b: Buffer): Buffer => der(0x04, b);

export function pskSessionPem(identity: string, keyHex: string, suite = [0x13, 0x02]): string {
  const body = Buffer.concat([
    int(1), // SSL_SESSION_ASN1_VERSION
    int(0x0304), // TLS 1.3
    octets(Buffer.from(suite)),
    octets(Buffer.alloc(0)), // session id
    octets(Buffer.from(keyHex, 'hex')), // master key: the PSK
    der(0xa1, int(Math.floor(Date.now() / 1000))), // [1] time
    der(0xa2, int(86_400)), // [2] timeout
    der(0xa8, octets(Buffer.from(identity))), // [8] psk identity
  ]);
  const b64 = der(0x30, body).toString('base64').replace(/.{64}/g, '$&\n');
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
