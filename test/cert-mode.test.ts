// phases: runtime
// Certificate mode (draft Table 1) for encryptors that cannot do PSK: mutual TLS against cafile.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { memoryLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

describe('certificate mode', () => {
  it('serves encryptors with a certificate from cafile over TLS 1.3 AES-256, and refuses others', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeFileSync(
      files.config,
      readFileSync(files.config, 'utf8').replace('use_psk: true', 'use_psk: false') +
        'encryptor_identities: ["router-alice", "127.0.0.1"]\n',
    );
    const log = memoryLogger();
    const kp = await startServer(loadConfig(files.config), {
      log,
      masterKey: masterKeyFromEnv({ ...files.env }),
    });
    t.after(() => kp.close());
    const router = pki.leaf('router-alice');
    const stranger = makePki(tempDir(t), 'other CA').leaf('stranger');
    // Finding 4: certificates of the same CA that are not on encryptor_identities, and a peer
    // KP's own certificate, are refused before any request.
    const bobsPeerCert = pki.leaf('bob');
    const otherRouter = pki.leaf('router-carol', 'DNS:router-carol');

    const get = (
      client?: { cert: string; key: string },
      ciphers?: string,
    ): Promise<{ status: number; cipher: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: kp.encryptor.port,
            path: '/capabilities',
            agent: false,
            ca: readFileSync(pki.ca),
            servername: 'localhost',
            ...(client && { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
            ...(ciphers && { ciphers, minVersion: 'TLSv1.3' as const }),
          },
          (res) => {
            const cipher = (res.socket as TLSSocket).getCipher().standardName;
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, cipher }));
          },
        );
        req.on('error', reject);
        req.end();
      });

    const ok = await get(router);
    assert.equal(ok.status, 200);
    assert.equal(ok.cipher, 'TLS_AES_256_GCM_SHA384');
    assert.equal(log.lines.find((l) => l.event === 'request')?.identity, 'router-alice');
    // TLS 1.3 here is TLS_AES_256_GCM_SHA384 only: AES-128 and ChaCha20 offers fail.
    await assert.rejects(
      get(router, 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256'),
      /alert|handshake/i,
    );
    await assert.rejects(get(), /certificate|alert|socket hang up|ECONNRESET/i);
    await assert.rejects(get(stranger), /unknown ca|alert|socket hang up|ECONNRESET/i);
    await assert.rejects(get(bobsPeerCert), /socket hang up|ECONNRESET/i);
    await assert.rejects(get(otherRouter), /socket hang up|ECONNRESET/i);
    const refused = log.lines.filter((l) => l.event === 'encryptor certificate refused');
    assert.deepEqual(
      refused.map((l) => l.reason),
      ["a peer Key Provider's certificate", 'not in encryptor_identities'],
    );
    assert.equal(log.lines.filter((l) => l.event === 'request').length, 1);
  });

  it('refuses a certificate-mode config without encryptor_identities, or one that names a peer', (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const base = readFileSync(files.config, 'utf8').replace('use_psk: true', 'use_psk: false');
    writeFileSync(files.config, base);
    assert.throws(() => loadConfig(files.config), /"encryptor_identities" is not set/);
    writeFileSync(files.config, `${base}encryptor_identities: ["router-alice", "bob"]\n`);
    assert.throws(() => loadConfig(files.config), /"encryptor_identities" names "bob", a peer/);
  });
});
