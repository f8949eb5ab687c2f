// etcd v3 through its JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant on each
// member's client URL) over node:http or node:https with kept-alive agents: no gRPC stack. Keys
// and values travel base64; int64 fields are decimal strings. A request goes to one member and,
// on a connection failure, a timeout or an answer that is not 200, to the next, until the
// operation's deadline: callers make their writes safe to repeat (etcd-store.ts).

import http from 'node:http';
import https from 'node:https';

export interface EtcdClientOptions {
  endpoints: readonly string[];
  /** PEM: the members' CA, and this client's certificate and key (mutual TLS). */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  dialTimeoutMs: number;
  requestTimeoutMs: number;
  /** Kept-alive connections per member, at most. */
  maxConnectionsPerMember?: number;
  /** Requests in flight at once, at most; more are refused (EtcdUnavailableError ETCD_BUSY). */
  maxInFlight?: number;
}

/** No member answered within the deadline (unreachable, no leader, no quorum), or too many
 * requests are in flight. `code` is an errno, ETCD_TIMEOUT, ETCD_BUSY or ETCD_HTTP_<status>. */
export class EtcdUnavailableError extends Error {
  constructor(
    readonly code: string,
    detail: string,
  ) {
    super(`etcd unavailable (${code}): ${detail}`);
    this.name = 'EtcdUnavailableError';
  }
}

/** A member answered with a definite refusal (HTTP 400 or 404: a lease not found, a bad request). */
export class EtcdRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`etcd refused the request (${status}): ${message}`);
    this.name = 'EtcdRequestError';
  }
}

export interface Kv {
  key: Buffer;
  value: Buffer;
  modRevision: string;
}

/** One operation of a txn, in the gateway's JSON form. */
export type TxnOp = Record<string, unknown>;
export type Compare = Record<string, unknown>;

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

/** The first key after every key that begins with `prefix` (a range's range_end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export const op = {
  put: (key: Buffer, value: Buffer, lease?: string): TxnOp => ({
    request_put: { key: b64(key), value: b64(value), ...(lease !== undefined && { lease }) },
  }),
  get: (key: Buffer): TxnOp => ({ request_range: { key: b64(key) } }),
  countPrefix: (prefix: Buffer): TxnOp => ({
    request_range: { key: b64(prefix), range_end: b64(prefixEnd(prefix)), count_only: true },
  }),
  take: (key: Buffer): TxnOp => ({ request_delete_range: { key: b64(key), prev_kv: true } }),
};

export const cmp = {
  absent: (key: Buffer): Compare => ({
    key: b64(key),
    target: 'CREATE',
    result: 'EQUAL',
    create_revision: '0',
  }),
  present: (key: Buffer): Compare => ({ key: b64(key), target: 'VERSION', result: 'GREATER', version: '0' }),
};

interface RawKv {
  key?: string;
  value?: string;
  mod_revision?: string;
}

const kv = (r: RawKv): Kv => ({
  key: Buffer.from(r.key ?? '', 'base64'),
  value: Buffer.from(r.value ?? '', 'base64'),
  modRevision: r.mod_revision ?? '0',
});

export interface TxnResult {
  succeeded: boolean;
  /** Per operation: the kvs a range found (or a delete's previous kvs), and a range's count. */
  results: { kvs: Kv[]; count: number }[];
}

export class EtcdClient {
  private readonly agent: http.Agent;
  private next = 0;
  private inFlight = 0;
  private closed = false;

  constructor(private readonly o: EtcdClientOptions) {
    const tls = o.endpoints.some((e) => e.startsWith('https:'));
    const common = { keepAlive: true, maxSockets: o.maxConnectionsPerMember ?? 8, maxFreeSockets: 4 };
    this.agent = tls
      ? new https.Agent({
          ...common,
          ...(o.ca && { ca: o.ca }),
          ...(o.cert && { cert: o.cert }),
          ...(o.key && { key: o.key }),
        })
      : new http.Agent(common);
  }

  /** Requests in flight now, for metrics. */
  get pending(): number {
    return this.inFlight;
  }

  get maxInFlight(): number {
    return this.o.maxInFlight ?? 256;
  }

  async range(
    key: Buffer,
    opts: { revision?: string; prefix?: boolean; countOnly?: boolean } = {},
  ): Promise<{ kvs: Kv[]; count: number }> {
    const r = (await this.post('/v3/kv/range', {
      key: b64(key),
      ...(opts.prefix && { range_end: b64(prefixEnd(key)) }),
      ...(opts.revision !== undefined && { revision: opts.revision }),
      ...(opts.countOnly && { count_only: true }),
    })) as { kvs?: RawKv[]; count?: string };
    return { kvs: (r.kvs ?? []).map(kv), count: Number(r.count ?? 0) };
  }

  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    const r = (await this.post('/v3/kv/txn', { compare, success, failure })) as {
      succeeded?: boolean;
      responses?: Record<string, { kvs?: RawKv[]; prev_kvs?: RawKv[]; count?: string } | undefined>[];
    };
    return {
      succeeded: r.succeeded === true,
      results: (r.responses ?? []).map((one) => {
        const body = one.response_range ?? one.response_delete_range ?? one.response_put ?? {};
        return { kvs: (body.kvs ?? body.prev_kvs ?? []).map(kv), count: Number(body.count ?? 0) };
      }),
    };
  }

  /** A lease of `ttlS` seconds; its ID as etcd's decimal string (it may exceed 2^53). */
  async grant(ttlS: number): Promise<string> {
    const r = (await this.post('/v3/lease/grant', { TTL: String(ttlS) })) as { ID?: string; error?: string };
    if (r.ID === undefined) throw new EtcdRequestError(200, r.error ?? 'no lease ID in the answer');
    return r.ID;
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  /** POSTs `body` to a member, trying the others in turn until the deadline. */
  private async post(path: string, body: unknown): Promise<unknown> {
    if (this.closed) throw new EtcdUnavailableError('ETCD_CLOSED', 'the etcd client is closed');
    const max = this.maxInFlight;
    if (this.inFlight >= max)
      throw new EtcdUnavailableError('ETCD_BUSY', `${max} requests to etcd are in flight already`);
    this.inFlight++;
    const payload = Buffer.from(JSON.stringify(body));
    const deadline = Date.now() + this.o.requestTimeoutMs;
    let last: EtcdUnavailableError | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        const left = deadline - Date.now();
        if (left <= 0 || this.closed)
          throw last ?? new EtcdUnavailableError('ETCD_TIMEOUT', 'no member answered in time');
        const endpoint = this.o.endpoints[this.next % this.o.endpoints.length]!;
        try {
          return await this.once(endpoint, path, payload, left);
        } catch (e) {
          if (!(e instanceof EtcdUnavailableError)) throw e;
          last = e;
          this.next++;
          // A full turn of the members failed: wait a little before the next (an election takes ~1 s).
          if ((attempt + 1) % this.o.endpoints.length === 0)
            await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
        }
      }
    } finally {
      this.inFlight--;
    }
  }

  private once(endpoint: string, path: string, payload: Buffer, timeoutMs: number): Promise<unknown> {
    const url = new URL(path, endpoint);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let connected = false;
      const fail = (code: string, detail: string): void => {
        req.destroy();
        reject(new EtcdUnavailableError(code, `${endpoint}: ${detail}`));
      };
      const req = mod.request(url, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      });
      const dial = setTimeout(
        () => {
          if (!connected) fail('ETCD_TIMEOUT', `no connection within ${this.o.dialTimeoutMs} ms`);
        },
        Math.min(this.o.dialTimeoutMs, timeoutMs),
      );
      const whole = setTimeout(() => fail('ETCD_TIMEOUT', `no answer within ${timeoutMs} ms`), timeoutMs);
      const done = (): void => {
        clearTimeout(dial);
        clearTimeout(whole);
      };
      req.on('socket', (s) => {
        if (!s.connecting) connected = true;
        else s.once('connect', () => (connected = true)).once('secureConnect', () => (connected = true));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        done();
        reject(new EtcdUnavailableError(e.code ?? 'ETCD_ERROR', `${endpoint}: ${e.message}`));
      });
      req.on('response', (res) => {
        connected = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // An answer is a few kvs; 64 MiB bounds a count_only-less range gone wrong.
          if (size > 64 * 1024 * 1024) fail('ETCD_TOO_BIG', 'answer over 64 MiB');
          else chunks.push(c);
        });
        res.on('error', () => {});
        res.on('end', () => {
          done();
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status === 200 && parsed !== undefined) return resolve(parsed);
          const message =
            (parsed as { error?: string; message?: string } | undefined)?.message ?? text.slice(0, 200);
          if (status === 400 || status === 404) return reject(new EtcdRequestError(status, message));
          reject(new EtcdUnavailableError(`ETCD_HTTP_${status}`, `${endpoint}: ${message}`));
        });
      });
      req.end(payload);
    });
  }
}
