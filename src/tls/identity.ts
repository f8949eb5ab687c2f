// Identities a peer certificate vouches for: its subject CN and every subjectAltName value
// (DNS names, IP addresses, URIs), compared exactly (DNS names case-insensitively).

import type { PeerCertificate, TLSSocket } from 'node:tls';

export function certIdentities(cert: PeerCertificate | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const out: string[] = [];
  const cn = cert.subject?.CN;
  if (Array.isArray(cn)) out.push(...cn);
  else if (typeof cn === 'string') out.push(cn);
  for (const part of (cert.subjectaltname ?? '').split(', ')) {
    const colon = part.indexOf(':');
    if (colon > 0) out.push(part.slice(colon + 1));
  }
  return out;
}

/** True when any allowed identity is among the certificate's. */
export function certMatches(cert: PeerCertificate | undefined, allowed: readonly string[]): boolean {
  return identitiesMatch(certIdentities(cert), allowed);
}

export function identitiesMatch(have: readonly string[], allowed: readonly string[]): boolean {
  const set = new Set(have.map((s) => s.toLowerCase()));
  return allowed.some((a) => set.has(a.toLowerCase()));
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
