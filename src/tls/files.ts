// Certificate, private key and CA files for TLS, checked at start so that a broken PEM is a clear
// error naming the file rather than a handshake failure hours later. Contents are never echoed.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { certIdentities } from './identity.js';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** Subject CN of our own certificate, for the start-up log. */
  subject: string;
  notBefore: string;
  notAfter: string;
  /** What still works but will not for long or everywhere (expiry soon, identity): logged. */
  warnings: string[];
}

/** A certificate that expires within this many days is reported at start. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/** Every certificate in a PEM file (a CA bundle may hold several). */
function allCerts(pem: Buffer): X509Certificate[] {
  const text = pem.toString('latin1');
  const out: X509Certificate[] = [];
  for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
    try {
      out.push(new X509Certificate(m[0]));
    } catch {
      // reported for the first block by parseCert
    }
  }
  return out;
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

export function loadTlsMaterial(
  paths: { certfile: string; keyfile: string; cafile: string; localSystemID?: string },
  now = Date.now(),
): TlsMaterial {
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
  const warnings: string[] = [];
  if (x509) {
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    if (to <= now) problems.push(`${paths.certfile}: certificate expired on ${x509.validTo}; sign a new one`);
    else if (from > now)
      problems.push(`${paths.certfile}: certificate is not valid before ${x509.validFrom}`);
    else if (to - now < EXPIRY_WARNING_DAYS * DAY_MS)
      warnings.push(
        `${paths.certfile}: certificate expires on ${x509.validTo}, in ${Math.floor((to - now) / DAY_MS)} days`,
      );
    // Peers check it against cafile, as we check theirs: one not issued by cafile only fails in
    // the peer's handshake, where it looked like "unreachable".
    const issuers = [...(ca ? allCerts(ca) : []), ...(cert ? allCerts(cert).slice(1) : [])];
    if (ca && !issuers.some((i) => x509.checkIssued(i) && x509.verify(i.publicKey))) {
      problems.push(
        `${paths.certfile}: certificate is not signed by a certificate in ${paths.cafile}; peers will refuse it`,
      );
    }
    const names = certIdentities({ raw: x509.raw } as PeerCertificate);
    if (paths.localSystemID !== undefined && !names.includes(paths.localSystemID)) {
      warnings.push(
        `${paths.certfile}: certificate names ${names.join(', ') || 'nothing usable'}, not localSystemID ` +
          `"${paths.localSystemID}": peers must list one of those as this KP's mtls_client_identity`,
      );
    }
  }
  if (problems.length > 0 || !cert || !key || !ca || !x509) throw new ConfigError(problems);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1] ?? x509.subject;
  return { cert, key, ca, subject: cn, notBefore: x509.validFrom, notAfter: x509.validTo, warnings };
}
