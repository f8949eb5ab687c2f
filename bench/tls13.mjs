// npm run bench:tls13: the TLS 1.3 engine (src/tls13/) next to node:tls on the same run, two lab
// KPs from the bundle on loopback (this Node). Per handshake: a new connection, one
// GET /capabilities, close; handshakes/s and alice's CPU seconds per 1,000 handshakes (the
// server's own cost: the fair comparison, since the clients share the machine). Then the full
// key-pair flow (/key on alice, /key/{keyId} on bob), each request on a new TLS 1.3 connection,
// next to the same flow on new TLS 1.2 connections. The engine's client is src/tls13/client.ts.
//   npm run bench:tls13            (compiles, builds the bundle first)
//   node bench/tls13.mjs [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tls13Request } from '../out/src/tls13/client.js';
import { GROUP, PSK_KE } from '../out/src/tls13/constants.js';
import { ONE_DRIVER, configure, cpuSec, get, makeLab, routerPsk, startKp, stopKp, tlsOpts } from './lab.mjs';

const QUICK = process.argv.includes('--quick');
const N = QUICK ? 200 : 2000;
const PAIRS = QUICK ? 100 : 1000;
const CONCURRENCY = 8;
const dir = mkdtempSync(join(tmpdir(), 'skip-bench13-'));
const base = 33000 + (process.pid % 9000);
const ports = { alice: base, bob: base + 1000 };

await makeLab(dir, base);
for (const n of ['alice', 'bob']) configure(dir, n, ONE_DRIVER);
const psk = (name) => routerPsk(dir, name);
const kps = [
  await startKp(dir, 'alice', process.execPath, ['dist/skip-server.js']),
  await startKp(dir, 'bob', process.execPath, ['dist/skip-server.js']),
];
const request = (path) => `GET ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;
const tls13 = async (name, path, extra = {}) => {
  const r = await tls13Request({
    host: '127.0.0.1',
    port: ports[name],
    ...psk(name),
    request: request(path),
    ...extra,
  });
  const split = r.response.indexOf('\r\n\r\n');
  return { status: Number(r.response.slice(9, 12)), body: r.response.slice(split + 4) };
};
const tls12 = (name, path, ciphers = 'PSK-AES256-GCM-SHA384') =>
  get(ports[name], path, { ...tlsOpts(dir, name), ciphers });

async function run(label, n, once) {
  const pid = kps[0].pid;
  const cpu0 = cpuSec(pid);
  const bobCpu0 = cpuSec(kps[1].pid);
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        if (!(await once().catch(() => false))) failures++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const row = {
    label,
    n,
    failures,
    perSecond: Math.round(n / secs),
    aliceCpuSecondsPer1000: Math.round(((cpuSec(pid) - cpu0) * 1000 * 100) / n) / 100,
    bobCpuSecondsPer1000: Math.round(((cpuSec(kps[1].pid) - bobCpu0) * 1000 * 100) / n) / 100,
  };
  process.stderr.write(`${label}: ${row.perSecond}/s, alice ${row.aliceCpuSecondsPer1000} CPU s/1000\n`);
  return row;
}

const ok = (r) => r.status === 200;
const handshakes = [
  await run('TLS 1.2 node:tls PSK-AES256-GCM-SHA384', N, async () =>
    ok(await tls12('alice', '/capabilities')),
  ),
  await run('TLS 1.2 node:tls DHE-PSK-AES256-GCM-SHA384', N, async () =>
    ok(await tls12('alice', '/capabilities', 'DHE-PSK-AES256-GCM-SHA384')),
  ),
  await run('TLS 1.3 engine psk_ke', N, async () =>
    ok(await tls13('alice', '/capabilities', { pskModes: [PSK_KE] })),
  ),
  await run('TLS 1.3 engine x25519', N, async () => ok(await tls13('alice', '/capabilities'))),
  await run('TLS 1.3 engine secp256r1', N, async () =>
    ok(await tls13('alice', '/capabilities', { shareGroups: [GROUP.secp256r1] })),
  ),
  await run('TLS 1.3 engine X25519MLKEM768', N, async () =>
    ok(await tls13('alice', '/capabilities', { shareGroups: [GROUP.x25519mlkem768] })),
  ),
];
const pair = (via) => async () => {
  const k = await via('alice', '/key?remoteSystemID=bob');
  if (k.status !== 200) return false;
  const { keyId, key } = JSON.parse(k.body);
  const t = await via('bob', `/key/${keyId}?remoteSystemID=alice`);
  return t.status === 200 && JSON.parse(t.body).key === key;
};
const flows = [
  await run(
    'key pairs, TLS 1.2 (new connection per request)',
    PAIRS,
    pair((n, p) => tls12(n, p)),
  ),
  await run(
    'key pairs, TLS 1.3 engine x25519 (new connection per request)',
    PAIRS,
    pair((n, p) => tls13(n, p)),
  ),
];
await Promise.all(kps.map(stopKp));
rmSync(dir, { recursive: true, force: true });

console.log(
  `\nTLS 1.3 engine vs node:tls on ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}; ` +
    `concurrency ${CONCURRENCY}; KPs and clients on this machine`,
);
console.log(
  'what                                                          per s  alice CPU s/1000  bob CPU s/1000  fail',
);
for (const r of [...handshakes, ...flows])
  console.log(
    `${r.label.padEnd(60)} ${String(r.perSecond).padStart(7)}  ${String(r.aliceCpuSecondsPer1000).padStart(16)}  ${String(r.bobCpuSecondsPer1000).padStart(14)}  ${r.failures}`,
  );
const [plain12] = handshakes;
const x25519 = handshakes.find((h) => h.label === 'TLS 1.3 engine x25519');
console.log(
  `\nengine x25519 / node:tls PSK per handshake (alice CPU): ${(x25519.aliceCpuSecondsPer1000 / plain12.aliceCpuSecondsPer1000).toFixed(2)}x`,
);
