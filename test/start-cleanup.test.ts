// A start that fails part-way leaves nothing behind: the PSK keys and the master key are wiped,
// no listener is left bound and the keystore is unlocked, whichever step failed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig, type Config } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { ListenError } from '../src/http/listen.js';
import { masterKeyFromEnv, newMasterKeyHex, type MasterKey } from '../src/keystore/master-key.js';
import { FileKeyStore } from '../src/keystore/store.js';
import { memoryLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { PskTable } from '../src/tls/psk.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { freePort, tempDir } from './helpers/tmp.js';

const zeroed = (b: Buffer): boolean => b.every((x) => x === 0);
const masterBytes = (m: MasterKey): Buffer => (m.kind === 'raw' ? m.key : m.passphrase);

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const closeNet = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A KP's files on fixed free ports, and a start of it whose PSK key buffer the test can see. */
async function setUp(t: TestContext): Promise<{ files: KpFiles; config: Config; ports: number[] }> {
  const dir = tempDir(t);
  const ports = [await freePort(), await freePort()];
  const files = writeKpFiles(dir, makePki(dir), {
    name: 'alice',
    peers: [{ id: 'bob' }],
    port: ports[0]!,
    mtlsPort: ports[1]!,
  });
  return { files, config: loadConfig(files.config), ports };
}

async function failedStart(
  files: KpFiles,
  config: Config,
  masterKey: MasterKey,
): Promise<{ error: unknown; pskKey: Buffer }> {
  const psk = new PskTable(files.pskFile);
  const pskKey = psk.lookup(files.encryptor.identity)!;
  assert.ok(pskKey && !zeroed(pskKey));
  try {
    await startServer(config, { log: memoryLogger(), masterKey, psk });
  } catch (error) {
    return { error, pskKey };
  }
  assert.fail('the start did not fail');
}

/** Nothing of the failed start is left: both ports can be bound and the keystore opened. */
async function assertNothingLeft(files: KpFiles, config: Config, ports: number[]): Promise<void> {
  for (const port of ports) await closeNet(await listenOn(port));
  const { store } = await FileKeyStore.open({
    path: config.keystore_path!,
    master: masterKeyFromEnv({ ...files.env }),
    ttlMs: 60_000,
    sweepEveryMs: 0,
  });
  await store.close();
}

describe('a failed start', () => {
  it('with a broken ML-KEM private key wipes the PSK keys and the master key', async (t) => {
    const { files, config, ports } = await setUp(t);
    writeFileSync(config.kem_priv_key_path, 'not a key\n');
    const master = masterKeyFromEnv({ ...files.env });
    const { error, pskKey } = await failedStart(files, config, master);
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /alice-kem_priv\.pem/);
    assert.ok(zeroed(pskKey), 'the PSK table was left holding its keys');
    assert.ok(zeroed(masterBytes(master)), 'the master key was left in memory');
    await assertNothingLeft(files, config, ports);
  });

  it('with a keystore that will not open (wrong master key) wipes the PSK keys and unlocks it', async (t) => {
    const { files, config, ports } = await setUp(t);
    await assertNothingLeft(files, config, ports); // creates the keystore with the right key
    const wrong: MasterKey = { kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') };
    const { error, pskKey } = await failedStart(files, config, wrong);
    assert.match((error as Error).message, /wrong master key/);
    assert.ok(zeroed(pskKey), 'the PSK table was left holding its keys');
    assert.ok(zeroed(masterBytes(wrong)), 'the master key was left in memory');
    await assertNothingLeft(files, config, ports);
  });

  it('on a port in use closes the listener already bound, the keystore and the PSK table', async (t) => {
    const { files, config, ports } = await setUp(t);
    // The peer listener binds first, then the encryptor's port, which is taken.
    const squatter = await listenOn(ports[0]!);
    t.after(() => closeNet(squatter));
    const { error, pskKey } = await failedStart(files, config, masterKeyFromEnv({ ...files.env }));
    assert.ok(error instanceof ListenError);
    assert.match(error.message, /in use/);
    assert.ok(zeroed(pskKey), 'the PSK table was left holding its keys');
    await closeNet(squatter);
    await assertNothingLeft(files, config, ports);
  });
});
