// A hub on etcd, end to end from the bundle: two bob instances (127.0.0.1 and 127.0.0.2, the
// same peer port) share one real three-member etcd cluster; alice names both in one `ip:` list
// and spreads her exchanges over them; `openssl s_client -psk` routers take from either. One
// instance is killed with SIGKILL in the middle of a run, then the etcd leader; then etcd is
// stopped entirely (503 + Retry-After) and started again, and the KPs recover without a restart.
// Every key acknowledged to a router is served exactly once, none twice, none lost. Each
// instance labels its metrics with its own instance_name. A peer naming the hub by one host name
// that resolves to both addresses (through the peer client's `lookup` option, the one seam: the
// system resolver here gives no name two loopback addresses, and /etc/hosts is not the test's to
// edit) spreads its exchanges over both and goes on when one is killed.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LookupAddress } from 'node:dns';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { RemoteDirectory } from '../src/config/remote-ids.js';
import { newKeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { noble } from '../src/kem/mlkem.js';
import { memoryLogger } from '../src/log.js';
import { PeerClient } from '../src/peer/client.js';
import { loadTlsMaterial } from '../src/tls/files.js';
import { withoutInstance } from './helpers/metrics-text.js';
import { adminGet } from './helpers/admin-get.js';
import { runCli, startKp, type RunningKp } from './helpers/bundle.js';
import { needEtcd, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { pskGet, type HttpAnswer } from './helpers/http-client.js';
import type { KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';
import { writePairFiles } from './helpers/pair.js';

interface Hub {
  alice: RunningKp;
  aliceFiles: KpFiles;
  bobFiles: KpFiles;
  bobs: RunningKp[];
  /** Where each bob instance's routers connect. */
  hosts: string[];
}

async function startHub(t: TestContext, etcd: EtcdCluster): Promise<Hub> {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const { aliceFiles, bobFiles } = await writePairFiles(dir, pki, {
    aliceExtra: 'admin_port: 0\n',
    bobExtra:
      `keystore_backend: etcd\netcd:\n  endpoints: [${etcd.endpoints.map((e) => `"${e}"`).join(', ')}]\n` +
      '  dial_timeout_ms: 300\n  request_timeout_ms: 2000\nadmin_port: 0\ninstance_name: "bob-1"\n',
  });
  const aliceYaml = readFileSync(aliceFiles.config, 'utf8');
  assert.match(aliceYaml, /ip: "127\.0\.0\.1"/);
  writeFileSync(aliceFiles.config, aliceYaml.replace('ip: "127.0.0.1"', 'ip: ["127.0.0.1", "127.0.0.2"]'));
  // The second instance: the same files (ML-KEM pair, master key, PSKs), another address.
  const second = join(dir, 'bob2.yaml');
  copyFileSync(bobFiles.config, second);
  const yaml = readFileSync(second, 'utf8');
  assert.match(yaml, /host: "127\.0\.0\.1"/);
  writeFileSync(
    second,
    yaml
      .replace('host: "127.0.0.1"', 'host: "127.0.0.2"')
      .replace('instance_name: "bob-1"', 'instance_name: "bob-2"'),
  );
  const bobs = [
    await startKp(bobFiles.config, { env: bobFiles.env }),
    await startKp(second, { env: bobFiles.env }),
  ];
  const alice = await startKp(aliceFiles.config, { env: aliceFiles.env });
  t.after(async () => {
    await alice.stop();
    for (const b of bobs) await b.stop();
  });
  return { alice, aliceFiles, bobFiles, bobs, hosts: ['127.0.0.1', '127.0.0.2'] };
}

const newKey = (h: Hub): Promise<HttpAnswer> =>
  pskGet(h.alice.port, '/key?remoteSystemID=bob', h.aliceFiles.encryptor);
const take = (h: Hub, i: number, keyId: string): Promise<HttpAnswer> =>
  pskGet(
    h.bobs[i]!.port,
    `/key/${keyId}?remoteSystemID=alice`,
    h.bobFiles.encryptor,
    undefined,
    'GET',
    h.hosts[i],
  );

const adminPort = (kp: RunningKp): number =>
  (kp.logs.find((l) => l.event === 'started')!.admin as { port: number }).port;

/** What a router does: retries a 503 (and a refused connection to a dead instance elsewhere). */
async function retry(f: () => Promise<HttpAnswer>, ms = 20_000): Promise<HttpAnswer> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await f().catch(() => undefined);
    if (r && r.status !== 503 && r.status !== 502 && !Number.isNaN(r.status)) return r;
    if (Date.now() > until) return r ?? { status: 0, headers: {}, body: 'no answer', json: undefined };
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Takes every acknowledged key at a live instance, once; a second take anywhere is refused. */
async function takeAll(h: Hub, acked: { keyId: string; key: string }[], live: number[]): Promise<void> {
  for (const [n, { keyId, key }] of acked.entries()) {
    const at = live[n % live.length]!;
    const got = await retry(() => take(h, at, keyId));
    assert.equal(got.status, 200, `key ${n} (${keyId}) lost: ${got.body}`);
    assert.deepEqual(got.json, { keyId, key });
    for (const other of live)
      assert.equal((await retry(() => take(h, other, keyId))).status, 400, 'served twice');
  }
}

describe('hub: two KP instances on one etcd cluster', () => {
  it('spreads exchanges over both instances; routers take from either, each key once', async (t) => {
    if (!needEtcd(t)) return;
    const h = await startHub(t, await startEtcd(t));
    const acked: { keyId: string; key: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await newKey(h);
      assert.equal(r.status, 200, r.body);
      acked.push(r.json as { keyId: string; key: string });
    }
    await takeAll(h, acked, [1, 0]);
    const stats = await runCli(['keystore', 'stats', '--config', h.bobFiles.config], { env: h.bobFiles.env });
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /held keys {7}0 /);
    assert.match(stats.stdout, /delivered keyIds remembered 12/);
    const check = await runCli(['check-config', '--config', h.bobFiles.config], { env: h.bobFiles.env });
    assert.equal(check.code, 0, check.stderr);
    assert.match(
      check.stdout,
      /keystore {8}etcd http:\/\/127\.0\.0\.1:\d+.* \/skip-server\/bob\/: reachable with a quorum, master key OK/,
    );
    const rss = (kp: RunningKp): number =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${kp.proc.pid}/status`, 'utf8'))?.[1] ?? 0);
    t.diagnostic(`RSS after 12 pairs: alice (file) ${rss(h.alice)} kB, bob (etcd) ${rss(h.bobs[0]!)} kB`);
    const received = h.bobs.map(
      (b) => b.logs.filter((l) => l.event === 'peer request' && l.key === 'received').length,
    );
    assert.ok(
      received.every((n) => n > 0),
      `both instances receive exchanges: ${received.join(', ')}`,
    );
    // Each instance's every sample carries its own instance_name, so one scrape address cannot
    // mix them up.
    for (const [i, bob] of h.bobs.entries()) {
      const samples = (await adminGet(adminPort(bob), '/metrics')).body
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'));
      assert.ok(samples.length > 10, samples.join('\n'));
      const label = `instance="bob-${i + 1}"`;
      for (const line of samples) assert.match(line, new RegExp(`^[a-z_]+\\{${label}[,}]`), line);
      assert.ok(
        samples.some((l) => l.startsWith(`skip_peer_requests_total{${label},`)),
        `bob-${i + 1}'s own exchanges under its label`,
      );
    }
  });

  it('a peer naming the hub by one host name with both addresses spreads over them and survives a SIGKILL', async (t) => {
    if (!needEtcd(t)) return;
    const h = await startHub(t, await startEtcd(t));
    const byName = join(tempDir(t), 'alice-by-name.yaml');
    const yaml = readFileSync(h.aliceFiles.config, 'utf8');
    assert.match(yaml, /ip: \["127\.0\.0\.1", "127\.0\.0\.2"\]/);
    writeFileSync(byName, yaml.replace('ip: ["127.0.0.1", "127.0.0.2"]', 'ip: "bob.hub.test"'));
    const c = loadConfig(byName);
    const asked: string[] = [];
    const both: LookupAddress[] = h.hosts.map((address) => ({ address, family: 4 }));
    const log = memoryLogger();
    const client = new PeerClient({
      localSystemId: c.localSystemID,
      material: loadTlsMaterial(c),
      certfile: c.certfile,
      kem: noble,
      log,
      lookup: (name) => (asked.push(name), Promise.resolve(both)),
    });
    t.after(() => client.close());
    const bob = new RemoteDirectory(c.localSystemID, c.remoteSystems, c.mtls_port).resolve(
      'bob' as SystemId,
    )!;
    assert.equal(bob.ip, 'bob.hub.test');
    const acked: { keyId: string; key: string }[] = [];
    const push = async (): Promise<void> => {
      const keyId = newKeyId();
      acked.push({ keyId, key: (await client.agree(bob, keyId, 32)).toString('hex') });
    };
    for (let i = 0; i < 6; i++) await push();
    const received = (): number[] =>
      h.bobs.map((b) => b.logs.filter((l) => l.event === 'peer request' && l.key === 'received').length);
    for (let waited = 0; received()[0]! + received()[1]! < 6 && waited < 3_000; waited += 50)
      await new Promise((r) => setTimeout(r, 50)); // their log lines come through a pipe
    assert.deepEqual(received(), [3, 3], 'exchanges spread over both addresses of the name');
    h.bobs[0]!.proc.kill('SIGKILL');
    for (let i = 0; i < 6; i++) await push();
    assert.deepEqual(asked, ['bob.hub.test'], 'one lookup, cached');
    assert.ok(
      log.lines.some((l) => l.event === 'peer instance unreachable, trying the next' && l.ip === '127.0.0.1'),
      JSON.stringify(log.lines),
    );
    await takeAll(h, acked, [1]);
    assert.equal(await client.probe(bob), 'reachable', 'reachable while one of its addresses is');
  });

  it('loses no key when an instance is killed (SIGKILL) and then the etcd leader', async (t) => {
    if (!needEtcd(t)) return;
    const etcd = await startEtcd(t);
    const h = await startHub(t, etcd);
    const acked: { keyId: string; key: string }[] = [];
    let killedAt = 0;
    let servedAgainMs = -1;
    for (let i = 0; i < 30; i++) {
      if (i === 10) {
        killedAt = Date.now();
        h.bobs[0]!.proc.kill('SIGKILL');
      }
      if (i === 20) await etcd.kill((await etcd.leader()).name);
      const r = await retry(() => newKey(h));
      assert.equal(r.status, 200, r.body);
      if (i === 10) servedAgainMs = Date.now() - killedAt;
      acked.push(r.json as { keyId: string; key: string });
    }
    await takeAll(h, acked, [1]);
    await new Promise((r) => setTimeout(r, 2_100)); // past a cached /healthz answer
    const health = JSON.parse((await adminGet(adminPort(h.alice), '/healthz')).body) as {
      peers: Record<string, string>;
    };
    assert.equal(health.peers.bob, 'reachable', 'a peer is reachable while one of its instances is');
    t.diagnostic(`first key served ${servedAgainMs} ms after the SIGKILL of one instance`);
  });

  it('answers 503 + Retry-After while etcd is down, and recovers by itself', async (t) => {
    if (!needEtcd(t)) return;
    const etcd = await startEtcd(t);
    const h = await startHub(t, etcd);
    const before = await newKey(h);
    assert.equal(before.status, 200, before.body);
    const held = before.json as { keyId: string; key: string };
    for (const m of etcd.members) await etcd.kill(m.name);
    const health = async (): Promise<{ status: number; keystore?: string }> => {
      await new Promise((r) => setTimeout(r, 2_100)); // past the cached answer
      const r = await adminGet(adminPort(h.bobs[0]!), '/healthz');
      return { status: r.status, keystore: (JSON.parse(r.body) as { keystore?: string }).keystore };
    };
    assert.deepEqual(await health(), { status: 503, keystore: 'failing' });
    const metrics = withoutInstance((await adminGet(adminPort(h.bobs[0]!), '/metrics')).body);
    assert.match(metrics, /^skip_etcd_requests_in_flight \d+$/m);
    assert.match(metrics, /^skip_etcd_requests_limit 256$/m);
    const refused = await newKey(h);
    assert.equal(refused.status, 503, refused.body);
    assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After on the new key');
    const takeRefused = await take(h, 0, held.keyId);
    assert.equal(takeRefused.status, 503, takeRefused.body);
    assert.ok(Number(takeRefused.headers['retry-after']) > 0, 'Retry-After on the take');
    const check = await runCli(['check-config', '--config', h.bobFiles.config], { env: h.bobFiles.env });
    assert.equal(check.code, 3, check.stdout);
    assert.match(check.stderr, /etcd\.endpoints \(http:.*\): etcd does not answer with a quorum/);
    for (const m of etcd.members) void etcd.restart(m.name);
    await etcd.healthy();
    const after = await retry(() => newKey(h), 30_000);
    assert.equal(after.status, 200, after.body);
    await takeAll(h, [held, after.json as { keyId: string; key: string }], [1, 0]);
    assert.equal((await health()).keystore, 'writable');
  });
});
