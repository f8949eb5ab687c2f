// skip-server init: the files of a production KP, a coherent set once the printed next steps
// (exchange public keys, certificates from the scripts) are done: check-config passes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { runCli } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

describe('skip-server init', () => {
  it('writes a working KP pair once the next steps are followed, and never replaces a file', async (t) => {
    const dir = tempDir(t);
    const [a, b] = [join(dir, 'skip1'), join(dir, 'skip2')];
    // Two hosts' layouts (addresses from TEST-NET-1; nothing is sent): a peer on this host's own
    // peer port would be this KP itself, which check-config refuses.
    const ra = await runCli(['init', '--dir', a, '--id', 'skip1.lab', '--peer', 'skip2.lab=192.0.2.2']);
    const rb = await runCli(['init', '--dir', b, '--id', 'skip2.lab', '--peer', 'skip1.lab=192.0.2.1']);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(ra.stdout, /psk id skip1\.lab key hex [0-9a-f]{96}\n/);
    for (const f of ['psk.txt', 'kem_priv.pem', 'master.key'])
      assert.equal(statSync(join(a, f)).mode & 0o777, 0o600, f);
    const cfg = loadConfig(join(a, 'skip.yaml'));
    assert.deepEqual(
      cfg.remoteSystems.map((r) => [r.id, r.ip]),
      [['skip2.lab', '192.0.2.2']],
    );
    assert.equal(cfg.port, 443);

    copyFileSync(join(a, 'kem_pub.pem'), join(b, 'peers', 'skip1.lab_kem_pub.pem'));
    copyFileSync(join(b, 'kem_pub.pem'), join(a, 'peers', 'skip2.lab_kem_pub.pem'));
    const script = (name: string, args: string[]) =>
      spawnSync('bash', [join('scripts', name), ...args], {
        encoding: 'utf8',
        env: { ...process.env, CA_KEY_SIZE: '2048' },
      });
    assert.equal(script('create_ca.sh', [join(dir, 'ca')]).status, 0);
    for (const [d, id] of [
      [a, 'skip1.lab'],
      [b, 'skip2.lab'],
    ] as const) {
      const r = script('sign_server_cert.sh', [
        '-c',
        join(dir, 'ca/ca.pem'),
        '-k',
        join(dir, 'ca/ca.key'),
        '-o',
        join(d, 'certs'),
        id,
        id,
        '127.0.0.1',
      ]);
      assert.equal(r.status, 0, r.stderr);
      copyFileSync(join(dir, 'ca/ca.pem'), join(d, 'certs', 'ca.pem'));
      const check = await runCli(['check-config', '--config', join(d, 'skip.yaml')], {
        env: { KEYSTORE_MASTER_KEY_FILE: join(d, 'master.key') },
      });
      assert.equal(check.code, 0, check.stderr);
    }

    const again = await runCli(['init', '--dir', a, '--id', 'skip1.lab']);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /skip\.yaml: exists; init never replaces files/);
    assert.equal((await runCli(['init', '--dir', join(dir, 'x'), '--id', 'bad id'])).code, 3);
    assert.equal((await runCli(['init', '--dir', join(dir, 'y'), '--id', 'ok', '--peer', 'nohost'])).code, 3);
  });
});
