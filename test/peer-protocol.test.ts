// The peer exchange's body parsing and the `confirm` derivation, against docs/peer-protocol.md.
import assert from 'node:assert/strict';
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { confirmTag, exchangeBody, parseExchange } from '../src/peer/protocol.js';
import type { KeyId } from '../src/ids/key-id.js';

const VECTOR = {
  sharedSecret: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
  sender: 'alice',
  receiver: 'bob',
  keyId: '00112233445566778899aabbccddeeff' as KeyId,
  lengthBits: 256,
  ciphertext: Buffer.alloc(1568, 0xab),
  confirm: '4b4e9df5ebc1be977fc0f371786e0bf2345ffc0e80604dbad3104e78fd44e9fa',
};

describe('peer protocol', () => {
  it('computes confirm as docs/peer-protocol.md defines it, and the doc carries the same vector', () => {
    const lp = (s: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(s)]), Buffer.from(s)]);
    const ctx = Buffer.concat([lp('alice'), lp('bob'), lp(VECTOR.keyId), Buffer.from([1, 0])]);
    const info = Buffer.concat([Buffer.from('skip-server/key-exchange/confirm/v1\0'), ctx]);
    const ck = Buffer.from(hkdfSync('sha256', VECTOR.sharedSecret, Buffer.alloc(0), info, 32));
    const byHand = createHmac('sha256', ck).update(ctx).update(VECTOR.ciphertext).digest('hex');
    assert.equal(byHand, VECTOR.confirm);
    assert.equal(confirmTag(VECTOR.sharedSecret, VECTOR).toString('hex'), VECTOR.confirm);
    assert.ok(readFileSync('docs/peer-protocol.md', 'utf8').includes(`\`${VECTOR.confirm}\``));
  });

  it('binds every field: changing any one changes the tag', () => {
    const base = confirmTag(VECTOR.sharedSecret, VECTOR).toString('hex');
    const variants = [
      { ...VECTOR, sender: 'alicf' },
      { ...VECTOR, receiver: 'bop' },
      { ...VECTOR, keyId: '00112233445566778899aabbccddeefe' as KeyId },
      { ...VECTOR, lengthBits: 128 },
      { ...VECTOR, ciphertext: Buffer.alloc(1568, 0xac) },
    ];
    for (const v of variants) assert.notEqual(confirmTag(VECTOR.sharedSecret, v).toString('hex'), base);
  });

  it("parses the reference's body and ours; ignores unknown fields", () => {
    const body = JSON.parse(
      exchangeBody({ systemId: 'alice', ...VECTOR, confirm: Buffer.from(VECTOR.confirm, 'hex') }),
    ) as object;
    const ours = parseExchange({ ...body, extra: 'ignored' });
    assert.ok(ours.ok);
    assert.equal(ours.value.confirm?.toString('hex'), VECTOR.confirm);
    const reference = parseExchange({
      system_id: 'alice',
      key_id: 'ABCDEF0123456789ABCDEF0123456789',
      length: 128,
      ciphertext: 'AB'.repeat(1568),
    });
    assert.ok(reference.ok);
    assert.equal(reference.value.keyId, 'abcdef0123456789abcdef0123456789');
    assert.equal(reference.value.confirm, undefined);
  });

  it('refuses each malformed field with a message that names it', () => {
    const good = { system_id: 'alice', key_id: 'ab', length: 256, ciphertext: 'ab'.repeat(1568) };
    const cases: [unknown, RegExp][] = [
      [null, /JSON object/],
      [[good], /JSON object/],
      [{ ...good, system_id: 7 }, /"system_id"/],
      [{ ...good, system_id: 'a\nb' }, /"system_id"/],
      [{ ...good, key_id: 'xyz' }, /"key_id"/],
      [{ ...good, length: 0 }, /"length"/],
      [{ ...good, length: 264 }, /"length"/],
      [{ ...good, length: 129 }, /"length"/],
      [{ ...good, length: '256' }, /"length"/],
      [{ ...good, ciphertext: 'ab'.repeat(1567) }, /"ciphertext"/],
      [{ ...good, ciphertext: 'zz'.repeat(1568) }, /"ciphertext"/],
      [{ ...good, confirm: 'ab' }, /"confirm"/],
    ];
    for (const [body, re] of cases) {
      const r = parseExchange(body);
      assert.ok(!r.ok, JSON.stringify(body)?.slice(0, 60));
      assert.match(r.detail, re);
    }
  });
});
