// `skip-server lab --dir D`: a working pair of Key Providers, alice and bob, on loopback with
// generated development secrets, and the `openssl s_client` lines to play both encryptors.
// The first run creates D (CA and certificates via the openssl command, PSKs, ML-KEM pairs,
// two skip.yaml); later runs reuse it. Development only: every secret sits in D.

import { SimKmeNetwork } from '../kme/sim/kme-sim.js';
import { renderSkipYaml } from './skip-yaml.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isSea } from 'node:sea';
import { ConfigError, errorMessage } from '../errors.js';
import { generateKeyFiles } from '../kem/keygen.js';
import type { KemBackend } from '../kem/mlkem.js';
import { newMasterKeyHex } from '../keystore/master-key.js';
import { findEtcd, startLabEtcd, type LabEtcd } from './lab-etcd.js';

/** Where the lab's keys come from: the KPs' own ML-KEM link, two simulated QKD KMEs (ETSI GS
 * QKD 014), or both combined (docs/key-sources.md). */
export const LAB_KEY_SOURCES = ['mlkem', 'etsi014', 'hybrid'] as const;
export type LabKeySource = (typeof LAB_KEY_SOURCES)[number];

export interface LabOptions {
  dir: string;
  /** alice: base (encryptors), base+1 (peers), base+2 (its KME); bob: base+1000, +1001, +1002. */
  basePort: number;
  keySource?: LabKeySource;
  /** bob's instances: 1, or 2 or 3 sharing a local etcd (base+3, base+4) at 127.0.0.1, .2, .3. */
  instances?: number;
  kem: KemBackend;
  out: (s: string) => void;
  err: (s: string) => void;
}

const NAMES = ['alice', 'bob'] as const;
type Name = (typeof NAMES)[number];

function ports(base: number, name: Name): { port: number; mtls: number; kme: number } {
  const o = name === 'alice' ? 0 : 1000;
  return { port: base + o, mtls: base + o + 1, kme: base + o + 2 };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new ConfigError([
      `the lab needs the openssl command for its CA and certificates: ${errorMessage(e).split('\n')[0]}`,
    ]);
  }
}

/** Creates the lab folder unless it exists; returns the config file of each KP. */
export function ensureLab(
  dir: string,
  basePort: number,
  kem: KemBackend,
  keySource: LabKeySource = 'mlkem',
  etcdUrl?: string,
  instances = 1,
): Record<Name, string> {
  const root = resolve(dir);
  const configs = { alice: join(root, 'alice', 'skip.yaml'), bob: join(root, 'bob', 'skip.yaml') };
  // The configs are written last: with both there, the secrets are complete and kept. A half-made
  // lab (interrupted first run) is made again from scratch.
  if (!(existsSync(configs.alice) && existsSync(configs.bob))) makeSecrets(root, kem);
  if (keySource !== 'mlkem') ensureKmeCert(root);
  // The configs hold no secret and are written on every run, so the ports and the key source
  // follow the options.
  const hub = etcdUrl === undefined ? undefined : { url: etcdUrl, instances };
  for (const name of NAMES) writeConfig(root, name, basePort, configs[name], keySource, hub);
  for (let i = 2; i <= instances; i++)
    writeConfig(root, 'bob', basePort, instanceConfig(configs.bob, i), keySource, hub, i);
  return configs;
}

function makeSecrets(root: string, kem: KemBackend): void {
  const ca = join(root, 'ca');
  mkdirSync(ca, { recursive: true, mode: 0o700 });
  openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '825',
      '-subj',
      '/CN=skip-server lab CA',
    ],
    ca,
  );
  for (const name of NAMES) {
    const d = join(root, name);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    labLeaf(ca, d, name, `DNS:${name},DNS:localhost,IP:127.0.0.1`, 'serverAuth,clientAuth');
    writeFileSync(
      join(d, 'psk.txt'),
      `# encryptor ${name}: identity:hexkey\nrouter-${name}:${randomBytes(48).toString('hex')}\n`,
      { mode: 0o600 },
    );
    generateKeyFiles(join(d, 'kem_pub.pem'), join(d, 'kem_priv.pem'), kem, true);
    writeFileSync(join(d, 'master.key'), `${newMasterKeyHex()}\n`, { mode: 0o600 });
  }
  for (const name of NAMES) {
    const peer: Name = name === 'alice' ? 'bob' : 'alice';
    copyFileSync(join(root, peer, 'kem_pub.pem'), join(root, name, `${peer}_kem_pub.pem`));
  }
}

/** bob's config for instance `i` (2 or 3) of a lab hub, beside its first. */
const instanceConfig = (bobConfig: string, i: number): string => join(dirname(bobConfig), `skip-${i}.yaml`);

/** The loopback address of bob's instance `i`: 127.0.0.1, 127.0.0.2, ... (the same ports). */
const instanceHost = (i: number): string => `127.0.0.${i}`;

function writeConfig(
  root: string,
  name: Name,
  basePort: number,
  file: string,
  source: LabKeySource,
  hub?: { url: string; instances: number },
  instance = 1,
): void {
  const ca = join(root, 'ca');
  const peer: Name = name === 'alice' ? 'bob' : 'alice';
  const d = join(root, name);
  const me = ports(basePort, name);
  // In a hub bob's instances share etcd; alice lists them all.
  const bobHub = hub !== undefined && name === 'bob';
  const peerIps =
    hub !== undefined && peer === 'bob'
      ? Array.from({ length: hub.instances }, (_, i) => instanceHost(i + 1))
      : '127.0.0.1';
  writeFileSync(
    file,
    renderSkipYaml({
      header: [
        `skip-server lab: KP ${name}${bobHub ? ` instance ${instance}` : ''}. Development secrets only. Written by every lab run (--base-port).`,
      ],
      localSystemID: name,
      remoteSystems: [
        {
          id: peer,
          // etsi014 has no KP-to-KP link: the KMEs carry the key.
          ...(source !== 'etsi014' && {
            ip: peerIps,
            mtls_port: ports(basePort, peer).mtls,
            pubkey_path: join(d, `${peer}_kem_pub.pem`),
          }),
          ...(source !== 'mlkem' && { key_source: source, sae_id: peer }),
        },
      ],
      settings: {
        algorithm: 'PRF',
        default_key_size_bits: 256,
        default_entropy_bits: 256,
        ...(bobHub
          ? { instance_name: `bob-${instance}`, keystore_backend: 'etcd', etcd: { endpoints: [hub.url] } }
          : { keystore_path: join(d, 'keystore.db') }),
        kem_pub_key_path: join(d, 'kem_pub.pem'),
        kem_priv_key_path: join(d, 'kem_priv.pem'),
        use_psk: true,
        psk_file: join(d, 'psk.txt'),
        psk_identity: name,
        use_ssl: true,
        certfile: join(d, `${name}.pem`),
        keyfile: join(d, `${name}.key`),
        cafile: join(ca, 'ca.pem'),
        host: bobHub ? instanceHost(instance) : '127.0.0.1',
        port: me.port,
        mtls_port: me.mtls,
        // This KP's SAE certificate is its peer-link certificate (CN = its name = its SAE ID).
        ...(source !== 'mlkem' && {
          kme: {
            url: `https://127.0.0.1:${me.kme}`,
            certfile: join(d, `${name}.pem`),
            keyfile: join(d, `${name}.key`),
            cafile: join(ca, 'ca.pem'),
          },
        }),
      },
    }),
  );
}

/** The simulated KMEs' server certificate, made once (a lab from before key sources has none). */
function ensureKmeCert(root: string): void {
  const ca = join(root, 'ca');
  const d = join(root, 'kme');
  if (existsSync(join(d, 'kme.pem'))) return;
  mkdirSync(d, { recursive: true, mode: 0o700 });
  labLeaf(ca, d, 'kme', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** DIR/NAME.key and DIR/NAME.pem: an EC P-256 leaf with these SANs, signed by the lab CA in CA. */
function labLeaf(ca: string, d: string, name: string, sans: string, usage: string): void {
  writeFileSync(join(d, 'san.ext'), `subjectAltName=${sans}\nextendedKeyUsage=${usage}\n`);
  openssl(['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], d);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      join(ca, 'ca.pem'),
      '-CAkey',
      join(ca, 'ca.key'),
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '825',
      '-extfile',
      'san.ext',
    ],
    d,
  );
}

/** The two linked simulated KMEs a QKD lab's KPs use, alice's SAE at the first, bob's at the second. */
async function startKmes(root: string, basePort: number): Promise<SimKmeNetwork> {
  const network = new SimKmeNetwork({
    certfile: join(root, 'kme', 'kme.pem'),
    keyfile: join(root, 'kme', 'kme.key'),
    cafile: join(root, 'ca', 'ca.pem'),
    host: '127.0.0.1',
    saes: { alice: 0, bob: 1 },
  });
  await network.start([ports(basePort, 'alice').kme, ports(basePort, 'bob').kme]);
  return network;
}

/** Set in a lab KP's environment: `serve` stops when its stdin (a pipe from the lab) closes. */
export const LAB_CHILD_ENV = 'SKIP_SERVER_LAB_CHILD';

/** In a KP the lab started: `stop` runs when the lab ends in any way (its pipe to our stdin
 * closes), so no KP outlives it. Elsewhere nothing. */
export function stopWithLab(stop: (why: string) => void): void {
  if (process.env[LAB_CHILD_ENV] !== '1') return;
  process.stdin.on('error', () => stop('lab ended'));
  process.stdin.on('end', () => stop('lab ended'));
  process.stdin.resume();
}

/**
 * Runs both KPs as child processes until SIGINT/SIGTERM; resolves with the exit code. Each child
 * holds a pipe from this process as its stdin and stops when it closes, so the KPs end with the
 * lab however it ends (kill -9, a closed terminal, a broken pipe).
 */
export async function runLab(o: LabOptions): Promise<number> {
  const source = o.keySource ?? 'mlkem';
  const instances = o.instances ?? 1;
  if (instances > 1 && source !== 'mlkem')
    throw new ConfigError([`--instances ${instances} runs with --key-source mlkem only, not ${source}`]);
  // Before anything starts: a hub without etcd stops here, naming the package.
  const etcdCmd = instances > 1 ? findEtcd() : undefined;
  let etcd: LabEtcd | undefined;
  if (etcdCmd) {
    mkdirSync(resolve(o.dir), { recursive: true, mode: 0o700 });
    etcd = await startLabEtcd(etcdCmd, resolve(o.dir), o.basePort + 3, o.basePort + 4);
    o.out(`[etcd] one member at ${etcd.url}, data in ${etcd.dataDir}\n`);
  }
  const stopEtcd = (): void => void etcd?.process.stdin!.end();
  const configs = ensureLab(o.dir, o.basePort, o.kem, source, etcd?.url, instances);
  const units: { label: string; name: Name; config: string }[] = [
    { label: 'alice', name: 'alice', config: configs.alice },
    { label: instances > 1 ? 'bob-1' : 'bob', name: 'bob', config: configs.bob },
    ...Array.from({ length: instances - 1 }, (_, i) => ({
      label: `bob-${i + 2}`,
      name: 'bob' as const,
      config: instanceConfig(configs.bob, i + 2),
    })),
  ];
  let kmes: SimKmeNetwork | undefined;
  try {
    if (source !== 'mlkem') kmes = await startKmes(resolve(o.dir), o.basePort);
  } catch (e) {
    stopEtcd();
    o.err(
      `skip-server lab: the simulated KMEs could not start on ports ${o.basePort + 2} and ${o.basePort + 1002}: ${errorMessage(e)}\n`,
    );
    return 1;
  }
  // In a single executable the program is the executable itself; otherwise node runs the bundle.
  const self = isSea() ? [] : [process.argv[1]!];
  const children: ChildProcess[] = [];
  const listening: Record<Name, number> = { alice: 0, bob: 0 };
  const started = units.map(
    ({ label, name, config }) =>
      new Promise<void>((ready, fail) => {
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          KEYSTORE_MASTER_KEY_FILE: join(dirname(config), 'master.key'),
          [LAB_CHILD_ENV]: '1',
        };
        delete env.KEYSTORE_MASTER_KEY;
        const child = spawn(process.execPath, [...self, 'serve', '--config', config], {
          stdio: ['pipe', 'pipe', 'pipe'],
          env,
        });
        children.push(child);
        let buf = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            o.out(`[${label}] ${line}\n`);
            if (line.includes('"event":"started"')) {
              listening[name] = (JSON.parse(line) as { encryptor: { port: number } }).encryptor.port;
              ready();
            }
          }
        });
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          o.err(`[${label}] ${d.toString()}`);
        });
        child.on('exit', (code) => fail(new LabChildFailed(name, code, stderr)));
      }),
  );
  const stop = (): void => {
    children.forEach((c) => c.kill('SIGTERM'));
    stopEtcd();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await Promise.all(started);
  } catch (e) {
    stop();
    await kmes?.close();
    if (!(e instanceof LabChildFailed)) throw e;
    if (/port is in use/.test(e.stderr)) {
      o.err(
        `skip-server lab: a lab port is in use (another lab still running?). Choose other ports: ` +
          `npm start -- --base-port N, or skip-server lab --base-port N (now ${o.basePort}: ` +
          `alice ${o.basePort} and ${o.basePort + 1}, bob ${o.basePort + 1000} and ${o.basePort + 1001})\n`,
      );
      return 1;
    }
    throw new ConfigError([`KP ${e.kp} exited (${e.code}) before it started`]);
  }
  o.out(instructions(resolve(o.dir), listening, source, instances));
  await Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r)))),
  );
  stopEtcd();
  await kmes?.close();
  return 0;
}

const SOURCE_WORDS: Record<LabKeySource, string> = {
  mlkem: "the KPs' own ML-KEM-1024 link",
  etsi014: 'two simulated QKD KMEs (ETSI GS QKD 014), one beside each KP',
  hybrid: 'both: a simulated QKD key and an ML-KEM-1024 key, combined (docs/key-sources.md)',
};

class LabChildFailed extends Error {
  constructor(
    readonly kp: Name,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`KP ${kp} exited (${code}) before it started`);
  }
}

function instructions(
  dir: string,
  port: Record<Name, number>,
  source: LabKeySource,
  instances: number,
): string {
  const line = (name: Name, path: string, host = '127.0.0.1'): string =>
    `printf 'GET ${path} HTTP/1.1\\r\\nHost: ${name}\\r\\nConnection: close\\r\\n\\r\\n' | ` +
    `openssl s_client -quiet -connect ${host}:${port[name]} -tls1_2 -cipher PSK-AES256-GCM-SHA384 ` +
    `-psk_identity router-${name} -psk "$(grep -v '^#' ${dir}/${name}/psk.txt | cut -d: -f2)"`;
  const bobs = Array.from({ length: instances }, (_, i) => instanceHost(i + 1));
  const hub =
    instances > 1
      ? `
bob is a hub of ${instances} instances (${bobs.map((h) => `${h}:${port.bob}`).join(', ')}) sharing one etcd:
alice pushes to any of them, and a key can be taken at any of them, once. Take it at another:

${bobs
  .slice(1)
  .map((h) => `  ${line('bob', '/key/KEYID?remoteSystemID=alice', h)}\n`)
  .join('')}`
      : '';
  return `
skip-server lab is up: KP alice on 127.0.0.1:${port.alice}, KP bob on ${bobs.map((h) => `${h}:${port.bob}`).join(' and ')} (lab in ${dir}).
Keys come from ${SOURCE_WORDS[source]}.
Play encryptor alice (a new key shared with bob; note its keyId):

  ${line('alice', '/key?remoteSystemID=bob')}

Play encryptor bob (the same key, once), putting alice's keyId in place of KEYID:

  ${line('bob', '/key/KEYID?remoteSystemID=alice')}
${hub}
Or check the pair as both routers would (TLS 1.2 and 1.3, each step timed), from another terminal:

  ${probeLine(dir, port)}

${instances > 1 ? 'Ctrl-C stops them all, etcd too.' : 'Ctrl-C stops both.'}
`;
}

/** The probe command for this lab, run by the same program as the lab itself. */
function probeLine(dir: string, port: Record<Name, number>): string {
  const self = isSea()
    ? process.execPath
    : `${basename(process.execPath)} ${relative(process.cwd(), process.argv[1]!) || process.argv[1]}`;
  return (
    `${self} probe --kp 127.0.0.1:${port.alice} --identity router-alice --psk-file ${dir}/alice/psk.txt ` +
    `--peer-kp 127.0.0.1:${port.bob} --peer-identity router-bob --peer-psk-file ${dir}/bob/psk.txt`
  );
}
