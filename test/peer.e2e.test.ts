// phases: runtime, exe
// Two KPs (alice, bob) from the bundle on loopback, talking ML-KEM-1024 over real mutual TLS;
// `openssl s_client -psk` plays both encryptors. Peers that are not ours are played by bare
// HTTPS clients and a server that behaves as the reference Python Key Provider does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { generateKeyFiles } from '../src/kem/keygen.js';
import { loadPrivateKey, readPublicKeyFile } from '../src/kem/keys.js';
import { noble } from '../src/kem/mlkem.js';
import { confirmTag } from '../src/peer/protocol.js';
import type { KeyId } from '../src/ids/key-id.js';
import { startKp, type RunningKp } from './helpers/bundle.js';
import { pskGet, sClient } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { peerRequest } from './helpers/peer-client.js';
import { makePki, type Leaf, type Pki } from './helpers/pki.js';
import { freePort } from './helpers/tmp.js';

describe('peer exchange: alice and bob over mTLS with ML-KEM-1024', () => {
  let dir: string;
  let pki: Pki;
  let aliceFiles: KpFiles;
  let bobFiles: KpFiles;
  let alice: RunningKp;
  let bob: RunningKp;
  let aliceLeaf: Leaf;
  let refServer: Server;
  const refReceived: { body: Record<string, unknown>; key: Buffer }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skip-peer-'));
    pki = makePki(dir);
    const [pa, pb, pr] = [await freePort(), await freePort(), await freePort()];
    aliceFiles = writeKpFiles(dir, pki, {
      name: 'alice',
      mtlsPort: pa,
      peers: [
        { id: 'bob', port: pb },
        { id: 'ref', port: pr },
      ],
    });
    bobFiles = writeKpFiles(dir, pki, { name: 'bob', mtlsPort: pb, peers: [{ id: 'alice', port: pa }] });
    aliceLeaf = { cert: join(dir, 'alice.pem'), key: join(dir, 'alice.key') };
    refServer = await startReferenceReceiver(dir, pki, pr, refReceived);
    [bob, alice] = await Promise.all([
      startKp(bobFiles.config, { env: bobFiles.env }),
      startKp(aliceFiles.config, { env: aliceFiles.env }),
    ]);
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    refServer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const newKey = async (): Promise<{ keyId: string; key: string }> => {
    const r = await pskGet(alice.port, '/key?remoteSystemID=bob', aliceFiles.encryptor);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { keyId: string; key: string };
  };
  const takeAtBob = (keyId: string) =>
    pskGet(bob.port, `/key/${keyId}?remoteSystemID=alice`, bobFiles.encryptor);

  it('gives encryptor bob the key encryptor alice got, once (openssl s_client on both sides)', async () => {
    const issued: string[] = [];
    for (const size of [256, 128, 192]) {
      const r = await pskGet(alice.port, `/key?remoteSystemID=bob&size=${size}`, aliceFiles.encryptor);
      assert.equal(r.status, 200);
      const { keyId, key } = r.json as { keyId: string; key: string };
      issued.push(key);
      assert.equal(key.length, size / 4);
      const b = await takeAtBob(keyId);
      assert.equal(b.status, 200);
      assert.deepEqual(b.json, { keyId, key });
      assert.equal((await takeAtBob(keyId)).status, 400);
    }
    await bob.waitFor('peer request', (l) => l.key === 'received' && l.confirmed === true);
    const logs = JSON.stringify([...alice.logs, ...bob.logs]);
    for (const key of issued) assert.ok(!logs.includes(key.slice(0, 16)), 'key material in a log line');
  });

  it('matches peer identities on DNS/IP SANs exactly, CN only without SANs', async () => {
    const claim = (): string =>
      JSON.stringify({
        system_id: 'alice',
        key_id: randomBytes(16).toString('hex'),
        length: 256,
        ciphertext: '00'.repeat(1568),
      });
    const impostors: [string, Leaf][] = [
      ['CN=alice with SAN DNS:mallory', pki.leaf('m1', 'DNS:mallory', '/CN=alice')],
      ['SAN email:alice', pki.leaf('m2', 'email:alice', '/CN=m2')],
      ['SAN URI:alice', pki.leaf('m3', 'URI:alice', '/CN=m3')],
      ['SAN email holding ", DNS:alice"', pki.leaf('m4', '@alt\n[alt]\nemail.1 = x, DNS:alice', '/CN=m4')],
      ['CN=ALICE, no SAN', pki.leaf('m5', '', '/CN=ALICE')],
      ['SAN DNS:ALICE', pki.leaf('m6', 'DNS:ALICE', '/CN=m6')],
      ['two CNs, no SAN', pki.leaf('m7', '', '/CN=alice/CN=mallory')],
    ];
    for (const [what, leaf] of impostors) {
      const r = await peerRequest(bob.peerPort, { ca: pki.ca, leaf, body: claim() });
      assert.equal(r.status, 403, what);
    }
    const cnOnly = pki.leaf('alice-cn-only', '', '/CN=alice');
    assert.equal((await peerRequest(bob.peerPort, { ca: pki.ca, leaf: cnOnly, body: claim() })).status, 200);
    assert.equal(
      (await peerRequest(bob.peerPort, { ca: pki.ca, leaf: aliceLeaf, body: claim() })).status,
      200,
    );
  });

  it('refuses a certificate that does not speak for the claimed system_id (403)', async () => {
    const carol = pki.leaf('carol');
    const body = JSON.stringify({
      system_id: 'alice',
      key_id: 'aa'.repeat(16),
      length: 256,
      ciphertext: '00'.repeat(1568),
    });
    const r = await peerRequest(bob.peerPort, { ca: pki.ca, leaf: carol, body });
    assert.equal(r.status, 403);
    assert.match((r.json as { detail: string }).detail, /not allowed to speak for system_id "alice"/);
    await assert.rejects(
      peerRequest(bob.peerPort, { ca: pki.ca, body }),
      /certificate|alert|socket hang up|ECONNRESET/i,
    );
  });

  it('stores nothing for a tampered ciphertext that carries confirm (400)', async () => {
    const keyId = randomBytes(16).toString('hex') as KeyId;
    const ek = readPublicKeyFile(join(dir, 'bob-kem_pub.pem'));
    const { cipherText, sharedSecret } = ml_kem1024.encapsulate(ek);
    const ciphertext = Buffer.from(cipherText);
    const confirm = confirmTag(sharedSecret, {
      sender: 'alice',
      receiver: 'bob',
      keyId,
      lengthBits: 256,
      ciphertext,
    });
    ciphertext[7]! ^= 0x40;
    const body = JSON.stringify({
      system_id: 'alice',
      key_id: keyId,
      length: 256,
      ciphertext: ciphertext.toString('hex'),
      confirm: confirm.toString('hex'),
    });
    const r = await peerRequest(bob.peerPort, { ca: pki.ca, leaf: aliceLeaf, body });
    assert.equal(r.status, 400);
    assert.match((r.json as { detail: string }).detail, /key confirmation failed/);
    assert.equal((await takeAtBob(keyId)).status, 400, 'a key was stored');
  });

  it("accepts the reference's body (no confirm) and answers as the reference does; duplicates are 409", async () => {
    const keyId = randomBytes(16).toString('hex');
    const ek = readPublicKeyFile(join(dir, 'bob-kem_pub.pem'));
    const { cipherText, sharedSecret } = ml_kem1024.encapsulate(ek);
    const body = JSON.stringify({
      system_id: 'alice',
      key_id: keyId,
      length: 128,
      ciphertext: Buffer.from(cipherText).toString('hex'),
    });
    const r = await peerRequest(bob.peerPort, { ca: pki.ca, leaf: aliceLeaf, body });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      status: 'success',
      message: `Key with keyId ${keyId} successfully received.`,
    });
    const again = await peerRequest(bob.peerPort, { ca: pki.ca, leaf: aliceLeaf, body });
    assert.equal(again.status, 409);
    const b = await takeAtBob(keyId);
    assert.deepEqual(b.json, { keyId, key: Buffer.from(sharedSecret.subarray(0, 16)).toString('hex') });
  });

  it('negotiates only AES-256-GCM suites on the peer link, in TLS 1.2 and 1.3', async () => {
    const mtls = ['-cert', aliceLeaf.cert, '-key', aliceLeaf.key, '-CAfile', pki.ca];
    const hello = 'GET / HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n';
    for (const offer of [
      ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305'],
      ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256'],
    ]) {
      const r = await sClient(bob.peerPort, [...offer, ...mtls], hello);
      assert.doesNotMatch(r.stdout, /HTTP\/1\.1/, offer.join(' '));
    }
    for (const offer of [
      ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384'],
      ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384'],
    ]) {
      const r = await sClient(bob.peerPort, [...offer, ...mtls, '-brief'], hello);
      assert.match(r.stdout, /^HTTP\/1\.1 404/, offer.join(' '));
      assert.match(r.stderr, /Ciphersuite: (ECDHE-ECDSA-AES256-GCM-SHA384|TLS_AES_256_GCM_SHA384)/);
    }
  });

  it('serves only POST /key-exchange on the peer port, with bounded, validated bodies', async () => {
    const base = { ca: pki.ca, leaf: aliceLeaf };
    const cases: [Parameters<typeof peerRequest>[1], number, RegExp | undefined][] = [
      [{ ...base, method: 'GET', path: '/key?remoteSystemID=alice' }, 404, undefined],
      [{ ...base, method: 'GET', path: '/capabilities' }, 404, undefined],
      [{ ...base, method: 'GET' }, 405, undefined],
      [{ ...base, body: '{"system_id":' }, 400, /not valid JSON/],
      [{ ...base, body: 'x'.repeat(20_000) }, 413, /larger than/],
      [
        { ...base, body: 'x'.repeat(20_000), headers: { 'Transfer-Encoding': 'chunked' } },
        413,
        /larger than/,
      ],
      [{ ...base, body: '{}', headers: { 'Content-Type': 'text/plain' } }, 415, /application\/json/],
      [{ ...base, body: '[]' }, 400, /JSON object/],
      [
        { ...base, body: JSON.stringify({ system_id: 'alice', key_id: 'zz', length: 256, ciphertext: '' }) },
        400,
        /key_id/,
      ],
      [
        { ...base, body: JSON.stringify({ system_id: 'alice', key_id: 'ab', length: 0, ciphertext: '' }) },
        400,
        /"length"/,
      ],
      [
        {
          ...base,
          body: JSON.stringify({ system_id: 'alice', key_id: 'ab', length: 256, ciphertext: 'ab' }),
        },
        400,
        /ciphertext/,
      ],
    ];
    for (const [opts, status, detail] of cases) {
      const r = await peerRequest(bob.peerPort, opts);
      assert.equal(
        r.status,
        status,
        `${opts.method ?? 'POST'} ${opts.path ?? ''} ${String(opts.body).slice(0, 30)}`,
      );
      if (detail) assert.match((r.json as { detail: string }).detail, detail);
    }
    const r = await peerRequest(bob.peerPort, { ...base, method: 'GET' });
    assert.equal(r.headers['allow'], 'POST');
  });

  it('works with a receiver that behaves as the reference does (ignores confirm)', async () => {
    const r = await pskGet(alice.port, '/key?remoteSystemID=ref&size=192', aliceFiles.encryptor);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const { keyId, key } = r.json as { keyId: string; key: string };
    const got = refReceived.at(-1)!;
    assert.deepEqual(Object.keys(got.body).sort(), [
      'ciphertext',
      'confirm',
      'key_id',
      'length',
      'system_id',
    ]);
    assert.equal(got.body.system_id, 'alice');
    assert.equal(got.body.key_id, keyId);
    assert.equal(got.body.length, 192);
    assert.match(got.body.ciphertext as string, /^[0-9a-f]{3136}$/);
    assert.equal(got.key.toString('hex'), key);
  });

  it('keeps a key agreed before bob is killed with SIGKILL, and hands it out once after restart', async () => {
    const { keyId, key } = await newKey();
    bob.proc.kill('SIGKILL');
    await bob.stop();
    bob = await startKp(bobFiles.config, { env: bobFiles.env });
    assert.deepEqual((await takeAtBob(keyId)).json, { keyId, key });
    assert.equal((await takeAtBob(keyId)).status, 400);
  });

  it('answers 503 naming bob while bob is down, and recovers when bob is back', async () => {
    await bob.stop();
    const r = await pskGet(alice.port, '/key?remoteSystemID=bob', aliceFiles.encryptor);
    assert.equal(r.status, 503);
    assert.match((r.json as { detail: string }).detail, /"bob" is unreachable/);
    bob = await startKp(bobFiles.config, { env: bobFiles.env });
    const { keyId, key } = await newKey();
    assert.equal(((await takeAtBob(keyId)).json as { key: string }).key, key);
  });
});

/** Behaves as the reference's /key-exchange: mTLS, decapsulate, keep length/8 bytes, ignore extras. */
async function startReferenceReceiver(
  dir: string,
  pki: Pki,
  port: number,
  received: { body: Record<string, unknown>; key: Buffer }[],
): Promise<Server> {
  const leaf = pki.leaf('ref');
  generateKeyFiles(join(dir, 'ref-kem_pub.pem'), join(dir, 'ref-kem_priv.pem'), noble, false);
  const priv = loadPrivateKey(join(dir, 'ref-kem_priv.pem'), noble);
  const server = createServer(
    {
      cert: readFileSync(leaf.cert),
      key: readFileSync(leaf.key),
      ca: readFileSync(pki.ca),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const ss = priv.decapsulate(Buffer.from(body.ciphertext as string, 'hex'));
        received.push({ body, key: Buffer.from(ss.subarray(0, (body.length as number) / 8)) });
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            status: 'success',
            message: `Key with keyId ${String(body.key_id)} successfully received.`,
          }),
        );
      });
    },
  );
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}
