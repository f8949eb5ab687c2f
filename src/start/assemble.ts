// Builds the parts of one Key Provider from its config, listening on nothing yet: TLS mode, own
// ML-KEM keys, keystore, peer client, limits, routes and the three servers. Every part that holds
// something (a key in memory, a file, a lock, a connection) defers its release on `cleanup` the
// moment it exists.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server as HttpServer } from 'node:http';
import type { Cleanup } from '../cleanup.js';
import type { Config } from '../config/load.js';
import { RemoteDirectory } from '../config/remote-ids.js';
import { instanceFromHost } from '../config/cross-check.js';
import { createAdmin } from '../admin/health.js';
import { admission, admissionGauges, type AdmissionState } from '../http/admission.js';
import { LIMITS, type Limits } from '../http/limits.js';
import { perSourceCap } from '../http/per-source.js';
import { RateLimiter } from '../http/rate-limit.js';
import { createRouter } from '../http/routes.js';
import { parseSystemId } from '../ids/system-id.js';
import { loadPrivateKey } from '../kem/keys.js';
import { selectBackend, type KemBackend } from '../kem/mlkem.js';
import { OwnKemKeys } from '../kem/own-keys.js';
import { wipeMasterKey, type MasterKey } from '../keystore/master-key.js';
import { EtcdKeyStore } from '../keystore/etcd-store.js';
import type { KeyStore } from '../keystore/types.js';
import type { Logger } from '../log.js';
import { PROFILES, resolveProfile } from '../memory-profile.js';
import { Metrics } from '../metrics.js';
import type { KeyAgreement } from '../peer/agreement.js';
import { PeerClient } from '../peer/client.js';
import { KmeClient } from '../kme/client.js';
import { createPeerServer } from '../peer/server.js';
import { capabilities } from '../skip/capabilities.js';
import type { SkipDeps } from '../skip/deps.js';
import { entropy } from '../skip/entropy.js';
import { IdentityQuota } from '../skip/identity-quota.js';
import { getKey, newKey } from '../skip/key.js';
import { loadTlsMaterial, type TlsMaterial } from '../tls/files.js';
import { createEncryptorServer, type EncryptorServer, type EncryptorTls } from '../tls/listeners.js';
import { PskTable } from '../tls/psk.js';
import { openKeystore } from './keystore.js';

export interface StartOptions {
  log: Logger;
  store?: KeyStore;
  agreement?: KeyAgreement;
  rng?: (bytes: number) => Buffer;
  /** Opens the keystore at keystore_path; required unless `store` is given. */
  masterKey?: MasterKey;
  /** ML-KEM implementation; default: native when the runtime has it, else noble. */
  kem?: KemBackend;
  /** Tests shorten timeouts; production uses LIMITS. */
  limits?: Partial<Limits>;
  /** The encryptor PSK table when use_psk is on; default: read from psk_file. The server owns it
   * (wipes its keys on close or on a failed start). */
  psk?: PskTable;
}

export interface Parts {
  config: Config;
  log: Logger;
  material: TlsMaterial;
  remotes: RemoteDirectory;
  tls: EncryptorTls;
  psk: PskTable | undefined;
  kem: KemBackend;
  kemKeys: OwnKemKeys;
  store: KeyStore;
  peerClient: PeerClient | undefined;
  kme: KmeClient | undefined;
  profile: ReturnType<typeof resolveProfile>;
  limits: Limits;
  /** The encryptor listener's TLS suites, for the start record. */
  suites: EncryptorServer['suites'];
  encryptor: HttpServer;
  peer: HttpServer;
  admin: HttpServer | undefined;
}

export async function assemble(config: Config, opts: StartOptions, cleanup: Cleanup): Promise<Parts> {
  const { log } = opts;
  const master = opts.masterKey;
  if (master) cleanup.defer('master key', () => wipeMasterKey(master));
  const material = loadTlsMaterial(config);
  const remotes = new RemoteDirectory(config.localSystemID, config.remoteSystems, config.mtls_port);
  const psk = config.use_psk ? (opts.psk ?? new PskTable(config.psk_file!)) : undefined;
  if (psk) cleanup.defer('PSK table', () => psk.close());
  const tls = encryptorTls(config, material, remotes, psk);
  const kem = opts.kem ?? selectBackend('auto');
  const kemKeys = new OwnKemKeys(
    loadPrivateKey(config.kem_priv_key_path, kem, config.kem_pub_key_path),
    config.kem_key_grace_seconds * 1000,
  );
  cleanup.defer('own ML-KEM keys', () => kemKeys.wipe());
  const metrics = new Metrics(config.instance_name ?? instanceFromHost(hostname()));
  // The key source for etsi014 and hybrid remote systems (skip/key-source.ts).
  const kme = config.kme ? new KmeClient(config.kme, metrics) : undefined;
  if (kme) cleanup.defer('KME client', () => kme.close());
  const store = opts.store ?? (await openKeystore(config, master, log));
  cleanup.defer('keystore', () => store.close());
  const peerClient = opts.agreement
    ? undefined
    : new PeerClient({
        localSystemId: config.localSystemID,
        material,
        certfile: config.certfile,
        kem,
        log,
        metrics,
      });
  const agreement = opts.agreement ?? peerClient!;
  cleanup.defer('peer client', () => agreement.close());
  const deps: SkipDeps = {
    config,
    remotes,
    store,
    agreement,
    rng: opts.rng ?? randomBytes,
    log,
    metrics,
    quota: new IdentityQuota({
      max: config.max_held_keys_per_identity,
      ttlMs: config.key_ttl_seconds * 1000,
    }),
    ...(kme && { kme }),
  };
  const profile = resolveProfile(config.memory_profile);
  const limits: Limits = { ...LIMITS, ...PROFILES[profile.name], ...opts.limits };
  const admissions: AdmissionState[] = [];
  const enc = createEncryptorServer(tls, log, limits, metrics);
  const rate = new RateLimiter({
    perSecond: config.identity_requests_per_second,
    burst: config.identity_request_burst,
  });
  const router = createRouter({
    log,
    identify: enc.identify,
    count: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    admit: (identity) => {
      const wait = rate.take(identity ?? '');
      if (wait > 0) metrics.rateLimited.inc({ identity: identity ?? '' });
      return wait;
    },
    handlers: {
      capabilities: (r) => capabilities(deps, r),
      entropy: (r) => entropy(deps, r),
      newKey: (r) => newKey(deps, r),
      getKey: (r) => getKey(deps, r),
    },
  });
  enc.server.on('request', admission(enc.server, 'encryptor', limits, router, metrics, admissions));
  const peer = createPeerServer({
    localSystemId: config.localSystemID,
    remotes,
    store,
    kemKeys,
    material,
    limits,
    log,
    metrics,
    admissions,
  });
  // Installed last: it goes in front of every connection listener above.
  for (const [server, listener] of [
    [enc.server, 'encryptor'],
    [peer, 'peer'],
  ] as const) {
    const state = admissions.find((s) => s.listener === listener);
    perSourceCap(server, {
      listener,
      max: config.max_handshakes_per_source,
      log,
      metrics,
      ...(state && { state }),
    });
  }
  admissionGauges(metrics, admissions);
  storeGauges(metrics, store, config);
  const admin =
    config.admin_port === undefined
      ? undefined
      : createAdmin({
          metrics,
          store,
          remotes,
          listeners: { encryptor: enc.server, peer },
          ...(peerClient && { probe: (r) => peerClient.probe(r) }),
          limits,
          admissions,
        });
  return {
    config,
    log,
    material,
    remotes,
    tls,
    psk,
    kem,
    kemKeys,
    store,
    peerClient,
    kme,
    profile,
    limits,
    suites: enc.suites,
    encryptor: enc.server,
    peer,
    admin,
  };
}

/** The encryptor link: TLS-PSK from the table, or certificates (a peer KP's are told apart). */
function encryptorTls(
  config: Config,
  material: TlsMaterial,
  remotes: RemoteDirectory,
  psk: PskTable | undefined,
): EncryptorTls {
  if (psk) {
    return {
      mode: 'psk',
      psk,
      tls13: config.tls13_psk,
      ...(config.psk_identity !== undefined && { hint: config.psk_identity }),
    };
  }
  return {
    mode: 'cert',
    material,
    allowed: config.encryptor_identities ?? [],
    isPeer: (ids) =>
      ids.some((id) => {
        const sys = parseSystemId(id);
        const remote = sys && remotes.resolve(sys);
        return remote !== undefined && remote.clientIdentities.includes(id);
      }),
  };
}

function storeGauges(metrics: Metrics, store: KeyStore, config: Config): void {
  metrics.gauge('skip_held_keys', "Keys waiting here for a remote system's router, by remote.", () =>
    [...(store.heldPerRemote?.() ?? new Map<string, number>())].map(([remote, value]) => ({
      labels: { remote },
      value,
    })),
  );
  if (store instanceof EtcdKeyStore) {
    metrics.gauge(
      'skip_etcd_requests_in_flight',
      'Requests to etcd in flight (keystore_backend etcd); at the limit, more are refused with 503.',
      () => [{ value: store.requestsInFlight().value }],
    );
    metrics.gauge('skip_etcd_requests_limit', 'Requests to etcd in flight, at most.', () => [
      { value: store.requestsInFlight().max },
    ]);
  }
  metrics.gauge(
    'skip_held_keys_limit',
    'max_held_keys_per_remote: keys that may wait for one remote system.',
    () => [{ value: config.max_held_keys_per_remote }],
  );
}
