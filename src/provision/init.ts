// `skip-server init --dir D --id NAME [--peer NAME=HOST ...] [--layout host|iox]`: the files one
// production Key Provider needs, in D: skip.yaml, psk.txt, kem_pub.pem/kem_priv.pem, master.key
// (secrets 0600), and the next steps to print. Certificates come from the CA every KP trusts
// (`skip-server cert`, on the machine that keeps ca.key), so they are named, not made. Nothing
// that exists is replaced.
//
// Layout host: every file in D, skip.yaml names them where they are (systemd, a plain host).
// Layout iox: D holds config/, secrets/ and certs/ as the IOx app's volume will, and skip.yaml
// names them under /data/appdata, where `app-hosting data ... copy` puts them.

import { renderSkipYaml } from './skip-yaml.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { generateKeyFiles, writeFileAtomic } from '../kem/keygen.js';
import type { KemBackend } from '../kem/mlkem.js';
import { newMasterKeyHex } from '../keystore/master-key.js';
import { isGlob } from '../ids/glob.js';
import { parseSystemId } from '../ids/system-id.js';
import { routerConfig } from './ios-xe.js';

export const LAYOUTS = ['host', 'iox'] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface InitOptions {
  dir: string;
  id: string;
  /** NAME=HOST pairs. */
  peers: string[];
  /** Where the keystore goes (default DIR/keystore.db; under systemd /var/lib/skip-server/...). */
  keystore?: string;
  layout?: Layout;
  kem: KemBackend;
  /** This KP's address as routers and peers reach it (router configuration, certificate SAN). */
  address?: string;
  /** The first router's PSK identity (default router-1). */
  router?: string;
}

/** The admin listener init turns on: loopback only. */
export const INIT_ADMIN_PORT = 9443;

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** CAF_APP_PERSISTENT_DIR inside the IOx container. */
const IOX_ROOT = '/data/appdata';

interface Peer {
  name: string;
  host: string;
}

function parseInput(o: InitOptions): Peer[] {
  const problems: string[] = [];
  if (!SAFE_ID.test(o.id) || !parseSystemId(o.id) || isGlob(o.id))
    problems.push(`--id "${o.id}": use letters, digits, '.', '_' and '-'`);
  const peers = o.peers.map((p) => {
    const eq = p.indexOf('=');
    const [name, host] = eq > 0 ? [p.slice(0, eq), p.slice(eq + 1)] : [p, ''];
    if (!SAFE_ID.test(name) || host === '' || /\s/.test(host))
      problems.push(`--peer "${p}": expected NAME=HOST`);
    if (name === o.id) problems.push(`--peer "${p}": that is this KP's own --id`);
    return { name, host };
  });
  if (new Set(peers.map((p) => p.name)).size !== peers.length) problems.push('--peer names must differ');
  if (o.address !== undefined && (o.address === '' || /[\s"]/.test(o.address)))
    problems.push(`--address "${o.address}": an IP address or host name`);
  if (o.router !== undefined && !SAFE_ID.test(o.router))
    problems.push(`--router "${o.router}": use letters, digits, '.', '_' and '-'`);
  if (o.layout === 'iox' && o.keystore !== undefined && !o.keystore.startsWith(`${IOX_ROOT}/`))
    problems.push(`--keystore "${o.keystore}": with --layout iox it must be under ${IOX_ROOT}/`);
  if (problems.length > 0) throw new ConfigError(problems);
  return peers;
}

/** Where each file is written (local) and what skip.yaml calls it (named). The layouts differ
 * only in their folders and in where skip.yaml's paths point. */
function layoutPaths(d: string, o: InitOptions) {
  const iox = o.layout === 'iox';
  const [conf, sec, peerDir] = iox ? ['config/', 'secrets/', 'secrets/'] : ['', '', 'peers/'];
  const short = o.id.split('.')[0]!;
  const local = (p: string): string => join(d, p);
  const named = iox ? (p: string): string => `${IOX_ROOT}/${p}` : local;
  return {
    files: {
      config: `${conf}skip.yaml`,
      psk: `${sec}psk.txt`,
      pub: `${sec}kem_pub.pem`,
      priv: `${sec}kem_priv.pem`,
      master: `${sec}master.key`,
    },
    peerKey: (name: string) => `${peerDir}${name}_kem_pub.pem`,
    cert: `certs/${short}.pem.crt`,
    key: `certs/${short}_key.pem`,
    ca: 'certs/ca.pem',
    keystore: o.keystore === undefined ? named(`${sec}keystore.db`) : iox ? o.keystore : resolve(o.keystore),
    local,
    named,
    dirs: [...new Set([conf, sec, peerDir, 'certs/'].filter(Boolean))].map(local),
  };
}

export function initKp(o: InitOptions): string {
  const peers = parseInput(o);
  const d = resolve(o.dir);
  const L = layoutPaths(d, o);
  const there = Object.values(L.files)
    .map(L.local)
    .filter((p) => existsSync(p));
  if (there.length > 0)
    throw new ConfigError(there.map((p) => `${p}: exists; init never replaces files (choose another --dir)`));
  for (const dir of L.dirs) mkdirSync(dir, { recursive: true, mode: 0o700 });

  const pskKey = randomBytes(48);
  const pskHex = pskKey.toString('hex');
  pskKey.fill(0);
  writeFileAtomic(
    L.local(L.files.psk),
    Buffer.from(
      `# encryptors of ${o.id}: identity:hexkey (skip-server psk add adds more)\n${router(o)}:${pskHex}\n`,
    ),
    0o600,
  );
  generateKeyFiles(L.local(L.files.pub), L.local(L.files.priv), o.kem, false);
  writeFileAtomic(L.local(L.files.master), Buffer.from(`${newMasterKeyHex()}\n`), 0o600);
  writeFileAtomic(L.local(L.files.config), Buffer.from(configText(o, peers, L)), 0o644);

  const steps = [
    exchangeStep(o, peers, L),
    certificateStep(o, L),
    o.layout === 'iox' ? ioxStep(o, d, peers, L) : hostStep(L),
    `On each router (IOS XE) served by this KP; see the README's router section:\n${indent(
      routerConfig({
        kpAddress: o.layout === 'iox' ? '169.254.0.2' : (o.address ?? 'THIS-KP-ADDRESS'),
        identity: router(o),
        pskHex,
      }),
      5,
    )}`,
  ];
  return `Wrote ${d}: ${Object.values(L.files).join(', ')} (secrets mode 0600).
Next steps:
${steps.map((s, i) => `  ${i + 1}. ${s}`).join('\n')}
`;
}

type Paths = ReturnType<typeof layoutPaths>;

const router = (o: InitOptions): string => o.router ?? 'router-1';

function configText(o: InitOptions, peers: Peer[], L: Paths): string {
  const remotes = (peers.length ? peers : [{ name: 'PEER', host: 'PEER-ADDRESS' }]).map((p) => ({
    id: p.name,
    ip: p.host,
    pubkey_path: L.named(L.peerKey(p.name)),
  }));
  return renderSkipYaml({
    header: [
      `skip-server ${o.id}, written by skip-server init${o.layout === 'iox' ? ' --layout iox (paths inside the IOx app)' : ''}. Reference: config/skip.yaml.example.`,
    ],
    localSystemID: o.id,
    remoteSystems: remotes,
    settings: {
      algorithm: 'PRF',
      default_key_size_bits: 256,
      default_entropy_bits: 256,
      key_ttl_seconds: 3600,
      keystore_path: L.keystore,
      kem_pub_key_path: L.named(L.files.pub),
      kem_priv_key_path: L.named(L.files.priv),
      use_psk: true,
      psk_file: L.named(L.files.psk),
      psk_identity: o.id,
      use_ssl: true,
      certfile: L.named(L.cert),
      keyfile: L.named(L.key),
      cafile: L.named(L.ca),
      host: '0.0.0.0',
      port: 443,
      mtls_port: 8443,
      admin_host: '127.0.0.1',
      admin_port: INIT_ADMIN_PORT,
    },
    comments: {
      ...(peers.length === 0 && {
        remoteSystems:
          'add each peer KP: its localSystemID, address and public key (the PEER entry is a placeholder)',
      }),
      admin_host:
        '/healthz and Prometheus /metrics, plain HTTP on loopback (never keys); delete both lines to turn off.',
    },
  });
}

function exchangeStep(o: InitOptions, peers: Peer[], L: Paths): string {
  const pub = L.local(L.files.pub);
  if (peers.length === 0)
    return `Add each peer Key Provider to ${L.local(L.files.config)} (remoteSystems: its localSystemID,
     address and public key file; see the PEER placeholder there), then exchange ML-KEM public keys:
     - give ${pub} to each peer KP
     - save each peer's kem_pub.pem here as ${L.local(L.peerKey('PEER'))} (PEER: its localSystemID)`;
  return `Exchange ML-KEM public keys with the peer Key Providers:\n${peers
    .map(
      (p) =>
        `     - give ${pub} to ${p.name}, to be saved there as its ${basename(L.peerKey(o.id))}\n` +
        `     - save ${p.name}'s kem_pub.pem here as ${L.local(L.peerKey(p.name))}`,
    )
    .join('\n')}`;
}

function certificateStep(o: InitOptions, L: Paths): string {
  const certs = dirname(L.local(L.cert));
  const address = o.address ?? 'THIS-KP-ADDRESS';
  return `Certificates for the peer link, signed by the CA every KP trusts (the executable makes them
     with openssl; scripts/create_ca.sh and scripts/sign_server_cert.sh in the source do the same):
       skip-server cert ca --dir CA_DIR                  (once, for all KPs; keep ca.key offline)
       skip-server cert sign --ca CA_DIR --out ${certs} --name ${o.id} --san ${address}
       cp CA_DIR/ca.pem ${L.local(L.ca)}
     The certificate must name ${o.id} (DNS SAN): the peers check it against their remoteSystems id.${
       o.address === undefined ? "\n     (--address gives this KP's address instead of THIS-KP-ADDRESS.)" : ''
     }`;
}

function hostStep(L: Paths): string {
  const config = L.local(L.files.config);
  const master = L.local(L.files.master);
  const dir = dirname(L.keystore);
  const missing = existsSync(dir)
    ? ''
    : `\n     The keystore's folder ${dir} does not exist yet: under systemd, StateDirectory= makes it
     at the first start (check-config says so); elsewhere: mkdir -m 0700 ${dir}`;
  return `Check, then start (the master key stays out of skip.yaml):
       KEYSTORE_MASTER_KEY_FILE=${master} skip-server check-config --config ${config}
       KEYSTORE_MASTER_KEY_FILE=${master} skip-server serve --config ${config}
     or install the systemd service as the README shows.${missing}`;
}

function ioxStep(o: InitOptions, d: string, peers: Peer[], L: Paths): string {
  const bootflash = basename(d);
  const files = [
    L.files.config,
    L.files.psk,
    L.files.master,
    L.files.pub,
    L.files.priv,
    ...(peers.length ? peers.map((p) => L.peerKey(p.name)) : [L.peerKey('PEER')]),
    L.ca,
    L.cert,
    L.key,
  ];
  const copy = files.map(
    (f) => `Router# app-hosting data appid SKIP_Server copy bootflash:${bootflash}/${f} ${f}`,
  );
  return `Copy ${d} to the router's bootflash as ${bootflash}/ (scp -r), install the package
     (iox/README.md), then copy each file onto the app's volume and start it:
${indent(copy.join('\n'), 7)}
       Router# app-hosting activate appid SKIP_Server
       Router# app-hosting start appid SKIP_Server
     with run-opts "--env KEYSTORE_MASTER_KEY_FILE=${IOX_ROOT}/${L.files.master}" and "--hostname ${o.id}".
     The app's console (app-hosting connect appid SKIP_Server console) shows any config problem.`;
}

function indent(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');
}
