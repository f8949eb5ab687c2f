// skip-server init: the files of a production KP, a coherent set once the printed next steps
// (exchange public keys, certificates from the scripts) are done: check-config passes.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { runCli } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

describe('skip-server init', () => {
  it('writes a working KP pair once the next steps are followed, and never replaces a file', async (t) => {
    const dir = tempDir(t);
    const [a, b] = [join(dir, 'skip1'), join(dir, 'skip2')];
    // Two hosts' layouts (addresses from TEST-NET-1; nothing is sent): a peer on this host's own
    // peer port would be this KP itself, which check-config refuses.
    const ra = await runCli([
      'init',
      '--dir',
      a,
      '--id',
      'skip1.lab',
      '--peer',
      'skip2.lab=192.0.2.2',
      '--address',
      '192.0.2.1',
      '--router',
      'c8k-hq',
    ]);
    // skip2's keystore goes in a folder that systemd's StateDirectory= would make at first start.
    const stateDir = join(dir, 'var-lib-skip-server');
    const rb = await runCli([
      'init',
      '--dir',
      b,
      '--id',
      'skip2.lab',
      '--peer',
      'skip1.lab=192.0.2.1',
      '--keystore',
      join(stateDir, 'keystore.db'),
    ]);
    assert.match(rb.stdout, new RegExp(`keystore's folder ${stateDir} does not exist yet`));
    // The printed router configuration is the README's, with this KP's values.
    assert.match(
      ra.stdout,
      /crypto ikev2 keyring SKIP-KR\n +peer PEER-ROUTER\n.*\n +ppk dynamic SKIP-CLIENT required/,
    );
    assert.match(ra.stdout, /keyring ppk SKIP-KR/);
    // The executable makes the certificates itself; --address reaches the SAN and the router.
    assert.match(
      ra.stdout,
      /skip-server cert sign --ca CA_DIR --out \S+ --name skip1\.lab --san 192\.0\.2\.1\n/,
    );
    assert.match(ra.stdout, /server ipv4 192\.0\.2\.1 port 443/);
    assert.doesNotMatch(ra.stdout, /THIS-KP-ADDRESS/);
    assert.match(rb.stdout, /--san THIS-KP-ADDRESS\n[\s\S]*--address gives this KP's address/);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    // The first PSK is a router's (--router, default router-1), not the KP's own name.
    assert.match(ra.stdout, /psk id c8k-hq key hex [0-9a-f]{96}\n/);
    assert.match(readFileSync(join(a, 'psk.txt'), 'utf8'), /^c8k-hq:[0-9a-f]{96}$/m);
    assert.match(rb.stdout, /psk id router-1 key hex [0-9a-f]{96}\n/);
    for (const f of ['psk.txt', 'kem_priv.pem', 'master.key'])
      assert.equal(statSync(join(a, f)).mode & 0o777, 0o600, f);
    // OpenSSL 3.5 genpkey's default form, seed and expanded key (4,479 bytes of PEM), which the
    // reference KP reads; the seed-only form is 172 bytes.
    assert.equal(statSync(join(a, 'kem_priv.pem')).size, 4479);
    const cfg = loadConfig(join(a, 'skip.yaml'));
    assert.deepEqual(
      cfg.remoteSystems.map((r) => [r.id, r.ip]),
      [['skip2.lab', '192.0.2.2']],
    );
    assert.equal(cfg.port, 443);
    assert.equal(cfg.admin_host, '127.0.0.1');
    assert.equal(cfg.admin_port, 9443);

    copyFileSync(join(a, 'kem_pub.pem'), join(b, 'peers', 'skip1.lab_kem_pub.pem'));
    copyFileSync(join(b, 'kem_pub.pem'), join(a, 'peers', 'skip2.lab_kem_pub.pem'));
    const ca = await runCli(['cert', 'ca', '--dir', join(dir, 'ca')]);
    assert.equal(ca.code, 0, ca.stderr);
    assert.equal(statSync(join(dir, 'ca', 'ca.key')).mode & 0o777, 0o600);
    assert.equal((await runCli(['cert', 'ca', '--dir', join(dir, 'ca')])).code, 3, 'replaced a CA');
    for (const [d, id] of [
      [a, 'skip1.lab'],
      [b, 'skip2.lab'],
    ] as const) {
      const r = await runCli([
        'cert',
        'sign',
        '--ca',
        join(dir, 'ca'),
        '--out',
        join(d, 'certs'),
        '--name',
        id,
        '--san',
        '127.0.0.1',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`\\(DNS:${id.replace('.', '\\.')},IP:127\\.0\\.0\\.1\\)`));
      copyFileSync(join(dir, 'ca/ca.pem'), join(d, 'certs', 'ca.pem'));
      const check = await runCli(['check-config', '--config', join(d, 'skip.yaml')], {
        env: { KEYSTORE_MASTER_KEY_FILE: join(d, 'master.key') },
      });
      assert.equal(check.code, 0, check.stderr);
      if (d === b) assert.match(check.stdout, /keystore +\S+keystore\.db: will be created at first start/);
    }

    const again = await runCli(['init', '--dir', a, '--id', 'skip1.lab']);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /skip\.yaml: exists; init never replaces files/);
    assert.equal((await runCli(['init', '--dir', join(dir, 'x'), '--id', 'bad id'])).code, 3);
    assert.equal((await runCli(['init', '--dir', join(dir, 'y'), '--id', 'ok', '--peer', 'nohost'])).code, 3);
  });

  it('without --peer, says how to add peers instead of pointing at steps that are not there', async (t) => {
    const dir = tempDir(t);
    const r = await runCli(['init', '--dir', join(dir, 'kp'), '--id', 'skip1.lab']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /as above/);
    assert.match(r.stdout, /Add each peer Key Provider to \S+skip\.yaml/);
    assert.match(r.stdout, /save each peer's kem_pub\.pem here as \S+peers\/PEER_kem_pub\.pem/);
    assert.match(readFileSync(join(dir, 'kp', 'skip.yaml'), 'utf8'), /id: "PEER"/);
  });

  it("--layout iox writes the app volume's folders, names /data/appdata in skip.yaml, prints the copy lines", async (t) => {
    const dir = tempDir(t);
    const d = join(dir, 'skip1');
    const r = await runCli([
      'init',
      '--dir',
      d,
      '--id',
      'skip1.lab',
      '--peer',
      'skip2.lab=192.0.2.2',
      '--layout',
      'iox',
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of [
      'config/skip.yaml',
      'secrets/psk.txt',
      'secrets/kem_pub.pem',
      'secrets/kem_priv.pem',
      'secrets/master.key',
    ])
      assert.ok(existsSync(join(d, f)), f);
    const text = readFileSync(join(d, 'config', 'skip.yaml'), 'utf8');
    const paths = [...text.matchAll(/^\s*(?:\w+_path|\w+file|psk_file): "([^"]+)"/gm)].map((m) => m[1]!);
    assert.equal(paths.length, 8, text);
    for (const p of paths) assert.match(p, /^\/data\/appdata\/(secrets|certs)\//);
    const cfg = parseConfig(text, 'skip.yaml');
    assert.equal(cfg.remoteSystems[0]!.pubkey_path, '/data/appdata/secrets/skip2.lab_kem_pub.pem');
    // Every file skip.yaml names (but the keystore, made at first start) has its copy line.
    for (const p of [...paths.filter((p) => !p.endsWith('keystore.db')), '/data/appdata/config/skip.yaml']) {
      const rel = p.slice('/data/appdata/'.length);
      assert.match(
        r.stdout,
        new RegExp(`app-hosting data appid SKIP_Server copy bootflash:skip1/${rel} ${rel}\n`),
        rel,
      );
    }
    assert.match(r.stdout, /KEYSTORE_MASTER_KEY_FILE=\/data\/appdata\/secrets\/master\.key/);
    assert.match(r.stdout, /server ipv4 169\.254\.0\.2 port 443/);
  });
});
