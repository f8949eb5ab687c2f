// The encryptor listener (draft-cisco-skip-02 §3, Table 1), hardened with time and size limits.
// PSK mode: TLS 1.3 with TLS_AES_256_GCM_SHA384 served by our own engine (src/tls13/: Node's
// pskCallback binds every PSK to SHA-256, so node:tls cannot serve that row), reached through the
// front door on the same port; TLS 1.2 with the PSK suites IOS XE and the draft use, by node:tls.
// Certificate mode: mutual TLS against `cafile`, for encryptors that cannot do PSK; TLS 1.3 there
// is node:tls's, limited to TLS_AES_256_GCM_SHA384.

import { constants as cryptoConstants, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { clip, type Logger } from '../log.js';
import { FFDHE3072_PEM } from './dh-group.js';
import type { TlsMaterial } from './files.js';
import { handshakeReason } from './handshake-reasons.js';
import { socketIdentities } from './identity.js';
import type { PskTable } from './psk.js';
import { closeFailedHandshakes, refusalReporter } from './refusals.js';
import { LIMITS, applyLimits, limitOptions, type Limits } from '../http/limits.js';
import { installFrontDoor } from '../tls13/front-door.js';

/** TLS 1.2 PSK suites: IOS XE's two GCM suites, then the draft's Table 1 CBC suites. Server
 * order (honorCipherOrder): forward-secret DHE-PSK first whenever the client offers it
 * (docs/security.md); plain PSK-AES256-GCM-SHA384 stays for routers that offer nothing else. */
export const PSK_SUITES = [
  'DHE-PSK-AES256-GCM-SHA384',
  'PSK-AES256-GCM-SHA384',
  'DHE-PSK-AES256-CBC-SHA384',
  'DHE-PSK-AES256-CBC-SHA',
] as const;
/** TLS 1.3: the draft's REQUIRED suite only, with a PSK (our engine) and with certificates. */
export const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384'] as const;
/** Certificate mode, draft Table 1, plus ECDHE-RSA for the RSA certificates the scripts make. */
export const CERT_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'AES256-SHA256',
] as const;

export type EncryptorTls =
  | {
      mode: 'psk';
      psk: PskTable;
      hint?: string;
      /** tls13_psk: serve TLS 1.3 (TLS_AES_256_GCM_SHA384) with our engine; false: TLS 1.2 only. */
      tls13?: boolean;
    }
  | {
      mode: 'cert';
      material: TlsMaterial;
      /** encryptor_identities: the only certificate identities served. */
      allowed: readonly string[];
      /** True for a certificate of a peer Key Provider: never an encryptor. */
      isPeer: (identities: readonly string[]) => boolean;
    };

export interface EncryptorServer {
  server: Server;
  /** The suites served, per TLS version. */
  suites: { 'TLSv1.3': readonly string[]; 'TLSv1.2': readonly string[] };
  /** The PSK identity or certificate CN of the client on this request's connection. */
  identify: (req: IncomingMessage) => string | undefined;
}

/** The server without a request handler; attach the router with `server.on('request', ...)`. */
export function createEncryptorServer(
  tls: EncryptorTls,
  log: Logger,
  limits: Limits = LIMITS,
  metrics?: Metrics,
): EncryptorServer {
  const identities = new WeakMap<object, string>();
  /** The PSK identity a TLS 1.2 client sent, known or not, for the refusal's log line. */
  const offeredIdentity = new WeakMap<object, string>();
  const unknownIdentity = new WeakSet<object>();
  /** The SNI of connections the front door handed to node:tls, by raw socket. */
  const serverNames = new WeakMap<object, string>();
  const report = refusalReporter({
    listener: 'encryptor',
    event: 'tls handshake refused',
    log,
    ...(metrics && { metrics }),
    ...(tls.mode === 'psk' && { known: (id: string) => tls.psk.lookup(id) !== null }),
  });
  const common: ServerOptions = {
    ...limitOptions(limits),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    honorCipherOrder: true,
  };
  let suites: EncryptorServer['suites'];
  let options: ServerOptions;
  if (tls.mode === 'psk') {
    suites = { 'TLSv1.3': tls.tls13 === false ? [] : TLS13_SUITES, 'TLSv1.2': PSK_SUITES };
    options = {
      ...common,
      // node:tls serves TLS 1.2 only here: TLS 1.3 with a PSK is the engine's (front door).
      maxVersion: 'TLSv1.2',
      ciphers: PSK_SUITES.join(':'),
      // Without dhparam the DHE-PSK suites silently never negotiate.
      dhparam: FFDHE3072_PEM,
      // No session resumption for PSK clients: every connection runs pskCallback against the
      // current table, so an identity removed at SIGHUP stops working at once (docs/security.md).
      secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
      ...(tls.hint !== undefined && { pskIdentityHint: tls.hint }),
      pskCallback: (socket: TLSSocket, identity: string) => {
        const key = tls.psk.lookup(identity);
        offeredIdentity.set(socket, identity);
        if (key) {
          identities.set(socket, identity);
          return key;
        }
        // An unknown identity gets a random key used once, so it fails exactly as a wrong key
        // does (same alert, same timing): the alert does not tell which identities exist.
        unknownIdentity.add(socket);
        return randomBytes(32);
      },
    };
  } else {
    suites = { 'TLSv1.3': TLS13_SUITES, 'TLSv1.2': CERT_SUITES };
    const { cert, key, ca } = tls.material;
    options = {
      ...common,
      // TLS 1.3 names in `ciphers` become OpenSSL's TLS 1.3 suite list: only AES-256-GCM.
      ciphers: [...CERT_SUITES, ...TLS13_SUITES].join(':'),
      cert,
      key,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    };
  }
  /** node:tls's SNI, or the front door's when OpenSSL refused before reading it (TLS 1.0). The raw
   * socket under a server TLSSocket is its `_parent`, which node:tls sets and does not document. */
  const serverNameOf = (socket: TLSSocket): string | undefined => {
    if (typeof socket.servername === 'string') return socket.servername;
    const parent = (socket as unknown as { _parent?: object })._parent;
    return parent ? serverNames.get(parent) : undefined;
  };
  const server = applyLimits(createServer(options), limits);
  closeFailedHandshakes(server, (err, socket) => {
    const identity = offeredIdentity.get(socket);
    const unknown = unknownIdentity.has(socket);
    report(
      {
        peer: socket.remoteAddress,
        ...(unknown ? { reason: 'unknown PSK identity' } : handshakeReason(err)),
        ...(identity !== undefined && { identity }),
        ...(serverNameOf(socket) !== undefined && { serverName: serverNameOf(socket) }),
      },
      unknown ? 'unknown_identity' : undefined,
    );
  });
  server.on('clientError', (err: Error, socket: Duplex) => refuseBadRequest(err, socket, limits));
  if (tls.mode === 'psk') {
    // tls13_psk: false leaves node:tls alone on the port: TLS 1.2 only, no front door.
    if (tls.tls13 !== false)
      installFrontDoor(server, {
        psk: tls.psk,
        handshakeTimeoutMs: limits.handshakeTimeoutMs,
        toNode: (raw, name) => {
          if (name !== undefined) serverNames.set(raw, name);
        },
        secure: (plain, negotiated) => {
          identities.set(plain, negotiated.identity);
          server.emit('secureConnection', plain);
        },
        refused: (raw, reason, x) => {
          const fields = {
            peer: raw.remoteAddress,
            reason,
            ...(x.tls && { tls: x.tls }),
            alert: x.alert,
            ...(x.identity !== undefined && { identity: x.identity }),
            ...(x.serverName !== undefined && { serverName: x.serverName }),
          };
          if (!x.afterHandshake) return report(fields, x.kind);
          const { identity, serverName, ...rest } = fields;
          log.debug('tls connection closed on error', {
            ...rest,
            ...(identity !== undefined && { identity: clip(identity, 128) }),
            ...(serverName !== undefined && { serverName: clip(serverName, 64) }),
          });
        },
      });
    // Belt and braces: no connection without a known identity is ever served.
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!identities.has(socket)) socket.destroy();
    });
  } else {
    // Certificate mode: a certificate from cafile is not enough; it must be on the allow-list
    // and must not be a peer KP's (docs/security.md). Refused before any request.
    server.on('secureConnection', (socket: TLSSocket) => {
      const ids = socketIdentities(socket);
      const allowed = tls.allowed.find((a) => ids.includes(a));
      if (allowed !== undefined && !tls.isPeer(ids)) return void identities.set(socket, allowed);
      log.warn('encryptor certificate refused', {
        peer: socket.remoteAddress,
        certificate: ids.slice(0, 8),
        reason: allowed === undefined ? 'not in encryptor_identities' : "a peer Key Provider's certificate",
      });
      socket.destroy();
    });
  }
  // A PSK identity removed at SIGHUP stops being served at once, also on a connection it opened
  // before (kept alive): each request checks the current table.
  const identify = (req: IncomingMessage): string | undefined => {
    const identity = identities.get(req.socket);
    if (identity === undefined || tls.mode !== 'psk' || tls.psk.lookup(identity) !== null) return identity;
    return undefined;
  };
  return { server, suites, identify };
}

/** Malformed, oversized or too slow requests: a short JSON answer, then the connection is closed. */
function refuseBadRequest(err: Error, socket: Duplex, limits: Limits): void {
  const code = errorCode(err);
  if (!socket.writable || socket.destroyed || code === 'ECONNRESET') return void socket.destroy();
  const [status, text, detail] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', `request headers exceed ${limits.maxHeaderBytes} bytes`]
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request not received in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ detail });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}
