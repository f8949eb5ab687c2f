// phases: runtime
// Abuse of the encryptor listener: slow, huge and odd requests are cut; others are still served.
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { memoryLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { makePki } from './helpers/pki.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { nodeGet, parseHttp, pskAgent, pskGet, pskSocket } from './helpers/http-client.js';
import { connect } from 'node:net';
import { buildClientHello, tls13Request } from '../src/tls13/client.js';
import { plainRecord } from '../src/tls13/record.js';

describe('encryptor listener limits', () => {
  let dir: string;
  let files: KpFiles;
  let kp: RunningServer;
  const log = memoryLogger();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skip-limits-'));
    files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    kp = await startServer(loadConfig(files.config), {
      log,
      masterKey: masterKeyFromEnv({ ...files.env }),
      limits: {
        headersTimeoutMs: 800,
        requestTimeoutMs: 1_000,
        timeoutCheckMs: 200,
        handshakeTimeoutMs: 800,
      },
    });
  });
  after(async () => {
    await kp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const raw = (): Promise<TLSSocket> => pskSocket(kp.encryptor.port, files.encryptor);
  const collect = (s: TLSSocket): Promise<string> =>
    new Promise((resolve) => {
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('error', () => {});
      s.on('close', () => resolve(data));
    });

  it('cuts a slow-loris client at the header timeout while serving others', async () => {
    const slow = await raw();
    const closed = collect(slow);
    slow.write('GET /capabilities HTTP/1.1\r\nHost: kp\r\n');
    const drip = setInterval(() => slow.writable && slow.write('X-a: b\r\n'), 100);
    try {
      const ok = await pskGet(kp.encryptor.port, '/capabilities', files.encryptor);
      assert.equal(ok.status, 200);
      const t0 = Date.now();
      const answer = await closed;
      assert.ok(Date.now() - t0 < 3_000, 'slow client was not cut in time');
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
  });

  it('answers 431 to oversized headers and closes the connection', async () => {
    const s = await raw();
    const answer = collect(s);
    s.write(`GET /capabilities HTTP/1.1\r\nHost: kp\r\nX-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const r = parseHttp(await answer);
    assert.equal(r.status, 431);
    assert.equal(r.headers['connection'], 'close');
  });

  it('answers 431 to an oversized URL', async () => {
    const r = await pskGet(kp.encryptor.port, `/key?remoteSystemID=${'b'.repeat(20_000)}`, files.encryptor);
    assert.equal(r.status, 431);
  });

  it('refuses a GET with a body and closes the connection', async () => {
    const s = await raw();
    const answer = collect(s);
    s.write('GET /capabilities HTTP/1.1\r\nHost: kp\r\nContent-Length: 5\r\n\r\nhello');
    const r = parseHttp(await answer);
    assert.equal(r.status, 400);
    assert.match(r.body, /no body/);
  });

  it('answers 400 to garbage instead of HTTP', async () => {
    const s = await raw();
    const answer = collect(s);
    s.write('\x16\x03\x01garbage\r\n\r\n');
    assert.match(await answer, /^HTTP\/1\.1 400/);
  });

  it('answers 405 to HEAD and OPTIONS, and serves keep-alive clients in between', async () => {
    const agent = pskAgent(files.encryptor);
    for (let i = 0; i < 5; i++)
      assert.equal((await nodeGet(kp.encryptor.port, '/capabilities', agent)).status, 200);
    for (const m of ['HEAD', 'OPTIONS', 'DELETE']) {
      const r = await pskGet(kp.encryptor.port, '/entropy', files.encryptor, undefined, m);
      assert.equal(r.status, 405, m);
      assert.equal(r.headers['allow'], 'GET');
    }
    agent.destroy();
  });

  /** A raw mutual-TLS connection to the peer port with this KP's own certificate (CA-signed). */
  const rawPeer = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: kp.peer.port,
        ca: readFileSync(join(dir, 'ca.pem')),
        cert: readFileSync(join(dir, 'alice.pem')),
        key: readFileSync(join(dir, 'alice.key')),
        servername: 'localhost',
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });

  it('cuts a slow-loris peer at the header timeout, and answers 431 to oversized peer headers', async () => {
    const slow = await rawPeer();
    const closed = collect(slow);
    slow.write('POST /key-exchange HTTP/1.1\r\nHost: kp\r\n');
    const drip = setInterval(() => slow.writable && slow.write('X-a: b\r\n'), 100);
    try {
      const t0 = Date.now();
      const answer = await closed;
      assert.ok(Date.now() - t0 < 3_000, 'slow peer was not cut in time');
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
    const big = await rawPeer();
    const answer = collect(big);
    big.write(`POST /key-exchange HTTP/1.1\r\nHost: kp\r\nX-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(parseHttp(await answer).status, 431);
  });

  it('TLS 1.3 engine: an incomplete request is cut at the header timeout, a silent handshake at its own', async () => {
    const psk = Buffer.from(files.encryptor.key, 'hex');
    const t0 = Date.now();
    const r = await tls13Request({
      host: '127.0.0.1',
      port: kp.encryptor.port,
      identity: files.encryptor.identity,
      psk,
      request: 'GET /capabilities HTTP/1.1\r\nHost: kp\r\n', // headers never end
    });
    assert.equal(parseHttp(r.response).status, 408);
    assert.ok(Date.now() - t0 < 3_000, 'not cut in time');
    // Half a ClientHello (the front door waits), or a whole one and no Finished (the engine
    // waits): each connection is closed at the handshake timeout, no HTTP answered.
    const hello = plainRecord(22, buildClientHello({ identity: files.encryptor.identity, psk }).message);
    for (const bytes of [hello.subarray(0, 50), hello]) {
      const silent = connect(kp.encryptor.port, '127.0.0.1');
      const got: Buffer[] = [];
      silent.on('data', (d: Buffer) => got.push(d));
      silent.on('error', () => undefined);
      const t1 = Date.now();
      silent.on('connect', () => silent.write(bytes));
      await new Promise((resolve) => silent.on('close', resolve));
      assert.ok(Date.now() - t1 < 3_000, 'silent handshake not cut in time');
      assert.doesNotMatch(Buffer.concat(got).toString('latin1'), /HTTP\/1\.1/);
    }
  });
});
