// What the benchmarks share: a lab pair made by `skip-server lab` (CA, certificates, PSKs,
// ML-KEM pairs, master keys, configs), the routers' TLS-PSK client options, one GET, starting and
// stopping a KP, and reading a process's memory and CPU from /proc. Loopback only.
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';

export const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // adds ~100 ms to every Node start on this machine

/** Makes the lab in `dir` with alice on `base` and bob on `base + 1000`, then stops it. */
export function makeLab(dir, base) {
  return new Promise((resolve, reject) => {
    const lab = spawn(
      process.execPath,
      ['dist/skip-server.js', 'lab', '--dir', dir, '--base-port', String(base)],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    lab.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops both.')) lab.kill('SIGINT');
    });
    lab.on('exit', () =>
      out.includes('Ctrl-C stops both.') ? resolve() : reject(new Error('lab did not start')),
    );
  });
}

/** Appends config lines to a lab KP's skip.yaml. */
export const configure = (dir, name, lines) => appendFileSync(join(dir, name, 'skip.yaml'), `${lines}\n`);

/** One driver plays every router of a site (one PSK identity, one source address): the
 * per-identity rate limit and quota and the per-source handshake cap are lifted, or a bench of
 * more than 2,000 pairs waits on the quota for key_ttl. Benches measure cost, not the caps. */
export const ONE_DRIVER =
  'identity_requests_per_second: 100000\nidentity_request_burst: 1000000\n' +
  'max_held_keys_per_identity: 1000000\nmax_handshakes_per_source: 1000';

/** The router identity and PSK of the lab KP `name` (its psk.txt's first line). */
export function routerPsk(dir, name) {
  const [identity, key] = readFileSync(join(dir, name, 'psk.txt'), 'utf8')
    .split('\n')
    .find((l) => l && !l.startsWith('#'))
    .split(':');
  return { identity, psk: Buffer.from(key, 'hex') };
}

/** A router's TLS 1.2 PSK client options for the lab KP `name`. */
export function tlsOpts(dir, name) {
  const { identity, psk } = routerPsk(dir, name);
  return {
    ciphers: 'PSK-AES256-GCM-SHA384',
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity, psk }),
    checkServerIdentity: () => undefined,
  };
}

/** One GET on 127.0.0.1:port through an Agent, or on a new connection with these TLS options. */
export function get(port, path, agentOrOpts) {
  return new Promise((resolve, reject) => {
    const opts = agentOrOpts instanceof Agent ? { agent: agentOrOpts } : { agent: false, ...agentOrOpts };
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, ...opts }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          body,
          ms: performance.now() - t0,
          retryAfter: res.headers['retry-after'],
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Starts the lab KP `name` with `cmd args... serve`; resolves with the process once serving. */
export function startKp(dir, name, cmd, args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...args, 'serve', '--config', join(dir, name, 'skip.yaml')], {
      env: { ...env, ...extraEnv, KEYSTORE_MASTER_KEY_FILE: join(dir, name, 'master.key') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('"event":"started"')) {
        p.stdout.removeAllListeners('data');
        p.stdout.resume();
        resolve(p);
      }
    });
    p.on('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
}

export const stopKp = (p) =>
  new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), p.kill('SIGTERM'))));

/** KiB figures from /proc/PID/status: VmRSS (total), RssAnon (own), RssFile (binary pages). */
export function memKiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const f = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: f('VmRSS'), anon: f('RssAnon'), file: f('RssFile') };
}

const TICK = 100; // clock ticks per second for /proc/<pid>/stat (Linux USER_HZ)
export const cpuSec = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
};
