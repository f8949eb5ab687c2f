// What the SKIP handlers are given; injected so tests can drive randomness and the peer link.

import type { Config } from '../config/load.js';
import type { KeyStore } from '../keystore/types.js';
import type { Logger } from '../log.js';
import type { KeyAgreement } from '../peer/agreement.js';
import type { RemoteDirectory } from '../config/remote-ids.js';
import type { Metrics } from '../metrics.js';
import type { IdentityQuota } from './identity-quota.js';
import type { KmeClient } from '../kme/client.js';

export interface SkipDeps {
  config: Config;
  remotes: RemoteDirectory;
  store: KeyStore;
  agreement: KeyAgreement;
  /** Cryptographically secure random bytes; crypto.randomBytes in production. */
  rng: (bytes: number) => Buffer;
  log: Logger;
  metrics: Metrics;
  /** max_held_keys_per_identity, counted at issue; none: no per-identity bound. */
  quota?: IdentityQuota;
  /** This site's ETSI GS QKD 014 KME: set when a remote system's key_source is etsi014 or hybrid. */
  kme?: KmeClient;
}
