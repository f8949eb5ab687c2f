// GET /key then GET /key/{keyId} across two in-process KPs over real TLS-PSK. The peer link here
// is an in-process KeyAgreement that stores into bob's keystore, so that the SKIP handlers are
// tested on their own; the ML-KEM exchange over mTLS has its own end-to-end test.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { FileKeyStore } from '../src/keystore/store.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import type { KeyStore } from '../src/keystore/types.js';
import { memoryLogger } from '../src/log.js';
import { PeerRefusedError, type KeyAgreement } from '../src/peer/agreement.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { ResolvedRemote } from '../src/config/remote-ids.js';
import type { SystemId } from '../src/ids/system-id.js';
import { startServer, type RunningServer } from '../src/server.js';
import { makePki } from './helpers/pki.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { nodeGet, pskAgent, type HttpAnswer } from './helpers/http-client.js';

/** Stores the key straight into the peer's keystore, as the peer listener will. */
class InProcessPeer implements KeyAgreement {
  refuse = false;
  constructor(
    private readonly from: SystemId,
    private readonly peerStore: KeyStore,
  ) {}
  async agree(remote: ResolvedRemote, keyId: KeyId, bytes: number): Promise<Buffer> {
    if (this.refuse) throw new PeerRefusedError(remote.id, 'test refusal');
    const key = randomBytes(bytes);
    await this.peerStore.put(keyId, key, this.from);
    return key;
  }
  close(): void {}
}

describe('key flow: /key on alice, /key/{keyId} on bob', () => {
  let dir: string;
  let aliceFiles: KpFiles;
  let bobFiles: KpFiles;
  let alice: RunningServer;
  let bob: RunningServer;
  let link: InProcessPeer;
  let bobStore: FileKeyStore;
  const log = memoryLogger();
  let getA: (path: string) => Promise<HttpAnswer>;
  let getB: (path: string) => Promise<HttpAnswer>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skip-flow-'));
    const pki = makePki(dir);
    aliceFiles = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    bobFiles = writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }, { id: 'carol' }] });
    bobStore = (
      await FileKeyStore.open({
        path: join(dir, 'bob-keystore.db'),
        master: masterKeyFromEnv({ ...bobFiles.env }),
        ttlMs: 60_000,
      })
    ).store;
    link = new InProcessPeer('alice' as SystemId, bobStore);
    alice = await startServer(loadConfig(aliceFiles.config), {
      log,
      agreement: link,
      masterKey: masterKeyFromEnv({ ...aliceFiles.env }),
    });
    bob = await startServer(loadConfig(bobFiles.config), { log, store: bobStore });
    const agentA = pskAgent(aliceFiles.encryptor);
    const agentB = pskAgent(bobFiles.encryptor);
    getA = (p) => nodeGet(alice.encryptor.port, p, agentA);
    getB = (p) => nodeGet(bob.encryptor.port, p, agentB);
  });
  after(async () => {
    await alice?.close();
    await bob?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands encryptor bob the same key, once', async () => {
    const a = await getA('/key?remoteSystemID=bob');
    assert.equal(a.status, 200);
    assert.equal(a.headers['cache-control'], 'no-store');
    const { keyId, key } = a.json as { keyId: string; key: string };
    assert.match(keyId, /^[0-9a-f]{32}$/);
    assert.match(key, /^[0-9a-f]{64}$/);

    const b = await getB(`/key/${keyId}?remoteSystemID=alice`);
    assert.equal(b.status, 200);
    assert.deepEqual(b.json, { keyId, key });
    const again = await getB(`/key/${keyId}?remoteSystemID=alice`);
    assert.equal(again.status, 400);
    assert.match((again.json as { detail: string }).detail, /not found/);
  });

  it('serves the requested size and accepts an upper-case keyId', async () => {
    const a = await getA('/key?remoteSystemID=bob&size=128');
    const { keyId, key } = a.json as { keyId: string; key: string };
    assert.equal(key.length, 32);
    const b = await getB(`/key/${keyId.toUpperCase()}?remoteSystemID=alice`);
    assert.equal((b.json as { key: string }).key, key);
  });

  it('refuses a take by the wrong remote system and keeps the key for the right one', async () => {
    const { keyId, key } = (await getA('/key?remoteSystemID=bob')).json as { keyId: string; key: string };
    const wrong = await getB(`/key/${keyId}?remoteSystemID=carol`);
    assert.equal(wrong.status, 400);
    assert.match((wrong.json as { detail: string }).detail, /not bound to remoteSystemID "carol"/);
    const right = await getB(`/key/${keyId}?remoteSystemID=alice`);
    assert.equal((right.json as { key: string }).key, key);
  });

  it('gives exactly one of 100 concurrent fetches of one keyId the key', async () => {
    const { keyId } = (await getA('/key?remoteSystemID=bob')).json as { keyId: string };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => getB(`/key/${keyId}?remoteSystemID=alice`)),
    );
    assert.equal(answers.filter((r) => r.status === 200).length, 1);
    assert.equal(answers.filter((r) => r.status === 400).length, 99);
  });

  it('answers 502 naming the peer when the peer refuses, and logs no key', async () => {
    link.refuse = true;
    try {
      const r = await getA('/key?remoteSystemID=bob');
      assert.equal(r.status, 502);
      assert.match((r.json as { detail: string }).detail, /"bob" refused/);
    } finally {
      link.refuse = false;
    }
    const { key, keyId } = (await getA('/key?remoteSystemID=bob')).json as { key: string; keyId: string };
    assert.ok(!JSON.stringify(log.lines).includes(key), 'a key appears in the log');
    // One line per request: the key event is in the request line, not a line of its own.
    const lines = log.lines.filter((l) => l.keyId === keyId);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.event, 'request');
    assert.equal(lines[0]!.key, 'issued');
    assert.equal(lines[0]!.remote, 'bob');
    assert.equal(lines[0]!.status, 200);
  });
});
