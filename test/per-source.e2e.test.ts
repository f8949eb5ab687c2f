// The per-source cap (docs/security.md, max_handshakes_per_source): one source address cannot
// hold a listener's connection cap with sockets that never finish a TLS handshake. Past 32 such
// connections from one address a new one is closed at once, on the encryptor and the peer port,
// counted in /metrics and logged once per window; routers and peers from other addresses are
// served meanwhile, and connections that have authenticated do not count. The whole of 127/8 is
// loopback, so each client binds its own source address.
import assert from 'node:assert/strict';
import { request, type Agent } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { tls13Request } from '../src/tls13/client.js';
import { withoutInstance } from './helpers/metrics-text.js';
import { startKp } from './helpers/bundle.js';
import { nodeGet, parseHttp, pskAgent, type PskCreds } from './helpers/http-client.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { startPair } from './helpers/pair.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

const CAP = 32;
const FLOOD = 70;

/** `n` TCP connections from `from` that send nothing; resolves once each is connected, with a
 * function that tells how many the server has closed so far. */
async function silent(
  port: number,
  from: string,
  n: number,
): Promise<{ closed: () => number; end: () => void }> {
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      s.once('connect', () => resolve());
      s.once('close', () => {
        closed++;
        resolve();
      });
      setTimeout(() => reject(new Error(`connection ${i} from ${from} not made`)), 5_000).unref();
      sockets.push(s);
    });
  }
  return { closed: () => closed, end: () => sockets.forEach((s) => s.destroy()) };
}

const settle = (ms = 500): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One GET through `agent` from source address `from`. */
function getFrom(port: number, path: string, agent: Agent, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, localAddress: from }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function pskSocketFrom(port: number, creds: PskCreds, from: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      socket: connect({ port, host: '127.0.0.1', localAddress: from }),
      ciphers: 'PSK-AES256-GCM-SHA384',
      maxVersion: 'TLSv1.2',
      pskCallback: () => ({ identity: creds.identity, psk: Buffer.from(creds.key, 'hex') }),
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('per-source cap on connections not yet authenticated', () => {
  it('refuses the 33rd silent connection from one address at once, on both ports, and serves other addresses', async (t) => {
    // c1.small: a connection cap of 64 per listener, which one address could otherwise fill.
    const { aliceFiles, bobFiles, alice, bob } = await startPair(t, {
      bobExtra: 'memory_profile: c1.small\nadmin_port: 0\n',
    });
    const encFlood = await silent(bob.port, '127.0.0.1', FLOOD);
    const peerFlood = await silent(bob.peerPort, '127.0.0.3', FLOOD);
    t.after(() => (encFlood.end(), peerFlood.end()));
    await settle();
    // A router from another address is served on bob's encryptor port...
    const routerB = pskAgent(bobFiles.encryptor);
    t.after(() => routerB.destroy());
    assert.equal(await getFrom(bob.port, '/capabilities', routerB, '127.0.0.2'), 200);
    // ...and alice, from yet another, still delivers keys to bob's peer port.
    const routerA = pskAgent(aliceFiles.encryptor);
    t.after(() => routerA.destroy());
    const issued = await nodeGet(alice.port, '/key?remoteSystemID=bob', routerA);
    assert.equal(issued.status, 200, issued.body);

    assert.equal(encFlood.closed(), FLOOD - CAP, 'encryptor port: silent connections closed at once');
    assert.equal(peerFlood.closed(), FLOOD - CAP, 'peer port: silent connections closed at once');

    const lines = bob.logs.filter((l) => l.event === 'connections refused: per-source cap');
    assert.deepEqual(
      lines.map((l) => [l.listener, l.peer, l.max, l.refused]).sort(),
      [
        ['encryptor', '127.0.0.1', CAP, 1],
        ['peer', '127.0.0.3', CAP, 1],
      ],
      'one line per listener in the window, not one per socket',
    );
    const admin = (bob.logs.find((l) => l.event === 'started')!.admin as { port: number }).port;
    const metrics = withoutInstance(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
    for (const listener of ['encryptor', 'peer']) {
      assert.match(
        metrics,
        new RegExp(
          `skip_admission_refused_total\\{listener="${listener}",cap="per-source"\\} ${FLOOD - CAP}\\n`,
        ),
      );
      assert.match(
        metrics,
        new RegExp(`skip_admission_in_use\\{listener="${listener}",cap="per-source"\\} ${CAP}\\n`),
      );
      assert.match(
        metrics,
        new RegExp(`skip_admission_limit\\{listener="${listener}",cap="per-source"\\} ${CAP}\\n`),
      );
    }
    // Closed here, before the pair stops: a KP's close waits for its open connections.
    encFlood.end();
    peerFlood.end();
  });

  it('does not count connections that have authenticated, with TLS 1.2 or TLS 1.3', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), {
      name: 'alice',
      peers: [{ id: 'bob' }],
      extra: 'admin_port: 0\n',
    });
    const kp = await startKp(files.config, { env: files.env });
    t.after(() => kp.stop());
    const sockets: TLSSocket[] = [];
    t.after(() => sockets.forEach((s) => s.destroy()));
    for (let i = 0; i < CAP + 8; i++)
      sockets.push(await pskSocketFrom(kp.port, files.encryptor, '127.0.0.4'));
    // A TLS 1.3 connection (the engine's) kept alive after its answer.
    const tls13 = tls13Request({
      host: '127.0.0.1',
      port: kp.port,
      identity: files.encryptor.identity,
      psk: Buffer.from(files.encryptor.key, 'hex'),
      request: 'GET /capabilities HTTP/1.1\r\nHost: kp\r\n\r\n',
    });
    await settle();
    assert.ok(
      sockets.every((s) => !s.destroyed),
      `${sockets.filter((s) => s.destroyed).length} authenticated connections closed`,
    );
    const admin = (kp.logs.find((l) => l.event === 'started')!.admin as { port: number }).port;
    const metrics = withoutInstance(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
    assert.match(
      metrics,
      new RegExp(`skip_admission_in_use\\{listener="encryptor",cap="connections"\\} ${CAP + 9}\\n`),
    );
    assert.match(metrics, /skip_admission_in_use\{listener="encryptor",cap="per-source"\} 0\n/);
    assert.equal(kp.logs.filter((l) => l.event === 'connections refused: per-source cap').length, 0);
    sockets.forEach((s) => s.destroy());
    assert.equal(parseHttp((await tls13).response).status, 200);
  });
});
