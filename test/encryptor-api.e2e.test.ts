// phases: runtime, exe, arm64, iox
// The bundle as operators run it, with `openssl s_client -psk` standing in for IOS XE:
// draft-cisco-skip-02 §4 answers, and the TLS-PSK refusals of §3.
import assert from 'node:assert/strict';
import { before, after, describe, it } from 'node:test';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from './helpers/pki.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { startKp, type RunningKp } from './helpers/bundle.js';
import { pskGet, sClient } from './helpers/http-client.js';

describe('encryptor API over TLS-PSK (bundle + openssl s_client)', () => {
  let dir: string;
  let files: KpFiles;
  let kp: RunningKp;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skip-e2e-'));
    const pki = makePki(dir);
    files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }, { id: 'spoke-*' }] });
    // The spokes' public key is in place (any valid one): what fails is reaching them.
    copyFileSync(join(dir, 'alice-kem_pub.pem'), join(dir, 'spoke-*-kem_pub.pem'));
    kp = await startKp(files.config, { env: files.env });
  });
  after(async () => {
    await kp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, method = 'GET') => pskGet(kp.port, path, files.encryptor, undefined, method);

  it('GET /capabilities matches the draft schema (Figure 3)', async () => {
    const r = await get('/capabilities');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(r.json, {
      entropy: true,
      key: true,
      algorithm: 'PRF',
      localSystemID: 'alice',
      remoteSystemID: ['bob', 'spoke-*'],
    });
  });

  it('GET /entropy?minentropy=128 returns 128 bits of hex, not cached', async () => {
    const r = await get('/entropy?minentropy=128');
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    const body = r.json as { randomStr: string; minentropy: number };
    assert.equal(body.minentropy, 128);
    assert.match(body.randomStr, /^[0-9a-f]{32}$/);
    const again = (await get('/entropy')).json as { randomStr: string; minentropy: number };
    assert.equal(again.minentropy, 256);
    assert.match(again.randomStr, /^[0-9a-f]{64}$/);
  });

  it('answers 404 for unknown paths and 405 with Allow: GET for other methods', async () => {
    const nf = await get('/key-exchange');
    assert.equal(nf.status, 404);
    assert.match((nf.json as { detail: string }).detail, /no such path/);
    const na = await get('/capabilities', 'POST');
    assert.equal(na.status, 405);
    assert.equal(na.headers['allow'], 'GET');
  });

  it('answers 400 with a helpful detail for bad input', async () => {
    const cases: [string, RegExp][] = [
      ['/entropy?minentropy=7', /multiples of 8/],
      ['/entropy?minentropy=abc', /whole number/],
      ['/key', /missing query parameter "remoteSystemID"/],
      ['/key?remoteSystemID=mallory', /unknown remoteSystemID "mallory"/],
      ['/key?remoteSystemID=bob&size=512', /"size" must be 128 to 256/],
      ['/key?remoteSystemID=bob&remoteSystemID=bob', /more than once/],
      ['/key/zz11?remoteSystemID=bob', /malformed keyId: .*hexadecimal/],
      ['/key/abc?remoteSystemID=bob', /malformed keyId: .*even/],
      [`/key/${'ab'.repeat(65)}?remoteSystemID=bob`, /malformed keyId: .*longer/],
      ['/key/00112233445566778899aabbccddeeff?remoteSystemID=bob', /key not found/],
      ['/capabilities?x=1', /unknown query parameter "x"/],
    ];
    for (const [path, detail] of cases) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      assert.match((r.json as { detail: string }).detail, detail, path);
    }
  });

  it('answers 503 naming the peer when the peer cannot be reached', async () => {
    const r = await get('/key?remoteSystemID=spoke-7');
    assert.equal(r.status, 503);
    assert.match((r.json as { detail: string }).detail, /"spoke-7"/);
  });

  it('negotiates each TLS 1.2 PSK suite of the draft and IOS XE', async () => {
    for (const suite of [
      'PSK-AES256-GCM-SHA384',
      'DHE-PSK-AES256-GCM-SHA384',
      'DHE-PSK-AES256-CBC-SHA384',
      'DHE-PSK-AES256-CBC-SHA',
    ]) {
      const r = await pskGet(kp.port, '/capabilities', files.encryptor, ['-tls1_2', '-cipher', suite]);
      assert.equal(r.status, 200, suite);
    }
  });

  it('prefers forward-secret DHE-PSK when the client offers it too', async () => {
    const offer = async (ciphers: string): Promise<string> => {
      const r = await sClient(
        kp.port,
        [
          '-brief',
          '-tls1_2',
          '-cipher',
          ciphers,
          '-psk_identity',
          files.encryptor.identity,
          '-psk',
          files.encryptor.key,
        ],
        'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n',
      );
      assert.match(r.stdout, /^HTTP\/1\.1 200/);
      return /Ciphersuite: (\S+)/.exec(r.stderr)?.[1] ?? r.stderr;
    };
    assert.equal(await offer('PSK-AES256-GCM-SHA384:DHE-PSK-AES256-GCM-SHA384'), 'DHE-PSK-AES256-GCM-SHA384');
    assert.equal(await offer('PSK-AES256-GCM-SHA384'), 'PSK-AES256-GCM-SHA384');
  });

  it('runs DHE-PSK in RFC 7919 ffdhe3072 (the p of the ServerKeyExchange), not a group OpenSSL picks', async () => {
    const r = await sClient(
      kp.port,
      [
        '-msg',
        '-tls1_2',
        '-cipher',
        'DHE-PSK-AES256-GCM-SHA384',
        '-psk_identity',
        files.encryptor.identity,
        '-psk',
        files.encryptor.key,
      ],
      'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n',
    );
    // The hex dump of the message: type 0c, 3-byte length, identity hint (2-byte length), then
    // dh_p with its 2-byte length.
    const dump = /ServerKeyExchange\n((?:\s+(?:[0-9a-f]{2} )*[0-9a-f]{2}\s*\n)+)/.exec(r.stdout)?.[1];
    assert.ok(dump, `no ServerKeyExchange in s_client -msg output: ${r.stdout.slice(0, 400)}`);
    const ske = Buffer.from(dump.replace(/\s+/g, ''), 'hex');
    assert.equal(ske[0], 0x0c);
    const hint = ske.readUInt16BE(4);
    const pLen = ske.readUInt16BE(6 + hint);
    const p = ske.subarray(8 + hint, 8 + hint + pLen);
    assert.equal(pLen * 8, 3072, 'p of 3072 bits');
    // RFC 7919 primes begin 2^64 - 1 then the bits of e (ADF85458 A2BB4A9A); RFC 3526's
    // begin 2^64 - 1 then those of pi (C90FDAA2).
    assert.equal(p.subarray(0, 12).toString('hex'), 'ffffffffffffffffadf85458');
    assert.equal(p.toString('hex').slice(-16), 'ffffffffffffffff');
  });

  it('answers an unknown identity with the same alert as a wrong key, and logs which it was', async () => {
    const alert = async (identity: string, key: string): Promise<string> => {
      const err = await refused([
        '-tls1_2',
        '-cipher',
        'PSK-AES256-GCM-SHA384',
        '-psk_identity',
        identity,
        '-psk',
        key,
      ]);
      return /alert [a-z ]+|alert number \d+/i.exec(err)?.[0] ?? err;
    };
    const wrong = files.encryptor.key.slice(0, -2) + (files.encryptor.key.endsWith('00') ? '01' : '00');
    const a = await alert(files.encryptor.identity, wrong);
    const b = await alert('no-such-router', files.encryptor.key);
    assert.equal(b, a);
    await kp.waitFor('tls handshake refused', (l) => l.identity === 'no-such-router');
    // The log says it in words, with the OpenSSL code beside them.
    // A wrong key names the identity the client sent, so the router can be found.
    const wrongKey = await kp.waitFor(
      'tls handshake refused',
      (l) => l.identity === files.encryptor.identity,
    );
    assert.equal(
      wrongKey.reason,
      'wrong PSK (or a damaged handshake)',
      JSON.stringify(kp.logs.filter((l) => l.event === 'tls handshake refused')),
    );
    assert.match(String(wrongKey.code), /^ERR_SSL_/);
  });

  const refused = async (args: string[]): Promise<string> => {
    const r = await sClient(
      kp.port,
      args,
      'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n',
    );
    assert.doesNotMatch(r.stdout, /HTTP\/1\.1/, `expected no HTTP answer for ${args.join(' ')}`);
    return r.stderr;
  };

  it('refuses a wrong PSK', async () => {
    const wrong = files.encryptor.key.slice(0, -2) + (files.encryptor.key.endsWith('00') ? '01' : '00');
    const err = await refused(['-tls1_2', '-psk_identity', files.encryptor.identity, '-psk', wrong]);
    assert.match(err, /alert|error/i);
  });

  it('refuses an unknown identity', async () => {
    await refused(['-tls1_2', '-psk_identity', 'intruder', '-psk', files.encryptor.key]);
    await kp.waitFor('tls handshake refused');
  });

  it('refuses a client without a PSK, a weaker PSK suite, and TLS 1.0', async () => {
    assert.match(await refused(['-tls1_2']), /handshake failure/);
    const creds = ['-psk_identity', files.encryptor.identity, '-psk', files.encryptor.key];
    assert.match(
      await refused(['-tls1_2', '-cipher', 'PSK-AES128-CBC-SHA256', ...creds]),
      /handshake failure/,
    );
    assert.match(
      await refused(['-tls1', '-cipher', 'PSK-AES256-CBC-SHA@SECLEVEL=0', ...creds]),
      /protocol version/,
    );
  });

  it('logs each request with the PSK identity and never a secret', async () => {
    await get('/entropy');
    const line = await kp.waitFor('request', (l) => l.path === '/entropy');
    assert.equal(line.identity, files.encryptor.identity);
    assert.equal(line.status, 200);
    const all = JSON.stringify(kp.logs);
    assert.ok(!all.includes(files.encryptor.key), 'PSK appears in the log');
  });
});
