// The encrypted flat-file keystore on a real file: one-time take, concurrency, expiry, wiping,
// corrupt slots, the master key and the header's refusal of a wrong one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, linkSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../src/errors.js';
import { masterKeyFromEnv, newMasterKeyHex, type MasterKey } from '../src/keystore/master-key.js';
import { HEADER_BYTES, SLOT_BYTES, newHeader } from '../src/keystore/slots.js';
import { FileKeyStore, type FileKeyStoreOptions } from '../src/keystore/store.js';
import { DuplicateKeyIdError, StoreFullError, StoreUnavailableError } from '../src/keystore/types.js';
import type { KeyId } from '../src/ids/key-id.js';
import type { SystemId } from '../src/ids/system-id.js';
import { CrashDisk, type DiskFault } from './helpers/crash-disk.js';
import { tempDir } from './helpers/tmp.js';

const raw = (): MasterKey => ({ kind: 'raw', key: Buffer.from(newMasterKeyHex(), 'hex') });
const id = (): KeyId => randomBytes(16).toString('hex') as KeyId;
const BOB = 'bob' as SystemId;
const CAROL = 'carol' as SystemId;

async function open(o: Partial<FileKeyStoreOptions> & { path: string; master: MasterKey }) {
  return FileKeyStore.open({ ttlMs: 3_600_000, sweepEveryMs: 0, ...o });
}

describe('keystore', () => {
  it('hands a key out once, to the right remote system only, and refuses a held keyId', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store, report } = await open({ path, master: raw() });
    t.after(() => store.close());
    assert.equal(report.created, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const k = id();
    const key = randomBytes(32);
    await store.put(k, key, BOB);
    await assert.rejects(store.put(k, randomBytes(32), BOB), DuplicateKeyIdError);
    assert.deepEqual(await store.take(k, CAROL), { kind: 'wrong-remote' });
    const got = await store.take(k, BOB);
    assert.equal(got.kind, 'ok');
    assert.ok(got.kind === 'ok' && got.key.equals(key));
    assert.deepEqual(await store.take(k, BOB), { kind: 'not-found' });
  });

  it('gives exactly one of 100 concurrent takes the key', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store } = await open({ path, master: raw() });
    t.after(() => store.close());
    const k = id();
    await store.put(k, randomBytes(32), BOB);
    const results = await Promise.all(Array.from({ length: 100 }, () => store.take(k, BOB)));
    assert.equal(results.filter((r) => r.kind === 'ok').length, 1);
  });

  it('shares one fdatasync among concurrent puts (group commit)', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store } = await open({ path, master: raw() });
    t.after(() => store.close());
    const before = store.syncCount;
    await Promise.all(Array.from({ length: 64 }, () => store.put(id(), randomBytes(32), BOB)));
    const syncs = store.syncCount - before;
    assert.ok(syncs >= 1 && syncs <= 8, `64 concurrent puts took ${syncs} syncs`);
  });

  it('leaves no trace of a taken key in the file', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store } = await open({ path, master: raw() });
    t.after(() => store.close());
    const k = id();
    const key = randomBytes(32);
    await store.put(k, key, BOB);
    const sealed = readFileSync(path).subarray(HEADER_BYTES, HEADER_BYTES + SLOT_BYTES);
    assert.ok(!readFileSync(path).includes(key), 'plaintext key on disk');
    await store.take(k, BOB);
    await store.settled(); // the slot is wiped after the key is handed out
    const after = readFileSync(path);
    assert.ok(!after.includes(key), 'key bytes in the file after take');
    assert.ok(!after.includes(sealed.subarray(0, 64)), 'the sealed slot is still in the file');
    assert.ok(after.subarray(HEADER_BYTES, HEADER_BYTES + SLOT_BYTES).every((b) => b === 0));
  });

  it('expires unclaimed keys, by sweep and at open, and wipes them', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    let now = 1_000_000;
    const { store } = await open({ path, master, ttlMs: 10_000, now: () => now });
    const [a, b, c] = [id(), id(), id()];
    for (const k of [a, b]) await store.put(k, randomBytes(32), BOB);
    now += 5_000;
    await store.put(c, randomBytes(32), BOB);
    assert.equal(await store.sweep(), 0);
    now += 6_000;
    assert.deepEqual(await store.take(a, BOB), { kind: 'not-found' });
    assert.equal(await store.sweep(), 1);
    assert.equal(store.stats().used, 1);
    await store.close();
    now += 10_000;
    const again = await open({ path, master, ttlMs: 10_000, now: () => now });
    t.after(() => again.store.close());
    assert.equal(again.report.expiredWiped, 1);
    assert.equal(again.report.used, 0);
    assert.ok(
      readFileSync(path)
        .subarray(HEADER_BYTES)
        .every((x) => x === 0),
    );
  });

  it('records a keyId taken again after its spent entry passed, so a copied-back file cannot serve it', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    let now = 1_000_000;
    const ks = await open({ path, master, ttlMs: 10_000, now: () => now });
    const k = id();
    await ks.store.put(k, randomBytes(32), BOB);
    assert.equal((await ks.store.take(k, BOB)).kind, 'ok');
    await ks.store.settled();
    now += 10_001; // the spent entry has passed, and no sweep has run
    await ks.store.put(k, randomBytes(32), BOB);
    const copy = readFileSync(path); // a backup holding the second key
    assert.equal((await ks.store.take(k, BOB)).kind, 'ok');
    await ks.store.settled();
    await ks.store.close();
    writeFileSync(path, copy);
    const again = await open({ path, master, ttlMs: 10_000, now: () => now });
    t.after(() => again.store.close());
    assert.deepEqual(await again.store.take(k, BOB), { kind: 'not-found' });
  });

  it('reuses freed slots and grows the file in chunks', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store } = await open({ path, master: raw(), growSlots: 8 });
    t.after(() => store.close());
    const ids = Array.from({ length: 10 }, id);
    for (const k of ids) await store.put(k, randomBytes(32), BOB);
    assert.equal(statSync(path).size, HEADER_BYTES + 16 * SLOT_BYTES);
    for (const k of ids) await store.take(k, BOB);
    await store.settled();
    for (const k of Array.from({ length: 16 }, id)) await store.put(k, randomBytes(32), BOB);
    assert.equal(statSync(path).size, HEADER_BYTES + 16 * SLOT_BYTES, 'freed slots were not reused');
    assert.deepEqual(store.stats().slots, 16);
  });

  it('counts the slots of a keystore opened read-only, as the serving KP does', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    const { store } = await open({ path, master });
    for (let i = 0; i < 3; i++) await store.put(id(), randomBytes(32), BOB);
    const served = store.stats();
    await store.close();
    assert.deepEqual([served.slots, served.used, served.free], [1024, 3, 1021]);
    const ro = await open({ path, master, readOnly: true });
    t.after(() => ro.store.close());
    const st = ro.store.stats();
    assert.deepEqual([st.slots, st.used, st.free], [1024, 3, 1021]);
  });

  it('reports a corrupt slot by index, wipes it, and serves every other key', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    const { store } = await open({ path, master });
    const keys = new Map<KeyId, Buffer>();
    for (let i = 0; i < 5; i++) {
      const k = id();
      keys.set(k, randomBytes(32));
      await store.put(k, keys.get(k)!, BOB);
    }
    await store.close();
    const bytes = readFileSync(path);
    bytes[HEADER_BYTES + 2 * SLOT_BYTES + 100]! ^= 0x01; // slot 2, inside the ciphertext
    writeFileSync(path, bytes);
    const again = await open({ path, master });
    t.after(() => again.store.close());
    assert.deepEqual(again.report.corrupt, [2]);
    assert.equal(again.report.used, 4);
    assert.ok(
      readFileSync(path)
        .subarray(HEADER_BYTES + 2 * SLOT_BYTES, HEADER_BYTES + 3 * SLOT_BYTES)
        .every((b) => b === 0),
    );
    let served = 0;
    for (const [k, v] of keys) {
      const r = await again.store.take(k, BOB);
      if (r.kind === 'ok') {
        assert.ok(r.key.equals(v));
        served++;
      }
    }
    assert.equal(served, 4);
  });

  it('refuses a wrong master key, a passphrase for a hex-key store, and a foreign file, changing nothing', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'keystore.db');
    const { store } = await open({ path, master: raw() });
    await store.put(id(), randomBytes(32), BOB);
    await store.close();
    const before = readFileSync(path);
    const problem = async (o: { path: string; master: MasterKey }): Promise<string> => {
      try {
        await open(o);
      } catch (e) {
        if (e instanceof ConfigError) return e.message;
        throw e;
      }
      return 'opened';
    };
    assert.match(
      await problem({ path, master: raw() }),
      /keystore\.db: wrong master key for this keystore, or its header is damaged; nothing was changed/,
    );
    assert.match(
      await problem({
        path,
        master: { kind: 'passphrase', passphrase: Buffer.from('a long enough passphrase') },
      }),
      /made with a 64-hex-digit master key/,
    );
    assert.ok(readFileSync(path).equals(before), 'a refused open changed the file');
    const json = join(dir, 'reference.db');
    writeFileSync(json, '{"keys": {}}');
    assert.match(
      await problem({ path: json, master: raw() }),
      /not a skip-server keystore \(it looks like JSON/,
    );
  });

  it("recognises the reference Key Provider's keystore (a Fernet token) and says what to do", async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'keystore.db');
    // A Fernet token (version byte 0x80, then time, IV, ciphertext, HMAC), base64url: "gAAAAA...".
    const token = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), randomBytes(16 + 48 + 32)]);
    token.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)), 1);
    writeFileSync(path, token.toString('base64url'));
    assert.ok(readFileSync(path, 'latin1').startsWith('gAAAAA'));
    const before = readFileSync(path);
    for (const readOnly of [false, true]) {
      await assert.rejects(open({ path, master: raw(), readOnly }), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          /keystore\.db: this is the reference Key Provider's keystore \(a Fernet token\), which skip-server cannot read; the keys waiting in it cannot be moved .*set keystore_path to a new file/,
        );
        return true;
      });
    }
    assert.ok(readFileSync(path).equals(before), 'the reference keystore was changed');
  });

  it('refuses a second process (or opener) of the same keystore, and frees it on close', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    const { store } = await open({ path, master });
    await assert.rejects(open({ path, master }), /in use by another skip-server process/);
    await store.close();
    const again = await open({ path, master });
    await again.store.close();
  });

  it('leaves the keystore unlocked after a refused open (wrong master key, missing spent log)', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master = raw();
    const copy = (): MasterKey => ({ kind: 'raw', key: Buffer.from((master as { key: Buffer }).key) });
    await (await open({ path, master: copy() })).store.close();
    await assert.rejects(open({ path, master: raw() }), /wrong master key/);
    await (await open({ path, master: copy() })).store.close();
    const spent = readFileSync(`${path}.spent`);
    rmSync(`${path}.spent`);
    await assert.rejects(open({ path, master: copy() }), /the spent log is missing/);
    writeFileSync(`${path}.spent`, spent);
    await (await open({ path, master: copy() })).store.close();
  });

  it('refuses a second opener through a symlink or a hard link to the same file', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'keystore.db');
    const master = raw();
    const { store } = await open({ path, master });
    t.after(() => store.close());
    symlinkSync(path, join(dir, 'symlink.db'));
    linkSync(path, join(dir, 'hardlink.db'));
    for (const alias of ['symlink.db', 'hardlink.db']) {
      await assert.rejects(open({ path: join(dir, alias), master }), /in use by another skip-server process/);
    }
  });

  it('upgrades a version 1 keystore: its keys stay, a spent log is made, the header becomes 2', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'keystore.db');
    const master = raw();
    writeFileSync(path, newHeader(master, 1).header, { mode: 0o600 });
    const first = await open({ path, master });
    assert.equal(first.report.upgraded, true);
    assert.equal(readFileSync(path).readUInt16BE(8), 2);
    const k = id();
    await first.store.put(k, randomBytes(32), BOB);
    await first.store.close();
    const second = await open({ path, master });
    t.after(() => second.store.close());
    assert.equal(second.report.upgraded, false);
    assert.equal((await second.store.take(k, BOB)).kind, 'ok');
  });

  it("refuses a missing spent log, or another keystore's, naming the file; replaces a stale one at creation", async (t) => {
    const dir = tempDir(t);
    const master = raw();
    const [a, b] = [join(dir, 'a.db'), join(dir, 'b.db')];
    for (const p of [a, b]) await (await open({ path: p, master })).store.close();
    copyFileSync(`${b}.spent`, `${a}.spent`);
    await assert.rejects(
      open({ path: a, master }),
      /a\.db\.spent: this spent log belongs to another keystore/,
    );
    rmSync(`${a}.spent`);
    await assert.rejects(open({ path: a, master }), /a\.db\.spent: the spent log is missing/);
    // A log without its keystore (a crash between the two creations) is replaced.
    rmSync(a);
    copyFileSync(`${b}.spent`, `${a}.spent`);
    const again = await open({ path: a, master });
    assert.equal(again.report.created, true);
    await again.store.close();
    await (await open({ path: a, master })).store.close();
  });

  it('refuses keys past max_held_keys_per_remote and max_held_keys, and takes them again after a take', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const { store } = await open({ path, master: raw(), maxHeldPerRemote: 2, maxHeld: 3 });
    t.after(() => store.close());
    const [a, b, c] = [id(), id(), id()];
    await store.put(a, randomBytes(32), BOB);
    await store.put(b, randomBytes(32), BOB);
    await assert.rejects(
      store.put(id(), randomBytes(32), BOB),
      (e: unknown) => e instanceof StoreFullError && e.scope === 'remote',
    );
    await store.put(c, randomBytes(32), CAROL);
    await assert.rejects(
      store.put(id(), randomBytes(32), CAROL),
      (e: unknown) => e instanceof StoreFullError && e.scope === 'all',
    );
    assert.equal((await store.take(a, BOB)).kind, 'ok');
    await store.put(id(), randomBytes(32), BOB);
  });

  it('opens with a passphrase through scrypt', async (t) => {
    const path = join(tempDir(t), 'keystore.db');
    const master: MasterKey = { kind: 'passphrase', passphrase: Buffer.from('correct horse battery staple') };
    const { store } = await open({ path, master });
    const k = id();
    await store.put(k, randomBytes(16), BOB);
    await store.close();
    const again = await open({
      path,
      master: { kind: 'passphrase', passphrase: Buffer.from('correct horse battery staple') },
    });
    t.after(() => again.store.close());
    assert.equal((await again.store.take(k, BOB)).kind, 'ok');
  });
});

const refused = (code: string, during: 'put' | 'take') => (e: unknown) =>
  e instanceof StoreUnavailableError && e.code === code && e.during === during;

describe('keystore on a full, failing or read-only disk', () => {
  const onDisk = (disk: CrashDisk) => open({ path: 'ks', master: raw(), fs: disk });

  for (const fault of ['EROFS', 'EIO'] as DiskFault[]) {
    it(`keeps a key whose take the disk refuses (${fault}) takeable, and refuses puts meanwhile`, async () => {
      const disk = new CrashDisk();
      const { store } = await onDisk(disk);
      const [k, other] = [id(), id()];
      const key = randomBytes(32);
      await store.put(k, key, BOB);
      disk.fault = fault;
      await assert.rejects(store.take(k, BOB), refused(fault, 'take'));
      await assert.rejects(store.take(k, BOB), refused(fault, 'take'), 'the key left after a failed take');
      await assert.rejects(store.put(other, randomBytes(32), BOB), refused(fault, 'put'));
      assert.equal(store.stats().used, 1);
      disk.fault = undefined;
      const got = await store.take(k, BOB);
      assert.ok(got.kind === 'ok' && got.key.equals(key), 'the key was lost to a failed take');
      assert.deepEqual(await store.take(k, BOB), { kind: 'not-found' });
      await store.put(other, randomBytes(32), BOB);
      await store.close();
    });
  }

  it('hands out every key it acknowledged on a full disk (ENOSPC), and refuses keys it has no room for', async () => {
    const disk = new CrashDisk();
    const { store } = await onDisk(disk);
    const first = id();
    await store.put(first, randomBytes(32), BOB);
    assert.equal((await store.take(first, BOB)).kind, 'ok');
    await store.settled();
    disk.freePages = 0;
    // More takes than one page of the spent log holds: each must find its entry's room ready.
    for (let i = 0; i < 100; i++) {
      const k = id();
      const key = randomBytes(32);
      await store.put(k, key, BOB);
      const got = await store.take(k, BOB);
      assert.ok(got.kind === 'ok' && got.key.equals(key), `take ${i} on a full disk failed`);
      await store.settled();
    }
    // Held keys need slots: the slots' page fills, then puts are refused and nothing is lost.
    const held = new Map<KeyId, Buffer>();
    for (;;) {
      const k = id();
      const key = randomBytes(32);
      try {
        await store.put(k, key, BOB);
      } catch (e) {
        assert.ok(refused('ENOSPC', 'put')(e), String(e));
        break;
      }
      held.set(k, key);
      assert.ok(held.size < 1000, 'a full disk never refused a put');
    }
    assert.ok(held.size > 0);
    for (const [k, key] of held) {
      const got = await store.take(k, BOB);
      assert.ok(got.kind === 'ok' && got.key.equals(key), 'an acknowledged key was lost');
    }
    await store.close();
  });

  it('refuses a put when the spent log has no room for its take, and holds nothing', async () => {
    const disk = new CrashDisk();
    disk.freePages = 2; // the keystore header and the spent log's first page
    const { store } = await onDisk(disk);
    const k = id();
    await assert.rejects(store.put(k, randomBytes(32), BOB), refused('ENOSPC', 'put'));
    assert.equal(store.stats().used, 0);
    assert.deepEqual(store.heldPerRemote(), new Map());
    disk.freePages = Infinity;
    await store.put(k, randomBytes(32), BOB);
    assert.equal((await store.take(k, BOB)).kind, 'ok');
    await store.close();
  });
});

describe('keystore fdatasync per take', () => {
  const slotBytes = (b: Buffer, slot: number): Buffer =>
    b.subarray(HEADER_BYTES + slot * SLOT_BYTES, HEADER_BYTES + (slot + 1) * SLOT_BYTES);
  const zero = (b: Buffer): boolean => b.every((x) => x === 0);

  it('costs a take one fdatasync, and reuses its slot only once a later sync covers the zeros', async () => {
    const disk = new CrashDisk();
    const { store } = await open({ path: 'ks', master: raw(), fs: disk, growSlots: 4 });
    const ids = Array.from({ length: 4 }, id);
    for (const k of ids) await store.put(k, randomBytes(32), BOB);
    for (const [slot, k] of ids.entries()) {
      const before = disk.syncs;
      assert.equal((await store.take(k, BOB)).kind, 'ok');
      await store.settled();
      assert.equal(disk.syncs - before, 1, `take ${slot} took ${disk.syncs - before} fdatasyncs`);
      assert.ok(zero(slotBytes(disk.bytes('ks'), slot)), 'the slot was not overwritten with zeros');
      assert.ok(!zero(slotBytes(disk.onPlatters('ks'), slot)), 'the zeros had a sync of their own');
    }
    // Every slot waits for a sync: the next put grows the file, and its sync frees all four.
    await store.put(id(), randomBytes(32), BOB);
    assert.equal(store.stats().slots, 8, 'a slot was reused before its zeros were synced');
    for (let slot = 0; slot < 4; slot++) assert.ok(zero(slotBytes(disk.onPlatters('ks'), slot)));
    for (let i = 0; i < 4; i++) await store.put(id(), randomBytes(32), BOB);
    assert.equal(store.stats().slots, 8, 'the synced slots were not reused');
    await store.close();
  });

  it('syncs the zeros of a take on its own when no put comes, and at close', async () => {
    const disk = new CrashDisk();
    const { store } = await open({ path: 'ks', master: raw(), fs: disk, wipeSyncMs: 20 });
    const [k, late] = [id(), id()];
    for (const x of [k, late]) await store.put(x, randomBytes(32), BOB);
    assert.equal((await store.take(k, BOB)).kind, 'ok');
    await store.settled();
    for (let i = 0; i < 500 && !zero(slotBytes(disk.onPlatters('ks'), 0)); i++) await sleep(10);
    assert.ok(zero(slotBytes(disk.onPlatters('ks'), 0)), 'the zeros were never synced');
    assert.equal((await store.take(late, BOB)).kind, 'ok');
    await store.close();
    assert.ok(zero(disk.onPlatters('ks').subarray(HEADER_BYTES)), 'close left zeros unsynced');
  });

  it('refuses, after a power loss, a taken slot whose zeros never reached the platters', async () => {
    const disk = new CrashDisk();
    const master = raw();
    const { store } = await open({ path: 'ks', master, fs: disk });
    const k = id();
    await store.put(k, randomBytes(32), BOB);
    assert.equal((await store.take(k, BOB)).kind, 'ok');
    await store.settled();
    // A power loss that keeps only what was synced: the slot's record and the spent entry.
    const after = new CrashDisk();
    for (const f of ['ks', 'ks.spent']) after.synced(f, disk.onPlatters(f));
    assert.ok(!zero(slotBytes(after.onPlatters('ks'), 0)));
    const again = await open({ path: 'ks', master, fs: after });
    assert.deepEqual(again.report.replayed, [0]);
    assert.deepEqual(await again.store.take(k, BOB), { kind: 'not-found' });
    await again.store.close();
  });
});

describe('keystore master key', () => {
  it('reads 64 hex digits as key material and removes the variable from the environment', () => {
    const hex = newMasterKeyHex();
    const env: NodeJS.ProcessEnv = { KEYSTORE_MASTER_KEY: hex };
    const m = masterKeyFromEnv(env);
    assert.equal(m.kind, 'raw');
    assert.ok(m.kind === 'raw' && m.key.toString('hex') === hex);
    assert.equal(env.KEYSTORE_MASTER_KEY, undefined);
  });

  it('reads a passphrase, or a file (systemd credential) with a trailing newline', (t) => {
    assert.equal(masterKeyFromEnv({ KEYSTORE_MASTER_KEY: 'a passphrase of some length' }).kind, 'passphrase');
    const file = join(tempDir(t), 'master');
    writeFileSync(file, `${newMasterKeyHex()}\n`);
    assert.equal(masterKeyFromEnv({ KEYSTORE_MASTER_KEY_FILE: file }).kind, 'raw');
  });

  it('a wrong master key names where it came from (file or variable) and what to do if it is lost', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'keystore.db');
    const { store } = await open({ path, master: raw() });
    await store.close();
    const file = join(dir, 'master.key');
    writeFileSync(file, `${newMasterKeyHex()}\n`, { mode: 0o600 });
    const problem = async (env: NodeJS.ProcessEnv): Promise<string> => {
      try {
        await open({ path, master: masterKeyFromEnv(env), readOnly: true });
      } catch (e) {
        if (e instanceof ConfigError) return e.message;
        throw e;
      }
      return 'opened';
    };
    const lost =
      /if that key is lost, so are the keys waiting in it: move the file and its \.spent log away \(or set keystore_path to a new file\)/;
    const fromFile = await problem({ KEYSTORE_MASTER_KEY_FILE: file });
    assert.ok(
      fromFile.includes(
        `wrong master key for this keystore (the key from ${file} (KEYSTORE_MASTER_KEY_FILE))`,
      ),
      fromFile,
    );
    assert.match(fromFile, lost);
    const fromVar = await problem({ KEYSTORE_MASTER_KEY: newMasterKeyHex() });
    assert.match(fromVar, /wrong master key for this keystore \(the key from KEYSTORE_MASTER_KEY\)/);
    assert.match(fromVar, lost);
  });

  it('says how to make one when missing, and refuses short, doubled or unreadable ones without echoing them', () => {
    const msg = (env: NodeJS.ProcessEnv): string => {
      try {
        masterKeyFromEnv(env);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    // The recommended file first; the variable after it, with its drawback.
    assert.match(
      msg({}),
      /no keystore master key\. Set KEYSTORE_MASTER_KEY_FILE to a 0600 file .*skip-server master-key.*\. KEYSTORE_MASTER_KEY takes the same value, but stays readable in \/proc\/PID\/environ/,
    );
    const short = msg({ KEYSTORE_MASTER_KEY: 'hunter2' });
    assert.match(short, /too short/);
    assert.ok(!short.includes('hunter2'));
    assert.match(
      msg({ KEYSTORE_MASTER_KEY: 'x'.repeat(20), KEYSTORE_MASTER_KEY_FILE: '/x' }),
      /set only one/,
    );
    assert.match(
      msg({ KEYSTORE_MASTER_KEY_FILE: '/nonexistent/master' }),
      /cannot read KEYSTORE_MASTER_KEY_FILE \(ENOENT\)/,
    );
  });
});
