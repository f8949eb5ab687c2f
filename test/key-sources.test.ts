// The parts of the etsi014 and hybrid key sources below the KPs: the hybrid combiner's known
// answer, the keyId <-> key_ID mapping, the config rules, and the KME client against the
// simulated KMEs in both dialects (ETSI's {"message"} and FastAPI's {"detail"}, 422, 404).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import type { KeyId } from '../src/ids/key-id.js';
import { KmeClient, kmeMessage } from '../src/kme/client.js';
import { KmeError } from '../src/kme/errors.js';
import { SimKmeNetwork } from '../src/kme/sim/kme-sim.js';
import { keyIdOfUuid, uuidOfKeyId } from '../src/kme/uuid.js';
import { Metrics } from '../src/metrics.js';
import { hybridKey } from '../src/skip/hybrid.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

describe('hybrid combiner', () => {
  it('matches the known answer of docs/key-sources.md (computed with `openssl kdf HKDF`)', () => {
    const qkd = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const pq = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i));
    const keyId = '0123456789abcdef0123456789abcdef' as KeyId;
    const k = hybridKey(qkd, pq, keyId, 'alice', 'bob');
    assert.equal(k.toString('hex'), '879c2fcd6c330a63b8a0a7d554aae6832a61df4b7b70546a328f579eec1812f6');
    // Bound to the direction and to both inputs.
    assert.notEqual(hybridKey(qkd, pq, keyId, 'bob', 'alice').toString('hex'), k.toString('hex'));
    assert.notEqual(hybridKey(pq, qkd, keyId, 'alice', 'bob').toString('hex'), k.toString('hex'));
    assert.throws(() => hybridKey(qkd, pq.subarray(1), keyId, 'alice', 'bob'), /differ in length/);
  });
});

describe('keyId <-> key_ID', () => {
  it('drops the hyphens, lower case, and rebuilds the UUID from 32 hex digits only', () => {
    const u = '550E8400-E29B-41D4-A716-446655440000';
    assert.equal(keyIdOfUuid(u), '550e8400e29b41d4a716446655440000');
    assert.equal(uuidOfKeyId(keyIdOfUuid(u)), u.toLowerCase());
    assert.equal(uuidOfKeyId('abcd'), undefined);
    assert.throws(() => keyIdOfUuid('not-a-uuid'));
  });
});

const BASE = `localSystemID: "alice"
keystore_path: "/k.db"
kem_pub_key_path: "/p.pem"
kem_priv_key_path: "/q.pem"
psk_file: "/psk.txt"
certfile: "/c.pem"
keyfile: "/c.key"
cafile: "/ca.pem"
`;
const KME = `kme:\n  url: "https://kme.example:8443"\n  certfile: "/sae.pem"\n  keyfile: "/sae.key"\n  cafile: "/kme-ca.pem"\n`;
const problems = (text: string): string => {
  try {
    parseConfig(text, 'skip.yaml');
    return '';
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems.join('\n');
  }
};

describe('config: key_source, sae_id, kme', () => {
  it('an etsi014 remote needs sae_id and the kme block, not ip or pubkey_path', () => {
    const c = parseConfig(
      `${BASE}remoteSystems:\n  - id: "bob"\n    key_source: etsi014\n    sae_id: "SAE_B"\n${KME}`,
      'skip.yaml',
    );
    assert.equal(c.remoteSystems[0]!.key_source, 'etsi014');
    assert.equal(c.kme!.timeout_seconds, 10);
    assert.equal(c.kme!.max_connections, 16);
    assert.match(
      problems(`${BASE}remoteSystems:\n  - id: "bob"\n    key_source: etsi014\n${KME}`),
      /missing required key "remoteSystems\[0\]\.sae_id" \(key_source etsi014\)/,
    );
    assert.match(
      problems(`${BASE}remoteSystems:\n  - id: "bob"\n    key_source: etsi014\n    sae_id: "B"\n`),
      /"kme" is not set, but "bob" use key_source etsi014/,
    );
    assert.match(
      problems(
        `${BASE}remoteSystems:\n  - id: "bob"\n    ip: "10.0.0.2"\n    key_source: etsi014\n    sae_id: "B"\n${KME}`,
      ),
      /"remoteSystems\[0\]\.ip" is not used with key_source etsi014/,
    );
  });

  it('a hybrid remote needs ip, pubkey_path and sae_id; mlkem stays the default', () => {
    const p = problems(`${BASE}remoteSystems:\n  - id: "bob"\n    key_source: hybrid\n${KME}`);
    for (const k of ['ip', 'pubkey_path', 'sae_id'])
      assert.match(p, new RegExp(`"remoteSystems\\[0\\]\\.${k}" \\(key_source hybrid\\)`));
    const c = parseConfig(
      `${BASE}remoteSystems:\n  - id: "bob"\n    ip: "10.0.0.2"\n    pubkey_path: "/b.pem"\n`,
      'skip.yaml',
    );
    assert.equal(c.remoteSystems[0]!.key_source, 'mlkem');
    assert.equal(c.kme, undefined);
  });

  it('typos get "did you mean"; the kme url must be https', () => {
    assert.match(
      problems(`${BASE}remoteSystems:\n  - id: "bob"\n    key_source: etsi14\n    sae_id: "B"\n${KME}`),
      /did you mean "etsi014"/,
    );
    assert.match(
      problems(`${BASE}remoteSystems:\n  - id: "bob"\n    key_sorce: etsi014\n${KME}`),
      /did you mean "remoteSystems\[0\]\.key_source"/,
    );
    assert.match(
      problems(
        `${BASE}remoteSystems:\n  - id: "b"\n    key_source: etsi014\n    sae_id: "B"\n${KME.replace('cafile', 'ca_file')}`,
      ),
      /unknown key "kme\.ca_file"; did you mean "kme\.cafile"/,
    );
    assert.match(
      problems(
        `${BASE}remoteSystems:\n  - id: "b"\n    key_source: etsi014\n    sae_id: "B"\n${KME.replace('https:', 'http:')}`,
      ),
      /"kme\.url" must be https/,
    );
  });
});

async function simAndClients(t: TestContext, dialect: 'etsi' | 'fastapi') {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const kme = pki.leaf('kme');
  const sim = new SimKmeNetwork({
    certfile: kme.cert,
    keyfile: kme.key,
    cafile: pki.ca,
    saes: { A: 0, B: 1, C: 1 },
    dialect,
    minKeySize: 128,
    maxKeySize: 256,
  });
  const urls = await sim.start();
  t.after(() => sim.close());
  const client = (name: string, url: string): KmeClient => {
    const leaf = pki.leaf(name);
    const c = new KmeClient(
      { url, certfile: leaf.cert, keyfile: leaf.key, cafile: pki.ca, timeout_seconds: 2, max_connections: 2 },
      new Metrics(),
    );
    t.after(() => c.close());
    return c;
  };
  return { sim, a: client('A', urls[0]), b: client('B', urls[1]), c: client('C', urls[1]) };
}

const failure = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'none';
  } catch (e) {
    assert.ok(e instanceof KmeError, String(e));
    return e.failure;
  }
};

describe('KME client against the simulated KMEs', () => {
  for (const dialect of ['etsi', 'fastapi'] as const) {
    it(`${dialect}: enc_keys at one KME, dec_keys at the other, once; refusals mapped`, async (t) => {
      const { a, b, c, sim } = await simAndClients(t, dialect);
      const s = await a.status('B');
      assert.deepEqual([s.minKeySize, s.maxKeySize, s.keySize], [128, 256, 256]);
      const k = await a.encKey('B', 128);
      assert.equal(k.key.length, 16);
      // Only the slave named at enc_keys, with the right master in the path.
      assert.equal(await failure(c.decKey('A', k.uuid, { min: 16, max: 32 })), 'unauthorized');
      assert.equal(await failure(b.decKey('C', k.uuid, { min: 16, max: 32 })), 'unauthorized');
      const got = await b.decKey('A', k.uuid, { min: 16, max: 32 });
      assert.deepEqual(got.key, k.key);
      assert.equal(await failure(b.decKey('A', k.uuid, { min: 16, max: 32 })), 'not_found');
      assert.equal(await failure(a.encKey('B', 136 + 256)), 'size');
      sim.setPool('A', 'B', 0);
      assert.equal(await failure(a.encKey('B', 256)), 'unavailable');
    });
  }

  it('reads the KME\'s words from {"message"} and FastAPI\'s {"detail"}', () => {
    assert.equal(kmeMessage({ message: 'no keys' }), 'no keys');
    assert.equal(kmeMessage({ detail: 'Key not found' }), 'Key not found');
    assert.equal(
      kmeMessage({ detail: [{ msg: 'field required' }, { msg: 'bad size' }] }),
      'field required; bad size',
    );
    assert.equal(kmeMessage(null), undefined);
  });
});
