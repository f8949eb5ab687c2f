// Refused handshakes are attributable and cannot flood the log: a TLS 1.2 wrong PSK names the
// identity the client sent; /metrics counts every refusal by reason class and (known) identity;
// past a rate the lines are summarised; the reasons say what the client offered.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { memoryLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { PROBE_SERVER_NAME, refusalReporter } from '../src/tls/refusals.js';
import { buildClientHello } from '../src/tls13/client.js';
import { plainRecord } from '../src/tls13/record.js';
import { vec } from '../src/tls13/wire.js';
import { withoutInstance } from './helpers/metrics-text.js';
import { adminGet } from './helpers/admin-get.js';
import { sClient } from './helpers/http-client.js';
import { startOneKp } from './helpers/one-kp.js';

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;

function send(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(data));
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => (clearTimeout(timer), resolve()));
  });
}

/** A ClientHello for `identity` whose one binder is 32 bytes (a SHA-256 PSK), lengths kept
 * consistent: message, extensions and pre_shared_key (last, with one identity) shrink by 16. */
function sha256Offer(m: Buffer, identity: string): Buffer {
  const out = Buffer.concat([m.subarray(0, m.length - 51), vec(2, vec(1, Buffer.alloc(32, 7)))]);
  out.writeUIntBE(out.length - 4, 1, 3);
  const sid = out[4 + 2 + 32]!;
  const suitesAt = 4 + 2 + 32 + 1 + sid;
  const extLenAt = suitesAt + 2 + out.readUInt16BE(suitesAt) + 2;
  out.writeUInt16BE(out.readUInt16BE(extLenAt) - 16, extLenAt);
  const pskLenAt = m.length - 51 - (2 + 2 + Buffer.byteLength(identity) + 4) - 2;
  out.writeUInt16BE(out.readUInt16BE(pskLenAt) - 16, pskLenAt);
  return out;
}

describe('refused handshakes', () => {
  it('name the identity, are counted in /metrics, stay within a log rate, and say what was offered', async (t) => {
    const { kp, files, adminPort } = await startOneKp(t, 'admin_port: 0\n');

    // TLS 1.2, a known identity with a wrong key: the line names the identity.
    const wrong = files.encryptor.key.slice(0, -2) + (files.encryptor.key.endsWith('00') ? '01' : '00');
    await sClient(kp.port, ['-tls1_2', '-psk_identity', files.encryptor.identity, '-psk', wrong], get('/'));
    await kp.waitFor(
      'tls handshake refused',
      (l) => l.identity === files.encryptor.identity && /wrong PSK/.test(String(l.reason)),
    );

    // A flood of 300 unknown identities through the engine: every one counted, few lines.
    const psk = Buffer.from(files.encryptor.key, 'hex');
    const unknown = plainRecord(22, buildClientHello({ identity: 'intruder', psk }).message);
    // Batches of 25 stay under max_handshakes_per_source (32): every one reaches the handshake.
    for (let i = 0; i < 300; i += 25)
      await Promise.all(Array.from({ length: 25 }, () => send(kp.port, unknown)));
    const m = withoutInstance((await adminGet(adminPort!, '/metrics')).body);
    const count = (re: RegExp): number => Number(re.exec(m)?.[1] ?? 0);
    assert.equal(
      count(
        /^skip_tls_handshakes_refused_total\{listener="encryptor",reason="unknown_identity",identity=""\} (\d+)$/m,
      ),
      300,
      m,
    );
    assert.equal(
      count(
        new RegExp(
          `^skip_tls_handshakes_refused_total\\{listener="encryptor",reason="wrong_psk",identity="${files.encryptor.identity}"\\} (\\d+)$`,
          'm',
        ),
      ),
      1,
    );
    assert.doesNotMatch(m, /intruder/, 'an unknown identity became a label');
    const lines = kp.logs.filter((l) => l.event === 'tls handshake refused').length;
    assert.ok(lines <= 80, `${lines} refusal lines for 301 refusals`);

    // GnuTLS's TLS 1.3 offer: TLS_AES_256_GCM_SHA384 and a SHA-256 PSK (32-byte binder).
    const gnutls = sha256Offer(
      buildClientHello({ identity: 'x', psk, suites: [0x1302, 0x1301] }).message,
      'x',
    );
    await send(kp.port, plainRecord(22, gnutls));
    // A TLS 1.2 hello with an empty cipher list: one "ClientHello:", no "tls":"1.3".
    const bare = buildClientHello({ identity: 'x', psk, versions: [0x0303], suites: [] }).message;
    await send(kp.port, plainRecord(22, bare));
    await new Promise((r) => setTimeout(r, 1100)); // the log rate refills
    await send(kp.port, plainRecord(22, gnutls));
    await send(kp.port, plainRecord(22, bare));
    const g = await kp.waitFor('tls handshake refused', (l) => /SHA-256 PSK/.test(String(l.reason)));
    assert.match(
      String(g.reason),
      /offered with a SHA-256 PSK \(32-byte binder\) with TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256/,
    );
    const b = await kp.waitFor('tls handshake refused', (l) => /cipher_suites/.test(String(l.reason)));
    assert.doesNotMatch(String(b.reason), /ClientHello: ClientHello:/);
    assert.equal(b.tls, undefined);
  });

  it('counts a refusal under the kind its refuser gave, not the words, and logs the words only', () => {
    const log = memoryLogger();
    const metrics = new Metrics();
    const report = refusalReporter({ listener: 'encryptor', event: 'tls handshake refused', log, metrics });
    // Words that the text classes would call 'wrong_psk' (they mention a binder).
    report({ reason: 'binder of identity 0 names no key' }, 'unknown_identity');
    report({ reason: 'binder of identity 0 names no key' });
    const text = metrics.handshakesRefused.render();
    assert.match(text, /reason="unknown_identity"[^\n]* 1$/m);
    assert.match(text, /reason="wrong_psk"[^\n]* 1$/m);
    const lines = log.lines.filter((l) => l.event === 'tls handshake refused');
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => l.reason === 'binder of identity 0 names no key' && !('kind' in l)));
  });

  it("marks only the probe's suite and version refusals as the probe's: its server name hides no wrong key", () => {
    const log = memoryLogger();
    const metrics = new Metrics();
    const report = refusalReporter({ listener: 'encryptor', event: 'tls handshake refused', log, metrics });
    report({ reason: 'no cipher suite in common with the client', serverName: PROBE_SERVER_NAME });
    report({ reason: 'wrong PSK (binder does not verify)', serverName: PROBE_SERVER_NAME }, 'wrong_psk');
    report({ reason: 'unknown PSK identity', serverName: PROBE_SERVER_NAME }, 'unknown_identity');
    const text = metrics.handshakesRefused.render();
    assert.match(text, /reason="probe_conformance"[^\n]* 1$/m);
    assert.match(text, /reason="wrong_psk"[^\n]* 1$/m);
    assert.match(text, /reason="unknown_identity"[^\n]* 1$/m);
    const marked = log.lines.filter((l) => l.probe === 'conformance');
    assert.equal(marked.length, 1);
  });

  it('summarises what it did not log, by reason, once per interval', async () => {
    const log = memoryLogger();
    let now = 0;
    const report = refusalReporter({
      listener: 'encryptor',
      event: 'tls handshake refused',
      log,
      perSecond: 2,
      burst: 3,
      summaryMs: 50,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) report({ reason: i % 2 ? 'unknown PSK identity' : 'wrong PSK' });
    assert.equal(log.lines.filter((l) => l.event === 'tls handshake refused').length, 3);
    now += 1000; // two more tokens
    report({ reason: 'wrong PSK' });
    report({ reason: 'wrong PSK' });
    report({ reason: 'wrong PSK' });
    assert.equal(log.lines.filter((l) => l.event === 'tls handshake refused').length, 5);
    await new Promise((r) => setTimeout(r, 120));
    const summary = log.lines.filter((l) => l.event === 'tls handshakes refused, not logged one by one');
    assert.equal(summary.length, 1);
    assert.equal(summary[0]!.count, 8);
    assert.deepEqual(summary[0]!.reasons, { unknown_identity: 4, wrong_psk: 4 });
  });
});
