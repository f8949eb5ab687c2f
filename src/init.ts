// `skip-server init --dir D --id NAME [--peer NAME=HOST ...]`: the files one production Key
// Provider needs, in D: skip.yaml, psk.txt, kem_pub.pem/kem_priv.pem, master.key (secrets 0600),
// and the next steps to print. Certificates come from the CA (scripts/), so they are named, not
// made. Nothing that exists is replaced.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { generateKeyFiles, writeFileAtomic } from './kem/keygen.js';
import type { KemBackend } from './kem/mlkem.js';
import { newMasterKeyHex } from './keystore/master-key.js';
import { isGlob } from './skip/glob.js';
import { parseSystemId } from './skip/remote-ids.js';

export interface InitOptions {
  dir: string;
  id: string;
  /** NAME=HOST pairs. */
  peers: string[];
  /** Where the keystore goes (default DIR/keystore.db; under systemd /var/lib/skip-server/...). */
  keystore?: string;
  kem: KemBackend;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function initKp(o: InitOptions): string {
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
  if (problems.length > 0) throw new ConfigError(problems);

  const d = resolve(o.dir);
  const f = {
    config: join(d, 'skip.yaml'),
    psk: join(d, 'psk.txt'),
    pub: join(d, 'kem_pub.pem'),
    priv: join(d, 'kem_priv.pem'),
    master: join(d, 'master.key'),
    peers: join(d, 'peers'),
    certs: join(d, 'certs'),
  };
  const there = [f.config, f.psk, f.pub, f.priv, f.master].filter((p) => existsSync(p));
  if (there.length > 0)
    throw new ConfigError(there.map((p) => `${p}: exists; init never replaces files (choose another --dir)`));
  mkdirSync(f.peers, { recursive: true, mode: 0o700 });
  mkdirSync(f.certs, { recursive: true, mode: 0o700 });

  const pskKey = randomBytes(48);
  const pskHex = pskKey.toString('hex');
  pskKey.fill(0);
  writeFileAtomic(
    f.psk,
    Buffer.from(
      `# encryptors of ${o.id}: identity:hexkey (skip-server psk add adds more)\n${o.id}:${pskHex}\n`,
    ),
    0o600,
  );
  generateKeyFiles(f.pub, f.priv, o.kem, false);
  writeFileAtomic(f.master, Buffer.from(`${newMasterKeyHex()}\n`), 0o600);
  const quote = (s: string): string => JSON.stringify(s);
  const remotes = peers.length
    ? peers
        .map(
          (p) =>
            `  - id: ${quote(p.name)}\n    ip: ${quote(p.host)}\n    pubkey_path: ${quote(join(f.peers, `${p.name}_kem_pub.pem`))}\n`,
        )
        .join('')
    : `  - id: "PEER"                # add each peer KP: its localSystemID, address, public key\n    ip: "PEER-ADDRESS"\n    pubkey_path: ${quote(join(f.peers, 'PEER_kem_pub.pem'))}\n`;
  writeFileAtomic(
    f.config,
    Buffer.from(`---
# skip-server ${o.id}, written by skip-server init. Reference: config/skip.yaml.example.
localSystemID: ${quote(o.id)}
remoteSystems:
${remotes}algorithm: "PRF"
default_key_size_bits: 256
default_entropy_bits: 256
key_ttl_seconds: 3600
keystore_path: ${quote(resolve(o.keystore ?? join(d, 'keystore.db')))}
kem_pub_key_path: ${quote(f.pub)}
kem_priv_key_path: ${quote(f.priv)}
use_psk: true
psk_file: ${quote(f.psk)}
psk_identity: ${quote(o.id)}
use_ssl: true
certfile: ${quote(join(f.certs, `${o.id.split('.')[0]}.pem.crt`))}
keyfile: ${quote(join(f.certs, `${o.id.split('.')[0]}_key.pem`))}
cafile: ${quote(join(f.certs, 'ca.pem'))}
host: "0.0.0.0"
port: 443
mtls_port: 8443
`),
    0o644,
  );

  const peerLines = peers.length
    ? peers
        .map(
          (p) =>
            `     - give ${f.pub} to ${p.name}, to be saved there as peers/${o.id}_kem_pub.pem\n     - save ${p.name}'s kem_pub.pem here as ${join(f.peers, `${p.name}_kem_pub.pem`)}`,
        )
        .join('\n')
    : `     - add each peer to ${f.config} and exchange kem_pub.pem files as above`;
  return `Wrote ${d}: skip.yaml, psk.txt, kem_pub.pem, kem_priv.pem, master.key (secrets mode 0600).
Next steps:
  1. Exchange ML-KEM public keys with the peer Key Providers:
${peerLines}
  2. Certificates for the peer link, signed by the CA every KP trusts (scripts/ in the source):
       scripts/create_ca.sh CA_DIR                      (once, for all KPs; keep ca.key offline)
       scripts/sign_server_cert.sh -c CA_DIR/ca.pem -k CA_DIR/ca.key -o ${f.certs} ${o.id} "${o.id}" "THIS-KP-ADDRESS"
       cp CA_DIR/ca.pem ${join(f.certs, 'ca.pem')}
  3. Check, then start (the master key stays out of skip.yaml):
       KEYSTORE_MASTER_KEY_FILE=${f.master} skip-server check-config --config ${f.config}
       KEYSTORE_MASTER_KEY_FILE=${f.master} skip-server serve --config ${f.config}
  4. On the router (IOS XE), the encryptor of this KP:
       crypto skip-client SKIP-CLIENT
        server ipv4 THIS-KP-ADDRESS port 443
        psk id ${o.id} key hex ${pskHex}
`;
}
