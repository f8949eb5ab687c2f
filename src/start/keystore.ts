// Opening the keystore at start: the master key is wiped once the store has derived its keys.

import type { Config } from '../config/load.js';
import { ConfigError } from '../errors.js';
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
  let opened;
  try {
    opened = await FileKeyStore.open({
      path: config.keystore_path,
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
