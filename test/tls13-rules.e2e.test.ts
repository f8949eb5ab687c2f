// phases: runtime
// The record and handshake rules of RFC 8446 that an external suite (tlsfuzzer) found the engine
// and its front door bending, each checked on a real KP over loopback: empty handshake records
// (they kept every byte of a connection that never completed a ClientHello), a ClientHello over
// the engine's limit (it reached node:tls, which blamed the TLS version), a KeyUpdate sharing its
// record, supported_groups without key_share, a Finished of the wrong length, empty alerts.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { ALERT, CONTENT, EXT, HS } from '../src/tls13/constants.js';
import { buildClientHello, tls13Request, type ClientOptions } from '../src/tls13/client.js';
import { AlertError, plainRecord } from '../src/tls13/record.js';
import { extension, handshake } from '../src/tls13/wire.js';
import type { RunningKp } from './helpers/bundle.js';
import type { KpFiles } from './helpers/kp-files.js';
import { startOneKp } from './helpers/one-kp.js';

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;

const oneKp = (t: TestContext): ReturnType<typeof startOneKp> => startOneKp(t);

/** Writes `data` (again and again while `repeat`), returns what came back, the bytes the server
 * took before it closed, and how long that took; gives up after `limitMs`. */
function raw(
  port: number,
  data: Buffer,
  opts: { repeat?: boolean; limitMs?: number } = {},
): Promise<{ back: Buffer; sent: number; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let sent = 0;
    let closed = false;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ back: Buffer.concat(got), sent, ms: Date.now() - started, closed });
    };
    const timer = setTimeout(done, opts.limitMs ?? 5000);
    const pump = (): void => {
      while (!s.destroyed && s.writable) {
        sent += data.length;
        if (!s.write(data) || !opts.repeat) break;
      }
    };
    s.on('connect', pump);
    s.on('drain', () => opts.repeat && pump());
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => ((closed = true), done()));
  });
}

/** Our client's options for this KP's router, with `misbehave` to break one rule. */
const router = (kp: RunningKp, files: KpFiles, misbehave?: ClientOptions['misbehave']): ClientOptions => ({
  host: '127.0.0.1',
  port: kp.port,
  identity: files.encryptor.identity,
  psk: Buffer.from(files.encryptor.key, 'hex'),
  request: get('/capabilities'),
  ...(misbehave && { misbehave }),
});

const alertOf = (b: Buffer): number | undefined => (b[0] === 21 && b.length >= 7 ? b[6] : undefined);

/** The alert the server sent to our client, or a description of what happened instead. */
async function serverAlert(o: ClientOptions): Promise<number | string> {
  try {
    const r = await tls13Request({ ...o, timeoutMs: 4000 });
    return `no alert; the connection ended with ${JSON.stringify(r.response.slice(0, 40))}`;
  } catch (e) {
    if (e instanceof AlertError && /server sent alert/.test(e.message)) return e.alert;
    return e instanceof Error ? e.message : String(e);
  }
}

describe('TLS 1.3 engine: RFC 8446 record and handshake rules', () => {
  it('refuses empty handshake records at once, holding nothing, and keeps serving routers', async (t) => {
    const { kp, files } = await oneKp(t);
    const empty = Buffer.alloc(5 * 13107);
    for (let i = 0; i < empty.length; i += 5) empty.set([22, 3, 1, 0, 0], i);
    const floods = await Promise.all(
      [1, 2, 3, 4].map(() => raw(kp.port, empty, { repeat: true, limitMs: 4000 })),
    );
    // The alert itself may be lost to the reset of a socket closed with unread bytes: each flood
    // is only timed; one empty record alone shows the alert.
    for (const f of floods) {
      assert.ok(f.closed && f.ms < 2000, `closed ${f.closed} after ${f.ms} ms`);
      // What the client got to write, socket buffers of both ends included (several MiB on
      // loopback): a server that kept reading would take hundreds of MiB in its 10 s timeout.
      assert.ok(f.sent < 32 << 20, `the server took ${f.sent} bytes before it closed`);
    }
    const one = await raw(kp.port, Buffer.from([22, 3, 1, 0, 0]));
    assert.equal(alertOf(one.back), ALERT.unexpectedMessage, one.back.subarray(0, 8).toString('hex'));
    await kp.waitFor('tls handshake refused', (l) => l.reason === 'empty handshake record');
    const r = await tls13Request(router(kp, files));
    assert.match(r.response, /^HTTP\/1\.1 200/);
  });

  it('bounds the bytes of records one unfinished ClientHello may take', async (t) => {
    const { kp } = await oneKp(t);
    // A ClientHello header announcing 16,000 bytes, then one byte a record: it never completes
    // within the bound, so the connection is refused long before the handshake timeout.
    const head = plainRecord(22, Buffer.from([1, 0, 0x3e, 0x80]));
    const byte = Buffer.alloc(6 * 4096);
    for (let i = 0; i < byte.length; i += 6) byte.set([22, 3, 3, 0, 1, 0], i);
    const s = await raw(kp.port, Buffer.concat([head, byte, byte, byte]), { limitMs: 4000 });
    assert.equal(alertOf(s.back), ALERT.unexpectedMessage);
    assert.ok(s.closed && s.ms < 2000, `closed ${s.closed} after ${s.ms} ms`);
    await kp.waitFor('tls handshake refused', (l) => /ClientHello not complete after/.test(String(l.reason)));
  });

  it('refuses a ClientHello over 16 KiB itself, saying so', async (t) => {
    const { kp, files } = await oneKp(t);
    const m = buildClientHello({
      identity: files.encryptor.identity,
      psk: Buffer.from(files.encryptor.key, 'hex'),
      extraExtensions: [extension(0xfe0d, Buffer.alloc(17_000))],
    }).message;
    const records = Buffer.concat([
      plainRecord(22, m.subarray(0, 16384)),
      plainRecord(22, m.subarray(16384)),
    ]);
    const r = await raw(kp.port, records);
    assert.equal(alertOf(r.back), ALERT.illegalParameter, r.back.subarray(0, 8).toString('hex'));
    const line = await kp.waitFor('tls handshake refused', (l) =>
      /ClientHello of \d+ bytes/.test(String(l.reason)),
    );
    assert.doesNotMatch(JSON.stringify(kp.logs), /TLS version not accepted/);
    assert.equal(line.tls, undefined);
  });

  it('answers a plaintext record over 2^14 bytes with record_overflow, before reading what it holds', async (t) => {
    const { kp, files } = await oneKp(t);
    const m = buildClientHello({
      identity: files.encryptor.identity,
      psk: Buffer.from(files.encryptor.key, 'hex'),
      extraExtensions: [extension(0xfe0d, Buffer.alloc(16_400))],
    }).message;
    const r = await raw(kp.port, plainRecord(22, m.subarray(0, 16_385)));
    assert.equal(alertOf(r.back), ALERT.recordOverflow, r.back.subarray(0, 8).toString('hex'));
  });

  it('answers a KeyUpdate followed by more handshake data in its record with unexpected_message', async (t) => {
    const { kp, files } = await oneKp(t);
    const keyUpdate = Buffer.from([HS.keyUpdate, 0, 0, 1, 0]);
    const got = await serverAlert(
      router(kp, files, {
        afterHandshake: (seal) => seal(CONTENT.handshake, Buffer.concat([keyUpdate, keyUpdate])),
      }),
    );
    assert.equal(got, ALERT.unexpectedMessage);
  });

  it('answers application data between the fragments of a handshake message with unexpected_message', async (t) => {
    const { kp, files } = await oneKp(t);
    const got = await serverAlert(
      router(kp, files, {
        afterHandshake: (seal) =>
          Buffer.concat([
            seal(CONTENT.handshake, Buffer.from([HS.keyUpdate, 0])),
            seal(CONTENT.application, Buffer.from(get('/capabilities'))),
            seal(CONTENT.handshake, Buffer.from([0, 1, 0])),
          ]),
      }),
    );
    assert.equal(got, ALERT.unexpectedMessage);
  });

  it('answers supported_groups without key_share (and the reverse) with missing_extension', async (t) => {
    const { kp, files } = await oneKp(t);
    const psk = Buffer.from(files.encryptor.key, 'hex');
    for (const omit of [EXT.keyShare, EXT.supportedGroups]) {
      const m = buildClientHello({ identity: files.encryptor.identity, psk, omit: [omit] }).message;
      const r = await raw(kp.port, plainRecord(22, m));
      assert.equal(
        alertOf(r.back),
        ALERT.missingExtension,
        `without ${omit}: ${r.back.subarray(0, 8).toString('hex')}`,
      );
    }
  });

  it('answers a Finished of the wrong length with decode_error', async (t) => {
    const { kp, files } = await oneKp(t);
    const got = await serverAlert(
      router(kp, files, {
        finished: (fin) => handshake(HS.finished, Buffer.concat([fin.subarray(4), Buffer.from([0])])),
      }),
    );
    assert.equal(got, ALERT.decodeError);
  });

  it('answers an empty alert record, plain or protected, with unexpected_message', async (t) => {
    const { kp, files } = await oneKp(t);
    const plain = await serverAlert(
      router(kp, files, { insteadOfFinished: plainRecord(CONTENT.alert, Buffer.alloc(0)) }),
    );
    assert.equal(plain, ALERT.unexpectedMessage);
    const sealed = await serverAlert(
      router(kp, files, { afterHandshake: (seal) => seal(CONTENT.alert, Buffer.alloc(0)) }),
    );
    assert.equal(sealed, ALERT.unexpectedMessage);
    await kp.waitFor('tls handshake refused', (l) => l.reason === 'empty alert record');
  });
});
