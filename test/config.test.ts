import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONFIG_KEYS,
  ETCD_KEYS,
  KME_KEYS,
  REMOTE_KEYS,
  loadConfig,
  parseConfig,
  suggest,
} from '../src/config/load.js';
import { instanceFromHost } from '../src/config/cross-check.js';
import { ConfigError } from '../src/errors.js';
import { firstInvalidUtf8 } from '../src/utf8.js';
import { cgroupMemoryLimit, resolveProfile } from '../src/memory-profile.js';
import { tempDir } from './helpers/tmp.js';

// The example from the reference Python Key Provider's README, unchanged.
const REFERENCE = `---
localSystemID: "skip1.cml.lab"

# Remote SKIP servers for key exchange
remoteSystems:
  - id: "skip2.cml.lab"
    ip: "172.31.255.2"
    pubkey_path: "/data/appdata/secrets/skip2_kem_pub.pem"

algorithm: "PRF"
default_key_size_bits: 256
default_entropy_bits: 256
keystore_path: "/data/appdata/secrets/keystore.db"
kem_pub_key_path: "/data/appdata/secrets/kem_pub.pem"
kem_priv_key_path: "/data/appdata/secrets/kem_priv.pem"

# TLS-PSK for router clients
use_psk: true
psk_file: "/data/appdata/secrets/psk.txt"
psk_identity: "skip1.cml.lab"

# mTLS for server-to-server
use_ssl: true
certfile: "/data/appdata/certs/skip1.pem.crt"
keyfile: "/data/appdata/certs/skip1_key.pem"
cafile: "/data/appdata/certs/ca/ca.pem"
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'skip.yaml', '/etc/skip.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it("loads the reference Key Provider's example unchanged, with defaults", () => {
    const c = parseConfig(REFERENCE, 'skip.yaml');
    assert.equal(c.localSystemID, 'skip1.cml.lab');
    assert.deepEqual(c.remoteSystems, [
      {
        id: 'skip2.cml.lab',
        ip: '172.31.255.2',
        pubkey_path: '/data/appdata/secrets/skip2_kem_pub.pem',
        key_source: 'mlkem',
      },
    ]);
    assert.equal(c.port, 443);
    assert.equal(c.mtls_port, 8443);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.use_psk, true);
    assert.equal(c.psk_identity, 'skip1.cml.lab');
  });

  it('reads YAML 1.1 booleans as PyYAML does (yes/no/on/off)', () => {
    const c = parseConfig(REFERENCE.replace('use_psk: true', 'use_psk: yes'), 'skip.yaml');
    assert.equal(c.use_psk, true);
  });

  it('names an unknown key, its line, and the likely intended key', () => {
    const p = problems(REFERENCE.replace('default_key_size_bits', 'default_key_bits'));
    assert.deepEqual(p, [
      'skip.yaml:11: unknown key "default_key_bits"; did you mean "default_key_size_bits"?',
    ]);
    const q = problems(REFERENCE.replace('localSystemID', 'localSystemId'));
    assert.match(q[0]!, /^skip\.yaml:2: unknown key "localSystemId"; did you mean "localSystemID"\?/);
    const r = problems(REFERENCE.replace('    ip:', '    ipp:'));
    assert.match(
      r.join('\n'),
      /skip\.yaml:7: unknown key "remoteSystems\[0\]\.ipp"; did you mean "remoteSystems\[0\]\.ip"\?/,
    );
  });

  it('reports every problem at once, each with its line and reason', () => {
    const p = problems(
      REFERENCE.replace('default_key_size_bits: 256', 'default_key_size_bits: 100').replace(
        'use_ssl: true',
        'use_ssl: maybe',
      ),
    );
    assert.equal(p.length, 2);
    assert.match(p[0]!, /skip\.yaml:11: "default_key_size_bits" must be a number of bits from 128 to 256/);
    assert.match(p[1]!, /skip\.yaml:\d+: "use_ssl" must be true or false/);
  });

  it('reports a missing required key and a YAML syntax error', () => {
    assert.match(
      problems(REFERENCE.replace(/^localSystemID.*$/m, '')).join(),
      /missing required key "localSystemID"/,
    );
    assert.match(
      problems(REFERENCE.replace('ip: "172', 'ip: [172')).join(),
      /^skip\.yaml:\d+: YAML syntax error/,
    );
    assert.match(problems(REFERENCE + 'port: 443\nport: 444\n').join(), /YAML syntax error.*unique/i);
  });

  it('refuses plain HTTP, duplicate peers, our own ID as a peer, and bad patterns', () => {
    assert.match(
      problems(
        REFERENCE.replace('use_psk: true', 'use_psk: false').replace('use_ssl: true', 'use_ssl: false'),
      ).join(),
      /plain HTTP is never served/,
    );
    const twice = REFERENCE.replace(
      'remoteSystems:\n',
      'remoteSystems:\n  - id: "skip2.cml.lab"\n    ip: "10.0.0.1"\n    pubkey_path: "/k.pem"\n',
    );
    assert.match(problems(twice).join(), /remoteSystems\[1\]\.id" repeats remoteSystems\[0\]/);
    assert.match(
      problems(REFERENCE.replace('id: "skip2.cml.lab"', 'id: "skip1.cml.lab"')).join(),
      /own localSystemID/,
    );
    assert.match(
      problems(REFERENCE.replace('id: "skip2.cml.lab"', 'id: "skip[2.cml.lab"')).join(),
      /unterminated "\["/,
    );
    assert.match(
      problems(REFERENCE.replace('ip: "172.31.255.2"', 'ip: "{id}.lab"')).join(),
      /uses \{id\} but its id/,
    );
  });

  it('reads keystore_backend etcd and its block, with the default prefix and timeouts', () => {
    const c = parseConfig(
      `${REFERENCE}keystore_backend: etcd\netcd:\n  endpoints: ["https://10.0.0.1:2379", "https://e2:2379"]\n`,
      'skip.yaml',
    );
    assert.equal(c.keystore_backend, 'etcd');
    assert.deepEqual(c.etcd, {
      endpoints: ['https://10.0.0.1:2379', 'https://e2:2379'],
      prefix: '/skip-server/skip1.cml.lab/',
      dial_timeout_ms: 2000,
      request_timeout_ms: 5000,
    });
    assert.equal(parseConfig(REFERENCE, 'skip.yaml').keystore_backend, 'file');
    const noPath = REFERENCE.replace(/^keystore_path: .*\n/m, '');
    assert.notEqual(noPath, REFERENCE);
    assert.match(problems(noPath).join(), /missing required key "keystore_path"/);
    const etcd = parseConfig(
      `${noPath}keystore_backend: etcd\netcd:\n  endpoints: ["http://e:2379"]\n`,
      'skip.yaml',
    );
    assert.equal(etcd.keystore_path, undefined);
  });

  it('names each problem of the etcd settings', () => {
    assert.match(
      problems(`${REFERENCE}keystore_backend: etcd\n`).join(),
      /"keystore_backend" is etcd but "etcd" is not set/,
    );
    assert.match(
      problems(`${REFERENCE}keystore_backend: etc\n`).join(),
      /must be one of file, etcd; did you mean "etcd"\?/,
    );
    const bad = problems(
      `${REFERENCE}keystore_backend: etcd\netcd:\n  endpoints: ["10.0.0.1:2379", "http://e/v3"]\n  prefix: "/x"\n  certfile: "/c.pem"\n`,
    ).join('\n');
    assert.match(bad, /"etcd\.endpoints\[0\]" is "10\.0\.0\.1:2379": an http:\/\/ or https:\/\/ host:port/);
    assert.match(bad, /"etcd\.endpoints\[1\]"/);
    assert.match(bad, /"etcd\.prefix" must end with "\/"/);
    assert.match(bad, /"etcd\.certfile" and "etcd\.keyfile" go together/);
    assert.match(
      bad,
      /"etcd\.cafile"\/"etcd\.certfile" are set but "etcd\.endpoints" are http:\/\/ \(no TLS\)/,
    );
    const mixed = `${REFERENCE}keystore_backend: etcd\netcd:\n  endpoints: ["http://a:2379", "https://b:2379"]\n`;
    assert.match(problems(mixed).join(), /"etcd\.endpoints" mixes http:\/\/ and https:\/\//);
    assert.match(
      problems(`${REFERENCE}etcd:\n  endpoints: ["http://e:2379"]\n  endpoint: 1\n`).join(),
      /unknown key "etcd\.endpoint"; did you mean "etcd\.endpoints"\?/,
    );
    assert.match(
      problems(`${REFERENCE}etcd:\n  endpoints: ["http://e:2379"]\n`).join(),
      /"etcd" is set but "keystore_backend" is file/,
    );
  });

  it('reads remoteSystems[].ip as one address or a list, checking each', () => {
    const one = parseConfig(REFERENCE, 'skip.yaml').remoteSystems[0]!;
    assert.equal(one.ip, '172.31.255.2');
    const list = REFERENCE.replace('    ip: "172.31.255.2"', '    ip: ["172.31.255.2", "172.31.255.3"]');
    assert.deepEqual(parseConfig(list, 'skip.yaml').remoteSystems[0]!.ip, ['172.31.255.2', '172.31.255.3']);
    const bad = REFERENCE.replace('    ip: "172.31.255.2"', '    ip: ["172.31.255.2", "172.31.255.3:8443"]');
    assert.match(
      problems(bad).join(),
      /"remoteSystems\[0\]\.ip\[1\]" is "172\.31\.255\.3:8443": an address or host name only/,
    );
    const ip = (v: string): string => REFERENCE.replace('    ip: "172.31.255.2"', `    ip: ${v}`);
    // Host names (RFC 1123), alone or mixed with literals, and IPv6 literals are taken.
    for (const ok of ['"kp.hub.example"', '["kp-1.hub.example.", "10.0.0.3"]', '"kp"', '"fd00::2"'])
      assert.ok(parseConfig(ip(ok), 'skip.yaml').remoteSystems[0]!.ip, ok);
    for (const [v, field, value] of [
      ['"kp hub.example"', 'ip', 'kp hub.example'],
      ['["10.0.0.2", "kp_1.hub.example"]', 'ip[1]', 'kp_1.hub.example'],
      ['"-kp.example"', 'ip', '-kp.example'],
      ['"kp..example"', 'ip', 'kp..example'],
      ['"10.0.0.256"', 'ip', '10.0.0.256'],
      [`"${'a'.repeat(64)}.example"`, 'ip', `${'a'.repeat(64)}.example`],
    ] as const)
      assert.match(
        problems(ip(v)).join(),
        new RegExp(
          `"remoteSystems\\[0\\]\\.${field.replace(/[[\]]/g, '\\$&')}" is "${value.replace(/\./g, '\\.')}": neither an IP address nor a host name`,
        ),
        v,
      );
    const empty = REFERENCE.replace('    ip: "172.31.255.2"', '    ip: []');
    assert.match(problems(empty).join(), /"remoteSystems\[0\]\.ip" must be a non-empty list of strings/);
  });

  it('config/skip.yaml.example parses and documents every key', () => {
    const text = readFileSync('config/skip.yaml.example', 'utf8');
    parseConfig(text, 'skip.yaml.example');
    for (const key of [...CONFIG_KEYS(), ...REMOTE_KEYS(), ...KME_KEYS(), ...ETCD_KEYS()])
      assert.match(text, new RegExp(`^\\s*#?\\s*-?\\s*${key}:`, 'm'), key);
  });

  it('reads instance_name, and refuses one that a metric label would garble', () => {
    assert.equal(
      parseConfig(`${REFERENCE}instance_name: hub-a.dc1\n`, 'skip.yaml').instance_name,
      'hub-a.dc1',
    );
    assert.equal(parseConfig(REFERENCE, 'skip.yaml').instance_name, undefined);
    for (const bad of ['"hub a"', '"hub\\"a"', `"${'x'.repeat(65)}"`, '"h\u00e9"']) {
      const p = problems(`${REFERENCE}instance_name: ${bad}\n`);
      assert.ok(
        p.some((x) => x.includes('"instance_name" must be 1 to 64 printable ASCII characters')),
        `${bad}: ${p.join('; ')}`,
      );
    }
    assert.equal(instanceFromHost('kp 1\u00e9'), 'kp_1_');
    assert.equal(instanceFromHost(''), 'kp');
  });

  it('treats prototype names as unknown keys, at the top and in remoteSystems', () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assert.match(problems(`${REFERENCE}${key}: 1\n`).join(), new RegExp(`unknown key "${key}"`), key);
      const remote = REFERENCE.replace('    ip: "172.31.255.2"', `    ip: "172.31.255.2"\n    ${key}: 1`);
      assert.match(problems(remote).join(), new RegExp(`unknown key "remoteSystems\\[0\\]\\.${key}"`), key);
    }
  });

  it('refuses YAML aliases and merge keys by name', () => {
    const alias = REFERENCE.replace('psk_identity: "skip1.cml.lab"', 'psk_identity: *me').replace(
      'localSystemID: "skip1.cml.lab"',
      'localSystemID: &me "skip1.cml.lab"',
    );
    assert.match(problems(alias).join(), /skip\.yaml:\d+: YAML aliases \(\*me\) are not supported/);
    const merge = REFERENCE.replace('    ip: "172.31.255.2"', '    <<: {ip: "172.31.255.2"}');
    assert.match(problems(merge).join(), /YAML merge keys \(<<\) are not supported/);
  });

  it('refuses a file that is not valid UTF-8, naming the line and byte offset', (t) => {
    const file = join(tempDir(t), 'skip.yaml');
    const text = Buffer.from(REFERENCE.replace('"skip1.cml.lab"', '"skip1.cml.lab-XX"'));
    const at = text.indexOf('XX');
    text[at] = 0xc3;
    text[at + 1] = 0x28; // a lead byte without its continuation
    writeFileSync(file, text);
    assert.throws(
      () => loadConfig(file),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.join() ===
          `${file}:2: not valid UTF-8 at byte offset ${at} (0xc3); save the file as UTF-8`,
    );
    assert.equal(firstInvalidUtf8(Buffer.from('h\u00e9llo \u{1f511}')), -1);
    for (const bad of [
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ])
      assert.equal(firstInvalidUtf8(Buffer.from([0x41, ...bad])), 1, bad.join());
  });

  it('reads memory_profile, and picks the profile from the cgroup memory limit for auto', () => {
    assert.equal(parseConfig(REFERENCE, 'skip.yaml').memory_profile, 'auto');
    assert.equal(
      parseConfig(`${REFERENCE}memory_profile: c1.small\n`, 'skip.yaml').memory_profile,
      'c1.small',
    );
    assert.match(
      problems(`${REFERENCE}memory_profile: c1.smal\n`).join(),
      /"memory_profile" must be one of auto, c1\.small, c1\.medium, appliance; did you mean "c1\.small"\?/,
    );
    const MiB = 1024 * 1024;
    assert.equal(resolveProfile('auto', 64 * MiB).name, 'c1.small');
    assert.equal(resolveProfile('auto', 128 * MiB).name, 'c1.medium');
    assert.equal(resolveProfile('auto', 256 * MiB).name, 'appliance');
    assert.deepEqual(resolveProfile('auto', undefined), {
      name: 'appliance',
      reason: 'no cgroup memory limit',
    });
    assert.equal(resolveProfile('c1.medium', 64 * MiB).name, 'c1.medium');
    const files = (map: Record<string, string>) => (f: string) => {
      const text = map[f];
      if (text === undefined) throw new Error('ENOENT');
      return text;
    };
    // cgroup v1 without a namespace: the limit is at the process's own path, not the root.
    const v1 = files({
      '/proc/self/cgroup': '5:devices:/\n4:memory:/skip-a\n0::/\n',
      '/sys/fs/cgroup/memory/skip-a/memory.limit_in_bytes': '67108864\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    assert.equal(cgroupMemoryLimit(v1), 64 * MiB);
    const v2 = files({
      '/proc/self/cgroup': '0::/system.slice/skip-server.service\n',
      '/sys/fs/cgroup/system.slice/skip-server.service/memory.max': '268435456\n',
    });
    assert.equal(cgroupMemoryLimit(v2), 256 * MiB);
    const none = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': 'max\n' });
    assert.equal(cgroupMemoryLimit(none), undefined);
    assert.equal(cgroupMemoryLimit(files({})), undefined);
  });

  it('refuses a peer that would be this KP itself (same host, its own peer port)', () => {
    const self = REFERENCE.replace('ip: "172.31.255.2"', 'ip: "127.0.0.1"');
    assert.match(
      problems(self).join(),
      /"remoteSystems\[0\]" \(skip2\.cml\.lab\) would be dialled at 127\.0\.0\.1:8443, this KP's own peer port; set "remoteSystems\[0\]\.mtls_port" to the peer's port \(it defaults to this KP's mtls_port\)/,
    );
    const fixed = self.replace('    ip: "127.0.0.1"', '    ip: "127.0.0.1"\n    mtls_port: 9443');
    assert.equal(parseConfig(fixed, 'skip.yaml').remoteSystems[0]!.mtls_port, 9443);
  });

  it('refuses a port written into a peer ip, saying where it goes', () => {
    const bad = REFERENCE.replace('ip: "172.31.255.2"', 'ip: "10.0.0.2:9443"');
    assert.match(
      problems(bad).join(),
      /"remoteSystems\[0\]\.ip" is "10\.0\.0\.2:9443": an address or host name only; put the port in "remoteSystems\[0\]\.mtls_port: 9443"/,
    );
    assert.equal(
      parseConfig(REFERENCE.replace('172.31.255.2', 'fd00::2'), 'skip.yaml').remoteSystems[0]!.ip,
      'fd00::2',
    );
  });

  it('suggests only close keys', () => {
    assert.equal(suggest('prot', ['port', 'host']), 'port');
    assert.equal(suggest('completely_different', ['port', 'host']), undefined);
  });
});
