// phases: runtime
// Known-answer test of the TLS 1.3 key schedule and binder against RFC 8448 §4 (a PSK handshake,
// SHA-256). The engine runs the same code with SHA-384; the interop tests check that against
// OpenSSL. Values: test/fixtures/rfc8448-psk.json (source noted there).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseClientHello } from '../src/tls13/client-hello.js';
import { ALERT, GROUP } from '../src/tls13/constants.js';
import { GROUP_NAMES, SERVER_GROUPS, clientShare, serverShare } from '../src/tls13/key-share.js';
import { AlertError } from '../src/tls13/record.js';
import {
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
