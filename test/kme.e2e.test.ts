// phases: runtime
// The etsi014 and hybrid key sources end to end: KPs from the bundle, two linked simulated KMEs
// (mutual TLS on loopback), routers as `openssl s_client -psk`. alice has one remote system of
// each source: bob (etsi014, no KP-to-KP link), carol (mlkem), dave (hybrid).
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import { FileKeyStore } from '../src/keystore/store.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { pskGet, type HttpAnswer } from './helpers/http-client.js';
import { startKmeKps, type KmeKps } from './helpers/kme-kps.js';
import { freePort, tempDir } from './helpers/tmp.js';
import { runCli } from './helpers/bundle.js';
import { readFileSync } from 'node:fs';
import { makePki } from './helpers/pki.js';

type Key = { keyId: string; key: string };

describe('key sources etsi014 and hybrid', () => {
  let net: KmeKps;
  const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as Parameters<
    typeof startKmeKps
  >[0];
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    net = await startKmeKps(ctx, [
      {
        name: 'alice',
        kme: 0,
        remotes: [
          { id: 'bob', source: 'etsi014' },
          { id: 'carol', source: 'mlkem' },
          { id: 'dave', source: 'hybrid' },
        ],
        kmeExtra: '  timeout_seconds: 2\n',
      },
      { name: 'bob', kme: 1, remotes: [{ id: 'alice', source: 'etsi014' }] },
      { name: 'carol', kme: 1, remotes: [{ id: 'alice', source: 'mlkem' }] },
      { name: 'dave', kme: 1, remotes: [{ id: 'alice', source: 'hybrid' }] },
    ]);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const get = (kp: string, path: string): Promise<HttpAnswer> =>
    pskGet(net.kps[kp]!.port, path, net.files[kp]!.encryptor);
  const issue = async (to: string, size = ''): Promise<Key> => {
    const a = await get('alice', `/key?remoteSystemID=${to}${size}`);
    assert.equal(a.status, 200, a.body);
    return a.json as Key;
  };
  const clearFaults = (): void => {
    for (const k of Object.keys(net.sim.faults)) delete (net.sim.faults as Record<string, unknown>)[k];
    net.sim.allowReread = false;
  };

  it('etsi014: equal keys at both routers, the keyId the KME key_ID, served once', async () => {
    const k = await issue('bob');
    assert.match(k.keyId, /^[0-9a-f]{32}$/);
    assert.equal(k.key.length, 64);
    assert.equal(net.sim.held('alice', 'bob'), 1, 'the key waits in the KMEs, under its UUID');
    const b = await get('bob', `/key/${k.keyId}?remoteSystemID=alice`);
    assert.equal(b.status, 200, b.body);
    assert.deepEqual(b.json, k);
    assert.equal(net.sim.held('alice', 'bob'), 0);
    const again = await get('bob', `/key/${k.keyId}?remoteSystemID=alice`);
    assert.equal(again.status, 400);
    const logs = JSON.stringify([...net.kps.alice!.logs, ...net.kps.bob!.logs]);
    assert.ok(!logs.includes(k.key.slice(0, 16)), 'key material in a log line');
  });

  it('etsi014: a KME that answers dec_keys twice is still served once (the spent log)', async () => {
    net.sim.allowReread = true;
    try {
      const k = await issue('bob');
      assert.equal((await get('bob', `/key/${k.keyId}?remoteSystemID=alice`)).status, 200);
      assert.equal(net.sim.held('alice', 'bob'), 1, 'the KME kept it');
      const again = await get('bob', `/key/${k.keyId}?remoteSystemID=alice`);
      assert.equal(again.status, 400, again.body);
      await net.kps.bob!.waitFor('kme served a key again', (l) => l.keyId === k.keyId);
    } finally {
      clearFaults();
    }
  });

  it('mixed: carol (mlkem) and bob (etsi014) on the same KP, each from its own source', async () => {
    const c = await issue('carol');
    const b = await issue('bob');
    assert.deepEqual((await get('carol', `/key/${c.keyId}?remoteSystemID=alice`)).json, c);
    assert.deepEqual((await get('bob', `/key/${b.keyId}?remoteSystemID=alice`)).json, b);
    // The mlkem key never went through the KMEs: carol has no SAE there and no kme block.
    assert.equal(net.sim.held('alice', 'carol'), 0);
  });

  it('hybrid: equal keys at both routers, neither the QKD key nor served twice', async () => {
    net.sim.allowReread = true; // to see the QKD key the KMEs hand out
    try {
      const k = await issue('dave');
      const d = await get('dave', `/key/${k.keyId}?remoteSystemID=alice`);
      assert.equal(d.status, 200, d.body);
      assert.deepEqual(d.json, k);
      assert.equal((await get('dave', `/key/${k.keyId}?remoteSystemID=alice`)).status, 400);
      // What bob could read from the KME under that key_ID is not the served key.
      assert.equal(net.sim.held('alice', 'dave'), 1);
      assert.ok(!JSON.stringify(net.kps.dave!.logs).includes(k.key.slice(0, 16)));
    } finally {
      clearFaults();
    }
  });

  it('hybrid: the KME failing at dec_keys gives no key, and the ML-KEM key waits for a retry', async () => {
    const k = await issue('dave');
    net.sim.faults.unavailable = true;
    const d = await get('dave', `/key/${k.keyId}?remoteSystemID=alice`);
    clearFaults();
    assert.equal(d.status, 503);
    assert.ok(Number(d.headers['retry-after']) > 0);
    assert.deepEqual((await get('dave', `/key/${k.keyId}?remoteSystemID=alice`)).json, k);
  });

  it('hybrid: the KME failing at enc_keys gives no key from ML-KEM alone', async () => {
    net.sim.faults.unavailable = true;
    const a = await get('alice', '/key?remoteSystemID=dave');
    clearFaults();
    assert.equal(a.status, 503);
    assert.ok(Number(a.headers['retry-after']) > 0);
  });

  it('KME 503 or silent: 503 with Retry-After', async () => {
    net.sim.faults.unavailable = true;
    const a = await get('alice', '/key?remoteSystemID=bob');
    clearFaults();
    assert.equal(a.status, 503, a.body);
    assert.equal(a.headers['retry-after'], '5');
    net.sim.faults.silent = true;
    const started = Date.now();
    const s = await get('alice', '/key?remoteSystemID=bob');
    clearFaults();
    assert.equal(s.status, 503, s.body);
    assert.ok(Date.now() - started < 6_000, 'kme.timeout_seconds bounds the wait');
    await net.kps.alice!.waitFor('kme unavailable', (l) => /within 2 s/.test(String(l.reason)));
  });

  it('an unknown keyId at dec_keys: 400', async () => {
    const b = await get('bob', `/key/${'ab'.repeat(16)}?remoteSystemID=alice`);
    assert.equal(b.status, 400, b.body);
    assert.match(b.body, /unknown keyId/);
    const short = await get('bob', `/key/abcd?remoteSystemID=alice`);
    assert.equal(short.status, 400);
  });

  it('KME 401: 500 and an error line naming the KME, the SAE ID and the reason', async () => {
    net.sim.faults.unauthorized = true;
    const a = await get('alice', '/key?remoteSystemID=bob');
    clearFaults();
    assert.equal(a.status, 500, a.body);
    const l = await net.kps.alice!.waitFor(
      'kme refused this key provider',
      (x) => x.failure === 'unauthorized',
    );
    assert.equal(l.saeId, 'bob');
    assert.equal(l.kme, new URL(net.urls[0]).host);
    assert.match(String(l.reason), /401/);
  });

  for (const [fault, why] of [
    ['shortKey', /bits, not 256/],
    ['badBase64', /not base64/],
    ['notUuid', /not a UUID/],
  ] as const) {
    it(`a malformed KME answer (${fault}) is refused, logged, nothing served`, async () => {
      net.sim.faults[fault] = true;
      const a = await get('alice', '/key?remoteSystemID=bob');
      clearFaults();
      assert.equal(a.status, 502, a.body);
      assert.ok(!/"key"/.test(a.body));
      await net.kps.alice!.waitFor('kme answer refused', (l) => why.test(String(l.reason)));
    });
  }

  it('a dec_keys answer with another key_ID than asked is refused at bob', async () => {
    const k = await issue('bob');
    net.sim.faults.otherKeyId = true;
    const b = await get('bob', `/key/${k.keyId}?remoteSystemID=alice`);
    clearFaults();
    assert.equal(b.status, 502, b.body);
    await net.kps.bob!.waitFor('kme answer refused', (l) => /not the one asked for/.test(String(l.reason)));
  });

  it('a size the KME cannot deliver: 400 naming the sizes it can, never a shorter key', async () => {
    const a = await get('alice', '/key?remoteSystemID=bob&size=128');
    assert.equal(a.status, 400, a.body);
    assert.match(a.body, /256 bits only/);
  });
});

describe('etsi014 keeps no key at either KP', () => {
  it('alice and bob hold nothing after router A has the key: it waits in the KMEs', async (t) => {
    const net = await startKmeKps(t, [
      { name: 'alice', kme: 0, remotes: [{ id: 'bob', source: 'etsi014' }] },
      { name: 'bob', kme: 1, remotes: [{ id: 'alice', source: 'etsi014' }] },
    ]);
    const a = await pskGet(net.kps.alice!.port, '/key?remoteSystemID=bob', net.files.alice!.encryptor);
    assert.equal(a.status, 200, a.body);
    assert.equal(net.sim.held('alice', 'bob'), 1);
    for (const name of ['alice', 'bob']) {
      await net.kps[name]!.stop();
      const f = net.files[name]!;
      const path = /keystore_path: "([^"]+)"/.exec(readFileSync(f.config, 'utf8'))![1]!;
      const { store, report } = await FileKeyStore.open({
        path,
        master: masterKeyFromEnv({ KEYSTORE_MASTER_KEY_FILE: f.env.KEYSTORE_MASTER_KEY_FILE }),
        ttlMs: 3_600_000,
        readOnly: true,
      });
      try {
        assert.equal(store.counts().used, 0, `${name}'s keystore holds a key`);
        assert.equal(report.spent, 0, `${name}'s spent log recorded a delivery`);
      } finally {
        await store.close();
      }
    }
  });
});

describe('KME trouble at start of the path', () => {
  it('unreachable KME: 503; a KME certificate that does not verify: 500 and a log line', async (t) => {
    const other = makePki(tempDir(t), 'another CA');
    const net = await startKmeKps(t, [
      {
        name: 'erin',
        kme: 0,
        remotes: [{ id: 'bob', source: 'etsi014' }],
        kmeUrl: `https://127.0.0.1:${await freePort()}`,
      },
      { name: 'fred', kme: 0, remotes: [{ id: 'bob', source: 'etsi014' }], kmeCa: other.ca },
    ]);
    const e = await pskGet(net.kps.erin!.port, '/key?remoteSystemID=bob', net.files.erin!.encryptor);
    assert.equal(e.status, 503, e.body);
    assert.ok(Number(e.headers['retry-after']) > 0);
    await net.kps.erin!.waitFor('kme unavailable', (l) => /ECONNREFUSED/.test(String(l.reason)));
    const f = await pskGet(net.kps.fred!.port, '/key?remoteSystemID=bob', net.files.fred!.encryptor);
    assert.equal(f.status, 500, f.body);
    const l = await net.kps.fred!.waitFor('kme refused this key provider', (x) => x.failure === 'tls');
    assert.equal(l.saeId, 'bob');
    assert.ok(String(l.kme).startsWith('127.0.0.1:'));
    const check = await runCli(['check-config', '--config', net.files.erin!.config], {
      env: net.files.erin!.env,
    });
    assert.equal(check.code, 0, check.stderr);
    assert.match(
      check.stdout,
      /warning .*KME 127\.0\.0\.1:\d+ does not answer status for "bob" \(sae_id "bob"\)/,
    );
  });
});
