// phases: runtime
// Security finding 1 (docs/security.md): TCP clients that never finish a TLS handshake must be
// closed at the handshake timeout, on every listener and in both encryptor modes, so that a
// stranger with TCP access cannot fill maxConnections and shut routers out.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { memoryLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';
import { pskGet } from './helpers/http-client.js';

const CAP = 6;
const HANDSHAKE_MS = 400;

/** Opens `n` TCP connections that send nothing (or a partial ClientHello) and resolves each
 * with true once the server closes it; false if it is still open after `waitMs`. */
function silentClients(port: number, n: number, waitMs: number, partial: boolean): Promise<boolean[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<boolean>((resolve) => {
          const s: Socket = connect(port, '127.0.0.1');
          s.on('error', () => {});
          if (partial) s.on('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
          const timer = setTimeout(() => {
            s.destroy();
            resolve(false);
          }, waitMs);
          s.on('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        }),
    ),
  );
}

for (const mode of ['psk', 'cert'] as const) {
  describe(`silent TCP clients (${mode} mode)`, () => {
    it('are closed at the handshake timeout on the encryptor and peer ports; routers are served after', async (t) => {
      const dir = tempDir(t);
      const files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }] });
      if (mode === 'cert') {
        const text = readFileSync(files.config, 'utf8').replace('use_psk: true', 'use_psk: false');
        writeFileSync(files.config, `${text}encryptor_identities: ["router-alice"]\n`);
      }
      const kp = await startServer(loadConfig(files.config), {
        log: memoryLogger(),
        masterKey: masterKeyFromEnv({ ...files.env }),
        limits: { handshakeTimeoutMs: HANDSHAKE_MS, maxConnections: CAP },
      });
      t.after(() => kp.close());
      for (const port of [kp.encryptor.port, kp.peer.port]) {
        for (const partial of [false, true]) {
          const closed = await silentClients(port, CAP + 2, HANDSHAKE_MS * 6, partial);
          assert.deepEqual(
            closed,
            closed.map(() => true),
            `port ${port}: silent clients (partial=${partial}) left open`,
          );
        }
      }
      if (mode === 'psk') {
        // Every slot is free again: a full cap of routers is served at once.
        const answers = await Promise.all(
          Array.from({ length: CAP }, () => pskGet(kp.encryptor.port, '/capabilities', files.encryptor)),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          answers.map(() => 200),
        );
      }
    });
  });
}
