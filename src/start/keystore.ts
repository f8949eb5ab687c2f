// Opening the keystore at start (the encrypted file, or etcd): the master key is wiped once the
// store has derived its keys.

import { readFileSync } from 'node:fs';
import type { Config, EtcdConfig } from '../config/load.js';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import { EtcdKeyStore } from '../keystore/etcd-store.js';
import { FileKeyStore } from '../keystore/store.js';
import { wipeMasterKey, type MasterKey } from '../keystore/master-key.js';
import type { KeyStore } from '../keystore/types.js';
import type { Logger } from '../log.js';

export async function openKeystore(
  config: Config,
  master: MasterKey | undefined,
  log: Logger,
): Promise<KeyStore> {
  if (!master) throw new ConfigError(['no keystore master key given']);
  if (config.keystore_backend === 'etcd') {
    try {
      const store = await openEtcdKeystore(config, master, log);
      log.info('keystore opened', {
        backend: 'etcd',
        endpoints: config.etcd!.endpoints,
        prefix: config.etcd!.prefix,
      });
      return store;
    } finally {
      wipeMasterKey(master);
    }
  }
  let opened;
  try {
    opened = await FileKeyStore.open({
      // The loader requires keystore_path with the file backend.
      path: config.keystore_path!,
      master,
      ttlMs: config.key_ttl_seconds * 1000,
      maxHeldPerRemote: config.max_held_keys_per_remote,
      maxHeld: config.max_held_keys,
      log,
    });
  } finally {
    // The store keeps only keys derived from it; the master key itself is done with.
    wipeMasterKey(master);
  }
  const { store, report } = opened;
  log.info('keystore opened', {
    path: config.keystore_path,
    ...report,
    corrupt: report.corrupt.slice(0, 100),
  });
  return store;
}

/** The etcd keystore of `config` (the caller wipes `master`); `create` false writes nothing. */
export function openEtcdKeystore(
  config: Config,
  master: MasterKey,
  log?: Logger,
  create = true,
): Promise<EtcdKeyStore> {
  const e = config.etcd!;
  return EtcdKeyStore.open({
    endpoints: e.endpoints,
    prefix: e.prefix,
    ...etcdTlsFiles(e),
    dialTimeoutMs: e.dial_timeout_ms,
    requestTimeoutMs: e.request_timeout_ms,
    localSystemId: config.localSystemID,
    master,
    ttlMs: config.key_ttl_seconds * 1000,
    maxHeldPerRemote: config.max_held_keys_per_remote,
    maxHeld: config.max_held_keys,
    create,
    ...(log && { log }),
  });
}

function etcdTlsFiles(e: EtcdConfig): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const read = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([`${file}: cannot read ${what} (${errorCode(err) ?? errorMessage(err)})`]);
    }
  };
  const ca = read(e.cafile, 'etcd.cafile');
  const cert = read(e.certfile, 'etcd.certfile');
  const key = read(e.keyfile, 'etcd.keyfile');
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
}
