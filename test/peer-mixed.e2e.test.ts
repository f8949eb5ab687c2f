// Mixed pairs: two KPs on different Node runtimes and ML-KEM backends (native in OpenSSL 3.5+
// on Node 24 and 26, noble on Node 20), keys agreed in both directions, as they must between any
// two FIPS 203 KPs. Each KP's key files are made by `writeKpFiles` (seed-only form).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startKp, type RunningKp } from './helpers/bundle.js';
import { pskGet } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { nodeFor, type RuntimeName } from './helpers/runtimes.js';
import { freePort } from './helpers/tmp.js';

const PAIRS: [RuntimeName, RuntimeName][] = [
  ['Node 24', 'Node 20'],
  ['Node 26', 'Node 20'],
  ['Node 24', 'Node 26'],
];
const backendOf = (r: RuntimeName): string => (r === 'Node 20' ? 'noble' : 'native');

for (const [aliceNode, bobNode] of PAIRS) {
  describe(`mixed pair: alice on ${aliceNode} (${backendOf(aliceNode)}), bob on ${bobNode} (${backendOf(bobNode)})`, () => {
    let dir: string;
    let files: Record<'alice' | 'bob', KpFiles>;
    let kps: Record<'alice' | 'bob', RunningKp>;

    before(async () => {
      for (const r of [aliceNode, bobNode])
        assert.ok(existsSync(nodeFor(r)), `${nodeFor(r)} missing: run npm ci`);
      dir = mkdtempSync(join(tmpdir(), 'skip-mixed-'));
      const pki = makePki(dir);
      const [pa, pb] = [await freePort(), await freePort()];
      files = {
        alice: writeKpFiles(dir, pki, { name: 'alice', mtlsPort: pa, peers: [{ id: 'bob', port: pb }] }),
        bob: writeKpFiles(dir, pki, { name: 'bob', mtlsPort: pb, peers: [{ id: 'alice', port: pa }] }),
      };
      const [alice, bob] = await Promise.all([
        startKp(files.alice.config, { node: nodeFor(aliceNode), env: files.alice.env }),
        startKp(files.bob.config, { node: nodeFor(bobNode), env: files.bob.env }),
      ]);
      kps = { alice, bob };
    });
    after(async () => {
      await Promise.all([kps?.alice.stop(), kps?.bob.stop()]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs each KP on the expected ML-KEM backend', async () => {
      for (const [name, runtime] of [
        ['alice', aliceNode],
        ['bob', bobNode],
      ] as const) {
        const started = await kps[name].waitFor('started');
        assert.deepEqual(started.kem, { algorithm: 'ML-KEM-1024', backend: backendOf(runtime) }, name);
      }
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
}
