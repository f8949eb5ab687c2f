// Property fuzzing of the TLS 1.3 engine: arbitrary bytes and mutated ClientHellos
// never throw anything but a refusal (AlertError), never get past the handshake, and a live KP
// hit by them keeps serving.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../src/config/load.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { memoryLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { parseClientHello } from '../src/tls13/client-hello.js';
import { buildClientHello, tls13Request } from '../src/tls13/client.js';
import { ServerHandshake } from '../src/tls13/handshake.js';
import { AlertError, RecordProtection, RecordReader, plainRecord } from '../src/tls13/record.js';
import { parseHttp } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';

const refusal = (fn: () => unknown): void => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AlertError, `not a refusal: ${String(e)}`);
  }
};

const PSK = Buffer.alloc(48, 7);
const table = { lookup: (id: string) => (id === 'router-a' ? PSK : undefined) };
const valid = (): Buffer => buildClientHello({ identity: 'router-a', psk: PSK }).message;

describe('fuzzing the TLS 1.3 parsers', () => {
  it('ClientHello parser: arbitrary bytes are parsed or refused, never anything else', () => {
    const hello = fc.uint8Array({ maxLength: 600 }).map((b) => {
      const body = Buffer.from(b);
      return Buffer.concat([
        Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
        body,
      ]);
    });
    fc.assert(
      fc.property(
        fc.oneof(
          hello,
          fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
        ),
        (b) => refusal(() => parseClientHello(b)),
      ),
      { numRuns: 3000 },
    );
  });

  it('a ClientHello changed in any byte never gets past the handshake', () => {
    const base = valid();
    assert.ok(new ServerHandshake({ psk: table }).message(base).length > 0, 'the valid hello is accepted');
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const m = Buffer.from(base);
        m[at]! ^= x;
        const hs = new ServerHandshake({ psk: table });
        assert.throws(() => hs.message(m), AlertError, `byte ${at} ^ ${x} accepted`);
      }),
      { numRuns: 2000 },
    );
  });

  it('record layer: arbitrary records are split or refused, and never open without the key', () => {
    const key = new RecordProtection('sha384', Buffer.alloc(48, 1));
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (chunks) => {
        const reader = new RecordReader();
        refusal(() => {
          for (const c of chunks) {
            reader.push(Buffer.from(c));
            for (let r = reader.next(); r; r = reader.next()) refusal(() => key.open(r));
          }
        });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('fuzzing the live TLS 1.3 engine', () => {
  let dir: string;
  let files: KpFiles;
  let kp: RunningServer;
  const log = memoryLogger();

  before(async () => {
    dir = join(tmpdir(), `skip-fuzz13-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    kp = await startServer(loadConfig(files.config), { log, masterKey: masterKeyFromEnv({ ...files.env }) });
  });
  after(async () => {
    await kp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (data: Buffer): Promise<Buffer> =>
    new Promise((resolve) => {
      const s = connect(kp.encryptor.port, '127.0.0.1');
      const got: Buffer[] = [];
      const timer = setTimeout(() => s.destroy(), 400);
      s.on('connect', () => s.write(data));
      s.on('data', (d: Buffer) => got.push(d));
      s.on('error', () => undefined);
      s.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(got))));
    });

  it('garbage after a valid ClientHello, or instead of it, is refused and nothing is served', async () => {
    const psk = Buffer.from(files.encryptor.key, 'hex');
    const hello = plainRecord(22, buildClientHello({ identity: files.encryptor.identity, psk }).message);
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        async (prefix, junk) => {
          await send(Buffer.concat([prefix ? hello : Buffer.alloc(0), Buffer.from(junk)]));
          // A connection whose handshake finished logs 'tls connection closed on error' when it
          // breaks, and a request line when it is served: neither may appear.
          const past = log.lines.filter(
            (l) => l.event === 'request' || l.event === 'tls connection closed on error',
          );
          assert.deepEqual(
            past,
            [],
            `${prefix ? 'hello + ' : ''}${Buffer.from(junk).toString('hex')} got past the handshake`,
          );
        },
      ),
      { numRuns: 50 },
    );
    const ok = await tls13Request({
      host: '127.0.0.1',
      port: kp.encryptor.port,
      identity: files.encryptor.identity,
      psk,
      request: 'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n',
    });
    assert.equal(parseHttp(ok.response).status, 200);
  });
});
