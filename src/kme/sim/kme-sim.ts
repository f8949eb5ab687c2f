// A simulated QKD network of two linked ETSI GS QKD 014 KMEs on loopback, for the lab and the
// tests: real HTTPS with mutual TLS, the calling SAE named by its client certificate's CN, one
// key pool per (master, slave) pair shared by both KMEs (what the QKD link would give them).
// Faithful to how public KMEs answer: key_IDs are UUID v4, keys padded base64, sizes in
// multiples of 8; dec_keys only for the slave named at enc_keys with its master in the path
// (else 401 without a body); keys removed at dec_keys unless `allowReread` (as most public KMEs
// do); 503 with {"message"} when the pool is empty; GET and POST; unknown fields ignored. The
// 'fastapi' dialect answers as the Python KMEs do: {"detail"}, 422 for a bad request, 404 for
// an unknown key. Never for production: it makes keys with crypto.randomBytes and holds them
// in memory.

import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface SimKmeOptions {
  /** The two KMEs' server certificate and key (PEM files), and the CA their SAEs' certificates come from. */
  certfile: string;
  keyfile: string;
  cafile: string;
  host?: string;
  /** Ports of KME 1 and KME 2 (0: any free one). */
  ports?: [number, number];
  /** SAE ID -> the KME (0 or 1) it is attached to; an SAE at the other KME gets 401. */
  saes: Record<string, 0 | 1>;
  keySize?: number;
  minKeySize?: number;
  maxKeySize?: number;
  maxKeyPerRequest?: number;
  /** Keys each (master, slave) pair may draw before the pool is empty (503). */
  poolSize?: number;
  allowReread?: boolean;
  dialect?: 'etsi' | 'fastapi';
}

/** Faults a test switches on; each corrupts every answer of its kind until switched off. */
export interface SimFaults {
  /** 503 for every request (the QKD link is down). */
  unavailable?: boolean;
  /** 401 for every request (this SAE is not known here). */
  unauthorized?: boolean;
  shortKey?: boolean;
  badBase64?: boolean;
  notUuid?: boolean;
  otherKeyId?: boolean;
  /** No answer at all: the request is held until the client gives up. */
  silent?: boolean;
}

interface Held {
  master: string;
  slave: string;
  key: Buffer;
}

export class SimKmeNetwork {
  readonly faults: SimFaults = {};
  private readonly servers: Server[] = [];
  private readonly keys = new Map<string, Held>();
  private readonly drawn = new Map<string, number>();
  private readonly o: Required<Omit<SimKmeOptions, 'ports' | 'host'>> & { host: string };
  /** Requests answered, by KME and operation, for tests. */
  readonly calls: { kme: 0 | 1; op: string; status: number }[] = [];

  constructor(o: SimKmeOptions) {
    this.o = {
      keySize: 256,
      minKeySize: 256,
      maxKeySize: 256,
      maxKeyPerRequest: 128,
      poolSize: 100_000,
      allowReread: false,
      dialect: 'etsi',
      host: '127.0.0.1',
      ...o,
    };
  }

  /** Starts both KMEs; their base URLs, for kme.url. */
  async start(ports: [number, number] = [0, 0]): Promise<[string, string]> {
    const tls = {
      cert: readFileSync(this.o.certfile),
      key: readFileSync(this.o.keyfile),
      ca: readFileSync(this.o.cafile),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2' as const,
    };
    const urls: string[] = [];
    for (const i of [0, 1] as const) {
      const s = createServer(tls, (req, res) => this.handle(i, req, res));
      s.keepAliveTimeout = 5_000;
      this.servers.push(s);
      await new Promise<void>((ok, fail) => {
        s.once('error', fail);
        s.listen(ports[i], this.o.host, () => ok());
      });
      urls.push(`https://${this.o.host}:${(s.address() as AddressInfo).port}`);
    }
    return urls as [string, string];
  }

  /** Whether dec_keys keeps the keys it returns (most public KMEs do), switchable at run time. */
  set allowReread(v: boolean) {
    this.o.allowReread = v;
  }

  /** Keys still held for the pair, for tests. */
  held(master: string, slave: string): number {
    return [...this.keys.values()].filter((k) => k.master === master && k.slave === slave).length;
  }

  /** Keys that pair may still draw. */
  setPool(master: string, slave: string, left: number): void {
    this.drawn.set(`${master}\u0000${slave}`, this.o.poolSize - left);
  }

  async close(): Promise<void> {
    for (const k of this.keys.values()) k.key.fill(0);
    this.keys.clear();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((ok) => {
            s.close(() => ok());
            s.closeAllConnections();
          }),
      ),
    );
  }

  private handle(kme: 0 | 1, req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, body?: unknown): void => {
      this.calls.push({ kme, op: op ?? req.url ?? '', status });
      if (body === undefined) res.writeHead(status, { 'content-length': 0 }).end();
      else {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      }
    };
    const fastapi = this.o.dialect === 'fastapi';
    const error = (status: number, message: string): void =>
      send(status, fastapi ? { detail: message } : { message });
    const url = new URL(req.url ?? '/', 'https://kme');
    const m = /^\/api\/v1\/keys\/([^/]+)\/(status|enc_keys|dec_keys)$/.exec(url.pathname);
    const op = m?.[2];
    if (this.faults.silent) return;
    const cert = (req.socket as TLSSocket).getPeerCertificate();
    const caller = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
    if (!m) return error(404, 'not found');
    if (req.method !== 'GET' && req.method !== 'POST') return error(405, 'method not allowed');
    if (this.faults.unauthorized || this.o.saes[caller] !== kme) return send(401);
    if (this.faults.unavailable) return error(503, 'no key material: the QKD link is down');
    const other = decodeURIComponent(m[1]!);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 65536) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      if (req.method === 'POST' && size > 0) {
        try {
          const j: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not an object');
          body = j as Record<string, unknown>;
        } catch {
          return error(fastapi ? 422 : 400, 'request body is not a JSON object');
        }
      }
      if (op === 'status') return send(200, this.status(kme, caller, other));
      if (op === 'enc_keys') return this.encKeys(caller, other, url, body, send, error, fastapi);
      return this.decKeys(caller, other, url, body, send, error, fastapi);
    });
  }

  private status(kme: 0 | 1, master: string, slave: string): unknown {
    return {
      source_KME_ID: `SIM_KME_${kme + 1}`,
      target_KME_ID: `SIM_KME_${(this.o.saes[slave] ?? 1 - kme) + 1}`,
      master_SAE_ID: master,
      slave_SAE_ID: slave,
      key_size: this.o.keySize,
      stored_key_count: this.o.poolSize - (this.drawn.get(`${master}\u0000${slave}`) ?? 0),
      max_key_count: this.o.poolSize,
      max_key_per_request: this.o.maxKeyPerRequest,
      max_key_size: this.o.maxKeySize,
      min_key_size: this.o.minKeySize,
      max_SAE_ID_count: 0,
      status_extension: { simulator: true },
    };
  }

  private encKeys(
    master: string,
    slave: string,
    url: URL,
    body: Record<string, unknown>,
    send: (s: number, b?: unknown) => void,
    error: (s: number, m: string) => void,
    fastapi: boolean,
  ): void {
    const num = (k: string, d: number): number => {
      const v = body[k] ?? url.searchParams.get(k) ?? d;
      return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as number);
    };
    const number = num('number', 1);
    const size = num('size', this.o.keySize);
    const invalid = fastapi ? 422 : 400;
    if (!Number.isInteger(number) || number < 1) return error(invalid, '"number" must be a positive integer');
    if (number > this.o.maxKeyPerRequest)
      return error(400, `"number" exceeds max_key_per_request (${this.o.maxKeyPerRequest})`);
    if (!Number.isInteger(size) || size % 8 !== 0 || size < this.o.minKeySize || size > this.o.maxKeySize)
      return error(
        invalid,
        `"size" must be a multiple of 8 from ${this.o.minKeySize} to ${this.o.maxKeySize}`,
      );
    if (this.o.saes[slave] === undefined) return error(400, `unknown slave SAE "${slave}"`);
    const pair = `${master}\u0000${slave}`;
    const drawn = this.drawn.get(pair) ?? 0;
    if (drawn + number > this.o.poolSize) return error(503, 'not enough key material for this SAE pair');
    this.drawn.set(pair, drawn + number);
    const keys = [];
    for (let i = 0; i < number; i++) {
      const uuid = randomUUID();
      const key = randomBytes(size / 8);
      this.keys.set(uuid, { master, slave, key });
      keys.push(this.answerKey(uuid, key));
    }
    send(200, { keys, key_container_extension: { simulator: true } });
  }

  private decKeys(
    slave: string,
    master: string,
    url: URL,
    body: Record<string, unknown>,
    send: (s: number, b?: unknown) => void,
    error: (s: number, m: string) => void,
    fastapi: boolean,
  ): void {
    let ids: unknown[];
    if (Array.isArray(body.key_IDs))
      ids = body.key_IDs.map((k) => (k as { key_ID?: unknown } | null)?.key_ID);
    else if (url.searchParams.has('key_ID')) ids = url.searchParams.getAll('key_ID');
    else return error(fastapi ? 422 : 400, '"key_IDs" is missing');
    if (ids.length === 0 || ids.length > this.o.maxKeyPerRequest)
      return error(400, `from 1 to ${this.o.maxKeyPerRequest} key_IDs`);
    const found: [string, Held][] = [];
    for (const id of ids) {
      const k = typeof id === 'string' ? this.keys.get(id.toLowerCase()) : undefined;
      if (!k) return error(fastapi ? 404 : 400, 'one or more keys specified are not found on KME');
      if (k.slave !== slave || k.master !== master) return send(401);
      found.push([(id as string).toLowerCase(), k]);
    }
    const keys = found.map(([uuid, k]) => this.answerKey(uuid, k.key));
    if (!this.o.allowReread)
      for (const [uuid, k] of found) {
        this.keys.delete(uuid);
        k.key.fill(0);
      }
    send(200, { keys });
  }

  private answerKey(uuid: string, key: Buffer): Record<string, unknown> {
    const f = this.faults;
    const bytes = f.shortKey ? key.subarray(0, key.length - 1) : key;
    return {
      key_ID: f.notUuid ? uuid.replaceAll('-', '') : f.otherKeyId ? randomUUID() : uuid,
      key: f.badBase64 ? `${bytes.toString('base64').slice(0, -2)}*=` : bytes.toString('base64'),
      key_ID_extension: null,
      key_extension: { simulator: 'sim' },
    };
  }
}
