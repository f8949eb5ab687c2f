// Rotating a KP's own ML-KEM pair with routers' key exchanges flowing: keygen --force and SIGHUP
// at bob, then bob's new public key copied to alice and SIGHUP there. Every exchange in between
// must succeed with equal keys at both routers; the replaced files keep owner, group and mode.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCli } from './helpers/bundle.js';
import { nodeGet, pskAgent } from './helpers/http-client.js';
import { startSplitPair, type Side } from './helpers/split-pair.js';

const owner = (path: string): string => {
  const st = statSync(path);
  return `${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`;
};

describe('own ML-KEM key rotation without downtime', () => {
  it('keygen --force + SIGHUP at bob, copy + SIGHUP at alice: no exchange fails', async (t) => {
    const { alice, bob } = await startSplitPair(t);
    const agents = [alice, bob].map((s) => pskAgent(s.files.encryptor));
    t.after(() => agents.forEach((a) => a.destroy()));
    const [aliceAgent, bobAgent] = agents as [ReturnType<typeof pskAgent>, ReturnType<typeof pskAgent>];
    const failures: string[] = [];
    let done = 0;
    let running = true;
    // One exchange as the two routers see it: a new key at `from`, the same key once at `to`.
    const exchange = async (
      from: Side,
      to: Side,
      fromAgent: typeof aliceAgent,
      toAgent: typeof aliceAgent,
    ) => {
      const peer = to.files.encryptor.identity.replace('router-', '');
      const me = from.files.encryptor.identity.replace('router-', '');
      const k = await nodeGet(from.kp.port, `/key?remoteSystemID=${peer}`, fromAgent);
      if (k.status !== 200) return void failures.push(`GET /key at ${me}: ${k.status} ${k.body}`);
      const { keyId, key } = k.json as { keyId: string; key: string };
      const r = await nodeGet(to.kp.port, `/key/${keyId}?remoteSystemID=${me}`, toAgent);
      if (r.status !== 200) return void failures.push(`GET /key/{id} at ${peer}: ${r.status} ${r.body}`);
      if ((r.json as { key: string }).key !== key) failures.push(`keys differ for ${keyId}`);
      done++;
    };
    const worker = async (flip: boolean): Promise<void> => {
      while (running) {
        await (
          flip ? exchange(bob, alice, bobAgent, aliceAgent) : exchange(alice, bob, aliceAgent, bobAgent)
        ).catch((e: unknown) => failures.push(String(e)));
      }
    };
    const workers = [false, false, false, true].map(worker);
    const exchanges = async (n: number): Promise<void> => {
      const until = done + n;
      while (done < until && failures.length === 0) await new Promise((r) => setTimeout(r, 5));
    };
    let before: string[] | undefined;
    let after: string[] | undefined;
    let gen: Awaited<ReturnType<typeof runCli>> | undefined;
    try {
      await exchanges(20);
      // As a systemd layout has it: the service's group reads the private key.
      chownSync(bob.priv, 4321, 4322);
      chmodSync(bob.priv, 0o640);
      chownSync(bob.pub, 4321, 4322);
      before = [owner(bob.priv), owner(bob.pub)];
      gen = await runCli(['keygen', '--pub', bob.pub, '--priv', bob.priv, '--force']);
      assert.equal(gen.code, 0, gen.stderr);
      after = [owner(bob.priv), owner(bob.pub)];
      await exchanges(20);

      bob.kp.proc.kill('SIGHUP');
      await bob.kp.waitFor('peer keys reloaded');
      await exchanges(40);

      copyFileSync(bob.pub, alice.peerPub);
      alice.kp.proc.kill('SIGHUP');
      await alice.kp.waitFor('peer keys reloaded');
      await exchanges(40);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${done + failures.length} failed`);
    assert.deepEqual(after, before, 'keygen --force changed owner, group or mode');
    assert.match(gen?.stdout ?? '', /reload this KP[\s\S]*copy .*bob-kem_pub\.pem to every peer KP/);
    const received = (kemKey: string) =>
      bob.kp.logs.some((l) => l.event === 'peer request' && l.key === 'received' && l.kemKey === kemKey);
    assert.ok(received('previous'), 'bob never used its previous key: the grace period was not exercised');
    const replaced = await bob.kp.waitFor('own key pair replaced');
    assert.match(String(replaced.previousKeyAcceptedUntil), /^\d{4}-\d\d-\d\dT/);
    // After alice's reload bob's new key is the one that matches.
    const aliceReload = alice.kp.logs.findIndex((l) => l.event === 'peer keys reloaded');
    assert.ok(aliceReload >= 0);
    assert.ok(received('current'));
    assert.ok(done >= 120, `${done} exchanges`);
  });

  it('SIGHUP refuses a broken or mismatched own pair and keeps the old one', async (t) => {
    const { alice, bob } = await startSplitPair(t);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bob.priv, 'not a key\n');
    bob.kp.proc.kill('SIGHUP');
    const failed = await bob.kp.waitFor('own key pair reload failed');
    assert.match(JSON.stringify(failed.problems), /bob-kem_priv\.pem/);
    const agent = pskAgent(alice.files.encryptor);
    t.after(() => agent.destroy());
    const r = await nodeGet(alice.kp.port, '/key?remoteSystemID=bob', agent);
    assert.equal(r.status, 200, r.body);
  });
});
