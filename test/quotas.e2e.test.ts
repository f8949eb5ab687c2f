// Security finding 10 (docs/security.md): what one router can make a KP pair hold is bounded.
// Keys waiting at the peer for one remote system stop at max_held_keys_per_remote (503 with
// Retry-After, to the peer and on to the router), and each encryptor identity has a token
// bucket (503 with Retry-After past it). Both are served again once there is room. The issuing
// KP also bounds what one identity may leave waiting at the peer for one remote system
// (max_held_keys_per_identity), so one router cannot use up the pair's quota for the others.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { withoutInstance } from './helpers/metrics-text.js';
import { startKp } from './helpers/bundle.js';
import { pskAgent, nodeGet } from './helpers/http-client.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';
import { startPair, writePairFiles } from './helpers/pair.js';

describe('quotas: held keys per remote system, requests per identity', () => {
  it('refuses keys past max_held_keys_per_remote with 503 + Retry-After, and takes them again after a collection', async (t) => {
    const { aliceFiles, bobFiles, alice, bob } = await startPair(t, {
      bobExtra: 'max_held_keys_per_remote: 3\n',
    });
    const a = pskAgent(aliceFiles.encryptor);
    const b = pskAgent(bobFiles.encryptor);
    t.after(() => (a.destroy(), b.destroy()));
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await nodeGet(alice.port, '/key?remoteSystemID=bob', a);
      assert.equal(r.status, 200);
      keys.push((r.json as { keyId: string }).keyId);
    }
    const full = await nodeGet(alice.port, '/key?remoteSystemID=bob', a);
    assert.equal(full.status, 503);
    assert.equal(full.headers['retry-after'], '5');
    assert.match(
      (full.json as { detail: string }).detail,
      /peer Key Provider "bob" is busy \(3 keys for "alice" are waiting to be collected \(max_held_keys_per_remote\)\); retry in 5 s/,
    );
    await bob.waitFor('key refused: too many uncollected keys', (l) => l.max === 3);
    assert.equal((await nodeGet(bob.port, `/key/${keys[0]}?remoteSystemID=alice`, b)).status, 200);
    assert.equal((await nodeGet(alice.port, '/key?remoteSystemID=bob', a)).status, 200);
  });

  it('holds one identity to its token bucket with 503 + Retry-After, then serves it again', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), {
      name: 'alice',
      peers: [{ id: 'bob' }],
      extra: 'identity_requests_per_second: 2\nidentity_request_burst: 5\nadmin_port: 0\n',
    });
    const kp = await startKp(files.config, { env: files.env });
    t.after(() => kp.stop());
    const agent = pskAgent(files.encryptor);
    t.after(() => agent.destroy());
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 8; i++) {
      const r = await nodeGet(kp.port, '/capabilities', agent);
      statuses.push(r.status);
      if (r.status === 503) retryAfter = r.headers['retry-after'] ?? '';
    }
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
    assert.ok(statuses.slice(5).includes(503), statuses.join());
    assert.equal(retryAfter, '1');
    await new Promise((r) => setTimeout(r, 1_100));
    assert.equal((await nodeGet(kp.port, '/capabilities', agent)).status, 200);
    const limited = kp.logs.filter((l) => l.event === 'request' && l.status === 503);
    assert.ok(limited.length > 0 && limited.every((l) => l.identity === files.encryptor.identity));
    const admin = (kp.logs.find((l) => l.event === 'started')!.admin as { port: number }).port;
    const metrics = withoutInstance(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
    assert.match(
      metrics,
      new RegExp(`skip_rate_limited_total\\{identity="${files.encryptor.identity}"\\} ${limited.length}`),
    );
  });

  it('bounds the keys one identity leaves waiting per remote with 503 + Retry-After; another identity still gets keys', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    // Bob holds at most 6 keys for alice: without a per-identity bound, identity 1 alone fills it.
    const { aliceFiles, bobFiles } = await writePairFiles(dir, pki, {
      aliceExtra: 'max_held_keys_per_identity: 3\nadmin_port: 0\n',
      bobExtra: 'max_held_keys_per_remote: 6\n',
    });
    const second = { identity: 'router-alice-2', key: randomBytes(48).toString('hex') };
    appendFileSync(aliceFiles.pskFile, `${second.identity}:${second.key}\n`);
    const bob = await startKp(bobFiles.config, { env: bobFiles.env });
    t.after(() => bob.stop());
    const alice = await startKp(aliceFiles.config, { env: aliceFiles.env });
    t.after(() => alice.stop());
    const one = pskAgent(aliceFiles.encryptor);
    const two = pskAgent(second);
    t.after(() => (one.destroy(), two.destroy()));

    for (let i = 0; i < 3; i++)
      assert.equal((await nodeGet(alice.port, '/key?remoteSystemID=bob', one)).status, 200);
    const refused = await nodeGet(alice.port, '/key?remoteSystemID=bob', one);
    assert.equal(refused.status, 503, refused.body);
    // Counted until the peer has surely dropped an uncollected key: its TTL plus its sweep period.
    const retry = Number(refused.headers['retry-after']);
    assert.ok(retry > 3_600 && retry <= 3_660, `Retry-After ${retry}`);
    assert.match(
      (refused.json as { detail: string }).detail,
      /identity "router-alice"\) has 3 keys for "bob" that may still be waiting to be collected \(max_held_keys_per_identity\); retry in \d+ s/,
    );
    assert.equal((await nodeGet(alice.port, '/key?remoteSystemID=bob', one)).status, 503);
    // The other router's identity has its own bound: served.
    for (let i = 0; i < 3; i++)
      assert.equal((await nodeGet(alice.port, '/key?remoteSystemID=bob', two)).status, 200);

    const warned = alice.logs.filter((l) => l.event === 'key refused: identity quota reached');
    assert.deepEqual(
      warned.map((l) => [l.identity, l.remote, l.max]),
      [['router-alice', 'bob', 3]],
      'one line when the identity reaches its bound, not one per request',
    );
    const admin = (alice.logs.find((l) => l.event === 'started')!.admin as { port: number }).port;
    const metrics = withoutInstance(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
    assert.match(metrics, /skip_identity_quota_refused_total\{identity="router-alice"\} 2\n/);
    assert.doesNotMatch(metrics, /skip_identity_quota_refused_total\{identity="router-alice-2"\}/);
  });
});
