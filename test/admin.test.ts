// The admin listener: off by default, loopback when on, /healthz and Prometheus /metrics, and
// nothing of it on the encryptor or peer ports.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HEALTH_MAX_AGE_MS } from '../src/admin/health.js';
import { loadConfig } from '../src/config/load.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { memoryLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { nodeGet, pskAgent } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { peerRequest } from './helpers/peer-client.js';
import { adminGet } from './helpers/admin-get.js';
import { withoutInstance } from './helpers/metrics-text.js';
import { makePki } from './helpers/pki.js';
import { freePort } from './helpers/tmp.js';

describe('admin listener', () => {
  let dir: string;
  let aliceFiles: KpFiles;
  let bobFiles: KpFiles;
  let alice: RunningServer;
  let bob: RunningServer | undefined;
  let bobLog = memoryLogger();
  const start = (f: KpFiles) => {
    const log = memoryLogger();
    if (f === bobFiles) bobLog = log;
    return startServer(loadConfig(f.config), { log, masterKey: masterKeyFromEnv({ ...f.env }) });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skip-admin-'));
    const pki = makePki(dir);
    const [pa, pb] = [await freePort(), await freePort()];
    aliceFiles = writeKpFiles(dir, pki, {
      name: 'alice',
      mtlsPort: pa,
      peers: [{ id: 'bob', port: pb }],
      extra: 'admin_port: 0\ninstance_name: hub-a\n',
    });
    bobFiles = writeKpFiles(dir, pki, { name: 'bob', mtlsPort: pb, peers: [{ id: 'alice', port: pa }] });
    [alice, bob] = await Promise.all([start(aliceFiles), start(bobFiles)]);
  });
  after(async () => {
    await alice?.close();
    await bob?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is off unless admin_port is set, and on loopback when it is', () => {
    assert.equal(bob!.admin, undefined);
    assert.equal(alice.admin?.host, '127.0.0.1');
  });

  it('reports health: 200 while all is well, 503 naming the peer that is down', async () => {
    const ok = await adminGet(alice.admin!.port, '/healthz');
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), {
      ok: true,
      listeners: { encryptor: 'up', peer: 'up' },
      keystore: 'writable',
      peers: { bob: 'reachable' },
    });
    // The probe is a whole mutual-TLS handshake closed cleanly: the peer logs no warning for it
    // (a bare TCP connect made it log a refused handshake per probe).
    for (let i = 0; i < 3; i++) assert.equal((await adminGet(alice.admin!.port, '/healthz')).status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      bobLog.lines.filter((l) => l.level === 'warn' || l.level === 'error'),
      [],
    );
    await bob!.close();
    bob = undefined;
    // /healthz answers from a check at most HEALTH_MAX_AGE_MS old.
    await new Promise((r) => setTimeout(r, HEALTH_MAX_AGE_MS));
    const down = await adminGet(alice.admin!.port, '/healthz');
    assert.equal(down.status, 503);
    assert.equal((JSON.parse(down.body) as { peers: Record<string, string> }).peers.bob, 'unreachable');
    bob = await start(bobFiles);
  });

  it('exposes Prometheus metrics: requests by route and status, keys, peer latency, slots', async () => {
    const a = pskAgent(aliceFiles.encryptor);
    const b = pskAgent(bobFiles.encryptor);
    const { keyId, key } = (await nodeGet(alice.encryptor.port, '/key?remoteSystemID=bob', a)).json as {
      keyId: string;
      key: string;
    };
    await nodeGet(alice.encryptor.port, '/nope', a);
    await nodeGet(bob!.encryptor.port, `/key/${keyId}?remoteSystemID=alice`, b);
    a.destroy();
    b.destroy();
    const scraped = await adminGet(alice.admin!.port, '/metrics');
    assert.equal(scraped.status, 200);
    assert.match(scraped.type, /^text\/plain; version=0\.0\.4/);
    // Every series carries the instance (config instance_name), whatever its other labels.
    const samples = scraped.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(samples.length > 50, `${samples.length} samples`);
    for (const line of samples) assert.match(line, /^[a-z_]+\{instance="hub-a"[,}]/, line);
    const m = { body: withoutInstance(scraped.body) };
    assert.match(m.body, /^skip_requests_total\{route="newKey",status="200"\} 1$/m);
    assert.match(m.body, /^skip_requests_total\{route="unknown",status="404"\} 1$/m);
    assert.match(m.body, /^skip_keys_issued_total 1$/m);
    assert.match(m.body, /^skip_peer_exchange_seconds_count 1$/m);
    assert.match(m.body, /^# TYPE skip_peer_exchange_seconds histogram$/m);
    assert.match(m.body, /^skip_keystore_slots\{state="used"\} 0$/m);
    assert.match(m.body, /^process_resident_memory_bytes \d+$/m);
    assert.ok(!m.body.includes(key) && !m.body.includes(keyId), 'key material in metrics');
  });

  it('serves nothing of it on the encryptor or peer ports, and only GET on its own', async () => {
    const a = pskAgent(aliceFiles.encryptor);
    for (const p of ['/metrics', '/healthz'])
      assert.equal((await nodeGet(alice.encryptor.port, p, a)).status, 404);
    a.destroy();
    const leaf = { cert: join(dir, 'bob.pem'), key: join(dir, 'bob.key') };
    for (const p of ['/metrics', '/healthz']) {
      assert.equal(
        (await peerRequest(alice.peer.port, { ca: join(dir, 'ca.pem'), leaf, method: 'GET', path: p }))
          .status,
        404,
      );
    }
    assert.equal((await adminGet(alice.admin!.port, '/key?remoteSystemID=bob')).status, 404);
  });
});
