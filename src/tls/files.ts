// Certificate, private key and CA files for TLS, checked at start so that a broken PEM is a clear
// error naming the file rather than a handshake failure hours later. Contents are never echoed.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** Subject CN of our own certificate, for the start-up log. */
  subject: string;
  notAfter: string;
}

function readFile(path: string, what: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    problems.push(`${path}: cannot read ${what} (${errorCode(e) ?? errorMessage(e)})`);
    return undefined;
  }
}

function parseCert(pem: Buffer, path: string, what: string, problems: string[]): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    problems.push(`${path}: ${what} is not a PEM X.509 certificate`);
    return undefined;
  }
}

export function loadTlsMaterial(paths: { certfile: string; keyfile: string; cafile: string }): TlsMaterial {
  const problems: string[] = [];
  const cert = readFile(paths.certfile, 'certfile', problems);
  const key = readFile(paths.keyfile, 'keyfile', problems);
  const ca = readFile(paths.cafile, 'cafile', problems);
  const x509 = cert && parseCert(cert, paths.certfile, 'certfile', problems);
  if (ca) parseCert(ca, paths.cafile, 'cafile', problems);
  let privateKey;
  if (key) {
    try {
      privateKey = createPrivateKey(key);
    } catch {
      problems.push(`${paths.keyfile}: keyfile is not a PEM private key (or it is encrypted)`);
    }
  }
  if (x509 && privateKey && !x509.checkPrivateKey(privateKey)) {
    problems.push(`${paths.keyfile}: keyfile does not match the certificate in ${paths.certfile}`);
  }
  if (problems.length > 0 || !cert || !key || !ca || !x509) throw new ConfigError(problems);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1] ?? x509.subject;
  return { cert, key, ca, subject: cn, notAfter: x509.validTo };
}
