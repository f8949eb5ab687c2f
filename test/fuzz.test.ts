// Property-based fuzzing (fast-check): whatever arrives, the parsers answer with their typed
// refusal, never another exception, and the live router answers 4xx (or a valid 200), never 5xx.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../src/config/load.js';
import { HttpError } from '../src/errors.js';
import { parseQuery } from '../src/http/query.js';
import { KeyFileError, decodePrivatePem, decodePublicPem } from '../src/kem/pem.js';
import { masterKeyFromEnv } from '../src/keystore/master-key.js';
import { memoryLogger } from '../src/log.js';
import { parseExchange } from '../src/peer/protocol.js';
import { startServer, type RunningServer } from '../src/server.js';
import { parseKeyId } from '../src/ids/key-id.js';
import { nodeGet, pskAgent } from './helpers/http-client.js';
import { writeKpFiles, type KpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';

const only = <T>(fn: () => T, allowed: (e: unknown) => boolean): void => {
  try {
    fn();
  } catch (e) {
    assert.ok(allowed(e), `unexpected exception: ${String(e)}`);
  }
};

describe('fuzzing the parsers', () => {
  it('query strings: a parsed map or an HttpError 400, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (qs) =>
        only(
          () => parseQuery(qs, ['remoteSystemID', 'size'], 'GET /key'),
          (e) => e instanceof HttpError && e.status === 400,
        ),
      ),
      { numRuns: 3000 },
    );
  });

  it('keyIds: ok with lower-case hex, or a problem; never a throw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = parseKeyId(s);
        if (r.ok) assert.match(r.keyId, /^([0-9a-f]{2}){1,64}$/);
      }),
      { numRuns: 3000 },
    );
  });

  it('peer JSON: a typed request or a detail string; never a throw', () => {
    const field = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 1600 }).map((b) => Buffer.from(b).toString('hex')),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record(
            { system_id: field, key_id: field, length: field, ciphertext: field, confirm: field },
            { requiredKeys: [] },
          ),
        ),
        (body) => {
          const r = parseExchange(body);
          if (!r.ok) assert.equal(typeof r.detail, 'string');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('PEM key files: a key or a KeyFileError; never another exception', () => {
    const armored = (label: string) =>
      fc
        .uint8Array({ maxLength: 3400 })
        .map((b) =>
          Buffer.from(
            `-----BEGIN ${label}-----\n${Buffer.from(b).toString('base64')}\n-----END ${label}-----\n`,
          ),
        );
    const input = fc.oneof(
      armored('PUBLIC KEY'),
      armored('PRIVATE KEY'),
      fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(input, (pem) => {
        only(
          () => decodePublicPem(pem),
          (e) => e instanceof KeyFileError,
        );
        only(
          () => decodePrivatePem(pem),
          (e) => e instanceof KeyFileError,
        );
      }),
      { numRuns: 1500 },
    );
  });
});

describe('fuzzing the live router', () => {
  let dir: string;
  let files: KpFiles;
  let kp: RunningServer;

  before(async () => {
    dir = join(tmpdir(), `skip-fuzz-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    files = writeKpFiles(dir, makePki(dir), { name: 'alice', peers: [{ id: 'bob' }, { id: 'spoke-*' }] });
    kp = await startServer(loadConfig(files.config), {
      log: memoryLogger(),
      masterKey: masterKeyFromEnv({ ...files.env }),
    });
  });
  after(async () => {
    await kp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers arbitrary paths and queries with 4xx or a valid 200, never 5xx, and keeps serving', async () => {
    const agent = pskAgent(files.encryptor);
    const seg = fc.oneof(
      fc.constantFrom('capabilities', 'entropy', 'key', 'key-exchange', '', '..', '%00', '%zz'),
      fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{0,40}$/),
    );
    const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    const query = fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@/?-]{0,60}$/);
    await fc.assert(
      fc.asyncProperty(path, query, async (p, q) => {
        const r = await nodeGet(kp.encryptor.port, q ? `${p}?${q}` : p, agent);
        assert.ok(r.status >= 200 && r.status < 500 && r.status !== 500, `${p}?${q} -> ${r.status}`);
        if (r.status >= 400) assert.equal(typeof (r.json as { detail?: unknown }).detail, 'string');
      }),
      { numRuns: 400 },
    );
    assert.equal((await nodeGet(kp.encryptor.port, '/capabilities', agent)).status, 200);
    agent.destroy();
  });
});
