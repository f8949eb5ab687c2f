// The peer listener (mtls_port, default 8443): POST /key-exchange only, over mutual TLS with
// certificates from `cafile` (docs/peer-protocol.md, steps 4-5). It never serves /key.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { errorMessage } from '../errors.js';
import { admission, type AdmissionState } from '../http/admission.js';
import { errorReply, send, type Reply } from '../http/respond.js';
import { HttpError } from '../errors.js';
import {
  DuplicateKeyIdError,
  STORE_RETRY_S,
  StoreFullError,
  StoreUnavailableError,
  type KeyStore,
} from '../keystore/types.js';
import type { OwnKemKeys } from '../kem/own-keys.js';
import type { Metrics } from '../metrics.js';
import { clip, type Logger } from '../log.js';
import type { RemoteDirectory } from '../config/remote-ids.js';
import type { TlsMaterial } from '../tls/files.js';
import { identitiesMatch, socketIdentities } from '../tls/identity.js';
import { handshakeReason } from '../tls/handshake-reasons.js';
import { refusalReporter } from '../tls/refusals.js';
import { applyLimits, limitOptions, type Limits } from '../http/limits.js';
import { closeFailedHandshakes } from '../tls/refusals.js';
import {
  EXCHANGE_PATH,
  MAX_EXCHANGE_BODY_BYTES,
  confirmMatches,
  confirmTag,
  parseExchange,
  successBody,
} from './protocol.js';
import { PEER_SUITES } from './suites.js';

/** Retry-After for a peer whose keys for us are at max_held_keys_per_remote: keys are collected
 * or expire, so a few seconds later there is room. */
const HELD_KEYS_RETRY_S = 5;

export interface PeerServerDeps {
  localSystemId: string;
  remotes: RemoteDirectory;
  store: KeyStore;
  /** This KP's private key(s): the current one, and a replaced one in its grace period. */
  kemKeys: OwnKemKeys;
  material: TlsMaterial;
  limits: Limits;
  log: Logger;
  metrics?: Metrics;
  /** Where the listener's admission state goes, for /metrics. */
  admissions?: AdmissionState[];
}

export function createPeerServer(deps: PeerServerDeps): Server {
  const { material, limits, log } = deps;
  const server = createServer({
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ciphers: PEER_SUITES.join(':'),
    honorCipherOrder: true,
    ...limitOptions(limits),
  });
  applyLimits(server, limits);
  const report = refusalReporter({
    listener: 'peer',
    event: 'peer tls handshake refused',
    log,
    ...(deps.metrics && { metrics: deps.metrics }),
  });
  closeFailedHandshakes(server, (err, socket) =>
    report({ peer: socket.remoteAddress, ...handshakeReason(err) }),
  );
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    let done: Reply['logFields'];
    res.on('finish', () => {
      deps.metrics?.peerRequests.inc({ status: String(res.statusCode) });
      log.info('peer request', {
        method: clip(req.method ?? '', 16),
        path: clip(req.url ?? '', 120),
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        certificate: clip(socketIdentities(req.socket as TLSSocket)[0] ?? '', 128),
        ...done,
      });
    });
    handle(req, deps).then(
      (reply) => {
        done = reply.logFields;
        send(res, reply);
      },
      (e: unknown) => send(res, errorReply(e, log, 'peer request failed')),
    );
  };
  server.on('request', admission(server, 'peer', limits, handler, deps.metrics, deps.admissions));
  return server;
}

async function handle(req: IncomingMessage, deps: PeerServerDeps): Promise<Reply> {
  if ((req.url ?? '').split('?')[0] !== EXCHANGE_PATH) throw new HttpError(404, 'Not Found');
  if (req.method !== 'POST') throw new HttpError(405, 'Method Not Allowed', { Allow: 'POST' });
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'Content-Type must be application/json');
  const raw = await readBody(req, MAX_EXCHANGE_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  const parsed = parseExchange(json);
  if (!parsed.ok) throw new HttpError(400, parsed.detail);
  const x = parsed.value;

  const remote = deps.remotes.resolve(x.systemId);
  const identities = socketIdentities(req.socket as TLSSocket);
  if (!remote || !identitiesMatch(identities, remote.clientIdentities)) {
    deps.log.warn('peer identity refused', {
      claimed: x.systemId,
      known: remote !== undefined,
      certificate: identities.slice(0, 8),
    });
    throw new HttpError(403, `certificate is not allowed to speak for system_id "${clip(x.systemId, 64)}"`);
  }

  const confirm = x.confirm;
  const opened = deps.kemKeys.decapsulate(
    x.ciphertext,
    confirm &&
      ((secret) =>
        confirmMatches(
          confirmTag(secret, {
            sender: x.systemId,
            receiver: deps.localSystemId,
            keyId: x.keyId,
            lengthBits: x.lengthBits,
            ciphertext: x.ciphertext,
          }),
          confirm,
        )),
  );
  if (!opened) {
    deps.log.warn('key confirmation failed', { keyId: x.keyId, from: remote.id });
    throw new HttpError(400, 'key confirmation failed: ciphertext or fields altered, or wrong KEM key');
  }
  const { secret, which } = opened;
  const key = Buffer.from(secret.subarray(0, x.lengthBits / 8));
  try {
    try {
      await deps.store.put(x.keyId, key, remote.id);
    } catch (e) {
      if (e instanceof StoreFullError) {
        deps.metrics?.heldKeysRefused.inc({ remote: remote.id });
        deps.log.warn('key refused: too many uncollected keys', { from: remote.id, max: e.max });
        throw new HttpError(503, e.message, { 'Retry-After': String(HELD_KEYS_RETRY_S) });
      }
      if (e instanceof StoreUnavailableError) {
        deps.log.warn('keystore unavailable', {
          during: 'put',
          keyId: x.keyId,
          from: remote.id,
          error: e.code,
        });
        throw new HttpError(503, e.message, { 'Retry-After': String(STORE_RETRY_S) });
      }
      if (e instanceof DuplicateKeyIdError) {
        if (e.reason === 'delivered')
          deps.log.warn('replayed key exchange refused', { keyId: x.keyId, from: remote.id });
        throw new HttpError(409, e.message);
      }
      deps.log.error('keystore put failed', { keyId: x.keyId, from: remote.id, error: errorMessage(e) });
      throw new HttpError(500, 'could not store the key');
    }
    deps.metrics?.keysReceived.inc();
    return {
      status: 200,
      body: successBody(x.keyId),
      logFields: {
        key: 'received',
        keyId: x.keyId,
        from: remote.id,
        bits: x.lengthBits,
        confirmed: x.confirm !== undefined,
        kemKey: which,
      },
    };
  } finally {
    secret.fill(0);
    key.fill(0);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    return Promise.reject(new HttpError(413, `body larger than ${limit} bytes`, { Connection: 'close' }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        // Stop keeping the body but let the 413 leave: the connection closes after the answer
        // (a chunked body gave a reset instead of 413).
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(new HttpError(413, `body larger than ${limit} bytes`, { Connection: 'close' }));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
