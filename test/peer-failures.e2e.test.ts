// Why a key could not be agreed, as the router and `probe` hear it: a file of this KP's own
// (its peer-link certificate expired, its copy of the peer's public key broken) is 500 with a log
// line naming the file; the peer refusing our certificate and another TLS failure are 502 with
// their own bodies and probe hints; no TCP connection stays 503 "unreachable". SIGHUP refuses a
// broken peer public key and keeps the one it had.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from './helpers/bundle.js';
import { pskGet } from './helpers/http-client.js';
import { makePki } from './helpers/pki.js';
import { resignUntil } from './helpers/short-cert.js';
import { setConfig, startSplitPair, type Side } from './helpers/split-pair.js';

interface Report {
  checks: { name: string; ok: boolean; detail: string; hint?: string }[];
}

/** `probe` against `side` alone: the hint of its failed "new key" check. */
async function probeHint(side: Side, remote: string): Promise<string> {
  const r = await runCli([
    'probe',
    '--kp',
    `127.0.0.1:${side.kp.port}`,
    '--identity',
    side.files.encryptor.identity,
    '--psk-file',
    side.files.pskFile,
    '--remote',
    remote,
    '--tls',
    '1.2',
    '--json',
  ]);
  assert.notEqual(r.code, 0, r.stdout);
  const check = (JSON.parse(r.stdout) as Report).checks.find((c) => c.name === 'new key at KP A');
  assert.ok(check && !check.ok, r.stdout);
  return check.hint ?? '';
}

const detail = (r: { json: unknown }): string => (r.json as { detail: string }).detail;

describe('key agreement failures name their real cause', () => {
  it("this KP's own peer-link certificate expired while it runs: 500, the log names certfile", async (t) => {
    const expires = new Date(Math.ceil(Date.now() / 1000) * 1000 + 5_000);
    let certfile = '';
    const { alice } = await startSplitPair(t, (p) => {
      certfile = resignUntil(p.pki, 'alice', expires);
    });
    const ok = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(ok.status, 200, 'the certificate is still valid');
    await new Promise((r) => setTimeout(r, expires.getTime() - Date.now() + 500));
    const r = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(r.status, 500, JSON.stringify(r.json));
    assert.match(detail(r), /own peer-link files for "bob"/);
    const line = await alice.kp.waitFor('peer link broken here');
    assert.equal(line.level, 'error');
    assert.equal(line.file, certfile);
    assert.match(String(line.problem), /certificate expired on/);
    assert.match(await probeHint(alice, 'bob'), /own files for the peer link.*"peer link broken here"/);
  });

  it("a broken copy of the peer's public key: 500 naming the file; SIGHUP refuses it and keeps the old", async (t) => {
    const { alice } = await startSplitPair(t);
    const good = readFileSync(alice.peerPub);
    assert.equal((await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor)).status, 200);

    const lines = good.toString().split('\n');
    writeFileSync(alice.peerPub, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
    alice.kp.proc.kill('SIGHUP');
    const refused = await alice.kp.waitFor('peer key reload failed');
    assert.equal(refused.level, 'error');
    assert.equal(refused.file, alice.peerPub);
    assert.equal(refused.kept, true);
    assert.match(String(refused.problem), /bob-kem_pub\.pem: ML-KEM-1024 public key: /);
    const kept = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(kept.status, 200, `the old key must stay: ${JSON.stringify(kept.json)}`);
  });

  it('a peer public key file broken from the start: 500 and the log names it', async (t) => {
    const { alice } = await startSplitPair(t, (p) => writeFileSync(p.alice.peerPub, 'not a key\n'));
    const r = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(r.status, 500, JSON.stringify(r.json));
    const line = await alice.kp.waitFor('peer link broken here');
    assert.equal(line.file, alice.peerPub);
    assert.doesNotMatch(detail(r), /unreachable/);
  });

  it('the peer refusing our certificate, and TLS failing on our side, are 502 with their own hints', async (t) => {
    // alice trusts both CAs; bob trusts only its own, so it refuses alice's certificate, and
    // alice's certificate is one bob's client cannot verify.
    const { alice, bob } = await startSplitPair(t, (p) => {
      const other = makePki(join(p.bob.dir), 'bob CA');
      const leaf = other.leaf('bob');
      const bundle = join(p.alice.dir, 'both-cas.pem');
      writeFileSync(bundle, readFileSync(p.pki.ca, 'utf8') + readFileSync(other.ca, 'utf8'));
      setConfig(p.alice.files, 'cafile', bundle);
      setConfig(p.bob.files, 'cafile', other.ca);
      setConfig(p.bob.files, 'certfile', leaf.cert);
      setConfig(p.bob.files, 'keyfile', leaf.key);
    });
    const a = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(a.status, 502, JSON.stringify([a.json, alice.kp.logs.filter((l) => l.level === 'warn')]));
    assert.equal(detail(a), `peer Key Provider "bob" refused this Key Provider's certificate`);
    assert.match(await probeHint(alice, 'bob'), /KP B \(bob\) refused KP A's certificate: KP B's cafile/);

    const b = await pskGet(bob.kp.port, '/key?remoteSystemID=alice', bob.files.encryptor);
    assert.equal(b.status, 502, JSON.stringify(b.json));
    assert.equal(detail(b), 'TLS with peer Key Provider "alice" failed');
    const why = await bob.kp.waitFor('key agreement failed');
    assert.match(String(why.error), /TLS with peer KP "alice" failed: .*(SELF_SIGNED|UNABLE_TO)/);
    assert.match(await probeHint(bob, 'alice'), /could not complete TLS with KP B \(alice\)/);
  });

  it('no TCP connection to the peer stays 503 "unreachable" with the firewall hint', async (t) => {
    const { alice, bob } = await startSplitPair(t);
    await bob.kp.stop();
    const r = await pskGet(alice.kp.port, '/key?remoteSystemID=bob', alice.files.encryptor);
    assert.equal(r.status, 503);
    assert.equal(detail(r), 'peer Key Provider "bob" is unreachable');
    assert.match(await probeHint(alice, 'bob'), /firewall/);
  });
});
