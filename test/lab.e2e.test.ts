// phases: exe
// The README's main job: `skip-server lab` brings up alice and bob with generated secrets, and
// the s_client lines it prints, pasted into a shell as printed, return matching keys.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { skipServer } from './helpers/bundle.js';
import { needEtcd } from './helpers/etcd.js';
import { tempDir } from './helpers/tmp.js';

function runLab(
  dir: string,
  base: number,
  extra: string[] = [],
): Promise<{
  lines: string[];
  probe: string | undefined;
  out: string;
  pid: number;
  stop: () => Promise<number | null>;
}> {
  const [cmd, argv] = skipServer(['lab', '--dir', dir, '--base-port', String(base), ...extra]);
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
      if (!/Ctrl-C stops (both|them all)/.test(out)) return;
      clearTimeout(timer);
      const lines = out.split('\n').filter((l) => l.startsWith('  printf '));
      const probe = out.split('\n').find((l) => l.includes(' probe --kp '));
      resolve({ lines, probe, out, pid: child.pid!, stop: () => (child.kill('SIGINT'), exited) });
    });
  });
}

/** The process `pid` still exists. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sh = (cmd: string): string =>
  execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('skip-server lab', () => {
  for (const source of ['etsi014', 'hybrid'] as const)
    it(`--key-source ${source}: the printed lines give alice and bob the same key, from the simulated KMEs`, async (t) => {
      const dir = join(tempDir(t), 'lab');
      const base = 20_000 + Math.floor(Math.random() * 20_000);
      const lab = await runLab(dir, base, ['--key-source', source]);
      try {
        assert.match(lab.out, source === 'etsi014' ? /simulated QKD KMEs/ : /combined/);
        const a = JSON.parse(sh(lab.lines[0]!).trim().split('\n').at(-1)!) as { keyId: string; key: string };
        assert.match(a.keyId, /^[0-9a-f]{32}$/);
        const b = JSON.parse(
          sh(lab.lines[1]!.replace('KEYID', a.keyId)).trim().split('\n').at(-1)!,
        ) as unknown;
        assert.deepEqual(b, a);
        // Served once: a second fetch is refused.
        assert.match(sh(lab.lines[1]!.replace('KEYID', a.keyId)), /"detail"/);
        const alice = readFileSync(join(dir, 'alice', 'skip.yaml'), 'utf8');
        assert.match(alice, new RegExp(`key_source: "${source}"`));
        assert.match(alice, new RegExp(`url: "https://127\\.0\\.0\\.1:${base + 2}"`));
      } finally {
        assert.equal(await lab.stop(), 0);
      }
    });

  it('prints s_client lines that, run as printed, give alice and bob the same key', async (t) => {
    const dir = join(tempDir(t), 'lab');
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const lab = await runLab(dir, base);
    try {
      assert.equal(lab.lines.length, 2);
      const a = JSON.parse(sh(lab.lines[0]!).trim().split('\n').at(-1)!) as { keyId: string; key: string };
      assert.match(a.keyId, /^[0-9a-f]{32}$/);
      const b = JSON.parse(sh(lab.lines[1]!.replace('KEYID', a.keyId)).trim().split('\n').at(-1)!) as unknown;
      assert.deepEqual(b, a);
      // The printed probe line, run as printed, passes every check.
      assert.ok(lab.probe, 'no probe line');
      const probed = spawnSync('bash', ['-c', lab.probe], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(probed.status, 0, probed.stdout + probed.stderr);
      assert.match(probed.stdout, /all 10 checks passed/);
    } finally {
      assert.equal(await lab.stop(), 0);
    }
    const psk = readFileSync(join(dir, 'alice', 'psk.txt'), 'utf8');
    // Again with another --base-port: the KPs move there, the banner says so, and keys flow.
    const again = await runLab(dir, base + 7);
    try {
      assert.match(again.lines[0]!, new RegExp(`-connect 127\\.0\\.0\\.1:${base + 7} `));
      assert.match(
        again.out,
        new RegExp(`KP alice on 127\\.0\\.0\\.1:${base + 7}, KP bob on 127\\.0\\.0\\.1:${base + 1007}`),
      );
      assert.match(sh(again.lines[0]!), /"keyId":"[0-9a-f]{32}"/);
    } finally {
      assert.equal(await again.stop(), 0);
    }
    assert.equal(readFileSync(join(dir, 'alice', 'psk.txt'), 'utf8'), psk, 'second run must reuse the lab');
  });

  it('exits 1 when a port is in use, naming --base-port and npm start -- --base-port', async (t) => {
    const dir = join(tempDir(t), 'lab');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    t.after(() => blocker.close());
    const busy = (blocker.address() as { port: number }).port;
    if (busy < 1024 || busy > 64000) return t.skip(`ephemeral port ${busy} is outside --base-port's range`);
    const [cmd, argv] = skipServer(['lab', '--dir', dir, '--base-port', String(busy)]);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /a lab port is in use .*npm start -- --base-port N, or skip-server lab --base-port N/,
    );
  });

  it('takes both KPs down with it when the lab process is killed (kill -9)', async (t) => {
    const dir = join(tempDir(t), 'lab');
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const lab = await runLab(dir, base);
    const kps = execFileSync('pgrep', ['-P', String(lab.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    assert.equal(kps.length, 2);
    process.kill(lab.pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (kps.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(kps.filter(alive), [], 'lab KPs still running after the lab was killed');
  });

  it('--instances 2: bob is a hub on one etcd; a key pushed by alice is taken at either instance, once; kill -9 ends them all', async (t) => {
    if (!needEtcd(t)) return;
    const dir = join(tempDir(t), 'lab');
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const lab = await runLab(dir, base, ['--instances', '2']);
    // The lab's children: alice, two bob instances, and the sh that holds etcd.
    const children = execFileSync('pgrep', ['-P', String(lab.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    const etcd = execFileSync('pgrep', ['-f', `data-dir=${join(dir, 'etcd')}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number)
      .filter((pid) => !children.includes(pid));
    try {
      assert.equal(children.length, 4);
      assert.equal(etcd.length, 1, 'one etcd member (beside the sh that holds it)');
      assert.match(
        lab.out,
        /bob is a hub of 2 instances \(127\.0\.0\.1:\d+, 127\.0\.0\.2:\d+\) sharing one etcd/,
      );
      assert.equal(lab.lines.length, 3);
      assert.match(lab.lines[2]!, /-connect 127\.0\.0\.2:/);
      const alice = readFileSync(join(dir, 'alice', 'skip.yaml'), 'utf8');
      assert.match(alice, /ip:\s*- "127\.0\.0\.1"\s*- "127\.0\.0\.2"/);
      for (let i = 0; i < 4; i++) {
        const a = JSON.parse(sh(lab.lines[0]!).trim().split('\n').at(-1)!) as { keyId: string; key: string };
        // Taken at one instance (alternating), then refused at the other: served once in all.
        const [at, other] = i % 2 === 0 ? [lab.lines[2]!, lab.lines[1]!] : [lab.lines[1]!, lab.lines[2]!];
        assert.deepEqual(JSON.parse(sh(at.replace('KEYID', a.keyId)).trim().split('\n').at(-1)!), a);
        assert.match(sh(other.replace('KEYID', a.keyId)), /"detail"/);
      }
    } finally {
      process.kill(lab.pid, 'SIGKILL');
    }
    const gone = [...children, ...etcd];
    const deadline = Date.now() + 10_000;
    while (gone.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(gone.filter(alive), [], 'lab KPs or etcd still running after the lab was killed');
  });
});
