// The Cisco IOx package: the descriptor against the IOx JSON schemas (vendored in
// test/fixtures/iox, source in its README), the
// Dockerfile's base and user, and the config default under CAF_APP_PERSISTENT_DIR.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import AjvDraft04 from 'ajv-draft-04';
import { parse } from 'yaml';
import { runCli } from './helpers/bundle.js';
import { writeKpFiles } from './helpers/kp-files.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/tmp.js';

interface Descriptor {
  'descriptor-schema-version': string;
  app: {
    type: string;
    resources: { profile: string; network: { ports: { tcp: number[] } }[] };
    startup: { target: string[] };
  };
}

describe('IOx package', () => {
  const descriptor = parse(readFileSync('iox/package.yaml', 'utf8')) as Descriptor;

  for (const version of ['2.10', '2.17']) {
    it(`iox/package.yaml is valid against the IOx descriptor schema ${version}`, () => {
      const schema = JSON.parse(
        readFileSync(`test/fixtures/iox/package-descriptor-schema-${version}.json`, 'utf8'),
      ) as object;
      // ajv-draft-04 is CommonJS: its class is also its `default` export.
      const Ajv = AjvDraft04.default;
      const ajv = new Ajv({ strict: false, allErrors: true });
      const validate = ajv.compile(schema);
      assert.ok(validate(descriptor), JSON.stringify(validate.errors, null, 1));
    });
  }

  it('declares a docker app on ports 443 and 8443, started as the executable, with a sized profile', () => {
    assert.equal(descriptor['descriptor-schema-version'], '2.10');
    assert.equal(descriptor.app.type, 'docker');
    assert.deepEqual(descriptor.app.resources.network[0]!.ports.tcp, [443, 8443]);
    assert.match(descriptor.app.resources.profile, /^c1\.(small|medium)$/);
    assert.deepEqual(descriptor.app.startup.target, ['/usr/local/bin/skip-server', 'serve']);
  });

  it('builds the image on glibc, as a non-root user, from the single executable', () => {
    const docker = readFileSync('iox/Dockerfile', 'utf8');
    const bases = docker.split('\n').filter((l) => l.startsWith('FROM '));
    assert.ok(
      bases.length > 0 && bases.every((l) => /^FROM debian:[a-z]+-slim( AS \w+)?$/.test(l)),
      bases.join('; '),
    );
    assert.match(docker, /^USER skip$/m);
    assert.match(docker, /COPY dist\/skip-server-linux-\$\{ARCH\} \/usr\/local\/bin\/skip-server/);
    assert.match(docker, /^ENV CAF_APP_PERSISTENT_DIR=\/data\/appdata$/m);
    assert.match(docker, /^ENV MALLOC_ARENA_MAX=2$/m);
  });

  it('turns core dumps off at activation (the descriptor cannot carry it)', () => {
    assert.match(readFileSync('iox/README.md', 'utf8'), /run-opts \d+ "--ulimit core=0"/);
    assert.match(readFileSync('iox/package.yaml', 'utf8'), /--ulimit core=0/);
    // util-linux (prlimit) is Essential in Debian: the slim base has it, no install step needed.
    assert.match(readFileSync('iox/Dockerfile', 'utf8'), /^FROM debian:bookworm-slim$/m);
  });

  it('reads $CAF_APP_PERSISTENT_DIR/config/skip.yaml when no --config is given', async (t) => {
    const dir = tempDir(t);
    const pki = makePki(dir);
    const files = writeKpFiles(dir, pki, { name: 'alice', peers: [{ id: 'bob' }] });
    writeKpFiles(dir, pki, { name: 'bob', peers: [{ id: 'alice' }] });
    const caf = join(dir, 'appdata');
    mkdirSync(join(caf, 'config'), { recursive: true });
    copyFileSync(files.config, join(caf, 'config', 'skip.yaml'));
    const r = await runCli(['check-config'], { env: { ...files.env, CAF_APP_PERSISTENT_DIR: caf } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(join(caf, 'config', 'skip.yaml')));
    const none = await runCli(['check-config'], { env: { ...files.env, CAF_APP_PERSISTENT_DIR: '' } });
    assert.equal(none.code, 2);
  });
});
