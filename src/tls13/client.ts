// The TLS 1.3 client over a TCP socket: ClientHandshake (client-handshake.ts) decides, this
// carries its steps, sends the HTTP request once the handshake ends and collects the response.
// What `skip-server probe` and the tests use to play a router.

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

export interface ClientOptions extends ClientHelloOptions {
  host: string;
  port: number;
  /** The HTTP request to send once the handshake ends. */
  request: string;
  /** Send a KeyUpdate (requesting one back) before the request. */
  keyUpdate?: boolean;
  timeoutMs?: number;
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

/** Connects, runs the handshake, sends `request`, and returns the response; AlertError on refusal. */
export function tls13Request(o: ClientOptions): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port: o.port, host: o.host, noDelay: true });
    const timer = setTimeout(() => fail(new Error('TLS 1.3 exchange timed out')), o.timeoutMs ?? 10_000);
    const fail = (e: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const hs = new ClientHandshake({
      ...o,
      ...(o.misbehave?.finished && { finished: o.misbehave.finished }),
    });
    const reader = new RecordReader();
    const messages = new HandshakeReassembler();
    let read: RecordProtection | undefined;
    let write: RecordProtection | undefined;
    /** The handshake ended (our Finished sent) and the request is out. */
    let done = false;
    /** Tests: the bytes sent in place of our Finished are the last we send. */
    let stopped = false;
    let response = '';
    const result = (): ClientResult => ({
      ...(hs.group !== undefined && { group: hs.group }),
      retried: hs.retried,
      response,
    });
    /** New record protection from `secret`; the keys it replaces are wiped. */
    const rekey = (old: RecordProtection | undefined, secret: Buffer): RecordProtection => {
      old?.wipe();
      return new RecordProtection(HASH, secret);
    };

    /** What goes out next: one flight (with the request after our Finished) in one write. */
    const flight: Buffer[] = [];
    const flush = (): void => {
      if (flight.length > 0) socket.write(flight.length === 1 ? flight[0]! : Buffer.concat(flight));
      flight.length = 0;
    };
    const carry = (steps: Step[]): void => {
      for (const s of steps) {
        if (s.kind === 'plain') flight.push(plainRecord(s.type, s.content));
        else if (s.kind === 'read-key') read = rekey(read, s.secret);
        else if (s.kind === 'write-key') write = rekey(write, s.secret);
        else if (s.kind === 'protected') {
          if (s.content[0] === HS.finished && o.misbehave?.insteadOfFinished) {
            flight.push(o.misbehave.insteadOfFinished);
            stopped = true;
          } else if (!stopped) flight.push(write!.seal(s.type, s.content));
        } else if (!stopped) established();
      }
      flush();
    };

    const established = (): void => {
      done = true;
      if (o.keyUpdate) carry(hs.keyUpdate());
      const sealer = write!;
      if (o.misbehave?.afterHandshake)
        return void flight.push(o.misbehave.afterHandshake((type, content) => sealer.seal(type, content)));
      flight.push(sealer.seal(CONTENT.application, Buffer.from(o.request)));
    };

    socket.on('data', (d: Buffer) => {
      try {
        reader.push(d);
        for (let r = reader.next(); r; r = reader.next()) {
          if (r.type === CONTENT.ccs) continue;
          let type = r.type;
          let content = r.body;
          if (read && r.type === CONTENT.application) ({ type, content } = read.open(r));
          if (type === CONTENT.alert) {
            const alert = content[1] ?? -1;
            if (alert === ALERT.closeNotify && done) continue;
            throw new AlertError(alert, `server sent alert ${alert}`);
          }
          if (type === CONTENT.application) {
            response += content.toString('latin1');
            if (o.complete?.(response)) {
              socket.end(write!.seal(CONTENT.alert, Buffer.from([1, ALERT.closeNotify])));
              clearTimeout(timer);
              return resolve(result());
            }
            continue;
          }
          for (const msg of messages.add(content)) carry(hs.message(msg));
        }
      } catch (e) {
        fail(e);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => {
      clearTimeout(timer);
      hs.wipe();
      read?.wipe();
      write?.wipe();
      if (!done) return reject(new Error('connection closed before the handshake ended'));
      resolve(result());
    });
    socket.on('connect', () => carry(hs.start()));
  });
}
