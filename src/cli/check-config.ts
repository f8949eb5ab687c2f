// `skip-server check-config`: every check `serve` makes before it listens, and a summary.

import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { EtcdUnavailableError } from '../keystore/etcd-client.js';
import { FileKeyStore } from '../keystore/store.js';
import { StoreUnavailableError } from '../keystore/types.js';
import { openEtcdKeystore } from '../start/keystore.js';
import { checkKeystoreWritable } from '../keystore/writable.js';
import { masterKeyFromEnv, wipeMasterKey } from '../keystore/master-key.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Config } from '../config/load.js';
import { describeExposure, exposedSecretFiles } from '../config/secret-files.js';
import { loadTlsMaterial } from '../tls/files.js';
import { readPskFile } from '../tls/psk.js';
import { loadPrivateKey, readPublicKeyFile } from '../kem/keys.js';
import { KmeClient } from '../kme/client.js';
import { NameLookupError, PeerAddresses } from '../peer/addresses.js';
import { isGlob } from '../ids/glob.js';
import { isIP } from 'node:net';
import { Metrics } from '../metrics.js';
import { CONFIG_OPTION, EXIT, kemFromEnv, readConfig, type Command } from './common.js';

export const checkConfig: Command = {
  name: 'check-config',
  summary: 'Check the config and every file it names, the master key included.',
  synopsis: '--config FILE',
  about: `Validate the config file and the PSK, certificate, CA and ML-KEM key files it names, and
the master key against the keystore if it exists; print a summary and any warnings.
Prints OK only after every check passed; exit 3 names the file and the problem.`,
  options: { ...CONFIG_OPTION },
  async run(values, io) {
    const config = readConfig(values, 'check-config');
    const kem = kemFromEnv();
    // Every check first (the master key against the keystore included); "OK" only after all.
    const tls = loadTlsMaterial(config);
    loadPrivateKey(config.kem_priv_key_path, kem, config.kem_pub_key_path).wipe();
    for (const r of config.remoteSystems)
      if (r.pubkey_path !== undefined && !r.pubkey_path.includes('{id}'))
        readPublicKeyFile(r.pubkey_path, `public key of "${r.id}"`);
    const psk = config.use_psk ? readPskFile(config.psk_file!) : undefined;
    const identities = psk?.size;
    for (const k of psk?.values() ?? []) k.fill(0);
    const keystore =
      config.keystore_backend === 'etcd' ? await checkEtcdKeystore(config) : await checkFileKeystore(config);
    if (config.keystore_backend === 'file') checkKeystoreWritable(config.keystore_path!);
    const names = await peerNames(config);
    const warnings = [
      ...tls.warnings,
      ...names.warnings,
      ...(await kmeWarnings(config)),
      ...exposedSecretFiles(config, process.env.KEYSTORE_MASTER_KEY_FILE).map(describeExposure),
    ];
    const out = io.out;
    out(`${config.source}: OK${warnings.length > 0 ? `, with ${warnings.length} warning(s)` : ''}\n`);
    out(`  localSystemID   ${config.localSystemID}\n`);
    out(`  remoteSystems   ${config.remoteSystems.map((r) => r.id).join(', ')}\n`);
    out(
      `  encryptors      ${config.host}:${config.port} ${psk ? `TLS-PSK, ${identities} identities` : 'certificates'}\n`,
    );
    out(`  certificate     CN=${tls.subject}, valid until ${tls.notAfter}\n`);
    out(`  ML-KEM-1024     key pair OK (${kem.name} backend); peer public keys OK\n`);
    const where =
      config.keystore_backend === 'etcd'
        ? `etcd ${config.etcd!.endpoints.join(',')} ${config.etcd!.prefix}`
        : config.keystore_path!;
    out(`  keystore        ${where}: ${keystore}\n`);
    for (const line of names.lines) out(`  peer addresses  ${line}\n`);
    for (const w of warnings) out(`  warning         ${w}\n`);
    return EXIT.ok;
  },
};

/** The master key against the keystore file, if there is one. */
async function checkFileKeystore(config: Config): Promise<string> {
  // The loader requires keystore_path with the file backend.
  const path = config.keystore_path!;
  const master = masterKeyFromEnv();
  try {
    const { store } = await FileKeyStore.open({
      path,
      master,
      ttlMs: 1000,
      readOnly: true,
    });
    await store.close();
    return 'master key OK';
  } catch (e) {
    if (!(e instanceof ConfigError && /no keystore there/.test(e.message))) throw e;
    const dir = dirname(path);
    return existsSync(dir)
      ? 'will be created at first start'
      : `will be created at first start, in ${dir}, which does not exist yet (systemd's ` +
          'StateDirectory= makes it; elsewhere create it, mode 0700, for the service user)';
  } finally {
    wipeMasterKey(master);
  }
}

/** The etcd cluster answers with a quorum, and the master key opens the keystore's meta record
 * (if there is one yet); nothing is written. */
async function checkEtcdKeystore(config: Config): Promise<string> {
  const master = masterKeyFromEnv();
  const members = `etcd.endpoints (${config.etcd!.endpoints.join(', ')})`;
  try {
    const store = await openEtcdKeystore(config, master, undefined, false);
    try {
      await store.check();
    } finally {
      await store.close();
    }
    return 'reachable with a quorum, master key OK';
  } catch (e) {
    if (e instanceof ConfigError && /no keystore there/.test(e.message))
      return 'reachable, will be created at first start';
    if (e instanceof EtcdUnavailableError || e instanceof StoreUnavailableError)
      throw new ConfigError([`${members}: etcd does not answer with a quorum: ${errorMessage(e)}`]);
    throw e;
  } finally {
    wipeMasterKey(master);
  }
}

/** The KME's files must load (else ConfigError); a KME that does not answer `status` for a
 * remote system's SAE ID is a warning: it may be down only now. */
async function kmeWarnings(config: Config): Promise<string[]> {
  if (!config.kme) return [];
  const kme = new KmeClient(config.kme, new Metrics());
  try {
    const qkd = config.remoteSystems.filter(
      (r) => (r.key_source === 'etsi014' || r.key_source === 'hybrid') && !r.sae_id!.includes('{id}'),
    );
    return await Promise.all(
      qkd.map((r) =>
        kme.status(r.sae_id!).then(
          () => [],
          (e: unknown) => [
            `KME ${kme.name} does not answer status for "${r.id}" (sae_id "${r.sae_id}"): ${errorMessage(e)}`,
          ],
        ),
      ),
    ).then((w) => w.flat());
  } finally {
    kme.close();
  }
}

/** What each host name in a peer's `ip` resolves to now, through the system resolver as `serve`
 * will look it up (literals as written; pattern entries are not looked up): one line per peer
 * with a name. A name that does not resolve is a warning: the resolver may fail only now. */
async function peerNames(config: Config): Promise<{ lines: string[]; warnings: string[] }> {
  const resolver = new PeerAddresses();
  const lines: string[] = [];
  const warnings: string[] = [];
  for (const [i, r] of config.remoteSystems.entries()) {
    if (r.ip === undefined || isGlob(r.id) || String(r.ip).includes('{id}')) continue;
    const entries = typeof r.ip === 'string' ? [r.ip] : r.ip;
    if (entries.every((e) => isIP(e) !== 0)) continue;
    const each = await Promise.all(
      entries.map(async (e, j) => {
        if (isIP(e) !== 0) return e;
        try {
          return `${e} → ${(await resolver.resolve(e)).map((a) => a.ip).join(', ')}`;
        } catch (err) {
          const field = typeof r.ip === 'string' ? `remoteSystems[${i}].ip` : `remoteSystems[${i}].ip[${j}]`;
          warnings.push(`"${field}" (${r.id}): ${errorMessage(err)}`);
          return `${e} does not resolve (${err instanceof NameLookupError ? err.why : errorMessage(err)})`;
        }
      }),
    );
    lines.push(`${r.id}: ${each.join(', ')}`);
  }
  return { lines, warnings };
}
