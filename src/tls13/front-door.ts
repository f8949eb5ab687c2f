// The encryptor port's front door: reads the ClientHello of each new connection and routes it.
// TLS 1.3 with TLS_AES_256_GCM_SHA384 and a PSK bound to SHA-384 (a 48-byte binder) goes to this
// engine; anything else goes, bytes intact, to node:tls (TLS 1.2 PSK suites, or the handshake's
// own refusal). A TLS 1.3-only offer with a SHA-256 PSK is refused here with a handshake_failure
// alert and a log line that says what was offered. What it holds per connection is bounded
// (MAX_HELLO_BYTES), and records that break RFC 8446 §5.1 (empty, or a ClientHello sharing its
// record) or a ClientHello over 16 KiB are refused here, whatever version they offer.

import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import {
  ALERT,
  CONTENT,
  MAX_CIPHERTEXT,
  MAX_HANDSHAKE_MESSAGE,
  MAX_PLAINTEXT,
  TLS12,
  TLS13,
  TLS_AES_256_GCM_SHA384,
  suiteName,
} from './constants.js';
import { parseClientHello, type ClientHello } from './client-hello.js';
import { Tls13Connection, type Tls13Socket } from './connection.js';
import type { Negotiated, PskLookup } from './handshake.js';
import { HandshakeReassembler } from './reassembly.js';
import { AlertError, RecordReader, plainRecord, type RawRecord, type RefusalKind } from './record.js';

export interface FrontDoorOptions {
  psk: PskLookup;
  handshakeTimeoutMs: number;
  groups?: readonly number[];
  secure(socket: Tls13Socket, negotiated: Negotiated): void;
  /** A connection goes to node:tls; `serverName` is its ClientHello's SNI, when it had one. */
  toNode?(raw: Socket, serverName: string | undefined): void;
  refused(
    raw: Socket,
    reason: string,
    extra: {
      alert: number;
      identity?: string;
      afterHandshake: boolean;
      tls?: '1.3';
      serverName?: string;
      /** The kind of refusal, when the engine knows it (the metric's reason label). */
      kind?: RefusalKind;
    },
  ): void;
}

type Route = { to: 'engine'; hello: ClientHello } | { to: 'node' } | { to: 'refuse'; reason: string };

/** Most bytes of records the front door holds for one ClientHello: the largest message taken,
 * twice (its record headers when split into small fragments), and one record in flight. Past it
 * the connection is refused: a half-open connection holds at most this much. */
export const MAX_HELLO_BYTES = 2 * (4 + MAX_HANDSHAKE_MESSAGE) + 5 + MAX_CIPHERTEXT;

const REQUIRED =
  'this KP serves TLS 1.3 PSKs bound to SHA-384 with TLS_AES_256_GCM_SHA384 (draft-cisco-skip-02 Table 1), or TLS 1.2';

/** What a refused TLS 1.3 PSK offer held, in words: its suites and the hash its binders imply. */
function offered(hello: ClientHello, sha384: boolean): string {
  const suites = hello.cipherSuites.filter((s) => s >> 8 === 0x13).map(suiteName);
  const binders = [...new Set(hello.psk!.binders.map((b) => b.length))].join('/');
  const hash = sha384 ? 'SHA-384' : binders === '32' ? 'SHA-256' : 'unknown-hash';
  return `a ${hash} PSK (${binders}-byte binder) with ${suites.length ? suites.join(', ') : 'no TLS 1.3 suite'}`;
}

/** Where a complete ClientHello goes. */
export function route(hello: ClientHello): Route {
  const tls13 = hello.versions?.includes(TLS13) ?? false;
  const psk = hello.psk;
  if (!tls13 || !psk) return { to: 'node' };
  const sha384 = psk.binders.some((b) => b.length === 48);
  if (sha384 && hello.cipherSuites.includes(TLS_AES_256_GCM_SHA384)) return { to: 'engine', hello };
  if (hello.versions!.includes(TLS12)) return { to: 'node' }; // served TLS 1.2 with an AES-256 PSK suite
  return { to: 'refuse', reason: `TLS 1.3 only, offered with ${offered(hello, sha384)}: ${REQUIRED}` };
}

/** Puts the front door on `server`'s raw connections, in place of node:tls's own listener. */
export function installFrontDoor(server: Server, o: FrontDoorOptions): void {
  const listeners = server.listeners('connection') as ((s: Socket) => void)[];
  if (listeners.length !== 1) throw new Error('expected node:tls to be the only connection listener');
  const tlsListener = listeners[0]!;
  server.removeListener('connection', tlsListener);
  server.prependListener('connection', (socket: Socket) => {
    const reader = new RecordReader();
    const seen: Buffer[] = [];
    let consumed = 0;
    const timer = setTimeout(() => {
      o.refused(socket, 'handshake not finished in time', {
        alert: -1,
        afterHandshake: false,
        kind: 'timeout',
      });
      socket.destroy();
    }, o.handshakeTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // A reset before anyone else listens must not become an uncaught 'error'.
    socket.on('error', () => socket.destroy());
    let serverName: string | undefined;
    const toNode = (): void => {
      socket.removeListener('data', onData);
      socket.pause();
      socket.unshift(Buffer.concat(seen));
      clearTimeout(timer);
      o.toNode?.(socket, serverName);
      tlsListener.call(server, socket);
    };
    const refuse = (alert: number, reason: string, tls13 = false, kind?: RefusalKind): void => {
      socket.removeListener('data', onData);
      clearTimeout(timer);
      seen.length = 0;
      socket.end(plainRecord(CONTENT.alert, Buffer.from([2, alert])));
      socket.destroySoon();
      o.refused(socket, reason, {
        alert,
        afterHandshake: false,
        ...(tls13 && { tls: '1.3' as const }),
        ...(serverName !== undefined && { serverName }),
        ...(kind && { kind }),
      });
    };
    let held = 0;
    const messages = new HandshakeReassembler({
      tooLarge: (len, max) =>
        new AlertError(
          ALERT.illegalParameter,
          `ClientHello of ${len} bytes (limit ${max}: a ClientHello with a post-quantum key share is about 1.6 KB)`,
        ),
    });
    /** The next record, or 'not-tls' when the bytes are not TLS records. */
    const nextRecord = (): RawRecord | undefined | 'not-tls' => {
      try {
        return reader.next();
      } catch {
        return 'not-tls';
      }
    };
    const onData = (d: Buffer): void => {
      seen.push(d);
      reader.push(d);
      held += d.length;
      let complete: Buffer | undefined;
      try {
        for (let r = nextRecord(); r && !complete; r = nextRecord()) {
          // Not TLS records: node:tls answers it as it would (and logs why).
          if (r === 'not-tls' || r.type !== CONTENT.handshake) return toNode();
          // Records before the keys are plaintext: 2^14 bytes at most (§5.1).
          if (r.body.length > MAX_PLAINTEXT)
            throw new AlertError(
              ALERT.recordOverflow,
              `plaintext record of ${r.body.length} bytes (limit ${MAX_PLAINTEXT})`,
            );
          consumed += 5 + r.body.length;
          for (const msg of messages.add(r.body)) {
            messages.endsRecord('handshake data after the ClientHello in the same record');
            complete = msg;
          }
        }
      } catch (e) {
        // Empty handshake records are forbidden (RFC 8446 §5.1, RFC 5246 §6.2.1): they would let
        // a client send forever without completing a message. Nor is a ClientHello over the limit
        // or sharing its record taken, whatever version it offers.
        if (e instanceof AlertError) return refuse(e.alert, e.message);
        throw e;
      }
      if (!complete && held > MAX_HELLO_BYTES)
        return refuse(
          ALERT.unexpectedMessage,
          `ClientHello not complete after ${held} bytes of records (limit ${MAX_HELLO_BYTES})`,
        );
      if (!complete) return;
      let ch: ClientHello;
      try {
        ch = parseClientHello(complete);
      } catch (e) {
        // A ClientHello that breaks the rules (duplicated extensions, pre_shared_key not last,
        // binders that do not match identities, bad lengths): refused here, saying which rule.
        if (e instanceof AlertError) return refuse(e.alert, e.message);
        throw e;
      }
      decide(ch);
    };
    const decide = (ch: ClientHello): void => {
      serverName = ch.serverName;
      const r = route(ch);
      if (r.to === 'node') return toNode();
      if (r.to === 'refuse') return refuse(ALERT.handshakeFailure, r.reason, true, 'no_common_profile');
      socket.removeListener('data', onData);
      const rest = Buffer.concat(seen).subarray(consumed);
      const conn = new Tls13Connection(
        socket,
        { psk: o.psk, ...(o.groups && { groups: o.groups }) },
        {
          secure: (plain, negotiated) => {
            clearTimeout(timer);
            o.secure(plain, negotiated);
          },
          refused: (reason, alert, identity, afterHandshake, kind) =>
            o.refused(socket, reason, {
              alert,
              ...(identity !== undefined && { identity }),
              afterHandshake,
              tls: '1.3',
              ...(serverName !== undefined && { serverName }),
              ...(kind && { kind }),
            }),
        },
      );
      conn.start(r.hello, rest);
      socket.resume();
    };
    socket.on('data', onData);
  });
}
