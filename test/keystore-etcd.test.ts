// The etcd keystore on a real three-member cluster, under failure: only ciphertext in etcd, a
// wrong master key refused, the leader killed in the middle of a run of pairs, the whole cluster
// stopped and started again (503s, then recovery without reopening the store). Every key
// acknowledged is served exactly once, none twice, none lost.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { ConfigError } from '../src/errors.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { EtcdClient } from '../src/keystore/etcd-client.js';
import { EtcdKeyStore } from '../src/keystore/etcd-store.js';
import { newMasterKeyHex } from '../src/keystore/master-key.js';
import { StoreUnavailableError, type KeyStore } from '../src/keystore/types.js';
import { needEtcd, startEtcd, type EtcdCluster } from './helpers/etcd.js';

const id = (): KeyId => randomBytes(16).toString('hex') as KeyId;
const BOB = 'bob' as SystemId;

async function stores(t: TestContext, c: EtcdCluster, n = 2, hex = newMasterKeyHex(), prefix?: string) {
  const p = prefix ?? `/skip-test/${randomBytes(6).toString('hex')}/`;
  const out: EtcdKeyStore[] = [];
  for (let i = 0; i < n; i++) {
    const s = await EtcdKeyStore.open({
      endpoints: i % 2 === 0 ? c.endpoints : [...c.endpoints].reverse(),
      prefix: p,
      localSystemId: 'alice',
      master: { kind: 'raw', key: Buffer.from(hex, 'hex') },
      dialTimeoutMs: 300,
      requestTimeoutMs: 1500,
      ttlMs: 3_600_000,
    });
    t.after(() => s.close());
    out.push(s);
  }
  return { stores: out, prefix: p, hex };
}

/** Retries what a router or a peer retries: a 503 (StoreUnavailableError). */
async function retrying<T>(f: () => Promise<T>, until = Date.now() + 30_000): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof StoreUnavailableError) || Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Pairs through alternating instances while `disturb` runs; checks exactly once for each. */
async function runPairs(s: KeyStore[], pairs: number, disturb: () => Promise<void>): Promise<void> {
  const acked: { k: KeyId; key: Buffer }[] = [];
  let unavailable = 0;
  const work = (async () => {
    for (let i = 0; i < pairs; i++) {
      const k = id();
      const key = randomBytes(32);
      try {
        await s[i % s.length]!.put(k, key, BOB);
        acked.push({ k, key });
      } catch (e) {
        if (!(e instanceof StoreUnavailableError)) throw e;
        unavailable++;
      }
    }
  })();
  await disturb();
  await work;
  let served = 0;
  for (const [i, { k, key }] of acked.entries()) {
    const got = await retrying(() => s[(i + 1) % s.length]!.take(k, BOB));
    assert.equal(got.kind, 'ok', `acknowledged key ${i} lost`);
    assert.ok(got.kind === 'ok' && got.key.equals(key));
    served++;
    for (const other of s) assert.deepEqual(await retrying(() => other.take(k, BOB)), { kind: 'not-found' });
  }
  assert.equal(served, acked.length);
  assert.ok(acked.length > 0, `no put was acknowledged (${unavailable} unavailable)`);
}

/** A TCP proxy to `target` (host:port) that, once armed, lets the next request through and drops
 * its answer: etcd commits, the client hears nothing (a member that died before answering). */
async function lossyProxy(t: TestContext, target: string): Promise<{ url: string; dropNextAnswer(): void }> {
  const [host, port] = [new URL(target).hostname, Number(new URL(target).port)];
  let armed = false;
  const server = createServer((client) => {
    const up = connect(port, host);
    client.pipe(up);
    up.on('data', (d: Buffer) => {
      if (armed) {
        armed = false;
        up.destroy();
        client.destroy();
      } else client.write(d);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, dropNextAnswer: () => void (armed = true) };
}

describe('etcd keystore', () => {
  it('recognises its own put and take when etcd committed but the answer was lost', async (t) => {
    if (!needEtcd(t)) return;
    const c = await startEtcd(t);
    const proxy = await lossyProxy(t, c.endpoints[0]!);
    const [prefix, hex] = [`/skip-test/${randomBytes(6).toString('hex')}/`, newMasterKeyHex()];
    // The proxy first; after a failure a store turns to the next member, so one store each.
    const open = async (): Promise<EtcdKeyStore> => {
      const s = await EtcdKeyStore.open({
        endpoints: [proxy.url, c.endpoints[1]!],
        prefix,
        localSystemId: 'alice',
        master: { kind: 'raw', key: Buffer.from(hex, 'hex') },
        dialTimeoutMs: 300,
        requestTimeoutMs: 3000,
        ttlMs: 3_600_000,
      });
      t.after(() => s.close());
      return s;
    };
    const [putter, taker] = [await open(), await open()];
    const [k, warm] = [id(), id()];
    const key = randomBytes(32);
    // Warm-ups grant the leases and count the caps; then the txn is the request whose answer is lost.
    await putter.put(warm, randomBytes(32), BOB);
    await taker.take(warm, BOB);
    proxy.dropNextAnswer();
    await putter.put(k, key, BOB);
    proxy.dropNextAnswer();
    const got = await taker.take(k, BOB);
    assert.ok(got.kind === 'ok' && got.key.equals(key), `the committed take hands the key out: ${got.kind}`);
    assert.deepEqual(await taker.take(k, BOB), { kind: 'not-found' });
  });

  it('leaves only ciphertext in etcd and refuses a wrong master key', async (t) => {
    if (!needEtcd(t)) return;
    const c = await startEtcd(t);
    const {
      stores: [s],
      prefix,
    } = await stores(t, c, 1);
    const key = randomBytes(32);
    await s!.put(id(), key, BOB);
    const client = new EtcdClient({ endpoints: c.endpoints, dialTimeoutMs: 500, requestTimeoutMs: 2000 });
    t.after(() => client.close());
    const all = await client.range(Buffer.from(prefix), { prefix: true });
    assert.ok(all.kvs.length >= 3);
    for (const kv of all.kvs)
      assert.ok(!kv.value.includes(key), `${kv.key.toString()} holds the key in clear`);
    await assert.rejects(
      EtcdKeyStore.open({
        endpoints: c.endpoints,
        prefix,
        localSystemId: 'alice',
        master: { kind: 'raw', key: randomBytes(32) },
        dialTimeoutMs: 300,
        requestTimeoutMs: 1500,
        ttlMs: 60_000,
      }),
      (e) => e instanceof ConfigError && /wrong master key/.test(e.message),
    );
  });

  it('serves every acknowledged key exactly once while the leader is killed', async (t) => {
    if (!needEtcd(t)) return;
    const c = await startEtcd(t);
    const { stores: s } = await stores(t, c);
    await runPairs(s, 300, async () => {
      await new Promise((r) => setTimeout(r, 100));
      const leader = await c.leader();
      await c.kill(leader.name);
    });
  });

  it('answers 503 while etcd is stopped and recovers by itself once it is back', async (t) => {
    if (!needEtcd(t)) return;
    const c = await startEtcd(t);
    const { stores: s } = await stores(t, c);
    const held = id();
    const key = randomBytes(32);
    await s[0]!.put(held, key, BOB);
    for (const m of c.members) await c.kill(m.name);
    const started = Date.now();
    await assert.rejects(s[0]!.put(id(), randomBytes(32), BOB), StoreUnavailableError);
    await assert.rejects(s[1]!.take(held, BOB), StoreUnavailableError);
    await assert.rejects(s[1]!.check(), StoreUnavailableError);
    assert.ok(Date.now() - started < 8_000, 'each refusal within request_timeout_ms');
    for (const m of c.members) void c.restart(m.name);
    await c.healthy();
    const got = await retrying(() => s[1]!.take(held, BOB));
    assert.ok(got.kind === 'ok' && got.key.equals(key), 'the key held before the outage is served');
    await s[0]!.check();
    await runPairs(s, 20, () => Promise.resolve());
  });
});
