// phases: runtime, exe
// The bundle's command line as an operator meets it: alone in a folder, config checks, exit
// codes, SIGHUP reload of the PSK file, refusal to start without TLS material.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BUNDLE, runCli, startKp } from './helpers/bundle.js';
import { pskGet, pskSocket, sClient } from './helpers/http-client.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

describe('skip-server command line (bundle)', () => {
  it('runs alone in an empty folder, with no node_modules beside it', async (t) => {
    const dir = tempDir(t);
    const lone = join(dir, 'empty');
    mkdirSync(lone);
    copyFileSync(BUNDLE, join(lone, 'skip-server.js'));
    const help = await runCli(['--help'], { cwd: lone, script: join(lone, 'skip-server.js') });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage:\n {2}skip-server serve --config FILE/);
    assert.match(help.stdout, /Exit codes:/);
    const version = await runCli(['--version'], { cwd: lone, script: join(lone, 'skip-server.js') });
    assert.equal(version.code, 0);
    assert.equal(
      version.stdout.trim(),
      (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version,
    );
  });

  it('is ASCII only, so V8 keeps its source as one-byte text (half the memory)', () => {
    const bytes = readFileSync(BUNDLE);
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `non-ASCII byte at offset ${at}`);
  });

  it('answers help and version as commands, and names the subcommand a bare keystore or psk needs', async () => {
    const help = await runCli(['help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage:/);
    const version = await runCli(['version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    for (const [cmd, sub] of [
      ['keystore', 'keystore stats'],
      ['psk', 'psk add'],
    ]) {
      const r = await runCli([cmd!]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`"${cmd}" needs a subcommand: ${sub}`));
    }
  });

  it('exits 2 on bad usage', async () => {
    for (const args of [
      ['frobnicate'],
      ['serve'],
      ['--nope'],
      ['serve', '--config', 'x', '--port', '70000'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /Run "skip-server (serve )?--help" for usage/);
    }
  });

  it('check-config: 0 with a summary for a good config, 3 naming file and line for a bad one', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const ok = await runCli(['check-config', '--config', files.config], { env: files.env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /OK\n {2}localSystemID {3}alice/);
    assert.match(ok.stdout, /TLS-PSK, 1 identities/);
    assert.match(ok.stdout, /ML-KEM-1024 {5}key pair OK/);

    appendFileSync(files.config, 'mtls_prot: 8443\n');
    const bad = await runCli(['check-config', '--config', files.config], { env: files.env });
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /alice\.yaml:\d+: unknown key "mtls_prot"; did you mean "mtls_port"\?/);
    const missing = await runCli(['check-config', '--config', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope\.yaml: cannot read config file \(ENOENT\)/);
  });

  it('refuses to start on an empty PSK file, a broken certificate, or a key of another certificate', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeFileSync(files.pskFile, '# nobody\n');
    let r = await runCli(['serve', '--config', files.config], { env: files.env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /alice-psk\.txt: no "identity:hexkey" lines/);

    const files2 = writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const other = pki.leaf('carol');
    writeFileSync(
      files2.config,
      readFileSync(files2.config, 'utf8').replace(/keyfile: .*/, `keyfile: "${other.key}"`),
    );
    r = await runCli(['serve', '--config', files2.config], { env: files2.env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /carol\.key: keyfile does not match the certificate/);
    writeFileSync(other.cert, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    writeFileSync(
      files2.config,
      readFileSync(files2.config, 'utf8').replace(/certfile: .*/, `certfile: "${other.cert}"`),
    );
    r = await runCli(['serve', '--config', files2.config], { env: files2.env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /carol\.pem: certfile is not a PEM X\.509 certificate/);
  });

  it('exits 1 naming the address when the port is taken', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    t.after(() => blocker.close());
    const port = (blocker.address() as { port: number }).port;
    const r = await runCli(['serve', '--config', files.config, '--port', String(port)], { env: files.env });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`cannot listen for encryptors on 127\\.0\\.0\\.1:${port}: the port is in use`),
    );
  });

  it('SIGHUP re-reads the PSK file without dropping connections; a broken file keeps the old table', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const kp = await startKp(files.config, { env: files.env });
    t.after(() => kp.stop());
    const newcomer = { identity: 'router-new', key: 'ab'.repeat(32) };
    const before = await sClient(
      kp.port,
      ['-tls1_2', '-psk_identity', newcomer.identity, '-psk', newcomer.key],
      'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n',
    );
    assert.doesNotMatch(before.stdout, /HTTP\/1\.1/, 'an identity not yet in the file must be refused');

    const held = await pskSocket(kp.port, files.encryptor);
    t.after(() => held.destroy());
    const ask = (): Promise<string> =>
      new Promise((resolve) => {
        held.once('data', (d: Buffer) => resolve(d.toString()));
        held.write('GET /capabilities HTTP/1.1\r\nHost: kp\r\n\r\n');
      });
    assert.match(await ask(), /^HTTP\/1\.1 200/);

    appendFileSync(files.pskFile, `${newcomer.identity}:${newcomer.key}\n`);
    kp.proc.kill('SIGHUP');
    await kp.waitFor('psk reloaded', (l) => l.identities === 2);
    await kp.waitFor('peer keys reloaded');
    assert.equal((await pskGet(kp.port, '/capabilities', newcomer)).status, 200);
    assert.match(await ask(), /^HTTP\/1\.1 200/, 'the held connection was dropped');

    writeFileSync(files.pskFile, 'broken line\n');
    kp.proc.kill('SIGHUP');
    const failed = await kp.waitFor('psk reload failed');
    assert.deepEqual(failed.problems, [`${files.pskFile}:1: expected "identity:hexkey"`]);
    assert.equal((await pskGet(kp.port, '/capabilities', newcomer)).status, 200, 'old table must stay');
    // Stopping is logged as JSON lines like everything else, not plain text on stderr.
    assert.equal(await kp.stop(), 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(kp.logs.some((l) => l.event === 'stopping' && l.signal === 'SIGTERM'));
    assert.ok(kp.logs.some((l) => l.event === 'stopped'));
    assert.doesNotMatch(kp.stderr(), /stopping/);
    assert.ok(!JSON.stringify(kp.logs).includes(newcomer.key));
  });

  it('master-key prints a fresh 64-hex-digit key; serve refuses to start without one and says how', async (t) => {
    const a = await runCli(['master-key']);
    const b = await runCli(['master-key']);
    assert.equal(a.code, 0);
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
    assert.notEqual(a.stdout, b.stdout);
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const env = { KEYSTORE_MASTER_KEY: '', KEYSTORE_MASTER_KEY_FILE: '' };
    const r = await runCli(['serve', '--config', files.config], { env: { ...env } });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /KEYSTORE_MASTER_KEY(_FILE)?/);
    const none = await runCli(['serve', '--config', files.config], { env: { PATH: process.env.PATH ?? '' } });
    assert.equal(none.code, 3);
  });

  it('check-config refuses an expired certificate or one not issued by cafile, naming the file and why', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const text = readFileSync(files.config, 'utf8');
    const good = pki.leaf('alice');
    const expired = pki.leaf('old-alice', 'DNS:alice', '/CN=alice', 0);
    mkdirSync(join(dir, 'other'));
    const foreign = makePki(join(dir, 'other'), 'other CA').leaf('alice');
    const soon = pki.leaf('soon-alice', 'DNS:alice', '/CN=alice', 10);
    await new Promise((r) => setTimeout(r, 1_100)); // the days-0 certificate is now past its end
    const withCert = (leaf: { cert: string; key: string }): string => {
      const f = join(dir, `${leaf.cert.replace(/\W/g, '_')}.yaml`);
      writeFileSync(f, text.replace(good.cert, leaf.cert).replace(good.key, leaf.key));
      return f;
    };
    const old = await runCli(['check-config', '--config', withCert(expired)], { env: files.env });
    assert.equal(old.code, 3);
    assert.match(old.stderr, /old-alice\.pem: certificate expired on /);
    assert.doesNotMatch(old.stdout, /OK/);
    const other = await runCli(['check-config', '--config', withCert(foreign)], { env: files.env });
    assert.equal(other.code, 3);
    assert.match(
      other.stderr,
      /alice\.pem: certificate is not signed by a certificate in .*ca\.pem; peers will refuse it/,
    );
    const warn = await runCli(['check-config', '--config', withCert(soon)], { env: files.env });
    assert.equal(warn.code, 0, warn.stderr);
    assert.match(warn.stdout, /OK, with 1 warning\(s\)/);
    assert.match(warn.stdout, /warning {9}.*soon-alice\.pem: certificate expires on .*, in \d+ days/);
  });

  it('check-config refuses a keystore, spent log or folder on a read-only file system, naming path and errno', async (t) => {
    const mnt = mkdtempSync(join(tmpdir(), 'skip-tmpfs-'));
    const mount = (opts: string) =>
      execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', mnt], { stdio: 'pipe' });
    try {
      mount('size=1m,mode=0700');
    } catch {
      rmSync(mnt, { recursive: true });
      return t.skip('mount -t tmpfs is not permitted here (needs root); CI runs it');
    }
    t.after(() => (execFileSync('umount', ['-l', mnt]), rmSync(mnt, { recursive: true })));
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const keystore = join(mnt, 'alice-keystore.db');
    const yaml = readFileSync(files.config, 'utf8');
    writeFileSync(files.config, yaml.replace(/^keystore_path: .*$/m, `keystore_path: "${keystore}"`));
    const check = () => runCli(['check-config', '--config', files.config], { env: files.env });
    const remount = (how: 'ro' | 'rw') => execFileSync('mount', ['-o', `remount,${how}`, mnt]);

    remount('ro');
    const noFolder = await check();
    assert.equal(noFolder.code, 3, noFolder.stdout);
    assert.doesNotMatch(noFolder.stdout, /OK/);
    assert.match(noFolder.stderr, new RegExp(`${mnt}: on a read-only file system \\(EROFS\\)`));
    remount('rw');
    assert.equal((await check()).code, 0);
    const kp = await startKp(files.config, { env: files.env });
    await kp.stop();
    remount('ro');
    const ro = await check();
    assert.equal(ro.code, 3, ro.stdout);
    assert.doesNotMatch(ro.stdout, /OK/);
    for (const p of [keystore, `${keystore}.spent`, mnt])
      assert.match(ro.stderr, new RegExp(`${p}: on a read-only file system \\(EROFS\\); serve writes`));
    remount('rw');
    const ok = await check();
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /keystore {8}.*master key OK/);
  });

  it('check-config and keystore stats check the master key against the keystore, read-only', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const first = await runCli(['check-config', '--config', files.config], { env: files.env });
    assert.match(first.stdout, /keystore {8}.*will be created at first start/);
    const kp = await startKp(files.config, { env: files.env });
    await kp.stop();
    const second = await runCli(['check-config', '--config', files.config], { env: files.env });
    assert.match(second.stdout, /keystore {8}.*master key OK/);
    const wrong = { KEYSTORE_MASTER_KEY: 'ab'.repeat(32) };
    const bad = await runCli(['check-config', '--config', files.config], { env: wrong });
    assert.equal(bad.code, 3);
    assert.doesNotMatch(bad.stdout, /OK/, 'OK printed before the wrong master key was found');
    assert.match(bad.stderr, /alice-keystore\.db: wrong master key for this keystore/);
    const stats = await runCli(['keystore', 'stats', '--config', files.config], { env: files.env });
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /slots {11}\d+ \(0 used, \d+ free\)\n {2}oldest key {6}-\n {2}file size/);
    const badStats = await runCli(['keystore', 'stats', '--config', files.config], { env: wrong });
    assert.equal(badStats.code, 3);
  });

  it('warns that KEYSTORE_MASTER_KEY stays in /proc/PID/environ, and names secret files others can read', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const masterHex = readFileSync(files.env.KEYSTORE_MASTER_KEY_FILE!, 'utf8').trim();
    chmodSync(files.pskFile, 0o644);
    const kp = await startKp(files.config, { env: { KEYSTORE_MASTER_KEY: masterHex } });
    t.after(() => kp.stop());
    // What finding 5 is about: the initial environment block still holds the key.
    if (kp.proc.pid !== undefined && !process.env.SKIP_TEST_EXE?.startsWith('qemu')) {
      const environ = readFileSync(`/proc/${kp.proc.pid}/environ`, 'latin1');
      assert.ok(environ.includes(masterHex), 'expected the key in /proc/PID/environ');
    }
    // The executables carry their V8 memory flags (build/build-exe.mjs); the log says so.
    const runtime = (await kp.waitFor('started')).runtime as { execArgv: string[]; heapLimitMiB: number };
    if (process.env.SKIP_TEST_EXE) {
      assert.deepEqual(runtime.execArgv, ['--max-semi-space-size=1', '--max-old-space-size=32']);
      assert.ok(runtime.heapLimitMiB < 64, `heap limit ${runtime.heapLimitMiB} MiB`);
    }
    const warn = await kp.waitFor('master key read from the environment');
    assert.match(String(warn.note), /\/proc\/PID\/environ.*KEYSTORE_MASTER_KEY_FILE/);
    const exposed = await kp.waitFor('secret file readable by others');
    assert.equal(exposed.file, files.pskFile);
    assert.equal(exposed.mode, '0644');
    assert.ok(!JSON.stringify(kp.logs).includes(masterHex), 'the master key reached a log line');
  });

  it('refuses a second serve on the same keystore while the first runs', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const kp = await startKp(files.config, { env: files.env });
    t.after(() => kp.stop());
    const second = await runCli(['serve', '--config', files.config], { env: files.env });
    assert.equal(second.code, 3);
    assert.match(second.stderr, /alice-keystore\.db: the keystore is in use by another skip-server process/);
  });
});
