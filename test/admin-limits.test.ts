// The admin listener has the limits of the other listeners with small caps: idle connections past
// its connection cap are closed at once and the rest at the request timeouts, while routers are
// served on the encryptor port; and /healthz is answered from a recent result, so callers cannot
// make the KP sync its keystore and handshake with each peer at their rate.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { memoryLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { pskGet } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { adminGet } from './helpers/admin-get.js';
import { withoutInstance } from './helpers/metrics-text.js';
import { makePki } from './helpers/pki.js';
import { freePort, tempDir } from './helpers/tmp.js';

const HEADERS_MS = 600;

/** A TCP relay to `port` that counts the connections made through it. */
async function countingRelay(port: number): Promise<{ server: Server; port: number; count: () => number }> {
  let count = 0;
  const server = createServer((inbound) => {
    count++;
    const out = connect(port, '127.0.0.1');
    inbound.pipe(out).pipe(inbound);
    inbound.on('error', () => out.destroy());
    out.on('error', () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, count: () => count };
}

const metric = (text: string, line: RegExp): number => Number(line.exec(text)?.[1] ?? NaN);

describe('admin listener limits', () => {
  let alice: RunningServer;
  let bob: RunningServer;
  let aliceFiles: KpFiles;
  let relay: Awaited<ReturnType<typeof countingRelay>>;

  before(async () => {
    const dir = tempDir({ after });
    const pki = makePki(dir);
    const [pa, pb] = [await freePort(), await freePort()];
    const bobFiles = writeKpFiles(dir, pki, {
      name: 'bob',
      mtlsPort: pb,
      peers: [{ id: 'alice', port: pa }],
    });
    bob = await startServer(loadConfig(bobFiles.config), {
      log: memoryLogger(),
      masterKey: masterKeyFromEnv({ ...bobFiles.env }),
    });
    // Alice reaches bob's peer port only through the relay: its count is her peer checks.
    relay = await countingRelay(pb);
    aliceFiles = writeKpFiles(dir, pki, {
      name: 'alice',
      mtlsPort: pa,
      peers: [{ id: 'bob', port: relay.port }],
      extra: 'admin_port: 0\n',
    });
    alice = await startServer(loadConfig(aliceFiles.config), {
      log: memoryLogger(),
      masterKey: masterKeyFromEnv({ ...aliceFiles.env }),
      limits: { headersTimeoutMs: HEADERS_MS, requestTimeoutMs: HEADERS_MS, timeoutCheckMs: 100 },
    });
  });
  after(async () => {
    await alice?.close();
    await bob?.close();
    relay?.server.close();
  });

  it('caps idle connections and closes them at the timeouts; the encryptor port serves meanwhile', async () => {
    const n = 60;
    const open = new Set<Socket>();
    const closedAt: number[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve) => {
            const s = connect(alice.admin!.port, '127.0.0.1', () => resolve());
            open.add(s);
            s.on('error', () => resolve());
            s.on('close', () => {
              open.delete(s);
              closedAt.push(Date.now() - started);
              resolve();
            });
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(open.size <= 16, `${open.size} idle admin connections held open`);
    assert.ok(open.size > 0, 'the admin listener accepted none');
    // A router is served while the admin listener is full.
    const router = await pskGet(alice.encryptor.port, '/capabilities', aliceFiles.encryptor);
    assert.equal(router.status, 200);
    // The rest are closed at the headers timeout (checked every timeoutCheckMs), not Node's 60 s.
    // A loaded machine (CI runs test files side by side) gets slack, still far below Node's 60 s.
    const deadline = Date.now() + HEADERS_MS * 25;
    while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of open) s.destroy();
    assert.equal(open.size, 0, `${open.size} idle admin connections left after ${HEADERS_MS * 25} ms`);
    const m = { body: withoutInstance((await adminGet(alice.admin!.port, '/metrics')).body) };
    assert.ok(
      metric(m.body, /^skip_admission_refused_total\{listener="admin",cap="connections"\} (\d+)$/m) >= n - 16,
      m.body,
    );
    assert.match(m.body, /^skip_admission_limit\{listener="admin",cap="connections"\} 16$/m);
  });

  it('answers /healthz from a result a few seconds old at most: one peer check and sync per window', async () => {
    const before = relay.count();
    const seq = [];
    for (let i = 0; i < 5; i++) seq.push(await adminGet(alice.admin!.port, '/healthz'));
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => adminGet(alice.admin!.port, '/healthz')),
    );
    for (const h of [...seq, ...burst]) assert.equal(h.status, 200, h.body);
    assert.ok(relay.count() - before <= 1, `${relay.count() - before} peer handshakes for 15 /healthz`);
    const m = { body: withoutInstance((await adminGet(alice.admin!.port, '/metrics')).body) };
    assert.ok(metric(m.body, /^skip_health_checks_total (\d+)$/m) <= 2, m.body);
    // Past the window the next call checks again.
    await new Promise((r) => setTimeout(r, 2_500));
    const mid = relay.count();
    assert.equal((await adminGet(alice.admin!.port, '/healthz')).status, 200);
    assert.equal(relay.count(), mid + 1);
  });
});
