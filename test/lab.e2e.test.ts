// The README's main job: `skip-server lab` brings up alice and bob with generated secrets, and
// the s_client lines it prints, pasted into a shell as printed, return matching keys.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { skipServer } from './helpers/bundle.js';
import { tempDir } from './helpers/tmp.js';

function runLab(
  dir: string,
  base: number,
): Promise<{ lines: string[]; out: string; stop: () => Promise<number | null> }> {
  const [cmd, argv] = skipServer(['lab', '--dir', dir, '--base-port', String(base)]);
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lab not up in 20 s:\n${out}\n${err}`)), 20_000);
    void exited.then((code) => reject(new Error(`lab exited ${code}:\n${out}\n${err}`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('Ctrl-C stops both.')) return;
      clearTimeout(timer);
      const lines = out.split('\n').filter((l) => l.startsWith('  printf '));
      resolve({ lines, out, stop: () => (child.kill('SIGINT'), exited) });
    });
  });
}

describe('skip-server lab', () => {
  it('prints s_client lines that, run as printed, give alice and bob the same key', async (t) => {
    const dir = join(tempDir(t), 'lab');
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const lab = await runLab(dir, base);
    try {
      assert.equal(lab.lines.length, 2);
      const sh = (cmd: string): string =>
        execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const a = JSON.parse(sh(lab.lines[0]!).trim().split('\n').at(-1)!) as { keyId: string; key: string };
      assert.match(a.keyId, /^[0-9a-f]{32}$/);
      const b = JSON.parse(sh(lab.lines[1]!.replace('KEYID', a.keyId)).trim().split('\n').at(-1)!) as unknown;
      assert.deepEqual(b, a);
    } finally {
      assert.equal(await lab.stop(), 0);
    }
    const psk = readFileSync(join(dir, 'alice', 'psk.txt'), 'utf8');
    // Again with another --base-port: the lab keeps its ports, and the banner says the real ones.
    const again = await runLab(dir, base + 7);
    try {
      assert.match(again.lines[0]!, new RegExp(`-connect 127\\.0\\.0\\.1:${base} `));
      assert.match(again.out, new RegExp(`--base-port ${base + 7} is not used`));
    } finally {
      assert.equal(await again.stop(), 0);
    }
    assert.equal(readFileSync(join(dir, 'alice', 'psk.txt'), 'utf8'), psk, 'second run must reuse the lab');
  });
});
