// The keystore's SKIP contract, run once against each backend (the encrypted file, and etcd on a
// real three-member cluster): put refuses a keyId held or delivered, take hands a key out exactly
// once (also to concurrent takes from two instances sharing etcd), keys expire after the TTL, a
// delivered keyId is remembered for at least the TTL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { EtcdKeyStore } from '../src/keystore/etcd-store.js';
import { newMasterKeyHex, type MasterKey } from '../src/keystore/master-key.js';
import { FileKeyStore } from '../src/keystore/store.js';
import { DuplicateKeyIdError, type KeyStore } from '../src/keystore/types.js';
import { needEtcd, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { tempDir } from './helpers/tmp.js';

const id = (): KeyId => randomBytes(16).toString('hex') as KeyId;
const BOB = 'bob' as SystemId;
const CAROL = 'carol' as SystemId;

interface Backend {
  name: string;
  /** Stores sharing one keystore: two instances on etcd; one for the file (it is locked). */
  open(t: TestContext, o: { ttlMs: number; now?: () => number }): Promise<KeyStore[] | undefined>;
}

// One cluster for the whole file, stopped after it; each test has its own prefix.
const stops: (() => void)[] = [];
after(() => stops.forEach((f) => f()));
let cluster: Promise<EtcdCluster> | undefined;
const sharedCluster = (): Promise<EtcdCluster> =>
  (cluster ??= startEtcd({ after: (fn: () => void) => stops.push(fn) } as unknown as TestContext));

const BACKENDS: Backend[] = [
  {
    name: 'file',
    async open(t, o) {
      const master: MasterKey = { kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') };
      const { store } = await FileKeyStore.open({
        path: join(tempDir(t), 'keystore.db'),
        master,
        sweepEveryMs: 0,
        ...o,
      });
      t.after(() => store.close());
      return [store];
    },
  },
  {
    name: 'etcd',
    async open(t, o) {
      if (!needEtcd(t)) return undefined;
      const c = await sharedCluster();
      const hex = newMasterKeyHex();
      const prefix = `/skip-test/${randomBytes(6).toString('hex')}/`;
      const stores: KeyStore[] = [];
      for (let i = 0; i < 2; i++) {
        const s = await EtcdKeyStore.open({
          endpoints: i === 0 ? c.endpoints : [...c.endpoints].reverse(),
          prefix,
          localSystemId: 'alice',
          master: { kind: 'raw', key: Buffer.from(hex, 'hex') },
          dialTimeoutMs: 500,
          requestTimeoutMs: 3000,
          ...o,
        });
        t.after(() => s.close());
        stores.push(s);
      }
      return stores;
    },
  },
];

for (const b of BACKENDS) {
  describe(`keystore contract: ${b.name}`, () => {
    it('hands a key out once, to the right remote only; put refuses a held and a delivered keyId', async (t) => {
      const stores = await b.open(t, { ttlMs: 3_600_000 });
      if (!stores) return;
      const [s1, s2] = [stores[0]!, stores.at(-1)!];
      const k = id();
      const key = randomBytes(32);
      await s1.put(k, key, BOB);
      await assert.rejects(
        s2.put(k, randomBytes(32), BOB),
        (e) => e instanceof DuplicateKeyIdError && e.reason === 'held',
      );
      assert.deepEqual(await s2.take(k, CAROL), { kind: 'wrong-remote' });
      const got = await s2.take(k, BOB);
      assert.ok(got.kind === 'ok' && got.key.equals(key));
      assert.deepEqual(await s1.take(k, BOB), { kind: 'not-found' });
      await assert.rejects(
        s1.put(k, randomBytes(32), BOB),
        (e) => e instanceof DuplicateKeyIdError && e.reason === 'delivered',
      );
      assert.deepEqual(await s1.take(id(), BOB), { kind: 'not-found' });
    });

    it('gives exactly one of 40 concurrent takes (spread over the instances) each key', async (t) => {
      const stores = await b.open(t, { ttlMs: 3_600_000 });
      if (!stores) return;
      const keys = Array.from({ length: 10 }, id);
      for (const k of keys) await stores[0]!.put(k, randomBytes(32), BOB);
      const results = await Promise.all(
        keys.flatMap((k) => Array.from({ length: 40 }, (_, i) => stores[i % stores.length]!.take(k, BOB))),
      );
      assert.equal(results.filter((r) => r.kind === 'ok').length, keys.length);
      assert.equal(results.filter((r) => r.kind === 'not-found').length, keys.length * 39);
    });

    it('does not serve a key after its TTL', async (t) => {
      let now = Date.now();
      const stores = await b.open(t, { ttlMs: 10_000, now: () => now });
      if (!stores) return;
      const [held, kept] = [id(), id()];
      await stores[0]!.put(held, randomBytes(32), BOB);
      await stores[0]!.put(kept, randomBytes(32), BOB);
      now += 9_000;
      assert.equal((await stores.at(-1)!.take(kept, BOB)).kind, 'ok');
      now += 1_001;
      assert.deepEqual(await stores.at(-1)!.take(held, BOB), { kind: 'not-found' });
    });

    it('remembers a delivered keyId for at least the TTL', async (t) => {
      const ttlMs = 2_000;
      const stores = await b.open(t, { ttlMs });
      if (!stores) return;
      const k = id();
      await stores[0]!.put(k, randomBytes(32), BOB);
      assert.equal((await stores.at(-1)!.take(k, BOB)).kind, 'ok');
      await new Promise((r) => setTimeout(r, ttlMs - 250));
      await assert.rejects(
        stores.at(-1)!.put(k, randomBytes(32), BOB),
        (e) => e instanceof DuplicateKeyIdError && e.reason === 'delivered',
      );
    });
  });
}
