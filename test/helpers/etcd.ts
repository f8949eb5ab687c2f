// A real three-member etcd cluster (Debian's etcd-server) on free loopback ports in a temp dir,
// never the default ports; killed when the test ends. Without the etcd binary the test is skipped,
// unless CI is set: there its absence fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort, tempDir } from './tmp.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: ChildProcess | undefined;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** Kills a member (SIGKILL) and waits for its exit. */
  kill(name: string): Promise<void>;
  /** Starts a killed member again with its data. */
  restart(name: string): Promise<void>;
  /** The member that leads now. */
  leader(): Promise<EtcdMember>;
  /** Resolves once every running member reports health. */
  healthy(): Promise<void>;
}

export function etcdBinary(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'etcd' : undefined;
}

/** Skips `t` (and returns false) without etcd outside CI; in CI a missing etcd throws. */
export function needEtcd(t: TestContext): boolean {
  if (etcdBinary()) return true;
  if (process.env.CI) throw new Error('etcd is not installed (CI installs Debian etcd-server: see .ci/run)');
  t.skip('etcd is not installed (apt-get install etcd-server); CI runs this test');
  return false;
}

export async function startEtcd(t: TestContext, size = 3): Promise<EtcdCluster> {
  const dir = tempDir(t, 'skip-etcd-');
  const members: EtcdMember[] = [];
  for (let i = 1; i <= size; i++) {
    const [c, p] = [await freePort(), await freePort()];
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${c}`,
      peerUrl: `http://127.0.0.1:${p}`,
      dataDir: join(dir, `m${i}`),
      proc: undefined,
    });
  }
  const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const launch = (m: EtcdMember, state: 'new' | 'existing'): void => {
    const proc = spawn(
      'etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        state,
        '--initial-cluster-token',
        `skip-test-${process.pid}`,
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.resume();
    m.proc = proc;
  };
  for (const m of members) launch(m, 'new');
  t.after(() => {
    for (const m of members) m.proc?.kill('SIGKILL');
  });
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async kill(name) {
      const m = members.find((x) => x.name === name)!;
      const p = m.proc;
      m.proc = undefined;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill('SIGKILL');
      });
    },
    async restart(name) {
      launch(
        members.find((x) => x.name === name)!,
        'existing',
      );
      await cluster.healthy();
    },
    async leader() {
      for (;;) {
        for (const m of members.filter((x) => x.proc)) {
          const s = (await post(m.clientUrl, '/v3/maintenance/status', {}).catch(() => undefined)) as
            { header?: { member_id?: string }; leader?: string } | undefined;
          if (s?.leader !== undefined && s.leader !== '0' && s.leader === s.header?.member_id) return m;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async healthy() {
      const until = Date.now() + 30_000;
      for (;;) {
        const running = members.filter((m) => m.proc);
        const ok = await Promise.all(
          running.map((m) =>
            post(m.clientUrl, '/v3/kv/range', { key: Buffer.from('health').toString('base64') }).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (ok.every(Boolean)) return;
        if (Date.now() > until) throw new Error('etcd cluster not healthy within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
  await cluster.healthy();
  return cluster;
}

async function post(base: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(2000),
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  return res.json();
}
