// Wires one Key Provider process: config -> TLS material -> handlers -> listeners.
// Everything with a side effect (store, peer link, randomness, log) can be injected by tests.

import { randomBytes } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import type { Config } from './config/load.js';
import { ConfigError, errorMessage } from './errors.js';
import { closeServer, listen } from './http/listen.js';
import { createAdmin } from './admin/health.js';
import { Metrics } from './metrics.js';
import { RateLimiter } from './http/rate-limit.js';
import { createRouter } from './http/routes.js';
import { admission, admissionGauges, type AdmissionState } from './http/admission.js';
import { perSourceCap } from './http/per-source.js';
import { PROFILES, resolveProfile } from './memory-profile.js';
import { FileKeyStore } from './keystore/store.js';
import { wipeMasterKey, type MasterKey } from './keystore/master-key.js';
import type { KeyStore } from './keystore/types.js';
import type { Logger } from './log.js';
import type { KeyAgreement } from './peer/agreement.js';
import { PeerClient } from './peer/client.js';
import { createPeerServer } from './peer/server.js';
import { PEER_SUITES } from './peer/suites.js';
import { KmeClient } from './kme/client.js';
import { loadPrivateKey } from './kem/keys.js';
import { OwnKemKeys } from './kem/own-keys.js';
import { selectBackend, type KemBackend } from './kem/mlkem.js';
import { capabilities } from './skip/capabilities.js';
import type { SkipDeps } from './skip/deps.js';
import { entropy } from './skip/entropy.js';
import { IdentityQuota } from './skip/identity-quota.js';
import { getKey, newKey } from './skip/key.js';
import { RemoteDirectory } from './config/remote-ids.js';
import { parseSystemId } from './ids/system-id.js';
import { loadTlsMaterial } from './tls/files.js';
import { LIMITS, type Limits } from './http/limits.js';
import { createEncryptorServer, type EncryptorTls } from './tls/listeners.js';
import { PskTable } from './tls/psk.js';

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
}

export interface RunningServer {
  readonly encryptor: { host: string; port: number };
  readonly peer: { host: string; port: number };
  readonly admin?: { host: string; port: number };
  /**
   * SIGHUP: re-read the PSK file, this KP's own ML-KEM pair (a new pair becomes current, the
   * previous private key is still tried for kem_key_grace_seconds) and the peers' ML-KEM public
   * keys. Whatever does not load is logged and the old one kept; false if anything did not load.
   */
  reload(): boolean;
  close(): Promise<void>;
  /** The server's logger, for the lines about its own life (stopping, stopped). */
  readonly log: Logger;
}

export async function startServer(config: Config, opts: StartOptions): Promise<RunningServer> {
  const { log } = opts;
  const material = loadTlsMaterial(config);
  const remotes = new RemoteDirectory(config.localSystemID, config.remoteSystems, config.mtls_port);
  const psk = config.use_psk ? new PskTable(config.psk_file!) : undefined;
  const tls: EncryptorTls = psk
    ? {
        mode: 'psk',
        psk,
        tls13: config.tls13_psk,
        ...(config.psk_identity !== undefined && { hint: config.psk_identity }),
      }
    : {
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
  const kem = opts.kem ?? selectBackend('auto');
  const kemKeys = new OwnKemKeys(
    loadPrivateKey(config.kem_priv_key_path, kem, config.kem_pub_key_path),
    config.kem_key_grace_seconds * 1000,
  );
  const metrics = new Metrics();
  let store: KeyStore;
  let kme: KmeClient | undefined;
  try {
    // The key source for etsi014 and hybrid remote systems (skip/key-source.ts).
    kme = config.kme ? new KmeClient(config.kme, metrics) : undefined;
    store = opts.store ?? (await openKeystore(config, opts.masterKey, log));
  } catch (e) {
    kme?.close();
    psk?.close();
    kemKeys.wipe();
    throw e;
  }
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
  const quota = new IdentityQuota({
    max: config.max_held_keys_per_identity,
    ttlMs: config.key_ttl_seconds * 1000,
  });
  const deps: SkipDeps = {
    config,
    remotes,
    store,
    agreement,
    rng: opts.rng ?? randomBytes,
    log,
    metrics,
    quota,
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
  const peerServer = createPeerServer({
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
    [peerServer, 'peer'],
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
  metrics.gauge('skip_held_keys', "Keys waiting here for a remote system's router, by remote.", () =>
    [...(store.heldPerRemote?.() ?? new Map<string, number>())].map(([remote, value]) => ({
      labels: { remote },
      value,
    })),
  );
  metrics.gauge(
    'skip_held_keys_limit',
    'max_held_keys_per_remote: keys that may wait for one remote system.',
    () => [{ value: config.max_held_keys_per_remote }],
  );
  const admin =
    config.admin_port === undefined
      ? undefined
      : createAdmin({
          metrics,
          store,
          remotes,
          listeners: { encryptor: enc.server, peer: peerServer },
          ...(peerClient && { probe: (r) => peerClient.probe(r) }),
          limits,
          admissions,
        });

  const servers = [peerServer, enc.server, ...(admin ? [admin] : [])];
  const closeAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => closeServer(s)));
    agreement.close();
    kme?.close();
    kemKeys.wipe();
    await store.close();
    psk?.close();
  };
  let peerPort: number, port: number, adminPort: number | undefined;
  try {
    peerPort = await listen(peerServer, config.host, config.mtls_port, 'peer KP');
    port = await listen(enc.server, config.host, config.port, 'encryptor');
    if (admin) adminPort = await listen(admin, config.admin_host, config.admin_port!, 'admin client');
  } catch (e) {
    await closeAll();
    throw e;
  }

  log.info('started', {
    localSystemID: config.localSystemID,
    encryptor: { host: config.host, port, mode: tls.mode, suites: enc.suites, identities: psk?.size },
    peer: { host: config.host, port: peerPort, suites: PEER_SUITES },
    peers: remotes.ids(),
    ...(kme && { kme: kme.name }),
    kem: { algorithm: 'ML-KEM-1024', backend: kem.name },
    certificate: { subject: material.subject, notAfter: material.notAfter },
    keystore: { kind: store.kind, path: config.keystore_path, keyTtlSeconds: config.key_ttl_seconds },
    admin: adminPort === undefined ? 'off' : { host: config.admin_host, port: adminPort },
    memoryProfile: profile,
    runtime: {
      node: process.version,
      execArgv: process.execArgv,
      heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 1048576),
    },
    limits: {
      ...limits,
      maxHeldKeysPerRemote: config.max_held_keys_per_remote,
      maxHeldKeys: config.max_held_keys,
      identityRequestsPerSecond: config.identity_requests_per_second,
      identityRequestBurst: config.identity_request_burst,
      maxHandshakesPerSource: config.max_handshakes_per_source,
      maxHeldKeysPerIdentity: config.max_held_keys_per_identity,
    },
  });
  for (const problem of material.warnings) log.warn('certificate warning', { problem });
  if (adminPort !== undefined && !/^(127\.|::1$|localhost$)/.test(config.admin_host)) {
    log.warn('admin listener not on loopback', {
      host: config.admin_host,
      note: 'it is plain HTTP; keep it on a management network',
    });
  }

  return {
    encryptor: { host: config.host, port },
    peer: { host: config.host, port: peerPort },
    ...(adminPort !== undefined && { admin: { host: config.admin_host, port: adminPort } }),
    log,
    reload() {
      const ownOk = reloadOwnPair(config, kem, kemKeys, log);
      let peersOk = true;
      if (peerClient) {
        const { loaded, problems } = peerClient.reload(remotes.concrete().map((r) => r.pubkeyPath));
        for (const p of problems) log.error('peer key reload failed', { ...p });
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
    },
    close: closeAll,
  };
}

/** SIGHUP for this KP's own ML-KEM pair: a broken or mismatched pair is refused, the old kept. */
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

async function openKeystore(config: Config, master: MasterKey | undefined, log: Logger): Promise<KeyStore> {
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
