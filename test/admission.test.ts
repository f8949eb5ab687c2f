// Admission control: on both listeners, a request past the in-flight cap is answered
// 503 with Retry-After and a JSON detail at once (never a reset, never a timeout), and served
// again once work drains; a connection past the connection cap is closed at once, and a new one
// is served when a slot frees. Real TLS on loopback; the work is held open by an agreement and a
// keystore that wait for the test to release them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { memoryLogger } from '../src/log.js';
import type { KeyStore, TakeResult } from '../src/keystore/types.js';
import type { KeyAgreement } from '../src/peer/agreement.js';
import { startServer } from '../src/server.js';
import { nodeGet, pskAgent } from './helpers/http-client.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { peerRequest } from './helpers/peer-client.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

/** A gate: everything that waits on it resolves when it is opened. */
function gate(): { wait: () => Promise<void>; open: () => void; waiting: () => number } {
  let release!: () => void;
  const opened = new Promise<void>((r) => (release = r));
  let waiting = 0;
  return {
    wait: async () => {
      waiting++;
      await opened;
    },
    open: () => release(),
    waiting: () => waiting,
  };
}

const until = async (cond: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('admission control', () => {
  it('answers 503 + Retry-After past the in-flight cap on both listeners, then serves again', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    const held = gate();
    const agreement: KeyAgreement = {
      agree: async (_r, _k, bytes) => (await held.wait(), randomBytes(bytes)),
      close: () => {},
    };
    const store: KeyStore = {
      kind: 'test',
      put: async () => held.wait(),
      take: (): Promise<TakeResult> => Promise.resolve({ kind: 'not-found' }),
      check: () => Promise.resolve(),
      counts: () => ({ expired: 0, used: 0, free: 0 }),
      close: () => Promise.resolve(),
    };
    const kp = await startServer(loadConfig(files.config), {
      log: memoryLogger(),
      agreement,
      store,
      limits: { maxInFlight: 2 },
    });
    t.after(() => kp.close());
    const agent = pskAgent(files.encryptor);
    t.after(() => agent.destroy());

    // Encryptor port: two /key requests hold both places; the third is refused at once.
    const slow = [1, 2].map(() => nodeGet(kp.encryptor.port, '/key?remoteSystemID=bob', agent));
    await until(() => held.waiting() === 2);
    const t0 = Date.now();
    const busy = await nodeGet(kp.encryptor.port, '/capabilities', agent);
    assert.ok(Date.now() - t0 < 1_000, 'the refusal was not immediate');
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.match((busy.json as { detail: string }).detail, /busy: 2 requests in progress; retry in 1 s/);

    // Peer port: its own cap, also full while two exchanges wait on the keystore.
    const leaf = { cert: join(dir, 'alice.pem'), key: join(dir, 'alice.key') };
    const bobLeaf = pki.leaf('bob');
    const body = (): string =>
      JSON.stringify({
        system_id: 'bob',
        key_id: randomBytes(16).toString('hex'),
        length: 256,
        ciphertext: '00'.repeat(1568),
      });
    const peerSlow = [1, 2].map(() => peerRequest(kp.peer.port, { ca: pki.ca, leaf: bobLeaf, body: body() }));
    await until(() => held.waiting() === 4);
    const peerBusy = await peerRequest(kp.peer.port, { ca: pki.ca, leaf, body: body() });
    assert.equal(peerBusy.status, 503);
    assert.equal(peerBusy.headers['retry-after'], '1');

    held.open();
    assert.deepEqual(
      (await Promise.all(slow)).map((r) => r.status),
      [200, 200],
    );
    assert.deepEqual(
      (await Promise.all(peerSlow)).map((r) => r.status),
      [200, 200],
    );
    assert.equal((await nodeGet(kp.encryptor.port, '/capabilities', agent)).status, 200);
  });

  it('closes a connection past the connection cap at once, and serves a new one when a slot frees', async (t) => {
    const dir = tempDir(t);
    const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
    const kp = await startServer(loadConfig(files.config), {
      log: memoryLogger(),
      agreement: { agree: () => Promise.reject(new Error('unused')), close: () => {} },
      store: {
        kind: 'test',
        put: () => Promise.resolve(),
        take: () => Promise.resolve({ kind: 'not-found' }),
        check: () => Promise.resolve(),
        counts: () => ({ expired: 0, used: 0, free: 0 }),
        close: () => Promise.resolve(),
      },
      limits: { maxConnections: 3 },
    });
    t.after(() => kp.close());
    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port: kp.encryptor.port,
          ciphers: 'PSK-AES256-GCM-SHA384',
          maxVersion: 'TLSv1.2',
          pskCallback: () => ({
            identity: files.encryptor.identity,
            psk: Buffer.from(files.encryptor.key, 'hex'),
          }),
          checkServerIdentity: () => undefined,
        });
        s.once('secureConnect', () => resolve(s));
        s.once('error', reject);
        s.once('close', () => reject(new Error('closed before the handshake')));
      });
    const held = await Promise.all([open(), open(), open()]);
    const t0 = Date.now();
    await assert.rejects(open(), /closed before the handshake|ECONNRESET|socket disconnected/);
    assert.ok(Date.now() - t0 < 2_000, 'the refusal was not fast');
    held[0]?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await open();
    again.destroy();
    for (const s of held) s.destroy();
  });
});
