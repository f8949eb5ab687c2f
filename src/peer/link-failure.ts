// What a failed connection to a peer KP says about its cause, from the error's code: no TCP
// connection (the network, or the peer is down), the peer's TLS refusing this KP's certificate
// (an alert naming a certificate problem), or another TLS failure (the peer's certificate refused
// here, no common suite or version).

import { errorCode } from '../errors.js';

export type LinkFailure = 'unreachable' | 'certificate refused' | 'tls';

const NET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

/** Alerts (RFC 8446 §6.2) a TLS server sends when it does not accept the client's certificate. */
const CERT_ALERT =
  /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_(?:EXPIRED|REVOKED|UNKNOWN|REQUIRED)|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;

export function linkFailure(e: unknown): LinkFailure {
  const code = errorCode(e);
  if (code === undefined || NET.has(code)) return 'unreachable';
  return CERT_ALERT.test(code) ? 'certificate refused' : 'tls';
}
