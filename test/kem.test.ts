// ML-KEM-1024 (FIPS 203): known answers from OpenSSL 3.5's implementation (fixture and the script
// that made it in test/fixtures), encapsulation and implicit rejection checked against FIPS 203's
// own definitions (computed here with node:crypto's SHA-3), and the two backends against each
// other. Runs under Node 20 (noble) and again under Node 24 (native and noble).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import {
  dkIsValid,
  ekIsValid,
  ekOf,
  native,
  noble,
  selectBackend,
  type KemBackend,
} from '../src/kem/mlkem.js';

interface Kat {
  seed: string;
  ekSha3: string;
  dkSha3: string;
  ciphertext: string;
  sharedSecret: string;
  tamperedByte0SharedSecret: string;
}
const kats = (
  JSON.parse(readFileSync('test/fixtures/mlkem1024-openssl-kat.json', 'utf8')) as { tests: Kat[] }
).tests;
const nativeKem = native();
const backends: KemBackend[] = [noble, ...(nativeKem ? [nativeKem] : [])];
const sha3 = (alg: string, ...parts: Uint8Array[]): Buffer => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
};
/** J(s) = SHAKE256(s, 32 bytes): the implicit-rejection key (FIPS 203 Alg. 18, line 7). */
const J = (z: Uint8Array, c: Uint8Array): Buffer =>
  createHash('shake256', { outputLength: 32 }).update(z).update(c).digest();

describe('ML-KEM-1024', () => {
  it('has the native backend where the suite demands it', () => {
    if (process.env.SKIP_REQUIRE_NATIVE_KEM === '1')
      assert.ok(nativeKem, `no native ML-KEM in Node ${process.version}`);
    assert.equal(selectBackend('auto').name, nativeKem ? 'native' : 'noble');
    if (!nativeKem) assert.throws(() => selectBackend('native'), /needs Node >= 24\.7/);
  });

  for (const kem of backends) {
    describe(`${kem.name} backend`, () => {
      it("derives OpenSSL's keys from each seed and decapsulates OpenSSL's ciphertexts", () => {
        for (const v of kats) {
          const { ek, dk } = kem.keygen(Buffer.from(v.seed, 'hex'));
          assert.equal(sha3('sha3-256', ek).toString('hex'), v.ekSha3, `ek for seed ${v.seed.slice(0, 8)}`);
          assert.equal(sha3('sha3-256', dk).toString('hex'), v.dkSha3, `dk for seed ${v.seed.slice(0, 8)}`);
          assert.ok(Buffer.from(ekOf(dk)).equals(ek));
          assert.equal(
            dk.subarray(3104, 3136).toString('hex'),
            sha3('sha3-256', ek).toString('hex'),
            'H(ek) in dk',
          );
          assert.equal(dk.subarray(3136).toString('hex'), v.seed.slice(64), 'z in dk');
          const priv = kem.preparePrivate(dk);
          const ct = Buffer.from(v.ciphertext, 'hex');
          assert.equal(priv.decapsulate(ct).toString('hex'), v.sharedSecret);
          ct[0]! ^= 1;
          assert.equal(priv.decapsulate(ct).toString('hex'), v.tamperedByte0SharedSecret);
        }
      });

      it('decapsulates to K = G(m || H(ek)) for an honest ciphertext (FIPS 203 Alg. 17)', () => {
        const { ek, dk } = kem.keygen(Buffer.from(kats[0]!.seed, 'hex'));
        const m = randomBytes(32);
        const { cipherText, sharedSecret } = ml_kem1024.encapsulate(ek, m);
        const expected = sha3('sha3-512', m, sha3('sha3-256', ek)).subarray(0, 32);
        assert.equal(Buffer.from(sharedSecret).toString('hex'), expected.toString('hex'));
        const priv = kem.preparePrivate(dk);
        assert.equal(priv.decapsulate(cipherText).toString('hex'), expected.toString('hex'));
      });

      it('rejects a tampered ciphertext implicitly with K = J(z || c) (FIPS 203 Alg. 18)', () => {
        const seed = Buffer.from(kats[1]!.seed, 'hex');
        const { ek, dk } = kem.keygen(seed);
        const { ciphertext, sharedSecret } = kem.preparePublic(ek).encapsulate();
        ciphertext[100]! ^= 0x01;
        const priv = kem.preparePrivate(dk);
        const got = priv.decapsulate(ciphertext);
        assert.notEqual(got.toString('hex'), sharedSecret.toString('hex'));
        assert.equal(got.toString('hex'), J(seed.subarray(32), ciphertext).toString('hex'));
      });

      it('round-trips with fresh random keys', () => {
        for (let i = 0; i < 5; i++) {
          const { ek, dk } = kem.keygen(randomBytes(64));
          const enc = kem.preparePublic(ek).encapsulate();
          assert.equal(enc.ciphertext.length, 1568);
          assert.ok(kem.preparePrivate(dk).decapsulate(enc.ciphertext).equals(enc.sharedSecret));
        }
      });
    });
  }

  it('native and noble agree: same keys from a seed, and each decapsulates the other', (t) => {
    if (!nativeKem)
      return t.skip(`no native ML-KEM in Node ${process.version}; run.mjs repeats this under Node 24`);
    for (let i = 0; i < 10; i++) {
      const seed = randomBytes(64);
      const a = noble.keygen(seed);
      const b = nativeKem.keygen(seed);
      assert.ok(a.ek.equals(b.ek) && a.dk.equals(b.dk), 'keygen differs');
      const fromNoble = noble.preparePublic(a.ek).encapsulate();
      assert.ok(
        nativeKem.preparePrivate(b.dk).decapsulate(fromNoble.ciphertext).equals(fromNoble.sharedSecret),
      );
      const fromNative = nativeKem.preparePublic(b.ek).encapsulate();
      assert.ok(
        noble.preparePrivate(a.dk).decapsulate(fromNative.ciphertext).equals(fromNative.sharedSecret),
      );
    }
  });

  it('checks keys as FIPS 203 §7.2 and §7.3 require', () => {
    const { ek, dk } = noble.keygen(randomBytes(64));
    assert.ok(ekIsValid(ek) && dkIsValid(dk));
    const badEk = Buffer.from(ek);
    badEk[0] = 0xff;
    badEk[1] = 0x0f; // first coefficient 4095 >= q
    assert.equal(ekIsValid(badEk), false);
    const badDk = Buffer.from(dk);
    badDk[3110]! ^= 1; // inside the stored H(ek)
    assert.equal(dkIsValid(badDk), false);
    assert.equal(ekIsValid(ek.subarray(1)), false);
  });
});
