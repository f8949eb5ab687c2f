// SIGHUP: the PSK file, this KP's own ML-KEM pair and the peers' public keys are read again;
// whatever does not load is logged and the one loaded before is kept.

import type { Config } from '../config/load.js';
import { ConfigError, errorMessage } from '../errors.js';
import { loadPrivateKey } from '../kem/keys.js';
import type { KemBackend } from '../kem/mlkem.js';
import type { OwnKemKeys } from '../kem/own-keys.js';
import type { Logger } from '../log.js';
import type { PeerClient } from '../peer/client.js';
import type { RemoteDirectory } from '../config/remote-ids.js';
import type { PskTable } from '../tls/psk.js';

export interface Reloadable {
  config: Config;
  kem: KemBackend;
  kemKeys: OwnKemKeys;
  remotes: RemoteDirectory;
  peerClient: PeerClient | undefined;
  psk: PskTable | undefined;
  log: Logger;
}

/** False if anything did not load. */
export function reload(p: Reloadable): boolean {
  const { log, psk, peerClient } = p;
  const ownOk = reloadOwnPair(p.config, p.kem, p.kemKeys, log);
  let peersOk = true;
  if (peerClient) {
    const { loaded, problems } = peerClient.reload(p.remotes.concrete().map((r) => r.pubkeyPath));
    for (const problem of problems) log.error('peer key reload failed', { ...problem });
    log.info('peer keys reloaded', { loaded, failed: problems.length });
    peersOk = problems.length === 0;
  }
  if (!psk) return ownOk && peersOk;
  try {
    log.info('psk reloaded', { identities: psk.reload() });
    return ownOk && peersOk;
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [errorMessage(e)];
    log.error('psk reload failed', { problems, kept: psk.size });
    return false;
  }
}

/** This KP's own ML-KEM pair: a broken or mismatched pair is refused, the old kept. */
function reloadOwnPair(config: Config, kem: KemBackend, keys: OwnKemKeys, log: Logger): boolean {
  let next;
  try {
    next = loadPrivateKey(config.kem_priv_key_path, kem, config.kem_pub_key_path);
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [errorMessage(e)];
    log.error('own key pair reload failed', {
      problems,
      note: 'the key pair loaded before is kept; peers must keep the public key they have',
    });
    return false;
  }
  const swap = keys.replace(next);
  if (!swap.changed) {
    log.info('own key pair unchanged', { file: config.kem_pub_key_path });
    return true;
  }
  log.info('own key pair replaced', {
    file: config.kem_pub_key_path,
    previousKeyAcceptedUntil: swap.previousUntil?.toISOString() ?? 'no longer (kem_key_grace_seconds 0)',
    next: `copy ${config.kem_pub_key_path} to every peer KP (its pubkey_path for ${config.localSystemID}) and reload it`,
  });
  return true;
}
