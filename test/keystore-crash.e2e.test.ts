// Crash test: a child process doing puts and takes under load is killed with SIGKILL at random
// moments, 50 times, on one keystore file. After each kill: every acknowledged put is takeable
// once (unless its take was issued), nothing taken is takeable again, no slot fails to decrypt.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { masterKeyFromEnv, newMasterKeyHex } from '../src/keystore/master-key.js';
import { FileKeyStore } from '../src/keystore/store.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { tempDir } from './helpers/tmp.js';

const CHILD = 'out/test/helpers/keystore-child.js';
const BOB = 'bob' as SystemId;

function runAndKill(path: string, hex: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, KS_PATH: path, KEYSTORE_MASTER_KEY: hex },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const first = !out.includes('ready\n');
      out += d.toString();
      if (first && out.includes('ready\n')) setTimeout(() => child.kill('SIGKILL'), 10 + Math.random() * 120);
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child ended by itself (${code}): ${err}`));
      resolve(out.split('\n').filter((l) => l.length > 0));
    });
  });
}

describe('keystore under SIGKILL', () => {
  it('loses no acknowledged put and hands nothing out twice across 50 kills', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const hex = newMasterKeyHex();
    let checkedPuts = 0;
    let checkedTakes = 0;
    for (let round = 0; round < 50; round++) {
      const lines = await runAndKill(path, hex);
      const puts = new Map<KeyId, string>();
      const issued = new Set<KeyId>();
      const taken = new Set<KeyId>();
      for (const l of lines) {
        const [kind, k, key] = l.split(' ') as [string, KeyId, string];
        if (kind === 'P') puts.set(k, key);
        else if (kind === 'I') issued.add(k);
        else if (kind === 'T') {
          assert.equal(key, puts.get(k), 'child got another key than it put');
          taken.add(k);
        }
      }
      const { store, report } = await FileKeyStore.open({
        path,
        master: masterKeyFromEnv({ KEYSTORE_MASTER_KEY: hex }),
        ttlMs: 3_600_000,
        sweepEveryMs: 0,
      });
      try {
        assert.deepEqual(report.corrupt, [], `round ${round}: a slot failed to decrypt`);
        for (const [k, key] of puts) {
          const r = await store.take(k, BOB);
          if (taken.has(k)) {
            assert.notEqual(r.kind, 'ok', `round ${round}: taken key ${k} came back`);
            checkedTakes++;
          } else if (!issued.has(k)) {
            assert.ok(
              r.kind === 'ok' && r.key.toString('hex') === key,
              `round ${round}: acknowledged put ${k} lost`,
            );
            checkedPuts++;
          }
          assert.notEqual((await store.take(k, BOB)).kind, 'ok', `round ${round}: ${k} handed out twice`);
        }
      } finally {
        await store.close();
      }
    }
    assert.ok(
      checkedPuts > 100 && checkedTakes > 20,
      `too little happened: ${checkedPuts} puts, ${checkedTakes} takes checked`,
    );
  });
});
