// phases: runtime
// skip-server probe: every check passes against our own pair; against a stand-in KP
// that breaks one rule it reports exactly that rule and exits non-zero; its client side works
// against OpenSSL's s_server in TLS 1.2 and TLS 1.3, not only against our server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from './helpers/bundle.js';
import { startFakePair, type Violation } from './helpers/fake-kp.js';
import { startPair } from './helpers/pair.js';
import { pskSessionArgs } from './helpers/psk-session.js';
import { freePort, tempDir } from './helpers/tmp.js';

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string; info?: boolean; optional?: boolean; hint?: string }[];
}

const routers = {
  a: { identity: 'router-a', key: 'a1'.repeat(48) },
  b: { identity: 'router-b', key: 'b2'.repeat(48) },
};

function pskFile(dir: string): string {
  const f = join(dir, 'probe-psk.txt');
  writeFileSync(f, `${routers.a.identity}:${routers.a.key}\n${routers.b.identity}:${routers.b.key}\n`, {
    mode: 0o600,
  });
  return f;
}

describe('skip-server probe', () => {
  it('passes every check, smoke and conformance, in TLS 1.2 and 1.3, against our own pair', async (t) => {
    const pair = await startPair(t);
    const a = pair.aliceFiles;
    const b = pair.bobFiles;
    const args = [
      'probe',
      '--kp',
      `127.0.0.1:${pair.alice.port}`,
      '--identity',
      a.encryptor.identity,
      '--psk-file',
      a.pskFile,
      '--peer-kp',
      `127.0.0.1:${pair.bob.port}`,
      '--peer-identity',
      b.encryptor.identity,
      '--peer-psk-file',
      b.pskFile,
    ];
    const smoke = await runCli(args);
    assert.equal(smoke.code, 0, smoke.stdout + smoke.stderr);
    assert.match(smoke.stdout, /PASS {2}TLS 1\.3: same key at KP B/);
    assert.match(smoke.stdout, /all 10 checks passed/);
    const full = await runCli([...args, '--conformance', '--json']);
    const report = JSON.parse(full.stdout) as Report;
    assert.deepEqual(
      report.checks.filter((c) => !c.ok),
      [],
    );
    assert.equal(full.code, 0);
    assert.ok(report.checks.length > 30, `${report.checks.length} checks`);
    // The weaker suites it tried were refused, and the KP marked each refusal as the probe's, so
    // an alert on refused handshakes can leave them out.
    const refused = pair.alice.logs.filter((l) => l.event === 'tls handshake refused');
    assert.ok(refused.length >= 5, `${refused.length} refusals logged`);
    assert.deepEqual(
      refused.filter((l) => l.probe !== 'conformance'),
      [],
      'refusals not marked as the probe',
    );
  });

  const broken: [Violation, RegExp][] = [
    ['second-fetch-200', /key taken once/],
    ['mismatched-keys', /same key at KP B/],
    ['422-for-bad-size', /^400 for a size (not a multiple of 8|too large)$/],
    ['no-allow', /405 with Allow for a bad method/],
    ['aes128', /weaker: TLS 1\.2 PSK-AES128-GCM-SHA256/],
  ];
  for (const [violation, rule] of broken) {
    it(`reports exactly the broken rule of a stand-in KP: ${violation}`, async (t) => {
      const fake = await startFakePair(routers, violation);
      t.after(() => fake.close());
      const file = pskFile(tempDir(t));
      const r = await runCli([
        'probe',
        '--kp',
        `127.0.0.1:${fake.portA}`,
        '--identity',
        routers.a.identity,
        '--psk-file',
        file,
        '--peer-kp',
        `127.0.0.1:${fake.portB}`,
        '--peer-identity',
        routers.b.identity,
        '--tls',
        '1.2',
        '--conformance',
        '--json',
      ]);
      const report = JSON.parse(r.stdout) as Report;
      // Exactly the broken rule: every failed check is one of its checks (bad size has two).
      const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
      assert.ok(failed.length >= 1, 'nothing failed');
      for (const f of failed) assert.match(f, rule, `failed: ${failed.join(' | ')}`);
      assert.equal(r.code, 1);
      assert.equal(report.ok, false);
    });
  }

  it("reports a TLS 1.2-only KP pair's missing TLS 1.3 as Table 1's REQUIRED suite; --tls 1.2 or --require 1.2 decide the exit", async (t) => {
    const fake = await startFakePair(routers, 'no-tls13');
    t.after(() => fake.close());
    const file = pskFile(tempDir(t));
    const probe = async (...extra: string[]) => {
      const r = await runCli([
        'probe',
        '--kp',
        `127.0.0.1:${fake.portA}`,
        '--identity',
        routers.a.identity,
        '--psk-file',
        file,
        '--peer-kp',
        `127.0.0.1:${fake.portB}`,
        '--peer-identity',
        routers.b.identity,
        '--json',
        ...extra,
      ]);
      return { code: r.code, report: JSON.parse(r.stdout) as Report & { failed: number } };
    };
    const required = 'TLS 1.3 TLS_AES_256_GCM_SHA384 (Table 1, REQUIRED)';
    // Default (--tls both): the TLS 1.2 run passes; TLS 1.3 is one failed check, not a run of them.
    const both = await probe();
    const failed = both.report.checks.filter((c) => !c.ok);
    assert.deepEqual(
      failed.map((c) => c.name),
      [required],
    );
    assert.match(failed[0]!.hint ?? '', /--tls 1\.2 checks only that, --require 1\.2 keeps this check/);
    assert.ok(!both.report.checks.some((c) => c.name.startsWith('TLS 1.3: ')));
    assert.ok(both.report.checks.some((c) => c.name === 'TLS 1.2: same key at KP B' && c.ok));
    assert.equal(both.code, 1);
    // --require 1.2: the same report, the gap still shown, but the exit status is TLS 1.2's.
    const relaxed = await probe('--require', '1.2', '--conformance');
    const gap = relaxed.report.checks.filter((c) => !c.ok);
    assert.deepEqual(
      gap.map((c) => [c.name, c.optional]),
      [[required, true]],
    );
    assert.equal(relaxed.report.ok, true);
    assert.equal(relaxed.report.failed, 0);
    assert.equal(relaxed.code, 0);
    const text = await runCli([
      'probe',
      '--kp',
      `127.0.0.1:${fake.portA}`,
      '--identity',
      routers.a.identity,
      '--psk-file',
      file,
      '--remote',
      'B',
      '--require',
      '1.2',
    ]);
    assert.match(text.stdout, /WARN {2}TLS 1\.3 TLS_AES_256_GCM_SHA384 \(Table 1, REQUIRED\)/);
    assert.match(text.stdout, /1 outside --require failed: TLS 1\.3 TLS_AES_256_GCM_SHA384/);
    // --tls 1.2: what IOS XE uses, and nothing else.
    const only12 = await probe('--tls', '1.2');
    assert.equal(only12.code, 0);
    assert.deepEqual(
      only12.report.checks.filter((c) => !c.ok),
      [],
    );
    assert.equal(
      (
        await runCli([
          'probe',
          '--kp',
          '127.0.0.1:1',
          '--identity',
          'x',
          '--psk-file',
          file,
          '--tls',
          '1.2',
          '--require',
          '1.3',
        ])
      ).code,
      2,
    );
  });

  for (const version of ['1.2', '1.3'] as const) {
    it(`speaks TLS ${version} to OpenSSL's s_server (an independent TLS stack)`, async (t) => {
      const dir = tempDir(t);
      const www = join(dir, 'www');
      mkdirSync(www);
      // s_server -HTTP sends a file as the whole response: a canned HTTP answer.
      const body = JSON.stringify({
        entropy: true,
        key: true,
        algorithm: 'PRF',
        localSystemID: 'ossl',
        remoteSystemID: ['B'],
      });
      writeFileSync(
        join(www, 'capabilities'),
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      const busy = JSON.stringify({ detail: 'peer B is unreachable' });
      writeFileSync(
        join(www, 'key?remoteSystemID=B'),
        `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${busy.length}\r\n\r\n${busy}`,
      );
      const port = await freePort();
      const tlsArgs =
        version === '1.2'
          ? [
              '-tls1_2',
              '-cipher',
              'PSK-AES256-GCM-SHA384',
              '-psk_identity',
              routers.a.identity,
              '-psk',
              routers.a.key,
            ]
          : pskSessionArgs(dir, routers.a.identity, routers.a.key);
      const server = spawn(
        'openssl',
        ['s_server', '-accept', String(port), '-naccept', '8', '-nocert', '-HTTP', ...tlsArgs],
        {
          cwd: www,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      t.after(() => server.kill());
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', (d: Buffer) => d.toString().includes('ACCEPT') && resolve());
        server.on('exit', (c) => reject(new Error(`s_server exited ${c}`)));
      });
      const r = await runCli([
        'probe',
        '--kp',
        `127.0.0.1:${port}`,
        '--identity',
        routers.a.identity,
        '--psk-file',
        pskFile(dir),
        '--remote',
        'B',
        '--tls',
        version,
        '--json',
      ]);
      const report = JSON.parse(r.stdout) as Report;
      const caps = report.checks.find((c) => c.name === 'capabilities at KP A');
      assert.equal(caps?.ok, true, r.stdout);
      assert.match(
        caps.detail,
        version === '1.2'
          ? /ossl, remotes B \(TLSv1\.2 /
          : /ossl, remotes B \(TLSv1\.3 TLS_AES_256_GCM_SHA384/,
      );
      // The canned 503 fails the new key check, with the hint a router engineer can act on.
      const key = report.checks.find((c) => c.name === 'new key at KP A') as { ok: boolean; hint?: string };
      assert.equal(key.ok, false);
      assert.match(key.hint ?? '', /cannot reach KP B \(B\) on its peer port/);
      assert.equal(r.code, 1);
      if (version === '1.2') {
        // The same TLS 1.2-only server probed in both versions: TLS 1.3 is one failed check.
        const all = await runCli([
          'probe',
          '--kp',
          `127.0.0.1:${port}`,
          '--identity',
          routers.a.identity,
          '--psk-file',
          pskFile(dir),
          '--remote',
          'B',
          '--json',
        ]);
        const both = JSON.parse(all.stdout) as Report;
        const refused = both.checks.find(
          (c) => c.name === 'TLS 1.3 TLS_AES_256_GCM_SHA384 (Table 1, REQUIRED)',
        );
        assert.equal(refused?.ok, false, all.stdout);
        assert.ok(!both.checks.some((c) => c.name.startsWith('TLS 1.3: ')), all.stdout);
        assert.equal(both.checks.find((c) => c.name === 'TLS 1.2: capabilities at KP A')?.ok, true);
      }
    });
  }
});
