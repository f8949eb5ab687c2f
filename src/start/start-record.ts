// The 'started' log line: what this KP serves, where, with which keys and limits; and the
// warnings about the set-up that follow it.

import { getHeapStatistics } from 'node:v8';
import type { Fields } from '../log.js';
import { PEER_SUITES } from '../peer/suites.js';
import type { Parts } from './assemble.js';
import type { Ports } from './listen.js';

export function startRecord(p: Parts, ports: Ports): Fields {
  const { config, limits } = p;
  return {
    localSystemID: config.localSystemID,
    encryptor: {
      host: config.host,
      port: ports.encryptor,
      mode: p.tls.mode,
      suites: p.suites,
      identities: p.psk?.size,
    },
    peer: { host: config.host, port: ports.peer, suites: PEER_SUITES },
    peers: p.remotes.ids(),
    ...(p.kme && { kme: p.kme.name }),
    kem: { algorithm: 'ML-KEM-1024', backend: p.kem.name },
    certificate: { subject: p.material.subject, notAfter: p.material.notAfter },
    keystore: { kind: p.store.kind, path: config.keystore_path, keyTtlSeconds: config.key_ttl_seconds },
    admin: ports.admin === undefined ? 'off' : { host: config.admin_host, port: ports.admin },
    memoryProfile: p.profile,
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
  };
}

/** Logged after the start record: certificate problems, an admin listener off loopback. */
export function warnAboutSetUp(p: Parts, ports: Ports): void {
  const { config, log } = p;
  for (const problem of p.material.warnings) log.warn('certificate warning', { problem });
  if (ports.admin !== undefined && !/^(127\.|::1$|localhost$)/.test(config.admin_host)) {
    log.warn('admin listener not on loopback', {
      host: config.admin_host,
      note: 'it is plain HTTP; keep it on a management network',
    });
  }
}
