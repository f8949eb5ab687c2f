// Runs the built bundle (dist/skip-server.js) as a child process, as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const BUNDLE = resolve('dist/skip-server.js');

/**
 * What runs skip-server in these tests: node with the bundle, or, when SKIP_TEST_EXE is set
 * (test/run.mjs does), a single executable, e.g. "dist/skip-server-linux-x64" or
 * "qemu-aarch64 -L /usr/aarch64-linux-gnu dist/skip-server-linux-arm64".
 */
export function skipServer(args: string[], node?: string): [string, string[]] {
  const exe = process.env.SKIP_TEST_EXE?.split(' ').filter((w) => w.length > 0);
  if (exe && exe.length > 0 && node === undefined) return [exe[0]!, [...exe.slice(1), ...args]];
  return [node ?? process.execPath, [BUNDLE, ...args]];
}

export interface RunningKp {
  proc: ChildProcess;
  port: number;
  peerPort: number;
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first log line whose event is `event` (and that passes `where`). */
  waitFor(
    event: string,
    where?: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export function runCli(
  args: string[],
  opts: { cwd?: string; script?: string; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const [cmd, argv] = opts.script ? [process.execPath, [opts.script, ...args]] : skipServer(args);
    const child = spawn(cmd, argv, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

export interface StartKpOptions {
  /** The node binary to run the bundle with (default: this one). */
  node?: string;
  env?: Record<string, string>;
  args?: string[];
}

export async function startKp(config: string, opts: StartKpOptions = {}): Promise<RunningKp> {
  const [cmd, argv] = skipServer(['serve', '--config', config, ...(opts.args ?? [])], opts.node);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    event: string;
    where: (l: Record<string, unknown>) => boolean;
    done: (l: Record<string, unknown>) => void;
  }[] = [];
  let err = '';
  let buf = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      logs.push(line);
      for (const w of [...waiters]) {
        if (line.event === w.event && w.where(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const waitFor: RunningKp['waitFor'] = (event, where = () => true, timeoutMs = 10_000) => {
    const seen = logs.find((l) => l.event === event && where(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`no "${event}" log line in ${timeoutMs} ms; stderr: ${err}`)),
        timeoutMs,
      );
      waiters.push({ event, where, done: (l) => (clearTimeout(timer), res(l)) });
      void exited.then((code) => rej(new Error(`KP exited (${code}) before "${event}"; stderr: ${err}`)));
    });
  };
  const started = await waitFor('started');
  const port = (started.encryptor as { port: number }).port;
  const peerPort = (started.peer as { port: number }).port;
  return {
    proc,
    port,
    peerPort,
    logs,
    stderr: () => err,
    waitFor,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
