// phases: runtime, exe
// TLS 1.3 with a PSK and TLS_AES_256_GCM_SHA384 (draft-cisco-skip-02 Table 1, REQUIRED), served by
// our engine behind the front door: OpenSSL's s_client as the independent client with
// an external SHA-384 PSK (-psk_session), our own client for what s_client cannot do
// (HelloRetryRequest with a PSK, X25519MLKEM768, KeyUpdate), and the refusals, each with its alert
// and nothing served.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ALERT, EXT, GROUP, PSK_KE } from '../src/tls13/constants.js';
import { buildClientHello, tls13Connect, tls13Request } from '../src/tls13/client.js';
import { plainRecord } from '../src/tls13/record.js';
import { extension, vec } from '../src/tls13/wire.js';
import { parseHttp, sClient } from './helpers/http-client.js';
import { startOneKp } from './helpers/one-kp.js';
import { startPair } from './helpers/pair.js';
import { pskSessionArgs } from './helpers/psk-session.js';

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;

const oneKp = startOneKp;

/** Sends raw bytes, returns what came back before the server closed (or 5 s passed). */
function raw(port: number, data: Buffer, endAfter = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), resolve(Buffer.concat(got))), 5000);
    s.on('connect', () => (endAfter ? s.end(data) : s.write(data)));
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(got))));
    s.on('timeout', reject);
  });
}

const alertOf = (b: Buffer): number | undefined => (b[0] === 21 && b.length >= 7 ? b[6] : undefined);

describe('TLS 1.3 PSK engine (TLS_AES_256_GCM_SHA384)', () => {
  it('sends its first flight (ServerHello to Finished) in one write, so no record waits on an ACK', async (t) => {
    const { kp, files } = await oneKp(t);
    const psk = Buffer.from(files.encryptor.key, 'hex');
    const hello = plainRecord(22, buildClientHello({ identity: files.encryptor.identity, psk }).message);
    // The first read: with one write per record, Nagle's algorithm holds all but the first record
    // until the client ACKs it, so the first read would hold the ServerHello alone.
    const first = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ port: kp.port, host: '127.0.0.1', noDelay: true });
      s.on('connect', () => s.write(hello));
      s.once('data', (d: Buffer) => (s.destroy(), resolve(d)));
      s.on('error', reject);
    });
    const types: number[] = [];
    for (let at = 0; at + 5 <= first.length; at += 5 + first.readUInt16BE(at + 3)) types.push(first[at]!);
    // handshake (ServerHello), then the protected EncryptedExtensions and Finished; a
    // compatibility change_cipher_spec may sit between them.
    assert.equal(types[0], 22);
    assert.ok(types.includes(23), `records in the first read: ${types.join(',')}`);
  });

  it('serves s_client -psk_session with each group, and with psk_ke', async (t) => {
    const { kp, files, dir } = await oneKp(t);
    const args = pskSessionArgs(dir, files.encryptor.identity, files.encryptor.key);
    for (const [groups, temp] of [
      ['x25519', /Server Temp Key: X25519/],
      ['P-256', /Server Temp Key: ECDH, prime256v1/],
      ['P-384', /Server Temp Key: ECDH, secp384r1/],
      // No group in common and psk_ke allowed: no key exchange, the PSK alone.
      ['ffdhe2048', /^(?![\s\S]*Server Temp Key)/],
    ] as const) {
      const r = await sClient(
        kp.port,
        [...args, '-brief', '-groups', groups, '-allow_no_dhe_kex'],
        get('/capabilities'),
      );
      assert.equal(parseHttp(r.stdout).status, 200, `${groups}: ${r.stderr}`);
      assert.match(r.stderr, /Protocol version: TLSv1\.3\nCiphersuite: TLS_AES_256_GCM_SHA384/, groups);
      assert.match(r.stderr, temp, groups);
    }
    // Every request names the identity the engine authenticated. A request's line is written
    // when its answer is done, which may be after s_client has exited: wait for the fourth.
    await kp.waitFor('request', () => kp.logs.filter((l) => l.event === 'request').length >= 4);
    const requests = kp.logs.filter((l) => l.event === 'request');
    assert.ok(requests.length >= 4 && requests.every((l) => l.identity === files.encryptor.identity));
  });

  it('runs the full key flow with one router on TLS 1.3 and the other on TLS 1.2', async (t) => {
    const pair = await startPair(t);
    const a = pair.aliceFiles.encryptor;
    const b = pair.bobFiles.encryptor;
    const first = await sClient(
      pair.alice.port,
      pskSessionArgs(pair.dir, a.identity, a.key),
      get('/key?remoteSystemID=bob'),
    );
    const key = parseHttp(first.stdout).json as { keyId: string; key: string };
    assert.match(key.keyId, /^[0-9a-f]{32}$/, first.stderr);
    const second = await sClient(
      pair.bob.port,
      ['-tls1_2', '-cipher', 'PSK-AES256-GCM-SHA384', '-psk_identity', b.identity, '-psk', b.key],
      get(`/key/${key.keyId}?remoteSystemID=alice`),
    );
    assert.deepEqual(parseHttp(second.stdout).json, key);
    // And the other way round: TLS 1.2 first, TLS 1.3 second.
    const third = await sClient(
      pair.alice.port,
      ['-tls1_2', '-psk_identity', a.identity, '-psk', a.key],
      get('/key?remoteSystemID=bob'),
    );
    const key2 = parseHttp(third.stdout).json as { keyId: string };
    const fourth = await sClient(
      pair.bob.port,
      pskSessionArgs(pair.dir, b.identity, b.key),
      get(`/key/${key2.keyId}?remoteSystemID=alice`),
    );
    assert.deepEqual(parseHttp(fourth.stdout).json, key2);
  });

  it('takes a HelloRetryRequest, the hybrid X25519MLKEM768 group and a KeyUpdate (our client)', async (t) => {
    const { kp, files } = await oneKp(t);
    const base = {
      host: '127.0.0.1',
      port: kp.port,
      identity: files.encryptor.identity,
      psk: Buffer.from(files.encryptor.key, 'hex'),
      request: get('/capabilities'),
    };
    // No share the server takes, but P-384 in supported_groups: the server asks for it.
    const retry = await tls13Request({ ...base, shareGroups: [], groups: [GROUP.secp384r1] });
    assert.equal(retry.retried, true);
    assert.equal(retry.group, GROUP.secp384r1);
    assert.equal(parseHttp(retry.response).status, 200);
    const hybrid = await tls13Request({ ...base, shareGroups: [GROUP.x25519mlkem768, GROUP.x25519] });
    assert.equal(hybrid.group, GROUP.x25519mlkem768);
    assert.equal(parseHttp(hybrid.response).status, 200);
    const updated = await tls13Request({ ...base, keyUpdate: true, alpn: ['http/1.1'] });
    assert.equal(parseHttp(updated.response).status, 200);
    const pskOnly = await tls13Request({ ...base, pskModes: [PSK_KE] });
    assert.equal(pskOnly.group, undefined);
    assert.equal(parseHttp(pskOnly.response).status, 200);
  });

  it('serves request after request on one kept-alive connection (our client, as a kept-alive router)', async (t) => {
    const { kp, files } = await oneKp(t);
    const client = await tls13Connect({
      host: '127.0.0.1',
      port: kp.port,
      identity: files.encryptor.identity,
      psk: Buffer.from(files.encryptor.key, 'hex'),
    });
    t.after(() => client.close());
    /** Whole once the headers and Content-Length bytes of body are in. */
    const whole = (r: string): boolean => {
      const end = r.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *([0-9]+)/i.exec(r)?.[1];
      return end >= 0 && length !== undefined && r.length >= end + 4 + Number(length);
    };
    const keepAlive = 'GET /capabilities HTTP/1.1\r\nHost: kp\r\n\r\n';
    // Each request after the first goes on the same socket: a server that closed it after one
    // answer fails the next request ('connection closed').
    for (let i = 0; i < 3; i++) {
      const text = await client.request(keepAlive, whole);
      const r = parseHttp(text);
      assert.equal(r.status, 200, `request ${i + 1}`);
      assert.match(r.body, /"entropy"/);
      assert.doesNotMatch(text, /\r\nconnection: *close/i);
    }
  });

  it('refuses a wrong PSK and an unknown identity alike (decrypt_error), naming the identity tried', async (t) => {
    const { kp, files, dir } = await oneKp(t);
    const wrong = await sClient(
      kp.port,
      pskSessionArgs(dir, files.encryptor.identity, 'ab'.repeat(48)),
      get('/capabilities'),
    );
    assert.doesNotMatch(wrong.stdout, /HTTP\/1\.1/);
    assert.match(wrong.stderr, /alert decrypt error/);
    await kp.waitFor('tls handshake refused', (l) => /wrong PSK/.test(String(l.reason)));
    const unknown = await sClient(
      kp.port,
      pskSessionArgs(dir, 'router-nobody', 'ab'.repeat(48)),
      get('/capabilities'),
    );
    assert.doesNotMatch(unknown.stdout, /HTTP\/1\.1/);
    assert.match(unknown.stderr, /alert decrypt error/);
    await kp.waitFor(
      'tls handshake refused',
      (l) => l.reason === 'unknown PSK identity' && l.identity === 'router-nobody',
    );
    // No log line holds key material.
    for (const l of kp.logs)
      assert.doesNotMatch(JSON.stringify(l), new RegExp(files.encryptor.key.slice(0, 16)));
  });

  it('refuses malformed offers with the right alert and serves nothing', async (t) => {
    const { kp, files } = await oneKp(t);
    const psk = Buffer.from(files.encryptor.key, 'hex');
    const hello = (o: Partial<Parameters<typeof buildClientHello>[0]> = {}): Buffer =>
      buildClientHello({ identity: files.encryptor.identity, psk, ...o }).message;
    const offer = (m: Buffer): Buffer => plainRecord(22, m);
    const cases: [string, Buffer, number][] = [
      [
        'duplicated extension',
        offer(
          hello({
            extraExtensions: [
              extension(EXT.alpn, vec(2, vec(1, Buffer.from('http/1.1')))),
              extension(EXT.alpn, vec(2, vec(1, Buffer.from('h2')))),
            ],
          }),
        ),
        ALERT.illegalParameter,
      ],
      [
        'early data offered',
        offer(hello({ extraExtensions: [extension(EXT.earlyData, Buffer.alloc(0))] })),
        ALERT.illegalParameter,
      ],
      ['TLS 1.4 only', offer(hello({ versions: [0x0305] })), ALERT.protocolVersion],
      ['no AES-256 suite', offer(hello({ suites: [0x1301] })), ALERT.handshakeFailure],
      ['psk modes missing', offer(hello({ pskModes: [] })), ALERT.decodeError],
      ['ALPN without http/1.1', offer(hello({ alpn: ['h2'] })), ALERT.noApplicationProtocol],
    ];
    // pre_shared_key not last: move an extension after it (lengths kept consistent).
    const m = hello();
    const tail = extension(EXT.cookie, vec(2, Buffer.from('x')));
    const notLast = Buffer.concat([m, tail]);
    notLast.writeUIntBE(m.length - 4 + tail.length, 1, 3);
    const extLenAt =
      4 + 2 + 32 + 1 + m[4 + 2 + 32]! + 2 + m.readUInt16BE(4 + 2 + 32 + 1 + m[4 + 2 + 32]!) + 2;
    notLast.writeUInt16BE(notLast.readUInt16BE(extLenAt) + tail.length, extLenAt);
    cases.push(['pre_shared_key not last', offer(notLast), ALERT.illegalParameter]);
    // Two binders for one identity.
    const two = Buffer.concat([
      m.subarray(0, m.length - 51),
      vec(2, vec(1, m.subarray(m.length - 48)), vec(1, m.subarray(m.length - 48))),
    ]);
    two.writeUIntBE(two.length - 4, 1, 3);
    two.writeUInt16BE(two.readUInt16BE(extLenAt) + 49, extLenAt);
    const pskExtLenAt = m.length - 51 - (2 + 2 + files.encryptor.identity.length + 4) - 2;
    two.writeUInt16BE(two.readUInt16BE(pskExtLenAt) + 49, pskExtLenAt);
    cases.push(['binder count mismatch', offer(two), ALERT.illegalParameter]);
    for (const [name, bytes, alert] of cases) {
      const back = await raw(kp.port, bytes);
      assert.equal(alertOf(back), alert, `${name}: got ${back.subarray(0, 8).toString('hex')}`);
      assert.doesNotMatch(back.toString('latin1'), /HTTP\/1\.1/, name);
    }
    // Truncated: a record that promises more than arrives, then the client goes away.
    const truncated = offer(hello()).subarray(0, 100);
    assert.equal((await raw(kp.port, truncated, true)).length, 0);
    // Oversized: a record over 2^14 + 256 bytes.
    const big = Buffer.concat([Buffer.from([22, 3, 3, 0x41, 0x01]), Buffer.alloc(0x4101)]);
    const back = await raw(kp.port, big);
    assert.equal(alertOf(back), ALERT.recordOverflow, back.subarray(0, 8).toString('hex'));
    const reasons = kp.logs.filter((l) => l.event === 'tls handshake refused').map((l) => String(l.reason));
    for (const r of [/appears twice/, /early data/, /not the last extension/, /binders/])
      assert.ok(
        reasons.some((x) => r.test(x)),
        `no log reason matching ${r}: ${reasons.join(' | ')}`,
      );
  });

  it('serves a TLS 1.3 SHA-256 PSK offer as TLS 1.2 when it offers 1.2, refuses it when it does not', async (t) => {
    const { kp, files } = await oneKp(t);
    const psk = ['-psk_identity', files.encryptor.identity, '-psk', files.encryptor.key];
    const both = await sClient(kp.port, [...psk, '-brief'], get('/capabilities'));
    assert.equal(parseHttp(both.stdout).status, 200);
    assert.match(both.stderr, /Protocol version: TLSv1\.2\nCiphersuite: (DHE-)?PSK-AES256-GCM-SHA384/);
    const only13 = await sClient(kp.port, [...psk, '-tls1_3'], get('/capabilities'));
    assert.doesNotMatch(only13.stdout, /HTTP\/1\.1/);
    assert.match(only13.stderr, /alert handshake failure/);
    await kp.waitFor('tls handshake refused', (l) =>
      /TLS 1\.3 only, offered with a SHA-256 PSK \(32-byte binder\)/.test(String(l.reason)),
    );
    // TLS_AES_128_GCM_SHA256 is never negotiated on this port.
    const aes128 = await sClient(
      kp.port,
      [...psk, '-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'],
      get('/capabilities'),
    );
    assert.doesNotMatch(aes128.stdout, /HTTP\/1\.1/);
  });

  it('tls13_psk: false turns the engine off: TLS 1.2 only', async (t) => {
    const { kp, files, dir } = await oneKp(t, 'tls13_psk: false');
    const r = await sClient(
      kp.port,
      pskSessionArgs(dir, files.encryptor.identity, files.encryptor.key),
      get('/capabilities'),
    );
    assert.doesNotMatch(r.stdout, /HTTP\/1\.1/);
    assert.match(r.stderr, /alert protocol version/);
    const started = await kp.waitFor('started');
    assert.deepEqual((started.encryptor as { suites: Record<string, string[]> }).suites['TLSv1.3'], []);
    const ok = await sClient(
      kp.port,
      ['-tls1_2', '-psk_identity', files.encryptor.identity, '-psk', files.encryptor.key],
      get('/capabilities'),
    );
    assert.equal(parseHttp(ok.stdout).status, 200);
  });
});
