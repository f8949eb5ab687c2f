// Power loss (a router reboot loses the page cache, not just the process): the keystore runs
// concurrent puts and takes on a disk that, at a random I/O, keeps only what was synced plus a
// random part of the rest, torn at a 512-byte boundary. After reopening: every acknowledged put
// is takeable exactly once unless its take was acknowledged (then never) or still in flight
// (then either); a key that comes back is the key that was put; no slot fails to decrypt; a slot
// refused through the spent log (its zeros, which a take does not sync, were lost) is a taken
// key's, and some runs reach that state.
// With a failing disk too: for a stretch of I/Os the disk is full (ENOSPC), failing (EIO) or
// read-only (EROFS); a put or take it refuses is refused with StoreUnavailableError, and a key
// whose take was refused stays takeable (after a power loss too, unless the refusal was a failed
// fsync: EIO leaves it unknown whether the spent entry reached the platters).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { newMasterKeyHex, type MasterKey } from '../src/keystore/master-key.js';
import { FileKeyStore } from '../src/keystore/store.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { StoreUnavailableError } from '../src/keystore/types.js';
import { CrashDisk, type DiskFault } from './helpers/crash-disk.js';

const BOB = 'bob' as SystemId;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('keystore power loss', () => {
  it('keeps every acknowledged put and never resurrects an acknowledged take, over 250 cut points', async () => {
    const master: MasterKey = { kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') };
    let cuts = 0;
    let replayedRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 150 }),
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 8 }), takes: fc.nat(4) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer(),
        async (cutAfter, waves, seed) => {
          const disk = new CrashDisk();
          const { store } = await FileKeyStore.open({
            path: 'ks',
            master,
            ttlMs: 3_600_000,
            fs: disk,
            sweepEveryMs: 0,
            growSlots: 4,
          });
          disk.cutAt = disk.ios + cutAfter;
          const attempted = new Map<KeyId, Buffer>();
          const ackedPuts = new Set<KeyId>();
          const issuedTakes = new Set<KeyId>();
          const ackedTakes = new Set<KeyId>();
          let finished = false;
          const untilCut = new Promise<void>((resolve) => {
            const poll = (): void => {
              if (disk.isCut) resolve();
              else if (!finished) setImmediate(poll);
            };
            poll();
          });
          for (const w of waves) {
            if (disk.isCut) break;
            const batch: Promise<unknown>[] = [];
            for (let i = 0; i < w.size; i++) {
              const k = randomBytes(16).toString('hex') as KeyId;
              const key = randomBytes(32);
              attempted.set(k, key);
              batch.push(store.put(k, key, BOB).then(() => ackedPuts.add(k)));
            }
            const takeable = [...ackedPuts].filter((k) => !issuedTakes.has(k)).slice(0, w.takes);
            for (const k of takeable) {
              issuedTakes.add(k);
              batch.push(
                store.take(k, BOB).then((r) => {
                  if (r.kind === 'ok') ackedTakes.add(k);
                }),
              );
            }
            await Promise.race([Promise.all(batch), untilCut]);
          }
          finished = true;
          if (!disk.isCut) {
            disk.cutAt = Infinity; // the cut came after the last operation; close syncs the wipes
            return store.close();
          }
          cuts++;
          const after = disk.imageAfterCut(mulberry32(seed));
          const { store: reopened, report } = await FileKeyStore.open({
            path: 'ks',
            master,
            ttlMs: 3_600_000,
            fs: after,
            sweepEveryMs: 0,
          });
          assert.deepEqual(report.corrupt, [], 'a slot failed to decrypt');
          assert.ok(
            report.replayed.length <= issuedTakes.size,
            'a slot no take touched was refused as spent',
          );
          if (report.replayed.length > 0) replayedRuns++;
          for (const [k, key] of attempted) {
            const r = await reopened.take(k, BOB);
            if (r.kind === 'ok') assert.ok(r.key.equals(key), `keyId ${k} came back with other bytes`);
            if (ackedTakes.has(k)) assert.notEqual(r.kind, 'ok', `acknowledged take of ${k} came back`);
            else if (ackedPuts.has(k) && !issuedTakes.has(k))
              assert.equal(r.kind, 'ok', `acknowledged put of ${k} lost`);
            assert.notEqual((await reopened.take(k, BOB)).kind, 'ok', `${k} handed out twice`);
          }
          await reopened.close();
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(cuts >= 200, `only ${cuts} runs reached their cut point`);
    assert.ok(replayedRuns >= 5, `only ${replayedRuns} runs lost a taken slot's zeros`);
  });

  it('loses no acknowledged key to ENOSPC, EIO or EROFS, with or without a power loss after', async () => {
    const master: MasterKey = { kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') };
    let faulted = 0;
    let refusedTakes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          from: fc.integer({ min: 1, max: 120 }),
          length: fc.integer({ min: 1, max: 80 }),
          fault: fc.constantFrom<DiskFault | 'ENOSPC'>('ENOSPC', 'EIO', 'EROFS'),
          cutAfter: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
        }),
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 8 }), takes: fc.nat(4) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer(),
        async (f, waves, seed) => {
          const disk = new CrashDisk();
          const { store } = await FileKeyStore.open({
            path: 'ks',
            master,
            ttlMs: 3_600_000,
            fs: disk,
            sweepEveryMs: 0,
            growSlots: 4,
          });
          disk.schedule = { from: disk.ios + f.from, until: disk.ios + f.from + f.length, fault: f.fault };
          if (f.cutAfter !== undefined) disk.cutAt = disk.ios + f.cutAfter;
          const attempted = new Map<KeyId, Buffer>();
          const ackedPuts = new Set<KeyId>();
          const inFlight = new Set<KeyId>();
          const ackedTakes = new Set<KeyId>();
          /** Keys whose take failed on a failed sync: whether their spent entry survives is unknown. */
          const unsure = new Set<KeyId>();
          const wrong: string[] = [];
          const refusedOnly = (what: string) => (e: unknown) => {
            if (!(e instanceof StoreUnavailableError)) wrong.push(`${what}: ${String(e)}`);
          };
          let finished = false;
          const untilCut = new Promise<void>((resolve) => {
            const poll = (): void => {
              if (disk.isCut) resolve();
              else if (!finished) setImmediate(poll);
            };
            poll();
          });
          for (const w of waves) {
            if (disk.isCut) break;
            const batch: Promise<unknown>[] = [];
            for (let i = 0; i < w.size; i++) {
              const k = randomBytes(16).toString('hex') as KeyId;
              const key = randomBytes(32);
              attempted.set(k, key);
              batch.push(store.put(k, key, BOB).then(() => ackedPuts.add(k), refusedOnly('put')));
            }
            const takeable = [...ackedPuts]
              .filter((k) => !inFlight.has(k) && !ackedTakes.has(k))
              .slice(0, w.takes);
            for (const k of takeable) {
              inFlight.add(k);
              batch.push(
                store.take(k, BOB).then(
                  (r) => {
                    inFlight.delete(k);
                    if (r.kind === 'ok') ackedTakes.add(k);
                    else wrong.push(`take of a held key: ${r.kind}`);
                  },
                  (e: unknown) => {
                    inFlight.delete(k);
                    refusedTakes++;
                    refusedOnly('take')(e);
                    if (e instanceof StoreUnavailableError && e.code === 'EIO') unsure.add(k);
                  },
                ),
              );
            }
            await Promise.race([Promise.all(batch), untilCut]);
          }
          finished = true;
          if (disk.ios >= disk.schedule.from) faulted++;
          assert.deepEqual(wrong, []);
          const check = async (s: FileKeyStore, afterCut: boolean): Promise<void> => {
            for (const [k, key] of attempted) {
              const r = await s.take(k, BOB);
              if (r.kind === 'ok') assert.ok(r.key.equals(key), `keyId ${k} came back with other bytes`);
              if (ackedTakes.has(k)) assert.notEqual(r.kind, 'ok', `acknowledged take of ${k} came back`);
              else if (ackedPuts.has(k) && !inFlight.has(k) && !(afterCut && unsure.has(k)))
                assert.equal(r.kind, 'ok', `acknowledged put of ${k} lost`);
              assert.notEqual((await s.take(k, BOB)).kind, 'ok', `${k} handed out twice`);
            }
          };
          if (!disk.isCut) {
            disk.cutAt = Infinity;
            disk.schedule = undefined;
            disk.fault = undefined;
            disk.freePages = Infinity;
            await check(store, false);
            return store.close();
          }
          const after = disk.imageAfterCut(mulberry32(seed));
          const { store: reopened, report } = await FileKeyStore.open({
            path: 'ks',
            master,
            ttlMs: 3_600_000,
            fs: after,
            sweepEveryMs: 0,
          });
          assert.deepEqual(report.corrupt, [], 'a slot failed to decrypt');
          await check(reopened, true);
          await reopened.close();
        },
      ),
      { numRuns: 400 },
    );
    assert.ok(faulted >= 200, `only ${faulted} runs reached their fault`);
    assert.ok(refusedTakes >= 200, `only ${refusedTakes} takes were refused`);
  });
});
