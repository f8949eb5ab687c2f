// Security findings 3 and 7 (docs/security.md): a key handed out is never handed out again,
// whatever is copied back or replayed: an earlier copy of the keystore file, one 512-byte slot
// written back with dd, or the peer's /key-exchange body sent again. Real KPs (bundle or
// executable), real files, real mutual TLS; bob is stopped and started as an operator would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { readPublicKeyFile } from '../src/kem/keys.js';
import { HEADER_BYTES, SLOT_BYTES } from '../src/keystore/slots.js';
import { runCli, type RunningKp } from './helpers/bundle.js';
import { pskGet } from './helpers/http-client.js';
import { peerRequest } from './helpers/peer-client.js';
import { startPair } from './helpers/pair.js';

/** Indexes of the keystore's slots that are not all zeros. */
function usedSlots(file: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; HEADER_BYTES + (i + 1) * SLOT_BYTES <= file.length; i++) {
    const slot = file.subarray(HEADER_BYTES + i * SLOT_BYTES, HEADER_BYTES + (i + 1) * SLOT_BYTES);
    if (slot.some((b) => b !== 0)) out.push(i);
  }
  return out;
}

describe('replays: copied-back keystore, copied-back slot, replayed key exchange', () => {
  it('never hands a delivered key out again', async (t) => {
    const pair = await startPair(t);
    const { dir, pki, aliceFiles, bobFiles, alice } = pair;
    const keystore = join(dir, 'bob-keystore.db');
    const bob = (): RunningKp => pair.bob;
    const restartBob = async (): Promise<void> => {
      await pair.bob.stop();
      await pair.startBob();
    };
    const newKey = async (): Promise<{ keyId: string; key: string }> => {
      const r = await pskGet(alice.port, '/key?remoteSystemID=bob', aliceFiles.encryptor);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json as { keyId: string; key: string };
    };
    const take = (keyId: string) =>
      pskGet(bob().port, `/key/${keyId}?remoteSystemID=alice`, bobFiles.encryptor);

    // 1. The whole file copied back after the take.
    const a = await newKey();
    const snapshot = join(dir, 'keystore-copy.db');
    copyFileSync(keystore, snapshot);
    assert.equal((await take(a.keyId)).status, 200);
    await bob().stop();
    copyFileSync(snapshot, keystore);
    await pair.startBob();
    assert.equal((await take(a.keyId)).status, 400, 'a restored keystore served a delivered key');
    const wiped = await bob().waitFor('keystore replayed slots wiped');
    assert.equal((wiped.slots as number[]).length, 1);

    // 2. One 512-byte slot written back in place (dd conv=notrunc).
    const b = await newKey();
    const before = readFileSync(keystore);
    const [slot] = usedSlots(before);
    assert.ok(slot !== undefined);
    const offset = HEADER_BYTES + slot * SLOT_BYTES;
    const sealed = Buffer.from(before.subarray(offset, offset + SLOT_BYTES));
    assert.equal((await take(b.keyId)).status, 200);
    await bob().stop();
    const now = readFileSync(keystore);
    assert.deepEqual(usedSlots(now), [], 'the take left the slot in place');
    sealed.copy(now, offset);
    writeFileSync(keystore, now);
    await pair.startBob();
    assert.equal((await take(b.keyId)).status, 400, 'a copied-back slot served a delivered key');

    // 3. The peer's exchange body sent again after the key was taken: 409, nothing stored.
    const keyId = randomBytes(16).toString('hex');
    const ek = readPublicKeyFile(join(dir, 'bob-kem_pub.pem'));
    const body = JSON.stringify({
      system_id: 'alice',
      key_id: keyId,
      length: 256,
      ciphertext: Buffer.from(ml_kem1024.encapsulate(ek).cipherText).toString('hex'),
    });
    const leaf = { cert: join(dir, 'alice.pem'), key: join(dir, 'alice.key') };
    assert.equal((await peerRequest(bob().peerPort, { ca: pki.ca, leaf, body })).status, 200);
    assert.equal((await take(keyId)).status, 200);
    const replay = await peerRequest(bob().peerPort, { ca: pki.ca, leaf, body });
    assert.equal(replay.status, 409);
    assert.match((replay.json as { detail: string }).detail, /was already delivered/);
    assert.equal((await take(keyId)).status, 400, 'the replayed exchange stored the key again');
    // ... and still after a restart: the spent log is on disk.
    await restartBob();
    assert.equal((await peerRequest(bob().peerPort, { ca: pki.ca, leaf, body })).status, 409);

    // 4. The spent log removed: bob refuses to start and says why, naming the file.
    await bob().stop();
    rmSync(`${keystore}.spent`);
    const refused = await runCli(['serve', '--config', bobFiles.config], { env: bobFiles.env });
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /bob-keystore\.db\.spent: the spent log is missing/);
  });
});
