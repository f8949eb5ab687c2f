// The admin listener's wiring: /healthz (listeners up, keystore writable, each peer's mutual TLS
// completes) and the gauges of /metrics that are read from the running parts. A health check
// costs a keystore sync and one handshake per peer, so /healthz answers from the last check while
// it is at most HEALTH_MAX_AGE_MS old (calls during a check share it): the KP's cost is one check
// per window however often it is asked, counted in skip_health_checks_total.

import type { Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import type { KeyStore } from '../keystore/types.js';
import type { RemoteDirectory, ResolvedRemote } from '../config/remote-ids.js';
import type { AdmissionState } from '../http/admission.js';
import type { Limits } from '../http/limits.js';
import type { Metrics } from '../metrics.js';
import { createAdminServer, type Health } from './server.js';

/** How old a /healthz answer may be: a fresh check at most once per this. */
export const HEALTH_MAX_AGE_MS = 2_000;

export interface AdminParts {
  metrics: Metrics;
  store: KeyStore;
  remotes: RemoteDirectory;
  listeners: Record<string, HttpServer>;
  /** A peer's status: 'reachable', or why not (the peer client's mutual-TLS probe). Without
   * it (tests with an injected agreement) a TCP connect is tried. */
  probe?: (remote: ResolvedRemote) => Promise<string>;
  /** The time and size limits of the other listeners; the admin caps are its own. */
  limits: Limits;
  /** Where the admin listener's admission state goes, for /metrics. */
  admissions?: AdmissionState[];
}

function reachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const within = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref()),
  ]);

export function createAdmin(parts: AdminParts): HttpServer {
  const { metrics, store } = parts;
  metrics.gauge('skip_keystore_slots', 'Keystore slots by state.', () => {
    const c = store.counts();
    return [
      { labels: { state: 'used' }, value: c.used },
      { labels: { state: 'free' }, value: c.free },
    ];
  });
  metrics.gauge(
    'skip_keys_expired_total',
    'Keys wiped unclaimed after key_ttl_seconds.',
    () => [{ value: store.counts().expired }],
    'counter',
  );
  metrics.gauge('process_resident_memory_bytes', 'Resident set size.', () => [
    { value: process.memoryUsage.rss() },
  ]);

  let checks = 0;
  metrics.gauge(
    'skip_health_checks_total',
    `Health checks run (keystore sync, peer handshakes); /healthz reuses one for ${HEALTH_MAX_AGE_MS / 1000} s.`,
    () => [{ value: checks }],
    'counter',
  );

  const check = async (): Promise<Health> => {
    checks++;
    const listeners = Object.fromEntries(
      Object.entries(parts.listeners).map(([k, s]) => [k, s.listening ? 'up' : 'down']),
    );
    let keystore = 'writable';
    try {
      await within(store.check(), 2_000);
    } catch {
      keystore = 'failing';
    }
    const peers = Object.fromEntries(
      await Promise.all(
        parts.remotes.concrete().map(async (r) => {
          // A peer listing several instances is reachable while one of them is.
          const each = await Promise.all(
            r.ips.map(async (ip) =>
              parts.probe
                ? await parts.probe(r.ips.length === 1 ? r : { ...r, ip })
                : (await reachable(ip, r.mtlsPort))
                  ? 'reachable'
                  : 'unreachable',
            ),
          );
          return [r.id, each.find((s) => s === 'reachable') ?? each[0]!] as const;
        }),
      ),
    );
    const ok =
      Object.values(listeners).every((v) => v === 'up') &&
      keystore === 'writable' &&
      Object.values(peers).every((v) => v === 'reachable');
    return { ok, listeners, keystore, peers };
  };
  let last: { at: number; result: Promise<Health> } | undefined;
  const health = (): Promise<Health> => {
    const now = performance.now();
    if (!last || now - last.at >= HEALTH_MAX_AGE_MS) last = { at: now, result: check() };
    return last.result;
  };
  return createAdminServer(metrics, health, parts.limits, parts.admissions);
}
