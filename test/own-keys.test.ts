// This KP's own ML-KEM keys across a rotation: the current key first, the previous one only in
// its grace period and only when the caller's check (key confirmation) accepts its secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { noble } from '../src/kem/mlkem.js';
import { OwnKemKeys } from '../src/kem/own-keys.js';

const pair = () => {
  const seed = randomBytes(64);
  return { priv: noble.preparePrivate({ seed }), pub: noble.preparePublic(noble.publicFromSeed(seed)) };
};

describe('own ML-KEM keys across a rotation', () => {
  it('tries the current key, then the previous one until its grace period ends', async () => {
    const [oldPair, newPair] = [pair(), pair()];
    const keys = new OwnKemKeys(oldPair.priv, 150);
    const toOld = oldPair.pub.encapsulate();
    const toNew = newPair.pub.encapsulate();
    const is = (want: Uint8Array) => (secret: Buffer) => secret.equals(want);
    assert.equal(keys.decapsulate(toNew.ciphertext, is(toNew.sharedSecret)), undefined, 'not loaded yet');
    const swap = keys.replace(newPair.priv);
    assert.equal(swap.changed, true);
    assert.ok(swap.previousUntil);
    assert.equal(keys.decapsulate(toNew.ciphertext, is(toNew.sharedSecret))?.which, 'current');
    const old = keys.decapsulate(toOld.ciphertext, is(toOld.sharedSecret));
    assert.equal(old?.which, 'previous');
    assert.ok(old.secret.equals(toOld.sharedSecret));
    // Without a check (no confirmation sent) only the current key can be used.
    assert.equal(keys.decapsulate(toOld.ciphertext)?.which, 'current');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(keys.decapsulate(toOld.ciphertext, is(toOld.sharedSecret)), undefined, 'grace over');
    keys.wipe();
  });

  it('the same pair again changes nothing; grace 0 drops the previous key at once', () => {
    const a = pair();
    const keys = new OwnKemKeys(a.priv, 0);
    const seedAgain = pair();
    assert.equal(keys.replace(noble.preparePrivate({ seed: Buffer.alloc(64, 1) })).changed, true);
    assert.equal(keys.replace(noble.preparePrivate({ seed: Buffer.alloc(64, 1) })).changed, false);
    const toA = a.pub.encapsulate();
    assert.equal(
      keys.decapsulate(toA.ciphertext, (s) => s.equals(toA.sharedSecret)),
      undefined,
    );
    seedAgain.priv.wipe();
    keys.wipe();
  });
});
