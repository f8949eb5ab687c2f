// phases: runtime
// Known-answer tests of the TLS 1.3 key schedule and binder: RFC 8448 §4 (a PSK handshake,
// SHA-256; test/fixtures/rfc8448-psk.json, source noted there), and the profile the engine serves,
// SHA-384 with an external PSK in psk_ke, from a handshake between OpenSSL's s_server and s_client,
// not our engine (test/fixtures/tls13-psk-ke-openssl-kat.json, made by make-tls13-psk-kat.mjs
// beside it, which lists the commands): from the PSK and the recorded messages, the engine's
// KeySchedule must give the ClientHello's binder, both Finished MACs and every keylog secret.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseClientHello } from '../src/tls13/client-hello.js';
import { ALERT, GROUP, HASH, PSK_KE } from '../src/tls13/constants.js';
import { GROUP_NAMES, SERVER_GROUPS, clientShare, serverShare } from '../src/tls13/key-share.js';
import { AlertError } from '../src/tls13/record.js';
import {
  KeySchedule,
  Transcript,
  binderKey,
  deriveSecret,
  digest,
  earlySecret,
  finishedMac,
  handshakeSecret,
  masterSecret,
  trafficKeys,
} from '../src/tls13/key-schedule.js';

const v = JSON.parse(readFileSync('test/fixtures/rfc8448-psk.json', 'utf8')) as Record<string, string>;
const hex = (k: string): Buffer => Buffer.from(v[k]!, 'hex');

describe('TLS 1.3 engine: RFC 8448 §4 known answers, and the key shares', () => {
  it('parses the ClientHello and verifies its PSK binder', () => {
    const ch = hex('clientHello');
    assert.equal(digest('sha256', ch).toString('hex'), v.clientHelloHash, 'fixture transcription');
    const hello = parseClientHello(ch);
    assert.equal(hello.psk?.identities.length, 1);
    assert.equal(hello.earlyData, true);
    assert.deepEqual(hello.cipherSuites, [0x1301, 0x1303, 0x1302]);
    const early = earlySecret('sha256', hex('psk'));
    const key = binderKey('sha256', early, false);
    assert.equal(key.toString('hex'), v.resBinderKey);
    const binder = finishedMac('sha256', key, digest('sha256', ch.subarray(0, hello.psk.bindersOffset)));
    assert.deepEqual(binder, hello.psk.binders[0]);
  });

  it('derives the handshake and application traffic secrets, keys and IVs', () => {
    const early = earlySecret('sha256', hex('psk'));
    const hs = handshakeSecret('sha256', early, hex('ecdhe'));
    assert.equal(
      deriveSecret('sha256', hs, 'c hs traffic', hex('helloHash')).toString('hex'),
      v.clientHsTraffic,
    );
    const sHs = deriveSecret('sha256', hs, 's hs traffic', hex('helloHash'));
    assert.equal(sHs.toString('hex'), v.serverHsTraffic);
    const k = trafficKeys('sha256', sHs, 16);
    assert.equal(k.key.toString('hex'), v.serverHsKey);
    assert.equal(k.iv.toString('hex'), v.serverHsIv);
    const master = masterSecret('sha256', hs);
    const cAp = deriveSecret('sha256', master, 'c ap traffic', hex('serverFinishedHash'));
    assert.equal(cAp.toString('hex'), v.clientApTraffic);
    assert.equal(
      deriveSecret('sha256', master, 's ap traffic', hex('serverFinishedHash')).toString('hex'),
      v.serverApTraffic,
    );
    const ka = trafficKeys('sha256', cAp, 16);
    assert.equal(ka.key.toString('hex'), v.clientApKey);
    assert.equal(ka.iv.toString('hex'), v.clientApIv);
  });

  it('key shares: client and server agree in every group; invalid shares are refused', () => {
    for (const group of SERVER_GROUPS) {
      const client = clientShare(group);
      const server = serverShare(group, client.share);
      assert.deepEqual(client.finish(server.share), server.shared, GROUP_NAMES[group]);
    }
    const bad = (group: number, share: Buffer): void =>
      assert.throws(
        () => serverShare(group, share),
        (e: unknown) => e instanceof AlertError && e.alert === ALERT.illegalParameter,
      );
    bad(GROUP.x25519, Buffer.alloc(31));
    bad(GROUP.x25519, Buffer.alloc(32)); // the all-zero secret
    bad(GROUP.secp256r1, Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)])); // not on the curve
    // An ML-KEM-768 key whose coefficients are not reduced mod q (FIPS 203 input check).
    bad(GROUP.x25519mlkem768, Buffer.concat([Buffer.alloc(1184, 0xff), clientShare(GROUP.x25519).share]));
  });
});

interface Kat {
  psk: string;
  identity: string;
  messages: Record<string, string>;
  secrets: Record<string, string>;
}
const kat = JSON.parse(readFileSync('test/fixtures/tls13-psk-ke-openssl-kat.json', 'utf8')) as Kat;
const msg = (name: string): Buffer => Buffer.from(kat.messages[name]!, 'hex');

describe('TLS 1.3 engine: SHA-384 psk_ke known answers from OpenSSL', () => {
  it('gives the binder, both Finished MACs and the keylog secrets from the PSK and the transcript', () => {
    const ch = msg('clientClientHello');
    const sh = msg('serverServerHello');
    const ee = msg('serverEncryptedExtensions');
    const sFin = msg('serverFinished');
    const cFin = msg('clientFinished');
    assert.deepEqual([ch[0], sh[0], ee[0], sFin[0], cFin[0]], [1, 2, 8, 20, 20], 'fixture messages');
    const hello = parseClientHello(ch);
    assert.equal(hello.psk?.identities[0]?.identity.toString(), kat.identity);
    assert.ok(hello.pskModes?.includes(PSK_KE));

    const keys = new KeySchedule(HASH, Buffer.from(kat.psk, 'hex'));
    const binderKey = keys.binderKey();
    const binder = finishedMac(
      HASH,
      binderKey,
      new Transcript(HASH).with(ch.subarray(0, hello.psk.bindersOffset)),
    );
    assert.deepEqual(binder, hello.psk.binders[0], 'binder');

    const t = new Transcript(HASH);
    t.add(ch, sh);
    const hs = keys.handshake(undefined, t.current());
    assert.equal(hs.client.toString('hex'), kat.secrets.CLIENT_HANDSHAKE_TRAFFIC_SECRET);
    assert.equal(hs.server.toString('hex'), kat.secrets.SERVER_HANDSHAKE_TRAFFIC_SECRET);
    t.add(ee);
    assert.deepEqual(finishedMac(HASH, hs.server, t.current()), sFin.subarray(4), "server's Finished");
    t.add(sFin);
    const afterServerFinished = t.current();
    const ap = keys.application(afterServerFinished);
    assert.equal(ap.client.toString('hex'), kat.secrets.CLIENT_TRAFFIC_SECRET_0);
    assert.equal(ap.server.toString('hex'), kat.secrets.SERVER_TRAFFIC_SECRET_0);
    assert.equal(keys.exporter(afterServerFinished).toString('hex'), kat.secrets.EXPORTER_SECRET);
    assert.deepEqual(
      finishedMac(HASH, hs.client, afterServerFinished),
      cFin.subarray(4),
      "client's Finished",
    );
    keys.wipe();
  });

  it('wipes each secret it replaces, and refuses steps out of order', () => {
    const keys = new KeySchedule(HASH, Buffer.from(kat.psk, 'hex'));
    const t = new Transcript(HASH);
    assert.throws(() => keys.application(t.current()), /at early, not handshake/);
    const early = (keys as unknown as { secret: Buffer }).secret;
    keys.handshake(undefined, t.current());
    assert.ok(
      early.every((b) => b === 0),
      'early secret wiped',
    );
    const hs = (keys as unknown as { secret: Buffer }).secret;
    keys.application(t.current());
    assert.ok(
      hs.every((b) => b === 0),
      'handshake secret wiped',
    );
    assert.throws(() => keys.binderKey(), /at master/);
    const master = (keys as unknown as { secret: Buffer }).secret;
    keys.wipe();
    assert.ok(
      master.every((b) => b === 0),
      'master secret wiped',
    );
  });
});
