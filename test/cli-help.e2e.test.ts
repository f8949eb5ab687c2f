// Each command's own --help, "did you mean" for mistyped commands and options, exit codes as
// documented, and the log level.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMMANDS } from '../src/cli/dispatch.js';
import { EXIT } from '../src/cli/common.js';
import { runCli, skipServer } from './helpers/bundle.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

describe('skip-server command help and usage', () => {
  it('gives every command its own --help, naming each of its options', async () => {
    for (const c of COMMANDS) {
      for (const args of [
        [...c.name.split(' '), '--help'],
        ['help', ...c.name.split(' ')],
      ]) {
        const r = await runCli(args);
        assert.equal(r.code, 0, args.join(' '));
        assert.match(r.stdout, new RegExp(`^Usage: skip-server ${c.name}\\b`), args.join(' '));
        for (const o of Object.keys(c.options))
          assert.match(r.stdout, new RegExp(`--${o}\\b`), `${c.name}: --${o}`);
        assert.doesNotMatch(r.stdout, /^Commands:/m, `${args.join(' ')} printed the general help`);
      }
    }
    const general = await runCli(['--help']);
    for (const c of COMMANDS) assert.match(general.stdout, new RegExp(`\\n {2}${c.name} +\\S`), c.name);
  });

  it("suggests the command or option meant, with exit 2 and a pointer to that command's help", async () => {
    const cases: [string[], RegExp][] = [
      [['chek-config'], /unknown command "chek-config"; did you mean "check-config"\?/],
      [
        ['serve', '--confg', 'x.yaml'],
        /unknown option --confg for "serve"; did you mean --config\?\nRun "skip-server serve --help"/,
      ],
      [
        ['psk', 'add', '--identiy', 'r1'],
        /unknown option --identiy for "psk add"; did you mean --identity\?/,
      ],
      [['keystore', 'stat'], /unknown command "keystore stat"; the keystore commands: keystore stats/],
      [
        ['psk', 'add', '--file', 'f', '--identity', 'r', '--bytes', '8'],
        /--bytes must be a number from 16 to 256/,
      ],
      [
        ['init', '--dir', 'd', '--id', 'x', '--layout', 'docker'],
        /--layout must be host or iox, not "docker"/,
      ],
      [
        ['serve', '--config', 'x.yaml', '--log-level', 'loud'],
        /--log-level must be one of debug, info, warn, error/,
      ],
      [['keygen', 'extra'], /unexpected argument "extra" for "keygen"/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, EXIT.usage, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('documents in the README the exit codes the command line uses', () => {
    const readme = readFileSync('README.md', 'utf8');
    assert.match(
      readme,
      /Exit codes: `0` success, `1` failure at run time \(port in use[^)]*\), `2` bad usage, `3` invalid/,
    );
    assert.deepEqual(EXIT, { ok: 0, runtime: 1, usage: 2, config: 3 });
  });

  it('writes only lines at or above log_level / --log-level', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    chmodSync(files.pskFile, 0o644); // one warning at start: "secret file readable by others"
    const [cmd, argv] = skipServer(['serve', '--config', files.config, '--port', '0', '--log-level', 'warn']);
    const proc = spawn(cmd, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...files.env },
    });
    let out = '';
    const warned = new Promise<void>((resolve) =>
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('secret file readable by others')) resolve();
      }),
    );
    const exited = new Promise<number | null>((r) => proc.on('exit', r));
    await warned;
    await new Promise((r) => setTimeout(r, 500)); // "started" would follow within this
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    const levels = out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { level: string }).level);
    assert.ok(levels.length >= 1);
    assert.deepEqual([...new Set(levels)], ['warn'], out);

    const bad = await runCli(['check-config', '--config', files.config], { env: files.env });
    assert.equal(bad.code, 0, bad.stderr);
    const typo = files.config.replace(/\.yaml$/, '-typo.yaml');
    writeFileSync(typo, `${readFileSync(files.config, 'utf8')}log_level: warning\n`);
    const r = await runCli(['check-config', '--config', typo], { env: files.env });
    assert.equal(r.code, EXIT.config);
    assert.match(r.stderr, /"log_level" must be one of debug, info, warn, error; did you mean "warn"\?/);
  });
});
