// Core dumps stay off: `serve` started with core dumps allowed lowers its own RLIMIT_CORE to 0
// before it reads a secret and says so; where it cannot, it warns naming the fix; the systemd
// unit sets LimitCORE=0 (test/systemd.test.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { coreLimit, suppressCoreDumps } from '../src/core-dumps.js';
import { skipServer } from './helpers/bundle.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

const LIMITS = (soft: string): string =>
  `Limit                     Soft Limit           Hard Limit           Units\n` +
  `Max core file size        ${soft}                unlimited            bytes\n`;

describe('core dumps', () => {
  it('serve lowers RLIMIT_CORE to 0 at start when it was allowed, and logs it', async (t) => {
    const [cmd, argv] = skipServer(['serve']);
    if (/qemu/.test(cmd)) return t.skip('prlimit on a qemu-user process sets the emulator, not the KP');
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    // prlimit(1) starts the KP with core dumps allowed (1 MiB soft, unlimited hard).
    const proc = spawn(
      'prlimit',
      ['--core=1048576:unlimited', '--', cmd, ...argv, '--config', files.config],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...files.env },
      },
    );
    t.after(() => proc.kill('SIGTERM'));
    let out = '';
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"event":"started"')) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const limit = coreLimit(() => readFileSync(`/proc/${proc.pid}/limits`, 'utf8'));
    assert.deepEqual(limit, { soft: 0, hard: 0 }, `core limit of the running KP; log: ${out}`);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const disabled = lines.findIndex((l) => l.event === 'core dumps disabled');
    assert.ok(disabled >= 0, out);
    assert.equal(lines[disabled]!.was, 1048576);
    // Before the keystore (and its master key) was opened.
    assert.ok(disabled < lines.findIndex((l) => l.event === 'keystore opened'), out);
    assert.ok(!lines.some((l) => l.event === 'core dumps enabled'), out);
  });

  it('reports a limit it could not lower, and leaves a zero limit alone', () => {
    const missing = suppressCoreDumps(['/nonexistent/prlimit'], () => LIMITS('unlimited'));
    assert.deepEqual(missing, {
      before: { soft: Infinity, hard: Infinity },
      after: { soft: Infinity, hard: Infinity },
    });
    assert.deepEqual(
      suppressCoreDumps(['/nonexistent/prlimit'], () => LIMITS('0')),
      {
        before: { soft: 0, hard: Infinity },
        after: { soft: 0, hard: Infinity },
      },
    );
    assert.deepEqual(
      suppressCoreDumps([], () => {
        throw new Error('no /proc');
      }),
      {},
    );
  });
});
