// phases: runtime
// ML-KEM-1024 (FIPS 203): known answers from OpenSSL 3.5's implementation (fixture and the script
// that made it in test/fixtures), encapsulation and implicit rejection checked against FIPS 203's
// own definitions (computed here with node:crypto's SHA-3), and the two backends against each
// other, with private keys in each of OpenSSL 3.5's three forms. Runs under every Node of the
// matrix (test/run.mjs): noble everywhere, native where the runtime has ML-KEM.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import {
  KeyMismatchError,
  dkIsValid,
  ekIsValid,
  native,
  noble,
  selectBackend,
  type KemBackend,
  type PrivateKeyParts,
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

  /** A private key in each of OpenSSL 3.5's three forms, made from `seed` (dk by noble). */
  const forms = (seed: Buffer): [string, PrivateKeyParts][] => {
    const { dk } = noble.keygen(seed);
    return [
      ['seed', { seed }],
      ['expanded', { expanded: dk }],
      ['both', { seed, expanded: dk }],
    ];
  };

  for (const kem of backends) {
    describe(`${kem.name} backend`, () => {
      it("derives OpenSSL's keys from each seed and decapsulates OpenSSL's ciphertexts, in every form", () => {
        for (const v of kats) {
          const seed = Buffer.from(v.seed, 'hex');
          const ek = kem.publicFromSeed(seed);
          assert.equal(sha3('sha3-256', ek).toString('hex'), v.ekSha3, `ek for seed ${v.seed.slice(0, 8)}`);
          const dk = noble.keygen(seed).dk;
          assert.equal(sha3('sha3-256', dk).toString('hex'), v.dkSha3, `dk for seed ${v.seed.slice(0, 8)}`);
          for (const [form, parts] of forms(seed)) {
            const priv = kem.preparePrivate(parts);
            assert.ok(priv.ek.equals(ek), `ek of the ${form} form`);
            const ct = Buffer.from(v.ciphertext, 'hex');
            assert.equal(priv.decapsulate(ct).toString('hex'), v.sharedSecret, form);
            ct[0]! ^= 1;
            assert.equal(priv.decapsulate(ct).toString('hex'), v.tamperedByte0SharedSecret, form);
          }
        }
      });

      it('decapsulates to K = G(m || H(ek)) for an honest ciphertext (FIPS 203 Alg. 17)', () => {
        const seed = Buffer.from(kats[0]!.seed, 'hex');
        const ek = kem.publicFromSeed(seed);
        const m = randomBytes(32);
        const { cipherText, sharedSecret } = ml_kem1024.encapsulate(ek, m);
        const expected = sha3('sha3-512', m, sha3('sha3-256', ek)).subarray(0, 32);
        assert.equal(Buffer.from(sharedSecret).toString('hex'), expected.toString('hex'));
        const priv = kem.preparePrivate({ seed });
        assert.equal(priv.decapsulate(cipherText).toString('hex'), expected.toString('hex'));
      });

      it('rejects a tampered ciphertext implicitly with K = J(z || c) (FIPS 203 Alg. 18)', () => {
        const seed = Buffer.from(kats[1]!.seed, 'hex');
        const { ciphertext, sharedSecret } = kem.preparePublic(kem.publicFromSeed(seed)).encapsulate();
        ciphertext[100]! ^= 0x01;
        for (const [form, parts] of forms(seed)) {
          const got = kem.preparePrivate(parts).decapsulate(ciphertext);
          assert.notEqual(got.toString('hex'), sharedSecret.toString('hex'), form);
          assert.equal(got.toString('hex'), J(seed.subarray(32), ciphertext).toString('hex'), form);
        }
      });

      it('round-trips with fresh random keys', () => {
        for (let i = 0; i < 5; i++) {
          const seed = randomBytes(64);
          const enc = kem.preparePublic(kem.publicFromSeed(seed)).encapsulate();
          assert.equal(enc.ciphertext.length, 1568);
          assert.ok(kem.preparePrivate({ seed }).decapsulate(enc.ciphertext).equals(enc.sharedSecret));
        }
      });

      it('refuses a seed and an expanded key that are not one key', () => {
        const seed = randomBytes(64);
        const other = noble.keygen(randomBytes(64)).dk;
        assert.throws(() => kem.preparePrivate({ seed, expanded: other }), KeyMismatchError);
        // Same ek and H(ek), different secret part: only the pairwise check can tell.
        // (OpenSSL may refuse such an expanded key on import already; either way it is refused.)
        const forged = noble.keygen(seed).dk;
        forged[0]! ^= 1;
        assert.throws(
          () => kem.preparePrivate({ seed, expanded: forged }),
          /do not belong together|invalid key/,
        );
      });
    });
  }

  it('native and noble agree: same ek from a seed, and each decapsulates the other', (t) => {
    if (!nativeKem)
      return t.skip(`no native ML-KEM in Node ${process.version}; run.mjs repeats this under newer Nodes`);
    for (let i = 0; i < 10; i++) {
      const seed = randomBytes(64);
      const ek = noble.publicFromSeed(seed);
      assert.ok(ek.equals(nativeKem.publicFromSeed(seed)), 'keygen differs');
      const fromNoble = noble.preparePublic(ek).encapsulate();
      assert.ok(
        nativeKem.preparePrivate({ seed }).decapsulate(fromNoble.ciphertext).equals(fromNoble.sharedSecret),
      );
      const fromNative = nativeKem.preparePublic(ek).encapsulate();
      assert.ok(
        noble.preparePrivate({ seed }).decapsulate(fromNative.ciphertext).equals(fromNative.sharedSecret),
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
