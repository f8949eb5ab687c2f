// What the router hears when the peer KP did not agree a key (mlkem and hybrid key sources).

import { HttpError, errorMessage } from '../errors.js';
import { clip } from '../log.js';
import {
  LocalPeerLinkError,
  PeerBusyError,
  PeerCertificateRefusedError,
  PeerRefusedError,
  PeerTlsError,
  PeerUnreachableError,
} from '../peer/agreement.js';
import type { SkipDeps } from './deps.js';
import type { ResolvedRemote } from '../config/remote-ids.js';

/**
 * What the router hears when no key was agreed: a file of this KP's own is unusable (500; the log
 * names it), the peer refused our certificate or TLS failed otherwise (502), no connection (503),
 * the peer is busy (503 + Retry-After) or answered otherwise (502). Each names the peer.
 */
export function agreementFailure(deps: SkipDeps, remote: ResolvedRemote, keyId: string, e: unknown): unknown {
  const peer = remote.id;
  if (e instanceof LocalPeerLinkError) {
    deps.metrics.peerFailures.inc({ reason: 'local' });
    deps.log.error('peer link broken here', { keyId, remote: peer, file: e.file, problem: e.problem });
    return new HttpError(
      500,
      `this Key Provider cannot use its own peer-link files for "${peer}" (its log names the file)`,
    );
  }
  deps.log.warn('key agreement failed', { keyId, remote: peer, error: errorMessage(e) });
  const reason =
    e instanceof PeerRefusedError
      ? 'refused'
      : e instanceof PeerBusyError
        ? 'busy'
        : e instanceof PeerCertificateRefusedError
          ? 'certificate_refused'
          : e instanceof PeerTlsError
            ? 'tls'
            : 'unreachable';
  deps.metrics.peerFailures.inc({ reason });
  if (e instanceof PeerUnreachableError)
    return new HttpError(503, `peer Key Provider "${peer}" is unreachable`);
  if (e instanceof PeerBusyError) {
    return new HttpError(
      503,
      `peer Key Provider "${peer}" is busy (${clip(e.reason, 160)}); retry in ${e.retryAfterS} s`,
      { 'Retry-After': String(e.retryAfterS) },
    );
  }
  if (e instanceof PeerCertificateRefusedError)
    return new HttpError(502, `peer Key Provider "${peer}" refused this Key Provider's certificate`);
  if (e instanceof PeerTlsError) return new HttpError(502, `TLS with peer Key Provider "${peer}" failed`);
  if (e instanceof PeerRefusedError) return new HttpError(502, `peer Key Provider "${peer}" refused the key`);
  return e;
}
