// Keystore benchmark: puts/s and takes/s with 1, 16 and 256 concurrent callers, with 100,000
// keys already stored, fdatasync calls (keystore file and spent log) per put and per take, the
// time to reopen (scan) that file, and RSS. Real file, real fdatasync.
//   npm run compile && node --expose-gc bench/keystore.mjs [--stored 100000] [--ops 4000] [--dir DIR]
// DIR should be on the disk the keystore will live on (default: the OS temp dir).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileKeyStore } from '../out/src/keystore/store.js';

const { values } = parseArgs({
  options: {
    stored: { type: 'string', default: '100000' },
    ops: { type: 'string', default: '4000' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const stored = Number(values.stored);
const ops = Number(values.ops);
const dir = mkdtempSync(join(values.dir, 'skip-ks-bench-'));
const path = join(dir, 'keystore.db');
const master = { kind: 'raw', key: randomBytes(32) };
const open = () =>
  FileKeyStore.open({
    path,
    master: { kind: 'raw', key: Buffer.from(master.key) },
    ttlMs: 3_600_000,
    sweepEveryMs: 0,
  });
const id = () => randomBytes(16).toString('hex');
const mb = (b) => Math.round(b / 1048576);

async function run(c, n, fn) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        const i = next++;
        await fn(i);
      }
    }),
  );
  return Math.round(n / ((performance.now() - t0) / 1000));
}

let { store } = await open();
const t0 = performance.now();
const preload = await run(256, stored, () => store.put(id(), randomBytes(32), 'bob'));
const preloadS = ((performance.now() - t0) / 1000).toFixed(1);
await store.close();
const t1 = performance.now();
({ store } = await open());
const openMs = Math.round(performance.now() - t1);
globalThis.gc?.();
const rssAfterOpen = process.memoryUsage().rss;
const heapAfterOpen = process.memoryUsage().heapUsed;

const rows = [];
for (const c of [1, 16, 256]) {
  const n = c === 1 ? Math.min(ops, 1000) : ops;
  const ids = Array.from({ length: n }, id);
  const syncs0 = store.syncCount;
  const puts = await run(c, n, (i) => store.put(ids[i], randomBytes(32), 'bob'));
  const putSyncs = store.syncCount - syncs0;
  const syncs1 = store.syncCount;
  const takes = await run(c, n, async (i) => {
    const r = await store.take(ids[i], 'bob');
    if (r.kind !== 'ok') throw new Error(`take ${r.kind}`);
    r.key.fill(0);
  });
  await store.settled();
  const takeSyncs = store.syncCount - syncs1;
  rows.push({
    concurrency: c,
    ops: n,
    putsPerSecond: puts,
    takesPerSecond: takes,
    putsPerSync: +(n / putSyncs).toFixed(1),
    syncsPerTake: +(takeSyncs / n).toFixed(2),
  });
}
const result = {
  machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
  node: process.version,
  stored,
  preloadPutsPerSecond: preload,
  preloadSeconds: +preloadS,
  fileMiB: mb(statSync(path).size),
  reopenScanMs: openMs,
  rssAfterOpenMiB: mb(rssAfterOpen),
  heapAfterOpenMiB: mb(heapAfterOpen),
  maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  rows,
};
await store.close();
rmSync(dir, { recursive: true, force: true });

console.log(`${result.machine}, Node ${result.node}; ${stored} keys stored (${result.fileMiB} MiB file)`);
console.log(
  `preload ${preload} puts/s at 256 callers; reopen (scan ${stored} slots) ${openMs} ms; RSS ${result.rssAfterOpenMiB} MiB after open (V8 heap ${result.heapAfterOpenMiB} MiB), max ${result.maxRssMiB} MiB`,
);
console.log('callers  puts/s  takes/s  puts per fdatasync  fdatasyncs per take');
for (const r of rows)
  console.log(
    `${String(r.concurrency).padStart(7)}  ${String(r.putsPerSecond).padStart(6)}  ${String(r.takesPerSecond).padStart(7)}  ${String(r.putsPerSync).padStart(18)}  ${String(r.syncsPerTake).padStart(19)}`,
  );
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/keystore.json', JSON.stringify(result, null, 2) + '\n');
