// The systemd unit: `systemd-analyze verify` without a single warning, and an exposure score of
// 2.0 or lower from `systemd-analyze security --offline=yes`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from './helpers/tmp.js';

const UNIT = 'build/skip-server.service';
const have = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('systemd unit', () => {
  it('verifies without warnings', (t) => {
    if (!have) return t.skip('systemd-analyze is not installed (.ci/run installs systemd)');
    const root = tempDir(t);
    // The unit's executables and systemd's own units, as on an installed appliance.
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(root, 'usr/local/bin/skip-server'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr/local/bin/skip-server'), 0o755);
    copyFileSync('/usr/bin/kill', join(root, 'bin/kill'));
    chmodSync(join(root, 'bin/kill'), 0o755);
    cpSync('/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    copyFileSync(UNIT, join(root, 'etc/systemd/system/skip-server.service'));
    // The unit's commented address allow-list, as an operator's drop-in, verifies too.
    const example = readFileSync(UNIT, 'utf8')
      .split('\n')
      .filter((l) => /^# {3}(\[Service\]|IPAddress(Deny|Allow)=)/.test(l))
      .map((l) => l.slice(4));
    assert.deepEqual(
      example.map((l) => l.split('=')[0]),
      ['[Service]', 'IPAddressDeny', 'IPAddressAllow'],
    );
    mkdirSync(join(root, 'etc/systemd/system/skip-server.service.d'));
    writeFileSync(
      join(root, 'etc/systemd/system/skip-server.service.d/allow.conf'),
      `${example.join('\n')}\n`,
    );
    const r = spawnSync(
      'systemd-analyze',
      ['verify', `--root=${root}`, '/etc/systemd/system/skip-server.service'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify printed warnings');
  });

  it('scores an exposure of 2.0 or lower', (t) => {
    if (!have) return t.skip('systemd-analyze is not installed (.ci/run installs systemd)');
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], {
      encoding: 'utf8',
    });
    const m = /Overall exposure level for skip-server\.service: ([0-9.]+)/.exec(r.stdout + r.stderr);
    assert.ok(m, r.stdout + r.stderr);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
  });

  it('takes the master key as a credential, and binds port 443 with one capability only', () => {
    const text = readFileSync(UNIT, 'utf8');
    assert.match(text, /^LoadCredential=master-key:/m);
    assert.match(text, /^Environment=KEYSTORE_MASTER_KEY_FILE=%d\/master-key$/m);
    assert.match(text, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  });

  it('turns core dumps off, and leaves the site-specific address allow-list to a drop-in', () => {
    const text = readFileSync(UNIT, 'utf8');
    assert.match(text, /^LimitCORE=0$/m);
    assert.doesNotMatch(text, /^IPAddress(Deny|Allow)=/m);
    assert.match(text, /^# +IPAddressDeny=any$/m);
  });
});
