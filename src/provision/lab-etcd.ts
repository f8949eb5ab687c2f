// The lab hub's etcd: one member on loopback, its data in the lab folder, living no longer than
// the lab. etcd reads no stdin, so it runs under a small sh that waits on a pipe from the lab and
// stops etcd when the pipe closes: however the lab ends (Ctrl-C, kill -9), etcd ends with it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

/** The etcd command on PATH (or Debian's /usr/bin/etcd), or a ConfigError naming the package. */
export function findEtcd(): string {
  for (const cmd of ['etcd', '/usr/bin/etcd'])
    if (spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0) return cmd;
  throw new ConfigError([
    'the lab hub (--instances 2 or 3) needs etcd: install it (Debian: apt-get install etcd-server) or put etcd on PATH',
  ]);
}

export interface LabEtcd {
  /** The client URL, for the KPs' etcd endpoints. */
  url: string;
  dataDir: string;
  process: ChildProcess;
}

/** Starts the member on `clientPort` and `peerPort` (127.0.0.1) and resolves once it is healthy. */
export async function startLabEtcd(
  cmd: string,
  root: string,
  clientPort: number,
  peerPort: number,
): Promise<LabEtcd> {
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(root, 'etcd');
  const args = [
    '--name=lab',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=lab=${peer}`,
    '--initial-cluster-state=new',
    '--log-level=error',
  ];
  // $0 is etcd, "$@" its flags; the sh stops it when our pipe (its stdin) closes, so ending that
  // pipe is how the lab stops it.
  const script = '"$0" "$@" </dev/null & pid=$!; cat >/dev/null; kill $pid; wait $pid';
  const child = spawn('/bin/sh', ['-c', script, cmd, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!(await healthy(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.stdin.end();
      throw new ConfigError([
        `the lab's etcd on 127.0.0.1:${clientPort} did not become healthy: ${stderr.trim().split('\n').at(-1) ?? 'no output'}`,
      ]);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dataDir, process: child };
}

/** GET /health answers {"health":"true"}. */
function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/health`, { timeout: 1000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
