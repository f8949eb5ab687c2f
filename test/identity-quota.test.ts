// max_held_keys_per_identity at the issuing KP: a key counts from issue until the peer has surely
// dropped it uncollected (key_ttl_seconds plus the store's sweep period), a failed exchange does
// not count, and each (identity, remote system) pair has its own bound. The per-source cap's
// address key: IPv4-mapped IPv6 as IPv4, other IPv6 per /64.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sourceOf } from '../src/http/per-source.js';
import { IdentityQuota } from '../src/skip/identity-quota.js';

describe('IdentityQuota', () => {
  it('counts per identity and remote, until TTL plus the sweep period, and not a cancelled key', () => {
    let now = 0;
    const q = new IdentityQuota({ max: 2, ttlMs: 600_000, now: () => now });
    assert.ok(q.reserve('r1', 'bob').ok);
    now = 1_000;
    const second = q.reserve('r1', 'bob');
    assert.ok(second.ok);
    const full = q.reserve('r1', 'bob');
    assert.deepEqual(full, { ok: false, held: 2, retryAfterS: 659, first: true });
    assert.equal((q.reserve('r1', 'bob') as { first: boolean }).first, false);
    assert.ok(q.reserve('r2', 'bob').ok, 'another identity');
    assert.ok(q.reserve('r1', 'carol').ok, 'another remote system');
    second.cancel();
    assert.ok(q.reserve('r1', 'bob').ok, 'a failed exchange frees its place');
    assert.equal(q.reserve('r1', 'bob').ok, false);
    now = 660_000;
    assert.ok(q.reserve('r1', 'bob').ok, 'the first key no longer counts');
    now = 10_000_000;
    q.reserve('r3', 'bob');
    assert.equal(q.size(), 1, 'pairs with nothing counted are dropped');
  });
});

describe('sourceOf', () => {
  it('normalises IPv4-mapped addresses and groups IPv6 per /64', () => {
    assert.equal(sourceOf('192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('::FFFF:192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:DB8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(sourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64');
    assert.equal(sourceOf(undefined), '');
  });
});
