// Secret files reachable by others or by login users through their group are named; the
// systemd layout's group, with no login members, is not.
import assert from 'node:assert/strict';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Config } from '../src/config/load.js';
import { describeExposure, exposedSecretFiles } from '../src/config/secret-files.js';
import { tempDir } from './helpers/tmp.js';

describe('secret files', () => {
  it('names a secret readable by others, or by login users of its group, never the service group', (t) => {
    const dir = tempDir(t);
    const psk = join(dir, 'psk.txt');
    writeFileSync(psk, 'r1:00\n', { mode: 0o600 });
    const gid = statSync(psk).gid;
    const uid = statSync(psk).uid;
    const accounts = (members: string, primaryOfOther: boolean) => {
      const passwd = join(dir, 'passwd');
      const group = join(dir, 'group');
      writeFileSync(
        passwd,
        `owner:x:${uid}:${gid}::/:/bin/sh\n` + (primaryOfOther ? `mallory:x:4242:${gid}::/:/bin/sh\n` : ''),
      );
      writeFileSync(group, `svc:x:${gid}:${members}\n`);
      return { passwd, group };
    };
    const config = { psk_file: psk } as unknown as Config;
    assert.deepEqual(exposedSecretFiles(config, undefined, accounts('', false)), []);
    chmodSync(psk, 0o640);
    // The service group: no login user but the file's owner.
    assert.deepEqual(exposedSecretFiles(config, undefined, accounts('', false)), []);
    assert.deepEqual(exposedSecretFiles(config, undefined, accounts('owner', false)), []);
    // A group with login users in it.
    let [f] = exposedSecretFiles(config, undefined, accounts('alice,bob', false));
    assert.equal(f?.by, 'group svc (login users alice, bob)');
    assert.match(
      describeExposure(f),
      /psk\.txt: psk_file is mode 0640, reachable by group svc \(login users alice, bob\) \(chmod g-rwx/,
    );
    [f] = exposedSecretFiles(config, undefined, accounts('', true));
    assert.equal(f?.by, 'group svc (login users mallory)');
    chmodSync(psk, 0o604);
    [f] = exposedSecretFiles(config, undefined, accounts('', false));
    assert.equal(f?.by, 'others');
    assert.equal(f?.fix, `chmod o-rwx ${psk}`);
  });

  it('does not report the user skip-server runs as, nor accounts without a login shell', (t) => {
    const dir = tempDir(t);
    const psk = join(dir, 'psk.txt');
    writeFileSync(psk, 'r1:00\n', { mode: 0o640 });
    chmodSync(psk, 0o640);
    const { uid, gid } = statSync(psk);
    const passwd = join(dir, 'passwd');
    const group = join(dir, 'group');
    const write = (users: string, members: string) => {
      writeFileSync(
        passwd,
        `root:x:${uid}:0::/root:/bin/bash\n` +
          `skip-server:x:4243:${gid}:SKIP KP:/var/lib/skip-server:/usr/sbin/nologin\n` +
          users,
      );
      writeFileSync(group, `skip-server:x:${gid}:${members}\n`);
      return { passwd, group };
    };
    const config = { psk_file: psk } as unknown as Config;
    // Owned by root, group-readable by the service's own group whose only member is the service
    // user (nologin): the service runs as it, so no warning, whoever runs the check.
    assert.deepEqual(exposedSecretFiles(config, undefined, write('', 'skip-server'), 4243), []);
    assert.deepEqual(exposedSecretFiles(config, undefined, write('', 'skip-server'), 1), []);
    // A service user with a login shell is skipped when it is the user running.
    const svc = 'svc:x:4244:100::/home/svc:/bin/sh\n';
    assert.deepEqual(exposedSecretFiles(config, undefined, write(svc, 'svc'), 4244), []);
    const [f] = exposedSecretFiles(config, undefined, write(svc, 'svc,skip-server'), 4243);
    assert.equal(f?.by, 'group skip-server (login users svc)');
    // /bin/false is no login either.
    const daemon = 'backup:x:4245:100::/:/bin/false\n';
    assert.deepEqual(exposedSecretFiles(config, undefined, write(daemon, 'backup'), 4243), []);
  });
});
