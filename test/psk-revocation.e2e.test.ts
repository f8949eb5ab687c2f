// phases: runtime
// Security finding 2 (docs/security.md): a PSK identity removed from the file stops working at
// SIGHUP. TLS session resumption (TLS 1.2 tickets or session IDs, TLS 1.3 tickets) would let a
// router that saved a session keep fetching keys without its PSK, so PSK connections never resume.
// TLS 1.3 is our engine's: the router's external PSK goes in as -psk_session; the
// engine issues no tickets, so a saved session can only ever be that PSK again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { startKp } from './helpers/bundle.js';
import { parseHttp, pskSocket, sClient } from './helpers/http-client.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { pskSessionArgs } from './helpers/psk-session.js';
import { tempDir } from './helpers/tmp.js';

const GET = 'GET /capabilities HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n';

/** A KP whose PSK file gained a second identity, loaded with SIGHUP; `original` is the file
 * without it. */
async function withExtraIdentity(t: TestContext) {
  const dir = tempDir(t);
  const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
  const kp = await startKp(files.config, { env: files.env });
  t.after(() => kp.stop());
  const original = readFileSync(files.pskFile, 'utf8');
  const extra = { identity: 'router-temp', key: randomBytes(32).toString('hex') };
  writeFileSync(files.pskFile, `${original}${extra.identity}:${extra.key}\n`);
  kp.proc.kill('SIGHUP');
  await kp.waitFor('psk reloaded', (l) => l.identities === 2);
  return { dir, files, kp, original, extra };
}

describe('PSK revocation and TLS session resumption', () => {
  for (const version of ['TLS 1.2', 'TLS 1.3'] as const) {
    it(`${version}: a saved session does not outlive the identity's removal at SIGHUP`, async (t) => {
      const { dir, files, kp, original, extra } = await withExtraIdentity(t);

      const sess = join(dir, 'session.pem');
      const [args, psk, bogus] =
        version === 'TLS 1.2'
          ? [
              ['-tls1_2', '-cipher', 'PSK-AES256-GCM-SHA384'],
              ['-psk_identity', extra.identity, '-psk', extra.key],
              ['-psk_identity', extra.identity, '-psk', 'ab'.repeat(32)],
            ]
          : [
              [],
              pskSessionArgs(dir, extra.identity, extra.key),
              pskSessionArgs(dir, extra.identity, 'ab'.repeat(48), 'bogus'),
            ];
      const first = await sClient(kp.port, [...args, ...psk, '-sess_out', sess], GET);
      assert.equal(parseHttp(first.stdout).status, 200, first.stderr);
      if (version === 'TLS 1.2') assert.ok(existsSync(sess), 'openssl saved no session');
      const sessIn = existsSync(sess) ? ['-sess_in', sess] : [];

      // With the identity still present, a resumption attempt must do a full handshake anyway.
      const again = await sClient(kp.port, [...args, ...psk, ...sessIn], GET);
      assert.equal(parseHttp(again.stdout).status, 200);

      writeFileSync(files.pskFile, original);
      kp.proc.kill('SIGHUP');
      await kp.waitFor('psk reloaded', (l) => l.identities === 1);
      const replay = await sClient(kp.port, [...args, ...bogus, ...sessIn], GET);
      assert.ok(
        !/^HTTP\/1\.1/m.test(replay.stdout),
        `resumed after revocation: ${replay.stdout.slice(0, 200)}`,
      );
      const replayOld = await sClient(kp.port, [...args, ...psk, ...sessIn], GET);
      assert.ok(!/^HTTP\/1\.1/m.test(replayOld.stdout), 'the removed identity still works');
      // Every served request names its identity.
      const requests = kp.logs.filter((l) => l.event === 'request');
      assert.ok(requests.length >= 2);
      for (const r of requests) assert.equal(r.identity, extra.identity);
    });
  }

  it('a connection kept alive from before the removal gets no answer after it: 403, then closed', async (t) => {
    const { files, kp, original, extra } = await withExtraIdentity(t);
    const socket = await pskSocket(kp.port, extra);
    t.after(() => socket.destroy());
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    const keepAlive = 'GET /capabilities HTTP/1.1\r\nHost: kp\r\n\r\n';
    socket.write(keepAlive);
    await kp.waitFor('request', (l) => l.identity === extra.identity);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(got, /^HTTP\/1\.1 200/);
    got = '';
    writeFileSync(files.pskFile, original);
    kp.proc.kill('SIGHUP');
    await kp.waitFor('psk reloaded', (l) => l.identities === 1);
    socket.write(keepAlive);
    await closed;
    assert.match(got, /^HTTP\/1\.1 403/);
    assert.doesNotMatch(got, /"algorithm"|"entropy"/, 'capabilities were served after the removal');
  });
});
