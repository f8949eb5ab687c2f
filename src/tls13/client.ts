// The TLS 1.3 client over a TCP socket: ClientHandshake (client-handshake.ts) decides, this
// carries its steps and the application data after it. `tls13Request` sends one HTTP request in
// the flight of its Finished and collects the response (what `skip-server probe` and the tests
// use to play a router); `tls13Connect` keeps the connection for one request after another, as a
// router with a kept-alive SKIP client does.

import { connect, type Socket } from 'node:net';
import { ClientHandshake, type ClientHelloOptions } from './client-handshake.js';
import { ALERT, CONTENT, HASH, HS } from './constants.js';
import type { Step } from './handshake.js';
import { HandshakeReassembler } from './reassembly.js';
import { AlertError, RecordProtection, RecordReader, plainRecord } from './record.js';

export { buildClientHello, type BuiltHello, type ClientHelloOptions } from './client-handshake.js';

export interface ClientResult {
  group?: number;
  retried: boolean;
  /** The HTTP response, as text. */
  response: string;
}

export interface ConnectOptions extends ClientHelloOptions {
  host: string;
  port: number;
  timeoutMs?: number;
}

export interface ClientOptions extends ConnectOptions {
  /** The HTTP request to send once the handshake ends. */
  request: string;
  /** Send a KeyUpdate (requesting one back) before the request. */
  keyUpdate?: boolean;
  /** True once the response is whole (e.g. Content-Length reached): close then, not at EOF. */
  complete?: (response: string) => boolean;
  /** Tests: what the client sends instead, to check the server's refusals. */
  misbehave?: {
    /** Replaces the client's Finished message. */
    finished?: (msg: Buffer) => Buffer;
    /** Bytes sent as they are in place of the client's Finished, and nothing after them. */
    insteadOfFinished?: Buffer;
    /** Records sent after the handshake instead of the request; `seal` protects with the client's key. */
    afterHandshake?: (seal: (type: number, content: Buffer) => Buffer) => Buffer;
  };
}

/** What a session tells its user. */
interface SessionEvents {
  /** The handshake ended; what it returns goes out in the flight of our Finished. */
  established(seal: (type: number, content: Buffer) => Buffer): Buffer | undefined;
  /** Application data arrived. */
  data(text: string): void;
  /** The socket closed; `established` says whether the handshake had ended. */
  closed(established: boolean): void;
  failed(e: Error): void;
}

/** One TLS 1.3 connection: the handshake, then protected application data both ways. */
class ClientSession {
  readonly socket: Socket;
  private readonly hs: ClientHandshake;
  private readonly reader = new RecordReader();
  private readonly messages = new HandshakeReassembler();
  private read: RecordProtection | undefined;
  private write: RecordProtection | undefined;
  /** The handshake ended (our Finished sent). */
  private done = false;
  /** Tests: the bytes sent in place of our Finished are the last we send. */
  private stopped = false;
  /** What goes out next: one flight in one write. */
  private readonly flight: Buffer[] = [];

  constructor(
    private readonly o: ClientOptions | ConnectOptions,
    private readonly on: SessionEvents,
  ) {
    const m = 'misbehave' in o ? o.misbehave : undefined;
    this.hs = new ClientHandshake({ ...o, ...(m?.finished && { finished: m.finished }) });
    this.socket = connect({ port: o.port, host: o.host, noDelay: true });
    this.socket.on('data', (d: Buffer) => this.receive(d));
    this.socket.on('error', (e) => on.failed(e));
    this.socket.on('close', () => {
      this.wipe();
      on.closed(this.done);
    });
    this.socket.on('connect', () => this.carry(this.hs.start()));
  }

  get result(): Omit<ClientResult, 'response'> {
    return { ...(this.hs.group !== undefined && { group: this.hs.group }), retried: this.hs.retried };
  }

  /** Protected application data, in one write. */
  send(text: string): void {
    this.socket.write(this.write!.seal(CONTENT.application, Buffer.from(text)));
  }

  /** close_notify, then the end of our side. */
  end(): void {
    this.socket.end(this.write!.seal(CONTENT.alert, Buffer.from([1, ALERT.closeNotify])));
  }

  wipe(): void {
    this.hs.wipe();
    this.read?.wipe();
    this.write?.wipe();
  }

  /** New record protection from `secret`; the keys it replaces are wiped. */
  private rekey(old: RecordProtection | undefined, secret: Buffer): RecordProtection {
    old?.wipe();
    return new RecordProtection(HASH, secret);
  }

  private carry(steps: Step[]): void {
    const m = 'misbehave' in this.o ? this.o.misbehave : undefined;
    for (const s of steps) {
      if (s.kind === 'plain') this.flight.push(plainRecord(s.type, s.content));
      else if (s.kind === 'read-key') this.read = this.rekey(this.read, s.secret);
      else if (s.kind === 'write-key') this.write = this.rekey(this.write, s.secret);
      else if (s.kind === 'protected') {
        if (s.content[0] === HS.finished && m?.insteadOfFinished) {
          this.flight.push(m.insteadOfFinished);
          this.stopped = true;
        } else if (!this.stopped) this.flight.push(this.write!.seal(s.type, s.content));
      } else if (!this.stopped) this.established();
    }
    if (this.flight.length > 0)
      this.socket.write(this.flight.length === 1 ? this.flight[0]! : Buffer.concat(this.flight));
    this.flight.length = 0;
  }

  private established(): void {
    this.done = true;
    if ('keyUpdate' in this.o && this.o.keyUpdate) this.carry(this.hs.keyUpdate());
    const sealer = this.write!;
    const extra = this.on.established((type, content) => sealer.seal(type, content));
    if (extra) this.flight.push(extra);
  }

  private receive(d: Buffer): void {
    try {
      this.reader.push(d);
      for (let r = this.reader.next(); r; r = this.reader.next()) {
        if (r.type === CONTENT.ccs) continue;
        let type = r.type;
        let content = r.body;
        if (this.read && r.type === CONTENT.application) ({ type, content } = this.read.open(r));
        if (type === CONTENT.alert) {
          const alert = content[1] ?? -1;
          if (alert === ALERT.closeNotify && this.done) continue;
          throw new AlertError(alert, `server sent alert ${alert}`);
        }
        if (type === CONTENT.application) {
          this.on.data(content.toString('latin1'));
          continue;
        }
        for (const msg of this.messages.add(content)) this.carry(this.hs.message(msg));
      }
    } catch (e) {
      this.on.failed(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

/** Connects, runs the handshake, sends `request`, and returns the response; AlertError on refusal. */
export function tls13Request(o: ClientOptions): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    let response = '';
    let settled = false;
    const finish = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) {
        session.socket.destroy();
        reject(e);
      } else resolve({ ...session.result, response });
    };
    const session: ClientSession = new ClientSession(o, {
      established: (seal) =>
        o.misbehave?.afterHandshake
          ? o.misbehave.afterHandshake(seal)
          : seal(CONTENT.application, Buffer.from(o.request)),
      data: (text) => {
        response += text;
        if (settled || !o.complete?.(response)) return;
        session.end();
        finish();
      },
      closed: (established) =>
        finish(established ? undefined : new Error('connection closed before the handshake ended')),
      failed: (e) => finish(e),
    });
    const timer = setTimeout(() => finish(new Error('TLS 1.3 exchange timed out')), o.timeoutMs ?? 10_000);
  });
}

/** A kept-alive TLS 1.3 connection: one request at a time. */
export interface Tls13Client {
  readonly group?: number;
  /** Sends `request`; resolves with the response once `complete` says it is whole. */
  request(request: string, complete: (response: string) => boolean): Promise<string>;
  /** close_notify and the end of the connection. */
  close(): void;
}

/** Connects and runs the handshake; resolves once it has ended. */
export function tls13Connect(o: ConnectOptions): Promise<Tls13Client> {
  return new Promise((resolve, reject) => {
    let waiting:
      | {
          response: string;
          complete: (r: string) => boolean;
          ok: (r: string) => void;
          fail: (e: Error) => void;
        }
      | undefined;
    let failure: Error | undefined;
    const timeoutMs = o.timeoutMs ?? 10_000;
    const fail = (e: Error): void => {
      failure ??= e;
      clearTimeout(timer);
      session.socket.destroy();
      reject(e);
      const w = waiting;
      waiting = undefined;
      w?.fail(e);
    };
    const client: Tls13Client = {
      get group() {
        return session.result.group;
      },
      request(request, complete) {
        if (failure) return Promise.reject(failure);
        if (waiting) return Promise.reject(new Error('a request is already in flight on this connection'));
        return new Promise<string>((ok, no) => {
          const t = setTimeout(() => fail(new Error('TLS 1.3 request timed out')), timeoutMs);
          waiting = {
            response: '',
            complete,
            ok: (r) => (clearTimeout(t), ok(r)),
            fail: (e) => (clearTimeout(t), no(e)),
          };
          session.send(request);
        });
      },
      close: () => {
        if (!failure) session.end();
        failure ??= new Error('connection closed');
      },
    };
    const session: ClientSession = new ClientSession(o, {
      established: () => {
        clearTimeout(timer);
        // After the flight of our Finished has gone out.
        queueMicrotask(() => resolve(client));
        return undefined;
      },
      data: (text) => {
        const w = waiting;
        if (!w) return fail(new Error('the server sent data with no request in flight'));
        w.response += text;
        if (!w.complete(w.response)) return;
        waiting = undefined;
        w.ok(w.response);
      },
      closed: (established) =>
        fail(new Error(established ? 'connection closed' : 'connection closed before the handshake ended')),
      failed: fail,
    });
    const timer = setTimeout(() => fail(new Error('TLS 1.3 handshake timed out')), timeoutMs);
  });
}
