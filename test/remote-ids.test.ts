import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob } from '../src/ids/glob.js';
import { RemoteDirectory } from '../src/config/remote-ids.js';
import { parseSystemId, type SystemId } from '../src/ids/system-id.js';

const id = (s: string): SystemId => parseSystemId(s)!;

describe('remoteSystemID globs (draft §4.1.2, Table 5)', () => {
  it('matches *, ?, [list], [!list], ranges and escapes as POSIX fnmatch does', () => {
    const cases: [string, string, boolean][] = [
      ['KP_*_LOC1', 'KP_ALICE_LOC1', true],
      ['KP_*_LOC1', 'KP_ALICE_LOC2', false],
      ['spoke-?', 'spoke-7', true],
      ['spoke-?', 'spoke-17', false],
      ['site[123]', 'site2', true],
      ['site[123]', 'site4', false],
      ['site[!123]', 'site4', true],
      ['site[!123]', 'site1', false],
      ['site[a-c]', 'siteb', true],
      ['site[a-c]', 'sited', false],
      ['site[]a]', 'site]', true],
      ['a\\*b', 'a*b', true],
      ['a\\*b', 'axb', false],
      ['x.y', 'xzy', false],
    ];
    for (const [pattern, name, expected] of cases)
      assert.equal(compileGlob(pattern).test(name), expected, `${pattern} ~ ${name}`);
  });

  it('rejects malformed patterns', () => {
    assert.throws(() => compileGlob('site[12'), /unterminated/);
    assert.throws(() => compileGlob('site\\'), /lone/);
  });

  it('resolves exact entries first, substitutes {id}, and never resolves our own ID', () => {
    const dir = new RemoteDirectory(
      'hub',
      [
        { id: 'spoke-9', ip: '10.9.9.9', pubkey_path: '/k/special.pem' },
        { id: 'spoke-*', ip: '{id}.example', pubkey_path: '/k/{id}.pem', mtls_port: 9443 },
        { id: 'h*', ip: '10.0.0.1', pubkey_path: '/k/h.pem' },
      ],
      8443,
    );
    assert.equal(dir.resolve(id('spoke-9'))!.ip, '10.9.9.9');
    const r = dir.resolve(id('spoke-12'))!;
    assert.deepEqual(
      [r.ip, r.pubkeyPath, r.mtlsPort, r.clientIdentities],
      ['spoke-12.example', '/k/spoke-12.pem', 9443, ['spoke-12']],
    );
    assert.equal(dir.resolve(id('hub')), undefined);
    assert.equal(dir.resolve(id('nobody')), undefined);
  });

  it('lets no unsafe ID reach a pattern that would put it in a path or host', () => {
    const dir = new RemoteDirectory('hub', [{ id: '*', ip: '{id}', pubkey_path: '/k/{id}.pem' }], 8443);
    for (const bad of ['../../etc/passwd', 'a/b', 'x y', '.hidden', 'a:b'])
      assert.equal(dir.resolve(id(bad)), undefined, bad);
    assert.equal(dir.resolve(id('ok.name-1'))!.pubkeyPath, '/k/ok.name-1.pem');
  });

  it('parses system IDs: no control characters, no surrounding space, at most 255 bytes', () => {
    assert.equal(parseSystemId(''), undefined);
    assert.equal(parseSystemId(' a'), undefined);
    assert.equal(parseSystemId('a\nb'), undefined);
    assert.equal(parseSystemId('x'.repeat(256)), undefined);
    assert.equal(parseSystemId('skip2.cml.lab'), 'skip2.cml.lab');
  });
});
