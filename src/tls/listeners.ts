// The encryptor listener (draft-cisco-skip-02 §3, Table 1), hardened with time and size limits.
// PSK mode: TLS 1.2 with the PSK suites IOS XE and the draft use; TLS 1.3 allowed, but Node's
// pskCallback is OpenSSL's legacy callback, which binds the PSK to SHA-256, so TLS 1.3 with a PSK
// negotiates TLS_AES_128_GCM_SHA256, never the draft's TLS_AES_256_GCM_SHA384.
// Certificate mode: mutual TLS against `cafile`, for encryptors that cannot do PSK.

import type { IncomingMessage } from 'node:http';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { TlsMaterial } from './files.js';
import type { PskTable } from './psk.js';

/** TLS 1.2 PSK suites: IOS XE's two GCM suites, then the draft's Table 1 CBC suites. */
export const PSK_SUITES = [
  'PSK-AES256-GCM-SHA384',
  'DHE-PSK-AES256-GCM-SHA384',
  'DHE-PSK-AES256-CBC-SHA384',
  'DHE-PSK-AES256-CBC-SHA',
] as const;
/** TLS 1.3 with a PSK in Node: only SHA-256 suites can carry it (see above). */
export const PSK_TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256'] as const;
/** Certificate mode, draft Table 1, plus ECDHE-RSA for the RSA certificates the scripts make. */
export const CERT_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'AES256-SHA256',
  'TLS_AES_256_GCM_SHA384',
] as const;

/** Limits on the encryptor listener; a slow or huge request is cut without harming others. */
export const LIMITS: {
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly timeoutCheckMs: number;
  readonly maxHeaderBytes: number;
  readonly maxConnections: number;
} = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  /** How often Node checks the two request timeouts above. */
  timeoutCheckMs: 1_000,
  maxHeaderBytes: 8_192,
  maxConnections: 1_024,
};
export type Limits = typeof LIMITS;

export type EncryptorTls =
  { mode: 'psk'; psk: PskTable; hint?: string } | { mode: 'cert'; material: TlsMaterial };

export interface EncryptorServer {
  server: Server;
  suites: readonly string[];
  /** The PSK identity or certificate CN of the client on this request's connection. */
  identify: (req: IncomingMessage) => string | undefined;
}

/** The server without a request handler; attach the router with `server.on('request', ...)`. */
export function createEncryptorServer(
  tls: EncryptorTls,
  log: Logger,
  limits: Limits = LIMITS,
): EncryptorServer {
  const identities = new WeakMap<object, string>();
  const common: ServerOptions = {
    ...limitOptions(limits),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    honorCipherOrder: true,
  };
  let suites: readonly string[];
  let options: ServerOptions;
  if (tls.mode === 'psk') {
    suites = [...PSK_SUITES, ...PSK_TLS13_SUITES];
    options = {
      ...common,
      ciphers: suites.join(':'),
      // Without dhparam the DHE-PSK suites silently never negotiate.
      dhparam: 'auto',
      ...(tls.hint !== undefined && { pskIdentityHint: tls.hint }),
      pskCallback: (socket: TLSSocket, identity: string) => {
        const key = tls.psk.lookup(identity);
        if (key) identities.set(socket, identity);
        return key;
      },
    };
  } else {
    suites = CERT_SUITES;
    const { cert, key, ca } = tls.material;
    options = {
      ...common,
      ciphers: suites.join(':'),
      cert,
      key,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    };
  }
  const server = applyLimits(createServer(options), limits);
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    log.warn('tls handshake refused', { peer: socket.remoteAddress, reason: errorCode(err) ?? err.message });
  });
  server.on('clientError', (err: Error, socket: Duplex) => refuseBadRequest(err, socket, limits));
  const identify = (req: IncomingMessage): string | undefined => {
    const socket = req.socket as TLSSocket;
    if (tls.mode === 'psk') return identities.get(socket);
    const cn = socket.getPeerCertificate().subject?.CN;
    return Array.isArray(cn) ? cn[0] : cn;
  };
  return { server, suites, identify };
}

/** The time and size limits of LIMITS as https server options; every listener uses these. */
export function limitOptions(limits: Limits): ServerOptions {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckMs,
    maxHeaderSize: limits.maxHeaderBytes,
  };
}

/** The limits that are set on the server object rather than passed as options. */
export function applyLimits(server: Server, limits: Limits): Server {
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs);
  return server;
}

/** Malformed, oversized or too slow requests: a short JSON answer, then the connection is closed. */
function refuseBadRequest(err: Error, socket: Duplex, limits: Limits): void {
  const code = errorCode(err);
  if (!socket.writable || code === 'ECONNRESET') return void socket.destroy();
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
