// The admin listener's wiring: /healthz (listeners up, keystore writable, each peer's mutual TLS
// completes) and
// the gauges of /metrics that are read from the running parts.

import type { Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import type { KeyStore } from '../keystore/types.js';
import type { RemoteDirectory, ResolvedRemote } from '../skip/remote-ids.js';
import type { Metrics } from './metrics.js';
import { createAdminServer, type Health } from './server.js';

export interface AdminParts {
  metrics: Metrics;
  store: KeyStore;
  remotes: RemoteDirectory;
  listeners: Record<string, HttpServer>;
  /** A peer's status: 'reachable', or why not (the peer client's mutual-TLS probe). Without
   * it (tests with an injected agreement) a TCP connect is tried. */
  probe?: (remote: ResolvedRemote) => Promise<string>;
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

  const health = async (): Promise<Health> => {
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
          const status = parts.probe
            ? await parts.probe(r)
            : (await reachable(r.ip, r.mtlsPort))
              ? 'reachable'
              : 'unreachable';
          return [r.id, status] as const;
        }),
      ),
    );
    const ok =
      Object.values(listeners).every((v) => v === 'up') &&
      keystore === 'writable' &&
      Object.values(peers).every((v) => v === 'reachable');
    return { ok, listeners, keystore, peers };
  };
  return createAdminServer(metrics, health);
}
