// Key exchange benchmark: alice and bob from the bundle (via `skip-server lab`) on loopback,
// the full SKIP flow as routers drive it: GET /key on alice (TLS 1.2 PSK-AES256-GCM-SHA384,
// kept-alive connections), then GET /key/{keyId} on bob, keys compared.
//   node bench/key-exchange.mjs [--node PATH] [--pairs N] [--concurrency 1,8,32]
// --node picks the Node binary the KPs run on: Node 24 gives the native ML-KEM backend,
// Node 20 gives noble. Loopback only; fixed counts; stops by itself.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: process.execPath },
    pairs: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1,8,32' },
  },
});
const pairs = Number(values.pairs);
const levels = values.concurrency.split(',').map(Number);
const dir = join(tmpdir(), `skip-bench-${process.pid}`);
const base = 30000 + (process.pid % 20000);

const lab = spawn(values.node, ['dist/skip-server.js', 'lab', '--dir', dir, '--base-port', String(base)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
let backend = '?';
await new Promise((resolve, reject) => {
  lab.on('exit', (c) => reject(new Error(`lab exited ${c}`)));
  lab.stdout.on('data', (d) => {
    out += d.toString();
    const m = /"backend":"(\w+)"/.exec(out);
    if (m) backend = m[1];
    if (out.includes('Ctrl-C stops both.')) resolve();
  });
});
lab.stdout.resume();

const psk = (name) =>
  readFileSync(join(dir, name, 'psk.txt'), 'utf8')
    .split('\n')
    .find((l) => l && !l.startsWith('#'))
    .split(':');
const agentFor = (name) => {
  const [identity, key] = psk(name);
  return new Agent({
    keepAlive: true,
    maxSockets: 256,
    ciphers: 'PSK-AES256-GCM-SHA384',
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity, psk: Buffer.from(key, 'hex') }),
    checkServerIdentity: () => undefined,
  });
};
const get = (agent, port, path) =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode} ${body}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });

const aliceAgent = agentFor('alice');
const bobAgent = agentFor('bob');
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const results = [];
for (const c of levels) {
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < pairs) {
        next++;
        const s = performance.now();
        const a = await get(aliceAgent, base, '/key?remoteSystemID=bob');
        lat.push(performance.now() - s);
        const b = await get(bobAgent, base + 1000, `/key/${a.keyId}?remoteSystemID=alice`);
        if (b.key !== a.key) throw new Error('keys differ');
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  results.push({
    concurrency: c,
    pairs,
    pairsPerSecond: Math.round(pairs / secs),
    keyP50ms: +pct(lat, 50).toFixed(2),
    keyP99ms: +pct(lat, 99).toFixed(2),
    keyMaxms: +lat.at(-1).toFixed(2),
  });
}
lab.kill('SIGINT');
aliceAgent.destroy();
bobAgent.destroy();

const machine = `${cpus().length} x ${cpus()[0]?.model ?? '?'}`;
console.log(
  `backend ${backend} (KPs on ${values.node}), ${machine}, both KPs and the client on this machine`,
);
console.log('concurrency  pairs/s  /key p50 ms  p99 ms  max ms');
for (const r of results) {
  console.log(
    `${String(r.concurrency).padStart(11)}  ${String(r.pairsPerSecond).padStart(7)}  ${String(r.keyP50ms).padStart(11)}  ${String(r.keyP99ms).padStart(6)}  ${String(r.keyMaxms).padStart(6)}`,
  );
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  `bench/results/key-exchange-${backend}.json`,
  JSON.stringify({ backend, node: values.node, machine, results }, null, 2) + '\n',
);
