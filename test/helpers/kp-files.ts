// Writes the files one Key Provider needs (skip.yaml, PSK file, TLS certificate) into a folder.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { generateKeyFiles } from '../../src/kem/keygen.js';
import { noble } from '../../src/kem/mlkem.js';
import { newMasterKeyHex } from '../../src/keystore/master-key.js';
import { renderSkipYaml } from '../../src/provision/skip-yaml.js';
import type { Pki } from './pki.js';
import type { PskCreds } from './http-client.js';

export interface KpFiles {
  dir: string;
  config: string;
  pskFile: string;
  encryptor: PskCreds;
  /** The environment a KP process needs: its keystore master key file. */
  env: Record<string, string>;
}

export function writeKpFiles(
  dir: string,
  pki: Pki,
  opts: {
    name: string;
    peers: { id: string; port?: number }[];
    port?: number;
    mtlsPort?: number;
    extra?: string;
  },
): KpFiles {
  const leaf = pki.leaf(opts.name);
  const kemPub = join(dir, `${opts.name}-kem_pub.pem`);
  const kemPriv = join(dir, `${opts.name}-kem_priv.pem`);
  if (!existsSync(kemPriv)) generateKeyFiles(kemPub, kemPriv, noble, false);
  const masterFile = join(dir, `${opts.name}-master.key`);
  if (!existsSync(masterFile)) writeFileSync(masterFile, `${newMasterKeyHex()}\n`, { mode: 0o600 });
  const encryptor = { identity: `router-${opts.name}`, key: randomBytes(48).toString('hex') };
  const pskFile = join(dir, `${opts.name}-psk.txt`);
  writeFileSync(pskFile, `# test PSKs\n${encryptor.identity}:${encryptor.key}\n`, { mode: 0o600 });
  const config = join(dir, `${opts.name}.yaml`);
  const text = renderSkipYaml({
    header: ['a test KP'],
    localSystemID: opts.name,
    remoteSystems: opts.peers.map((p) => ({
      id: p.id,
      ip: '127.0.0.1',
      mtls_port: p.port ?? 8443,
      pubkey_path: join(dir, `${p.id}-kem_pub.pem`),
    })),
    settings: {
      algorithm: 'PRF',
      default_key_size_bits: 256,
      default_entropy_bits: 256,
      keystore_path: join(dir, `${opts.name}-keystore.db`),
      kem_pub_key_path: kemPub,
      kem_priv_key_path: kemPriv,
      use_psk: true,
      psk_file: pskFile,
      psk_identity: opts.name,
      use_ssl: true,
      certfile: leaf.cert,
      keyfile: leaf.key,
      cafile: pki.ca,
      host: '127.0.0.1',
      port: opts.port ?? 0,
      mtls_port: opts.mtlsPort ?? 0,
    },
  });
  // `extra` is skip.yaml text appended as it is: tests add keys, or break the file on purpose.
  writeFileSync(config, text + (opts.extra ?? ''));
  return { dir, config, pskFile, encryptor, env: { KEYSTORE_MASTER_KEY_FILE: masterFile } };
}
