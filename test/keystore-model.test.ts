// Property test: the keystore against a plain Map model, over random sequences of put, take,
// clock advance, sweep and restart (between any two operations). A keyId handed out cannot be
// put again for the key TTL (the spent log). The disk can fill up (ENOSPC), fail (EIO) or turn
// read-only (EROFS) between operations: then a put either succeeds or is refused with nothing
// held, a take of a held key is refused with the key still held (EIO, EROFS) or succeeds
// (ENOSPC: its room was reserved at put), and nothing acknowledged is lost. A restart comes
// with EIO and EROFS repaired (the operator's fix) and a full disk still full.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { newMasterKeyHex, type MasterKey } from '../src/keystore/master-key.js';
import { FileKeyStore } from '../src/keystore/store.js';
import { DuplicateKeyIdError, StoreUnavailableError } from '../src/keystore/types.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { CrashDisk } from './helpers/crash-disk.js';

const IDS = Array.from(
  { length: 6 },
  (_, i) => `${'0'.repeat(30)}${i.toString(16).padStart(2, '0')}` as KeyId,
);
const REMOTES = ['bob', 'carol'] as SystemId[];
const TTL = 1_000;

type Op =
  | { t: 'put'; k: number; r: number }
  | { t: 'take'; k: number; r: number }
  | { t: 'advance'; ms: number }
  | { t: 'sweep' }
  | { t: 'restart' }
  | { t: 'fault'; code: Fault }
  | { t: 'heal' };

type Fault = 'ENOSPC' | 'EIO' | 'EROFS';
const unavailable = (e: unknown) => e instanceof StoreUnavailableError;

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.nat(5), r: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('take' as const), k: fc.nat(5), r: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.nat(1_500) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'sweep' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'restart' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('fault' as const),
      code: fc.constantFrom<Fault>('ENOSPC', 'EIO', 'EROFS'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'heal' as const }) },
);

describe('keystore against a model', () => {
  it('agrees with a Map over random operation sequences, with restarts anywhere', async () => {
    const master: MasterKey = { kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const disk = new CrashDisk();
        let now = 1_000_000;
        const openStore = async () =>
          (
            await FileKeyStore.open({
              path: 'ks',
              master,
              ttlMs: TTL,
              fs: disk,
              now: () => now,
              sweepEveryMs: 0,
              growSlots: 4,
            })
          ).store;
        let store = await openStore();
        let fault: Fault | undefined;
        const setFault = (f: Fault | undefined): void => {
          fault = f;
          disk.fault = f === 'EIO' || f === 'EROFS' ? f : undefined;
          disk.freePages = f === 'ENOSPC' ? 0 : Infinity;
        };
        const failing = () => fault === 'EIO' || fault === 'EROFS';
        const model = new Map<KeyId, { key: Buffer; remote: SystemId; expires: number }>();
        /** keyIds handed out, until when the spent log refuses them (findings 3 and 7). */
        const delivered = new Map<KeyId, number>();
        const dropExpired = () => {
          for (const [k, v] of model) if (v.expires <= now) model.delete(k);
        };
        for (const o of ops) {
          if (o.t === 'put') {
            const key = randomBytes(32);
            const k = IDS[o.k]!;
            const remote = REMOTES[o.r]!;
            if (model.has(k) || (delivered.get(k) ?? 0) > now) {
              await assert.rejects(store.put(k, key, remote), DuplicateKeyIdError);
            } else if (failing()) {
              await assert.rejects(store.put(k, key, remote), unavailable);
            } else {
              const stored = await store.put(k, key, remote).then(
                () => true,
                (e: unknown) => {
                  assert.ok(fault === 'ENOSPC' && unavailable(e), `put failed: ${String(e)}`);
                  return false;
                },
              );
              if (stored) model.set(k, { key, remote, expires: now + TTL });
            }
          } else if (o.t === 'take') {
            const k = IDS[o.k]!;
            const m = model.get(k);
            if (m && m.remote === REMOTES[o.r] && m.expires > now && failing()) {
              await assert.rejects(store.take(k, REMOTES[o.r]!), unavailable);
              continue; // still held: the model keeps it
            }
            const got = await store.take(k, REMOTES[o.r]!);
            if (!m) assert.deepEqual(got, { kind: 'not-found' });
            else if (m.remote !== REMOTES[o.r]) assert.deepEqual(got, { kind: 'wrong-remote' });
            else {
              model.delete(k);
              if (m.expires <= now) assert.deepEqual(got, { kind: 'not-found' });
              else {
                assert.ok(got.kind === 'ok' && got.key.equals(m.key), 'wrong key or none');
                delivered.set(k, now + TTL);
              }
            }
          } else if (o.t === 'advance') {
            now += o.ms;
          } else if (o.t === 'sweep') {
            const expired = [...model.values()].filter((v) => v.expires <= now).length;
            if (expired > 0 && failing()) await assert.rejects(store.sweep());
            else assert.equal(await store.sweep(), expired);
            dropExpired();
          } else if (o.t === 'fault') {
            setFault(o.code);
          } else if (o.t === 'heal') {
            setFault(undefined);
          } else {
            await store.close();
            if (failing()) setFault(undefined);
            for (const f of ['ks', 'ks.spent']) disk.synced(f, disk.bytes(f));
            store = await openStore();
            dropExpired();
          }
          assert.equal(store.stats().used, model.size);
        }
        await store.close();
      }),
      { numRuns: 300 },
    );
  });
});
