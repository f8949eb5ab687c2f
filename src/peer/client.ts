// The peer client behind GET /key (docs/peer-protocol.md, steps 2-6): encapsulate to the
// peer's ML-KEM-1024 key, POST over mutual TLS on a kept-alive connection, and return the key
// only after the peer's 200. Any failure leaves no key here; the caller answers 503 or 502.

import { request, Agent } from 'node:https';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  connect as tlsConnect,
  type ConnectionOptions,
  type PeerCertificate,
} from 'node:tls';
import { errorCode, errorMessage } from '../errors.js';
import { loadPublicKey } from '../kem/keys.js';
import type { KemBackend, PreparedPublic } from '../kem/mlkem.js';
import type { Metrics } from '../metrics.js';
import { clip, type Logger } from '../log.js';
import type { KeyId } from '../ids/key-id.js';
import type { ResolvedRemote } from '../config/remote-ids.js';
import type { TlsMaterial } from '../tls/files.js';
import { certMatches } from '../tls/identity.js';
import {
  LocalPeerLinkError,
  PeerBusyError,
  PeerCertificateRefusedError,
  PeerRefusedError,
  PeerTlsError,
  PeerUnreachableError,
  type KeyAgreement,
} from './agreement.js';
import { PeerAddresses, type Lookup, type PeerAddress } from './addresses.js';
import { linkFailure } from './link-failure.js';
import { EXCHANGE_PATH, confirmTag, exchangeBody } from './protocol.js';
import { PEER_SUITES } from './suites.js';

export interface PeerClientOptions {
  localSystemId: string;
  material: TlsMaterial;
  /** Where `material.cert` came from, for errors about it. */
  certfile: string;
  kem: KemBackend;
  log: Logger;
  /** Whole exchange, connect to answer. */
  timeoutMs?: number;
  /** Kept-alive connections per peer. */
  maxSockets?: number;
  metrics?: Metrics;
  /** The resolver for host names in `ip` (node:dns lookup, the system resolver, by default). */
  lookup?: Lookup;
}

/** Kept-alive connections per peer, by default; twice as many exchanges may wait for one. */
const MAX_SOCKETS = 32;
/** A peer's Retry-After is passed on, up to this. */
const MAX_RETRY_AFTER_S = 3_600;

const agentName = (remote: ResolvedRemote, name = ''): string =>
  `${remote.id}|${remote.ip}|${remote.mtlsPort}|${name}`;

/** After the handshake, how long the health probe waits for the server's verdict on our
 * certificate when no session ticket comes. */
const VERDICT_MS = 300;
const CERT_REFUSED = 'certificate refused by the peer';

/** Peer public keys cached by path; bounded so a glob entry with thousands of spokes stays small. */
const MAX_CACHED_KEYS = 4_096;

/** A peer public key file SIGHUP could not load. */
export interface PeerKeyProblem {
  file: string;
  problem: string;
  /** The key read from it before is still used. */
  kept: boolean;
}

export class PeerClient implements KeyAgreement {
  private readonly agents = new Map<string, Agent>();
  private keys = new Map<string, PreparedPublic>();
  private readonly certValid: { from: number; to: number };
  /** Exchanges under way (or queued in the agent) per peer connection target. */
  private readonly inFlight = new Map<string, number>();
  /** Spreads exchanges over a peer's addresses. */
  private turn = 0;
  private readonly addresses: PeerAddresses;

  constructor(private readonly o: PeerClientOptions) {
    this.certValid = { from: Date.parse(o.material.notBefore), to: Date.parse(o.material.notAfter) };
    this.addresses = new PeerAddresses(o.lookup, o.timeoutMs ?? 5_000);
  }

  async agree(remote: ResolvedRemote, keyId: KeyId, bytes: number): Promise<Buffer> {
    // Bounded queue per peer: the 5 s exchange timeout then never hides an unbounded wait.
    const name = agentName(remote);
    const waiting = this.inFlight.get(name) ?? 0;
    const max = 2 * (this.o.maxSockets ?? MAX_SOCKETS);
    if (waiting >= max) throw new PeerBusyError(remote.id, `${max} exchanges with it in progress here`, 1);
    this.inFlight.set(name, waiting + 1);
    try {
      return await this.exchange(remote, keyId, bytes);
    } finally {
      const n = (this.inFlight.get(name) ?? 1) - 1;
      if (n > 0) this.inFlight.set(name, n);
      else this.inFlight.delete(name);
    }
  }

  private async exchange(remote: ResolvedRemote, keyId: KeyId, bytes: number): Promise<Buffer> {
    // Our own certificate out of its validity period would only show as the peer's TLS alert.
    const now = Date.now();
    if (now >= this.certValid.to || now < this.certValid.from) {
      const problem =
        now >= this.certValid.to
          ? `this KP's peer-link certificate expired on ${this.o.material.notAfter}; sign a new one and restart`
          : `this KP's peer-link certificate is not valid before ${this.o.material.notBefore}`;
      throw new LocalPeerLinkError(remote.id, this.o.certfile, problem);
    }
    let peerKey: PreparedPublic;
    try {
      peerKey = this.publicKey(remote.pubkeyPath);
    } catch (e) {
      throw new LocalPeerLinkError(remote.id, remote.pubkeyPath, errorMessage(e));
    }
    const { ciphertext, sharedSecret } = peerKey.encapsulate();
    try {
      const lengthBits = bytes * 8;
      const confirm = confirmTag(sharedSecret, {
        sender: this.o.localSystemId,
        receiver: remote.id,
        keyId,
        lengthBits,
        ciphertext,
      });
      const body = exchangeBody({ systemId: this.o.localSystemId, keyId, lengthBits, ciphertext, confirm });
      const started = performance.now();
      await this.postToAny(remote, body);
      const ms = performance.now() - started;
      this.o.metrics?.peerLatency.observe(ms / 1000);
      this.o.log.debug('peer exchange', { keyId, peer: remote.id, ms: Math.round(ms) });
      return Buffer.from(sharedSecret.subarray(0, bytes));
    } finally {
      sharedSecret.fill(0);
    }
  }

  /**
   * SIGHUP: reads again the public keys at `paths` (the exactly named peers') and every one in
   * use. A file that does not load keeps the key read from it before, if any; it is reported.
   */
  reload(paths: readonly string[]): { loaded: number; problems: PeerKeyProblem[] } {
    const fresh = new Map<string, PreparedPublic>();
    const problems: PeerKeyProblem[] = [];
    for (const path of new Set([...paths, ...this.keys.keys()])) {
      if (fresh.size >= MAX_CACHED_KEYS) break;
      try {
        fresh.set(path, loadPublicKey(path, this.o.kem));
      } catch (e) {
        const old = this.keys.get(path);
        if (old) fresh.set(path, old);
        problems.push({ file: path, problem: errorMessage(e), kept: old !== undefined });
      }
    }
    this.keys = fresh;
    return { loaded: fresh.size - problems.filter((p) => p.kept).length, problems };
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  private publicKey(path: string): PreparedPublic {
    let key = this.keys.get(path);
    if (!key) {
      key = loadPublicKey(path, this.o.kem);
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(path, key);
    }
    return key;
  }

  /** The mutual-TLS options towards `remote`, for the agent and for health probes. */
  private tlsOptions(remote: ResolvedRemote): ConnectionOptions {
    const { cert, key, ca } = this.o.material;
    return {
      cert,
      key,
      ca,
      minVersion: 'TLSv1.2',
      ciphers: PEER_SUITES.join(':'),
      // The peer's certificate must name the configured address, or one of the identities
      // allowed for this peer (its id by default).
      checkServerIdentity: (host: string, peerCert: PeerCertificate) =>
        certMatches(peerCert, remote.clientIdentities) ? undefined : checkServerIdentity(host, peerCert),
    };
  }

  private agent(remote: ResolvedRemote, hostname?: string): Agent {
    const name = agentName(remote, hostname);
    let agent = this.agents.get(name);
    if (!agent) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: this.o.maxSockets ?? MAX_SOCKETS,
        maxFreeSockets: this.o.maxSockets ?? MAX_SOCKETS,
        // Close idle sockets before the peer does (its keep-alive timeout is 5 s).
        timeout: 4_000,
        ...this.tlsOptions(remote),
      });
      this.agents.set(name, agent);
    }
    return agent;
  }

  /**
   * Health probe: a whole mutual-TLS handshake with `remote`, then a clean close (close_notify),
   * so certificate problems show here, and the peer logs nothing (a TCP connect alone would
   * make it log a refused handshake per probe). A server judges our certificate once our side of the
   * handshake is done (TLS 1.3), and one on Node closes without an alert: so 'reachable' waits for
   * its session ticket (sent once it accepted us) or a quiet moment, and a close in between is
   * the peer refusing our certificate. Nothing is sent, so no reset hides an alert.
   * Resolves 'reachable' or what went wrong. A host name is reachable while one of its
   * addresses is.
   */
  async probe(remote: ResolvedRemote, timeoutMs = 2_000): Promise<string> {
    if (isIP(remote.ip) !== 0) return this.probeAddress(remote, { ip: remote.ip }, timeoutMs);
    let addresses: PeerAddress[];
    try {
      addresses = await this.addresses.resolve(remote.ip);
    } catch (e) {
      return `unreachable: ${errorMessage(e)}`;
    }
    const each = await Promise.all(addresses.map((a) => this.probeAddress(remote, a, timeoutMs)));
    return each.find((s) => s === 'reachable') ?? each[0]!;
  }

  private probeAddress(remote: ResolvedRemote, address: PeerAddress, timeoutMs = 2_000): Promise<string> {
    return new Promise((resolve) => {
      const s = tlsConnect({
        host: address.ip,
        port: remote.mtlsPort,
        ...(address.name !== undefined && { servername: address.name }),
        ...this.tlsOptions(remote),
      });
      let settled = false;
      let handshaken = false;
      let quiet: ReturnType<typeof setTimeout> | undefined;
      const done = (status: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(quiet);
        resolve(status);
      };
      const accepted = (): void => {
        s.end();
        done('reachable');
      };
      const closed = (): void => done(`${CERT_REFUSED}: it closed the connection after the handshake`);
      const timer = setTimeout(() => {
        s.destroy();
        done('unreachable: no answer in time');
      }, timeoutMs);
      s.once('secureConnect', () => {
        handshaken = true;
        s.once('session', accepted);
        s.once('end', closed);
        s.once('close', closed);
        quiet = setTimeout(accepted, VERDICT_MS);
      });
      // on, not once: an error after the first must not go unhandled (and crash the process).
      s.on('error', (e) => {
        const why = errorCode(e) ?? errorMessage(e);
        const kind = linkFailure(e);
        if (kind === 'unreachable' && handshaken) return closed();
        done(
          kind === 'unreachable'
            ? 'unreachable'
            : kind === 'certificate refused'
              ? `${CERT_REFUSED}: ${why}`
              : `tls refused: ${why}`,
        );
      });
    });
  }

  /** Posts to the peer's addresses (its `ip` entries, host names resolved) in turn, starting one
   * further on each exchange; the next is tried when one cannot be reached. The same body goes
   * to the next, so its 409 means the exchange arrived at an instance before (they share one
   * keystore). A name that does not resolve is left out; none left is unreachable. */
  private async postToAny(remote: ResolvedRemote, body: string): Promise<void> {
    const entries = remote.ips.length > 0 ? remote.ips : [remote.ip];
    // Literals only (the reference format, and most lists): no resolver, no await.
    const { addresses, failed } = entries.every((e) => isIP(e) !== 0)
      ? { addresses: entries.map((ip): PeerAddress => ({ ip })), failed: [] }
      : await this.addresses.resolveAll(entries);
    if (addresses.length === 0)
      throw new PeerUnreachableError(remote.id, failed.map((e) => e.message).join('; '));
    for (const e of failed)
      this.o.log.info('peer host name does not resolve, using the other addresses', {
        peer: remote.id,
        name: e.hostname,
        error: e.why,
      });
    const start = this.turn++ % addresses.length;
    for (let i = 0; ; i++) {
      const address = addresses[(start + i) % addresses.length]!;
      const target = address.ip === remote.ip ? remote : { ...remote, ip: address.ip };
      try {
        return await this.post(target, body, i > 0, address.name);
      } catch (e) {
        if (!(e instanceof PeerUnreachableError) || i === addresses.length - 1) throw e;
        this.o.log.info('peer instance unreachable, trying the next', { peer: remote.id, ip: target.ip });
      }
    }
  }

  /** One exchange with `remote.ip`; `hostname` is the name it was resolved from (SNI, and the
   * name the certificate check sees), if any. */
  private post(remote: ResolvedRemote, body: string, retried = false, hostname?: string): Promise<void> {
    const timeoutMs = this.o.timeoutMs ?? 5_000;
    const where =
      `${isIP(remote.ip) === 6 ? `[${remote.ip}]` : remote.ip}:${remote.mtlsPort}` +
      (hostname !== undefined ? ` (${hostname})` : '');
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: remote.ip,
          port: remote.mtlsPort,
          method: 'POST',
          path: EXCHANGE_PATH,
          agent: this.agent(remote, hostname),
          ...(hostname !== undefined && { servername: hostname }),
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (text.length < 4_096) text += d;
          });
          res.on('end', () => {
            clearTimeout(timer);
            if (res.statusCode === 200) return resolve();
            // A retry after a dropped kept-alive socket: 409 means our first attempt arrived.
            if (res.statusCode === 409 && retried) return resolve();
            const retry = res.statusCode === 503 ? Number(res.headers['retry-after']) : NaN;
            if (Number.isInteger(retry) && retry > 0)
              return reject(new PeerBusyError(remote.id, detailOf(text), Math.min(retry, MAX_RETRY_AFTER_S)));
            reject(
              new PeerRefusedError(remote.id, `HTTP ${res.statusCode} from ${where}: ${detailOf(text)}`),
            );
          });
          res.on('error', (e) => reject(new PeerUnreachableError(remote.id, `${where}: ${errorMessage(e)}`)));
        },
      );
      const timer = setTimeout(
        () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        if (!retried && req.reusedSocket && errorCode(e) === 'ECONNRESET') {
          this.post(remote, body, true, hostname).then(resolve, reject);
          return;
        }
        const why = `${where}: ${errorCode(e) ?? errorMessage(e)}`;
        const kind = linkFailure(e);
        if (kind === 'certificate refused') return reject(new PeerCertificateRefusedError(remote.id, why));
        if (kind === 'tls') return reject(new PeerTlsError(remote.id, why));
        if (errorCode(e) !== 'ECONNRESET') return reject(new PeerUnreachableError(remote.id, why));
        // In TLS 1.3 a server refusing our certificate alerts after our handshake, and our
        // request already sent turns its close into a reset that hides the alert: a connection
        // that sends nothing tells.
        void this.probeAddress(remote, {
          ip: remote.ip,
          ...(hostname !== undefined && { name: hostname }),
        }).then((status) =>
          reject(
            status.startsWith(CERT_REFUSED)
              ? new PeerCertificateRefusedError(remote.id, `${where}: ${status}`)
              : new PeerUnreachableError(remote.id, why),
          ),
        );
      });
      req.end(body);
    });
  }
}

function detailOf(text: string): string {
  try {
    const j = JSON.parse(text) as { detail?: unknown };
    if (typeof j.detail === 'string') return clip(j.detail, 200);
  } catch {
    // not JSON
  }
  return clip(text.trim(), 200) || '(no body)';
}
