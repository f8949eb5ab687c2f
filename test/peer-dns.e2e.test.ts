// A peer named by host name: `ip: localhost` through the real system resolver (a real mTLS
// exchange between two KP processes); a name the resolver gives two addresses for, of which the
// first has no KP (the exchange reaches the live one), through the client's `lookup` option; a
// name that does not resolve is the peer unreachable, naming the remote system and the name.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { RemoteDirectory, type ResolvedRemote } from '../src/config/remote-ids.js';
import { newKeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { noble } from '../src/kem/mlkem.js';
import { memoryLogger } from '../src/log.js';
import { PeerUnreachableError } from '../src/peer/agreement.js';
import { PeerAddresses, type Lookup } from '../src/peer/addresses.js';
import { PeerClient } from '../src/peer/client.js';
import { loadTlsMaterial } from '../src/tls/files.js';
import { runCli, startKp } from './helpers/bundle.js';
import { pskGet } from './helpers/http-client.js';
import { writePairFiles } from './helpers/pair.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

/** Alice's and bob's files, alice naming bob by `ip` (a YAML value). */
async function files(t: TestContext, ip: string) {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const { aliceFiles, bobFiles } = await writePairFiles(dir, pki);
  const yaml = readFileSync(aliceFiles.config, 'utf8');
  assert.match(yaml, /ip: "127\.0\.0\.1"/);
  writeFileSync(aliceFiles.config, yaml.replace('ip: "127.0.0.1"', `ip: ${ip}`));
  return { aliceFiles, bobFiles };
}

/** Alice's peer client in this process, with `lookup`, and bob as she resolves him. */
function aliceClient(t: TestContext, config: string, lookup?: Lookup) {
  const c = loadConfig(config);
  const log = memoryLogger();
  const client = new PeerClient({
    localSystemId: c.localSystemID,
    material: loadTlsMaterial(c),
    certfile: c.certfile,
    kem: noble,
    log,
    ...(lookup && { lookup }),
  });
  t.after(() => client.close());
  const bob = new RemoteDirectory(c.localSystemID, c.remoteSystems, c.mtls_port).resolve('bob' as SystemId)!;
  return { client, log, bob: bob satisfies ResolvedRemote };
}

describe('peer KP named by host name', () => {
  it('ip: localhost goes through the system resolver to a real exchange; check-config says what it resolved to', async (t) => {
    const { aliceFiles, bobFiles } = await files(t, 'localhost');
    const bob = await startKp(bobFiles.config, { env: bobFiles.env });
    t.after(() => bob.stop());
    const alice = await startKp(aliceFiles.config, { env: aliceFiles.env });
    t.after(() => alice.stop());
    for (let i = 0; i < 3; i++) {
      const r = await pskGet(alice.port, '/key?remoteSystemID=bob', aliceFiles.encryptor);
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    const checked = await runCli(['check-config', '--config', aliceFiles.config], { env: aliceFiles.env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^ {2}peer addresses {2}bob: localhost → 127\.0\.0\.1$/m);
  });

  it('a name with two addresses: the exchange reaches the one with a KP, each time; one lookup', async (t) => {
    const { aliceFiles, bobFiles } = await files(t, '"bob.hub.test"');
    const bobKp = await startKp(bobFiles.config, { env: bobFiles.env });
    t.after(() => bobKp.stop());
    const asked: string[] = [];
    const lookup: Lookup = (name) => {
      asked.push(name);
      const two: LookupAddress[] = [
        { address: '127.0.0.2', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ];
      return Promise.resolve(two);
    };
    const { client, log, bob } = aliceClient(t, aliceFiles.config, lookup);
    for (let i = 0; i < 4; i++) {
      const key = await client.agree(bob, newKeyId(), 32);
      assert.equal(key.length, 32);
    }
    assert.deepEqual(asked, ['bob.hub.test'], 'the answer is cached');
    const skipped = log.lines.filter((l) => l.event === 'peer instance unreachable, trying the next');
    assert.ok(skipped.length >= 1, JSON.stringify(log.lines));
    assert.ok(
      skipped.every((l) => l.ip === '127.0.0.2'),
      JSON.stringify(skipped),
    );
    assert.equal(await client.probe(bob), 'reachable');
  });

  it('a name that does not resolve: unreachable, naming the remote system and the name', async (t) => {
    const { aliceFiles } = await files(t, '"bob.hub.test"');
    const { client, bob } = aliceClient(t, aliceFiles.config, () =>
      Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND bob.hub.test'), { code: 'ENOTFOUND' })),
    );
    await assert.rejects(client.agree(bob, newKeyId(), 32), (e: unknown) => {
      assert.ok(e instanceof PeerUnreachableError, String(e));
      assert.equal(e.peer, 'bob');
      assert.match(e.message, /"bob" unreachable: host name "bob\.hub\.test" does not resolve: ENOTFOUND/);
      return true;
    });
    assert.match(await client.probe(bob), /^unreachable: host name "bob\.hub\.test" does not resolve/);
  });

  it('the system resolver on a name under .invalid (RFC 6761) does not resolve; check-config warns', async (t) => {
    const { aliceFiles } = await files(t, '["bob.invalid", "127.0.0.1"]');
    const { addresses, failed } = await new PeerAddresses().resolveAll(['bob.invalid', '127.0.0.1']);
    assert.deepEqual(addresses, [{ ip: '127.0.0.1' }]);
    assert.match(failed[0]!.message, /^host name "bob\.invalid" does not resolve: /);
    const checked = await runCli(['check-config', '--config', aliceFiles.config], { env: aliceFiles.env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(
      checked.stdout,
      /^ {2}peer addresses {2}bob: bob\.invalid does not resolve \(\S+\), 127\.0\.0\.1$/m,
    );
    assert.match(
      checked.stdout,
      /^ {2}warning {9}"remoteSystems\[0\]\.ip\[0\]" \(bob\): host name "bob\.invalid" does not resolve/m,
    );
  });
});
