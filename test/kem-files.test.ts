// phases: runtime
// ML-KEM-1024 key files: OpenSSL 3.5's three private key forms with each backend, interop with
// OpenSSL itself (run.mjs runs this file under every Node of the matrix), broken files, and
// `skip-server keygen`.
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { loadPrivateKey, readPublicKeyFile } from '../src/kem/keys.js';
import { native, noble } from '../src/kem/mlkem.js';
import { TAG, readAll, readOne } from '../src/kem/der.js';
import {
  decodePrivatePem,
  encodePrivatePem,
  encodePublicPem,
  spkiDer,
  type PrivateForm,
} from '../src/kem/pem.js';
import { spawnSync } from 'node:child_process';
import { BUNDLE, runCli } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

const FORMS: PrivateForm[] = ['seed', 'expanded', 'both'];
const OPENSSL_PRIV = 'test/fixtures/test-only-mlkem1024-openssl-3.5.8-priv.pem';
const OPENSSL_PUB = 'test/fixtures/test-only-mlkem1024-openssl-3.5.8-pub.pem';
/** The same key in OpenSSL's seed-only form (test/fixtures/make-mlkem-seed-only.mjs). */
const OPENSSL_SEED_ONLY = 'test/fixtures/test-only-mlkem1024-openssl-3.5.9-seed-only-priv.pem';

/** A PEM file's DER. */
const derOf = (file: string): Buffer => {
  const text = readFileSync(file, 'latin1');
  return Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
};

/**
 * The private key as the reference Key Provider takes it from a PKCS#8 file: the expanded
 * FIPS 203 key, the OCTET STRING that the "both" form's SEQUENCE ends with or the expanded-only
 * form is; any other form yields the privateKey field's raw bytes (66 for the seed-only form).
 */
function referencePrivateKey(file: string): Buffer {
  const [, , key] = readAll(readOne(derOf(file), TAG.SEQUENCE));
  const [inner] = readAll(key!.value);
  if (inner?.tag === TAG.SEQUENCE) return readAll(inner.value).at(-1)!.value;
  if (inner?.tag === TAG.OCTET_STRING) return inner.value;
  return key!.value;
}

/** The file's key loads in the reference's form: 3,168 bytes, the key our ML-KEM derives from its seed. */
function assertReferenceLoads(file: string): void {
  const dk = referencePrivateKey(file);
  assert.equal(dk.length, 3168, `${file}: the reference would read ${dk.length} bytes`);
  const { seed } = decodePrivatePem(readFileSync(file));
  assert.ok(seed, `${file} has no seed`);
  assert.ok(noble.keygen(seed).dk.equals(dk), `${file}: the expanded key is not the seed's`);
}
/** The PEM label, spelled in parts so that secret scanners do not take this file for a key. */
const PRIV_LABEL = ['PRIVATE', 'KEY'].join(' ');

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

describe('ML-KEM-1024 key files', () => {
  it('loads all three private key forms with every backend of this runtime, and they agree keys', (t) => {
    const dir = tempDir(t);
    const seed = randomBytes(64);
    const { ek, dk } = noble.keygen(seed);
    const pub = join(dir, 'pub.pem');
    writeFileSync(pub, encodePublicPem(ek));
    assert.ok(readPublicKeyFile(pub).equals(ek));
    const backends = [noble, ...(native() ? [native()!] : [])];
    for (const form of FORMS) {
      const file = join(dir, `${form}.pem`);
      writeFileSync(file, encodePrivatePem({ seed, expanded: dk }, form));
      for (const kem of backends) {
        const priv = loadPrivateKey(file, kem, pub);
        assert.ok(priv.ek.equals(ek), `${form} with ${kem.name}`);
        for (const sender of backends) {
          const { ciphertext, sharedSecret } = sender.preparePublic(ek).encapsulate();
          assert.ok(
            priv.decapsulate(ciphertext).equals(sharedSecret),
            `${form}: ${sender.name} -> ${kem.name}`,
          );
        }
      }
    }
    const other = join(dir, 'other.pem');
    writeFileSync(other, encodePublicPem(noble.keygen(randomBytes(64)).ek));
    assert.match(
      problem(() => loadPrivateKey(join(dir, 'both.pem'), noble, other)),
      /other\.pem: this public key is not the pair/,
    );
  });

  it('loads a key pair that OpenSSL 3.5.8 wrote, and the same key in its seed-only form (fixtures)', () => {
    for (const file of [OPENSSL_PRIV, OPENSSL_SEED_ONLY]) {
      const priv = loadPrivateKey(file, noble, OPENSSL_PUB);
      assert.equal(priv.ek.length, 1568);
      const kem = native();
      if (kem) assert.ok(loadPrivateKey(file, kem, OPENSSL_PUB).ek.equals(priv.ek));
    }
    // genpkey's default form is what the reference reads; the seed-only form is not.
    assertReferenceLoads(OPENSSL_PRIV);
    assert.equal(referencePrivateKey(OPENSSL_SEED_ONLY).length, 66);
  });

  it('skip-server keygen writes the private key as OpenSSL 3.5 genpkey does by default, which the reference reads', async (t) => {
    const dir = tempDir(t);
    const [pub, priv] = [join(dir, 'kem_pub.pem'), join(dir, 'kem_priv.pem')];
    const made = await runCli(['keygen', '--pub', pub, '--priv', priv]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /seed and expanded key/);
    assertReferenceLoads(priv);
    // Byte for byte the layout of genpkey's file (every tag and length up to the seed, the size).
    const [ours, theirs] = [derOf(priv), derOf(OPENSSL_PRIV)];
    assert.equal(ours.length, theirs.length);
    assert.ok(ours.subarray(0, 26).equals(theirs.subarray(0, 26)), ours.subarray(0, 26).toString('hex'));
    loadPrivateKey(priv, noble, pub);
    if (native()) loadPrivateKey(priv, native()!, pub);
    // --form seed: OpenSSL's seed-only layout, for those who want the small file.
    const small = await runCli(['keygen', '--pub', pub, '--priv', priv, '--force', '--form', 'seed']);
    assert.equal(small.code, 0, small.stderr);
    const [seedOurs, seedTheirs] = [derOf(priv), derOf(OPENSSL_SEED_ONLY)];
    assert.equal(seedOurs.length, seedTheirs.length);
    assert.ok(seedOurs.subarray(0, 22).equals(seedTheirs.subarray(0, 22)));
    loadPrivateKey(priv, noble, pub);
    const bad = await runCli(['keygen', '--pub', pub, '--priv', priv, '--force', '--form', 'expanded']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--form must be both or seed, not "expanded"/);
    const help = await runCli(['keygen', '--help']);
    assert.match(help.stdout, /--form/);
    assert.match(help.stdout, /seed and the 3,168-byte expanded key/);
    assert.doesNotMatch(help.stdout, /holds\s+only the 64-byte seed/);
  });

  it('interoperates with OpenSSL 3.5+ in both directions (Node >= 24.7)', (t) => {
    const kem = native();
    if (!kem)
      return t.skip(
        'needs OpenSSL 3.5 through Node >= 24.7; run.mjs runs this file again under Node 24 and 26',
      );
    const dir = tempDir(t);
    // OpenSSL's own key, in the form this runtime exports (Node 24: seed+expanded, as `openssl
    // genpkey -algorithm ML-KEM-1024` writes it; Node 26: seed only).
    const made = nodeCrypto.generateKeyPairSync('ml-kem-1024' as 'x25519');
    writeFileSync(join(dir, 'o-priv.pem'), made.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(join(dir, 'o-pub.pem'), made.publicKey.export({ format: 'pem', type: 'spki' }));
    for (const k of [noble, kem]) loadPrivateKey(join(dir, 'o-priv.pem'), k, join(dir, 'o-pub.pem'));
    // Our files, in each form, read by OpenSSL.
    const seed = randomBytes(64);
    const { ek, dk } = noble.keygen(seed);
    const spki = nodeCrypto.createPublicKey(encodePublicPem(ek)).export({ format: 'der', type: 'spki' });
    assert.ok(spki.subarray(spki.length - 1568).equals(ek));
    for (const form of FORMS) {
      const key = nodeCrypto.createPrivateKey(encodePrivatePem({ seed, expanded: dk }, form));
      const pub = nodeCrypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
      assert.ok(pub.subarray(pub.length - 1568).equals(ek), `OpenSSL read our "${form}" form`);
    }
  });

  it('names the file and the fault for broken, foreign or mismatched key files', (t) => {
    const dir = tempDir(t);
    const seed = randomBytes(64);
    const { ek, dk } = noble.keygen(seed);
    const good = encodePrivatePem({ seed, expanded: dk }, 'both').toString();
    const write = (name: string, text: string | Buffer): string => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    const ec = nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cases: [string, () => unknown, RegExp][] = [
      [
        'missing',
        () => loadPrivateKey(join(dir, 'nope.pem'), noble),
        /nope\.pem: cannot read ML-KEM-1024 private key \(ENOENT\)/,
      ],
      [
        'truncated',
        () => loadPrivateKey(write('cut.pem', good.slice(0, good.length / 2)), noble),
        /cut\.pem: .*no END line/,
      ],
      [
        'garbage base64',
        () =>
          loadPrivateKey(
            write('junk.pem', `-----BEGIN ${PRIV_LABEL}-----\n!!!!\n-----END ${PRIV_LABEL}-----\n`),
            noble,
          ),
        /junk\.pem: .*not valid base64/,
      ],
      [
        'EC key',
        () => loadPrivateKey(write('ec.pem', ec.privateKey.export({ format: 'pem', type: 'pkcs8' })), noble),
        /ec\.pem: .*not an ML-KEM-1024 key \(algorithm OID 1\.2\.840\.10045\.2\.1/,
      ],
      [
        'public where private expected',
        () => loadPrivateKey(write('pub-as-priv.pem', encodePublicPem(ek)), noble),
        /expected a "PRIVATE KEY" PEM block, found "PUBLIC KEY"/,
      ],
      [
        'short public key',
        () => {
          const short = spkiDer(ek.subarray(1)).toString('base64');
          return readPublicKeyFile(
            write('short.pem', `-----BEGIN PUBLIC KEY-----\n${short}\n-----END PUBLIC KEY-----\n`),
          );
        },
        /short\.pem: .*public key is 1567 bytes/,
      ],
      [
        'seed and expanded disagree',
        () =>
          loadPrivateKey(
            write('mix.pem', encodePrivatePem({ seed, expanded: noble.keygen(randomBytes(64)).dk }, 'both')),
            noble,
          ),
        /mix\.pem: .*do not belong together/,
      ],
      [
        'corrupt expanded key',
        () => {
          const bad = Buffer.from(dk);
          bad[3120]! ^= 1;
          return loadPrivateKey(write('corrupt.pem', encodePrivatePem({ expanded: bad }, 'expanded')), noble);
        },
        /corrupt\.pem: .*fails the FIPS 203 hash check/,
      ],
    ];
    const kem = native();
    if (kem) {
      // A key OpenSSL refuses (dkPKE altered, H(ek) intact) names the file, form and runtime.
      const bad = Buffer.from(dk);
      bad[0]! ^= 1;
      cases.push([
        'expanded key the runtime refuses',
        () => loadPrivateKey(write('refused.pem', encodePrivatePem({ expanded: bad }, 'expanded')), kem),
        /refused\.pem: ML-KEM-1024 private key: this runtime \(Node v\d+[^,]*, native ML-KEM\) cannot load the "expanded" form/,
      ]);
    }
    for (const [name, fn, re] of cases) assert.match(problem(fn), re, name);
    assert.ok(!problem(cases[1]![1]).includes(good.slice(40, 80)), 'key material in an error');
  });

  it('skip-server keygen writes a 0600 private key, refuses to overwrite, and --force replaces', async (t) => {
    const dir = tempDir(t);
    const [pub, priv] = [join(dir, 'kem_pub.pem'), join(dir, 'kem_priv.pem')];
    const first = await runCli(['keygen', '--pub', pub, '--priv', priv]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(statSync(priv).mode & 0o777, 0o600);
    assert.ok(readFileSync(priv, 'utf8').startsWith(`-----BEGIN ${PRIV_LABEL}-----\n`));
    const ek = loadPrivateKey(priv, noble, pub).ek;
    const again = await runCli(['keygen', '--pub', pub, '--priv', priv]);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /kem_priv\.pem: exists; use --force/);
    assert.ok(loadPrivateKey(priv, noble, pub).ek.equals(ek), 'refused run changed the key');
    const forced = await runCli(['keygen', '--pub', pub, '--priv', priv, '--force']);
    assert.equal(forced.code, 0);
    assert.ok(!loadPrivateKey(priv, noble, pub).ek.equals(ek));
    assert.equal((await runCli(['keygen', '--pub', pub])).code, 2);
  });

  it("scripts/generate_mlkem_kp.sh keeps the reference's flags and calls keygen", (t) => {
    const dir = tempDir(t);
    const env = { ...process.env, SKIP_SERVER: `${process.execPath} ${BUNDLE}` };
    const run = (...args: string[]) =>
      spawnSync('bash', ['scripts/generate_mlkem_kp.sh', ...args], { env, encoding: 'utf8' });
    const ok = run('-p', join(dir, 's/kem_pub.pem'), '-s', join(dir, 's/kem_priv.pem'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(statSync(join(dir, 's/kem_priv.pem')).mode & 0o777, 0o600);
    loadPrivateKey(join(dir, 's/kem_priv.pem'), noble, join(dir, 's/kem_pub.pem'));
    assertReferenceLoads(join(dir, 's/kem_priv.pem'));
    assert.equal(run('-p', join(dir, 's/kem_pub.pem'), '-s', join(dir, 's/kem_priv.pem')).status, 3);
    const missing = run('-p', join(dir, 'x.pem'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /both -p and -s are required/);
    assert.match(run('-h').stdout, /Usage: generate_mlkem_kp\.sh -p PUBLIC_PEM -s PRIVATE_PEM/);
  });
});
