// Bob's keystore on a full disk (a 1 MiB tmpfs, filled): every key alice hands router A is one
// router B can take from bob, however many takes the full disk sees, and a key bob has no room
// for is refused (503 + Retry-After from bob to alice, and from alice to router A) before anyone
// holds it. Once there is room again, keys flow. Needs `mount -t tmpfs` (root); skips without.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { startKp } from './helpers/bundle.js';
import { nodeGet, pskAgent } from './helpers/http-client.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';
import { writePairFiles } from './helpers/pair.js';

/** A 1 MiB tmpfs on a new folder, unmounted (lazily: the KPs may still run) and removed when
 * the test ends; undefined if this machine does not let us mount one. */
function smallTmpfs(t: TestContext): string | undefined {
  const mnt = mkdtempSync(join(tmpdir(), 'skip-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch {
    rmSync(mnt, { recursive: true });
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true });
  });
  return mnt;
}

/** Fills the file system holding `dir` (to ENOSPC); returns the filler file. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (const size of [65_536, 4_096, 512, 1])
      for (;;) {
        try {
          writeSync(fd, Buffer.alloc(size, 1));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
  } finally {
    closeSync(fd);
  }
  return filler;
}

interface KeyReply {
  keyId: string;
  key: string;
}

describe('a full disk at the peer', () => {
  it('loses no acknowledged key to ENOSPC: takes succeed, puts without room get 503 + Retry-After', async (t) => {
    const mnt = smallTmpfs(t);
    if (!mnt) return t.skip('mount -t tmpfs is not permitted here (needs root); CI runs it');
    const dir = tempDir(t);
    const pki = makePki(dir);
    const { aliceFiles, bobFiles } = await writePairFiles(dir, pki);
    const yaml = readFileSync(bobFiles.config, 'utf8');
    writeFileSync(
      bobFiles.config,
      yaml.replace(/^keystore_path: .*$/m, `keystore_path: "${join(mnt, 'bob-keystore.db')}"`),
    );
    const bob = await startKp(bobFiles.config, { env: bobFiles.env });
    t.after(() => bob.stop());
    const alice = await startKp(aliceFiles.config, { env: aliceFiles.env });
    t.after(() => alice.stop());
    const a = pskAgent(aliceFiles.encryptor);
    const b = pskAgent(bobFiles.encryptor);
    t.after(() => (a.destroy(), b.destroy()));

    const issue = () => nodeGet(alice.port, '/key?remoteSystemID=bob', a);
    const collect = (keyId: string) => nodeGet(bob.port, `/key/${keyId}?remoteSystemID=alice`, b);
    const exchange = async (what: string): Promise<void> => {
      const r = await issue();
      assert.equal(r.status, 200, `${what}: router A got ${r.status} ${r.body}`);
      const k = r.json as KeyReply;
      const got = await collect(k.keyId);
      assert.equal(
        got.status,
        200,
        `${what}: router B got ${got.status} ${got.body} for a key router A holds`,
      );
      assert.equal((got.json as KeyReply).key, k.key);
    };

    await exchange('before the disk filled');
    const filler = fill(mnt);
    // More takes than one page of the spent log holds: each needs room the disk no longer has,
    // unless the put reserved it.
    for (let i = 0; i < 80; i++) await exchange(`exchange ${i} on a full disk`);

    // Keys nobody collects need slots; once the slots' room is used up, bob refuses the next.
    const held: KeyReply[] = [];
    let refusal;
    for (let i = 0; i < 200 && !refusal; i++) {
      const r = await issue();
      if (r.status === 200) held.push(r.json as KeyReply);
      else refusal = r;
    }
    assert.ok(refusal, 'bob acknowledged 200 keys on a full disk');
    assert.equal(refusal.status, 503, refusal.body);
    assert.equal(refusal.headers['retry-after'], '10');
    assert.match((refusal.json as { detail: string }).detail, /peer Key Provider "bob" is busy .*ENOSPC/);
    await bob.waitFor('keystore unavailable', (l) => l.during === 'put' && l.error === 'ENOSPC');
    for (const k of held) {
      const got = await collect(k.keyId);
      assert.equal(got.status, 200, `router B got ${got.status} ${got.body} for a key router A holds`);
      assert.equal((got.json as KeyReply).key, k.key);
    }

    rmSync(filler);
    await exchange('after room was made');
  });
});
