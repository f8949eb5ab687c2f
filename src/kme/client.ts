// An ETSI GS QKD 014 (v1.1.1) client: this KP is an SAE of its site's KME. Mutual TLS 1.2 or
// newer with kept-alive connections (at most kme.max_connections), every request bounded in
// time (kme.timeout_seconds, queueing included) and in answer size, and at most four requests
// waiting per connection. Answers are checked before any key leaves: one key, its key_ID a
// UUID (the one asked for, at dec_keys), its key strict base64 of the expected length.

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { KmeConfig } from '../config/load.js';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { KmeError } from './errors.js';
import { isUuid } from './uuid.js';

/** The largest KME answer read (one key, its extensions, or a status). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Requests waiting for a connection, per connection allowed. */
const QUEUE_PER_CONNECTION = 4;

export interface KmeStatus {
  keySize: number;
  minKeySize: number;
  maxKeySize: number;
  storedKeyCount?: number;
  maxKeyPerRequest?: number;
}

export interface KmeKey {
  uuid: string;
  /** The caller owns and wipes it. */
  key: Buffer;
}

type Op = 'status' | 'enc_keys' | 'dec_keys';

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class KmeClient {
  /** host:port, the KME's name in logs and metrics. */
  readonly name: string;
  private readonly base: string;
  private readonly agent: Agent;
  private inFlight = 0;

  constructor(
    private readonly o: KmeConfig,
    private readonly metrics: Metrics,
  ) {
    const u = new URL(o.url);
    this.name = u.host;
    this.base = `${u.origin}${u.pathname.replace(/\/+$/, '')}/api/v1/keys/`;
    const read = (file: string, what: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (e) {
        throw new ConfigError([`${file}: cannot read ${what} (${errorCode(e) ?? errorMessage(e)})`]);
      }
    };
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: o.max_connections,
      maxFreeSockets: o.max_connections,
      cert: read(o.certfile, 'kme.certfile, the SAE certificate'),
      key: read(o.keyfile, 'kme.keyfile, the SAE private key'),
      ca: read(o.cafile, "kme.cafile, the KME's CA"),
      minVersion: 'TLSv1.2',
    });
  }

  /** GET status for the pair (this SAE, `slave`): the sizes the KME delivers. */
  async status(slave: string): Promise<KmeStatus> {
    const a = await this.call('status', 'GET', `${enc(slave)}/status`);
    const n = (k: string): number | undefined => {
      const v = a[k];
      return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
    };
    const keySize = n('key_size');
    if (keySize === undefined) throw this.fail('status', 'malformed', 'status has no key_size');
    return {
      keySize,
      minKeySize: n('min_key_size') ?? keySize,
      maxKeySize: n('max_key_size') ?? keySize,
      ...(n('stored_key_count') !== undefined && { storedKeyCount: n('stored_key_count') }),
      ...(n('max_key_per_request') !== undefined && { maxKeyPerRequest: n('max_key_per_request') }),
    };
  }

  /** enc_keys: one new key of `bits` for `slave`, this SAE the master. */
  async encKey(slave: string, bits: number): Promise<KmeKey> {
    const a = await this.call('enc_keys', 'POST', `${enc(slave)}/enc_keys`, { number: 1, size: bits });
    return this.oneKey('enc_keys', a, undefined, bits / 8);
  }

  /** dec_keys: the key `uuid` that `master` obtained for this SAE. `bytes` bounds its length. */
  async decKey(master: string, uuid: string, bytes: { min: number; max: number }): Promise<KmeKey> {
    const a = await this.call('dec_keys', 'POST', `${enc(master)}/dec_keys`, {
      key_IDs: [{ key_ID: uuid }],
    });
    return this.oneKey('dec_keys', a, uuid, bytes);
  }

  close(): void {
    this.agent.destroy();
  }

  private oneKey(
    op: Op,
    a: Record<string, unknown>,
    uuid: string | undefined,
    bytes: number | { min: number; max: number },
  ): KmeKey {
    const keys = a.keys;
    if (!Array.isArray(keys) || keys.length !== 1)
      throw this.fail(op, 'malformed', `"keys" is not a list of exactly one key`);
    const k = keys[0] as Record<string, unknown> | null;
    const id = k?.key_ID;
    if (!isUuid(id)) throw this.fail(op, 'malformed', 'key_ID is not a UUID');
    if (uuid !== undefined && id.toLowerCase() !== uuid.toLowerCase())
      throw this.fail(op, 'malformed', `key_ID ${id} is not the one asked for (${uuid})`);
    const b64 = k?.key;
    if (typeof b64 !== 'string' || !STRICT_BASE64.test(b64))
      throw this.fail(op, 'malformed', 'key is not base64');
    const key = Buffer.from(b64, 'base64');
    const [min, max] = typeof bytes === 'number' ? [bytes, bytes] : [bytes.min, bytes.max];
    if (key.length < min || key.length > max) {
      const want = min === max ? `${min * 8}` : `${min * 8} to ${max * 8}`;
      key.fill(0);
      throw this.fail(op, 'malformed', `key has ${key.length * 8} bits, not ${want}`);
    }
    return { uuid: id.toLowerCase(), key };
  }

  private fail(op: Op, failure: KmeError['failure'], reason: string, status?: number): KmeError {
    this.metrics.kmeFailures.inc({ kme: this.name, reason: failure, op });
    return new KmeError(failure, reason, status);
  }

  private async call(
    op: Op,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    this.metrics.kmeRequests.inc({ kme: this.name, op });
    if (this.inFlight >= this.o.max_connections * (1 + QUEUE_PER_CONNECTION))
      throw this.fail(op, 'unavailable', `${this.inFlight} requests to the KME already in flight`);
    this.inFlight++;
    const started = performance.now();
    try {
      const { status, text } = await this.send(op, method, path, body);
      this.metrics.kmeLatency.observe((performance.now() - started) / 1000);
      return this.judge(op, status, text);
    } finally {
      this.inFlight--;
    }
  }

  /** The KME's status and body as text, or a KmeError for no answer. */
  private send(
    op: Op,
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const timeoutMs = this.o.timeout_seconds * 1000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (e: KmeError | undefined, v?: { status: number; text: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve(v!);
      };
      const req = request(
        `${this.base}${path}`,
        {
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(payload && { 'content-type': 'application/json', 'content-length': payload.length }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy();
              c.fill(0);
              wipe();
              done(new KmeError('malformed', `answer longer than ${MAX_ANSWER_BYTES} bytes`));
            } else chunks.push(c);
          });
          // An answer may hold keys: its bytes are wiped on every path (the parsed text, a JS
          // string, cannot be: docs/key-sources.md).
          const wipe = (): void => {
            for (const c of chunks) c.fill(0);
            chunks.length = 0;
          };
          res.on('close', wipe);
          res.on('end', () => {
            const all = Buffer.concat(chunks);
            const text = all.toString('utf8');
            wipe();
            all.fill(0);
            done(undefined, { status: res.statusCode ?? 0, text });
          });
          res.on('error', (e) => done(new KmeError('unavailable', `answer cut: ${errorMessage(e)}`)));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done(new KmeError('unavailable', `no answer within ${this.o.timeout_seconds} s`));
      }, timeoutMs);
      req.on('error', (e) => done(transportError(e)));
      req.end(payload);
    }).catch((e: unknown) => {
      if (e instanceof KmeError) this.metrics.kmeFailures.inc({ kme: this.name, reason: e.failure, op });
      throw e;
    }) as Promise<{ status: number; text: string }>;
  }

  private judge(op: Op, status: number, text: string): Record<string, unknown> {
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status === 200) {
      if (typeof json !== 'object' || json === null || Array.isArray(json))
        throw this.fail(op, 'malformed', 'answer is not a JSON object');
      return json as Record<string, unknown>;
    }
    const said = kmeMessage(json);
    const why = `HTTP ${status}${said ? `: ${said}` : ''}`;
    if (status === 401 || status === 403) throw this.fail(op, 'unauthorized', why, status);
    if (op === 'dec_keys' && (status === 400 || status === 404))
      throw this.fail(op, 'not_found', why, status);
    if (op === 'enc_keys' && (status === 400 || status === 422)) throw this.fail(op, 'size', why, status);
    if (status >= 500) throw this.fail(op, 'unavailable', why, status);
    throw this.fail(op, 'refused', why, status);
  }
}

const enc = (saeId: string): string => encodeURIComponent(saeId);

/** The KME's own words: ETSI's {"message"}, FastAPI's {"detail": text | [{msg}]}; clipped. */
export function kmeMessage(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  const d = o.message ?? o.detail;
  const text =
    typeof d === 'string'
      ? d
      : Array.isArray(d)
        ? d
            .map((x) =>
              typeof x === 'object' && x !== null ? String((x as { msg?: unknown }).msg) : String(x),
            )
            .join('; ')
        : undefined;
  return text === undefined
    ? undefined
    : [...text]
        .map((c) => (c < ' ' ? ' ' : c))
        .join('')
        .slice(0, 200);
}

/** Certificate problems are the operator's (500); anything else is no answer (503). */
function transportError(e: unknown): KmeError {
  const code = errorCode(e) ?? '';
  const msg = errorMessage(e);
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|ERR_TLS_CERT_ALTNAME|ERR_SSL_/.test(code) ||
    /alert|certificate/i.test(msg)
  )
    return new KmeError('tls', `${code || 'TLS'}: ${msg.slice(0, 200)}`);
  return new KmeError('unavailable', `${code || 'no connection'}: ${msg.slice(0, 200)}`);
}
