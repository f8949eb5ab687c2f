// Operator scripts with the reference Key Provider's flags, and `skip-server psk add`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePskFile } from '../src/tls/psk.js';
import { runCli } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

const sh = (script: string, args: string[], env: Record<string, string> = {}, cwd?: string) =>
  spawnSync('bash', [join(process.cwd(), 'scripts', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    cwd,
  });
const mode = (f: string): number => statSync(f).mode & 0o777;

describe('operator scripts', () => {
  it('pass shellcheck', (t) => {
    if (spawnSync('shellcheck', ['--version']).status !== 0)
      return t.skip('shellcheck is not installed (.ci/run installs it)');
    const scripts = readdirSync('scripts').filter((f) => f.endsWith('.sh'));
    assert.ok(scripts.length >= 4);
    const r = spawnSync(
      'shellcheck',
      scripts.map((f) => join('scripts', f)),
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout);
  });

  it('each answers -h and fails with a clear message on bad usage', () => {
    for (const s of ['create_ca.sh', 'sign_server_cert.sh', 'create_psk.sh', 'generate_mlkem_kp.sh']) {
      const help = sh(s, ['-h']);
      assert.equal(help.status, 0, s);
      assert.match(help.stdout, /^Usage: /, s);
      const bad = sh(s, ['-Z']);
      assert.equal(bad.status, 2, s);
      assert.match(bad.stderr, new RegExp(`^${s.replace('.', '\\.')}: unknown option -Z`), s);
    }
  });

  it('create_ca.sh and sign_server_cert.sh make a CA and a peer certificate as the reference names them', (t) => {
    const dir = tempDir(t);
    const ca = sh('create_ca.sh', [join(dir, 'ca')], { CA_CN: 'Test Lab CA', CA_KEY_SIZE: '2048' });
    assert.equal(ca.status, 0, ca.stderr);
    assert.equal(mode(join(dir, 'ca/ca.key')), 0o600);
    assert.match(
      execFileSync('openssl', ['x509', '-in', join(dir, 'ca/ca.pem'), '-noout', '-subject'], {
        encoding: 'utf8',
      }),
      /CN ?= ?Test Lab CA/,
    );
    assert.equal(sh('create_ca.sh', [join(dir, 'ca')]).status, 1, 'replaced an existing CA without -f');

    const args = [
      '-c',
      join(dir, 'ca/ca.pem'),
      '-k',
      join(dir, 'ca/ca.key'),
      '-o',
      join(dir, 'certs'),
      'skip1.cml.lab',
      'skip1.cml.lab,localhost',
      '10.89.0.2,127.0.0.1',
    ];
    const r = sh('sign_server_cert.sh', args);
    assert.equal(r.status, 0, r.stderr);
    const crt = join(dir, 'certs/skip1.pem.crt');
    assert.equal(mode(join(dir, 'certs/skip1_key.pem')), 0o600);
    const text = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-text'], { encoding: 'utf8' });
    assert.match(
      text,
      /DNS:skip1\.cml\.lab, DNS:localhost, IP Address:10\.89\.0\.2, IP Address:127\.0\.0\.1/,
    );
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(
      execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca/ca.pem'), crt], { encoding: 'utf8' }),
      /OK/,
    );
    assert.equal(sh('sign_server_cert.sh', args).status, 1, 'replaced a certificate without -f');
    assert.match(
      sh('sign_server_cert.sh', ['-c', join(dir, 'nope.pem'), '-k', join(dir, 'ca/ca.key'), 'x']).stderr,
      /cannot read .*nope\.pem/,
    );
  });

  it('create_psk.sh appends identities, refuses a duplicate, and keeps the file 0600', (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'secrets/psk.txt');
    execFileSync('mkdir', ['-p', join(dir, 'secrets')]);
    const a = sh('create_psk.sh', ['-i', 'router1', '-f', file]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /router: psk id router1 key hex [0-9a-f]{96}\n/);
    assert.equal(sh('create_psk.sh', ['-i', 'router2', '-l', '32', '-f', file]).status, 0);
    const dup = sh('create_psk.sh', ['-i', 'router1', '-f', file]);
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /identity 'router1' is already in/);
    assert.equal(mode(file), 0o600);
    const table = parsePskFile(readFileSync(file, 'utf8'), file);
    assert.deepEqual([...table.keys()], ['router1', 'router2']);
    assert.equal(table.get('router2')!.length, 32);
    assert.equal(sh('create_psk.sh', ['-f', file]).status, 2);
    assert.equal(sh('create_psk.sh', ['-i', 'r', '-l', '8', '-f', file]).status, 2);
  });

  it('skip-server psk add does the same without OpenSSL, and refuses a broken file', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'psk.txt');
    writeFileSync(file, '# routers\n');
    const a = await runCli(['psk', 'add', '--file', file, '--identity', 'router1']);
    assert.equal(a.code, 0, a.stderr);
    const hex = /key hex ([0-9a-f]+)\n/.exec(a.stdout)![1]!;
    assert.equal(hex.length, 96);
    assert.equal(parsePskFile(readFileSync(file, 'utf8'), file).get('router1')!.toString('hex'), hex);
    const dup = await runCli(['psk', 'add', '--file', file, '--identity', 'router1']);
    assert.equal(dup.code, 3);
    assert.match(dup.stderr, /identity "router1" is already there/);
    writeFileSync(join(dir, 'bad.txt'), 'garbage\n');
    const bad = await runCli(['psk', 'add', '--file', join(dir, 'bad.txt'), '--identity', 'r2']);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /bad\.txt:1: expected "identity:hexkey"/);
    assert.equal((await runCli(['psk', 'add', '--file', file])).code, 2);
    // Bad usage is 2, as the README says (it was 3).
    assert.equal((await runCli(['psk', 'add', '--file', file, '--identity', 'x', '--bytes', '8'])).code, 2);
    // The file was 0644: others lose access, the owner and group keep theirs.
    assert.equal(mode(file), 0o640);
    const fresh = join(dir, 'new.txt');
    assert.equal((await runCli(['psk', 'add', '--file', fresh, '--identity', 'router1'])).code, 0);
    assert.equal(mode(fresh), 0o600);
  });

  it("keeps a group-readable PSK file readable by the service's group after psk add and create_psk.sh (systemd layout)", async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to set the group and read as another user');
    const dir = tempDir(t);
    chmodSync(dir, 0o755);
    const file = join(dir, 'psk.txt');
    writeFileSync(file, '# routers\n');
    // As the README's systemd steps leave it: root:<service group> 0640. nogroup stands in for it.
    chownSync(file, 0, 65534);
    chmodSync(file, 0o640);
    const readableByService = (): boolean =>
      spawnSync(process.execPath, ['-e', `require('fs').readFileSync(${JSON.stringify(file)})`], {
        uid: 65534,
        gid: 65534,
      }).status === 0;
    assert.ok(readableByService(), 'set-up: the service user cannot read the file');
    assert.equal((await runCli(['psk', 'add', '--file', file, '--identity', 'router1'])).code, 0);
    assert.equal(sh('create_psk.sh', ['-i', 'router2', '-f', file]).status, 0);
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.gid, 65534);
    assert.ok(readableByService(), 'after adding routers the service user cannot read the PSK file');
    assert.deepEqual([...parsePskFile(readFileSync(file), file).keys()], ['router1', 'router2']);
  });
});
