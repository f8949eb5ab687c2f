// Identities a certificate vouches for (docs/security.md): its DNS and IP
// subjectAltNames; the subject CN only when the certificate has no subjectAltName at all, and
// only if there is exactly one CN. Email, URI and other SAN kinds never name a system.
// Comparison is exact and case-sensitive, as configured.

import type { PeerCertificate, TLSSocket } from 'node:tls';
import { certNames } from './cert-names.js';

/** The identities of a certificate, from its DER; none for a certificate that cannot be read. */
export function certIdentities(cert: PeerCertificate | undefined): string[] {
  if (!cert?.raw) return [];
  let names;
  try {
    names = certNames(cert.raw);
  } catch {
    return [];
  }
  if (names.hasSan) return names.san;
  return names.cn.length === 1 ? names.cn : [];
}

/** True when any allowed identity is among the certificate's (exact, case-sensitive). */
export function certMatches(cert: PeerCertificate | undefined, allowed: readonly string[]): boolean {
  return identitiesMatch(certIdentities(cert), allowed);
}

export function identitiesMatch(have: readonly string[], allowed: readonly string[]): boolean {
  return allowed.some((a) => have.includes(a));
}

const perSocket = new WeakMap<object, string[]>();

/** The identities of the client certificate on this connection, worked out once per connection
 * (getPeerCertificate builds a new object each call: a tenth of the peer listener's CPU). */
export function socketIdentities(socket: TLSSocket): string[] {
  let ids = perSocket.get(socket);
  if (!ids) {
    ids = certIdentities(socket.getPeerCertificate());
    perSocket.set(socket, ids);
  }
  return ids;
}
