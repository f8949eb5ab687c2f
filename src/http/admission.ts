// Admission control, one place for every listener (docs/architecture.md, Memory budget): a cap on
// connections and a cap on requests in flight. Past the connection cap Node closes a new
// connection at once (refused fast, never left to time out); past the in-flight cap a request is
// answered 503 with Retry-After and a JSON detail before any handler runs, so a storm of routers
// costs a short answer each and a router that retries is served. Each cap has a metric.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';
import { send } from './respond.js';

export interface AdmissionLimits {
  /** Open connections, TLS handshakes included. */
  readonly maxConnections: number;
  /** Requests being handled at once. */
  readonly maxInFlight: number;
}

/** Retry-After for a request refused at the in-flight cap: work drains in milliseconds. */
const BUSY_RETRY_S = 1;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What one listener's caps hold now, for /metrics. */
export interface AdmissionState {
  readonly listener: string;
  readonly limits: AdmissionLimits;
  connections: number;
  inFlight: number;
  /** The per-source cap (per-source.ts): its limit and the most one source holds now. */
  perSource?: { readonly max: number; busiest(): number };
}

/**
 * Counts `server`'s connections (Node enforces maxConnections, set by applyLimits, and emits
 * `drop` past it) and returns `handler` wrapped by the in-flight cap. The state is pushed to
 * `states` for the metrics.
 */
export function admission(
  server: Server,
  listener: string,
  limits: AdmissionLimits,
  handler: Handler,
  metrics?: Metrics,
  states?: AdmissionState[],
): Handler {
  const state: AdmissionState = { listener, limits, connections: 0, inFlight: 0 };
  states?.push(state);
  server.on('connection', (socket) => {
    state.connections++;
    socket.once('close', () => state.connections--);
  });
  server.on('drop', () => metrics?.admissionRefused.inc({ listener, cap: 'connections' }));
  return (req, res) => {
    if (state.inFlight >= limits.maxInFlight) {
      metrics?.admissionRefused.inc({ listener, cap: 'requests' });
      return send(res, {
        status: 503,
        body: { detail: `busy: ${limits.maxInFlight} requests in progress; retry in ${BUSY_RETRY_S} s` },
        headers: { 'Retry-After': String(BUSY_RETRY_S) },
        noStore: true,
      });
    }
    state.inFlight++;
    res.once('close', () => state.inFlight--);
    handler(req, res);
  };
}

/** The gauges of every listener's caps, registered once. */
export function admissionGauges(metrics: Metrics, states: readonly AdmissionState[]): void {
  const each = (read: (s: AdmissionState) => [number, number, number | undefined]) => () =>
    states.flatMap((s) => {
      const [connections, requests, perSource] = read(s);
      return [
        { labels: { listener: s.listener, cap: 'connections' }, value: connections },
        { labels: { listener: s.listener, cap: 'requests' }, value: requests },
        ...(perSource === undefined
          ? []
          : [{ labels: { listener: s.listener, cap: 'per-source' }, value: perSource }]),
      ];
    });
  metrics.gauge(
    'skip_admission_in_use',
    'Open connections, requests in flight, and the most unauthenticated connections of one source address, by listener.',
    each((s) => [s.connections, s.inFlight, s.perSource?.busiest()]),
  );
  metrics.gauge(
    'skip_admission_limit',
    'The admission caps, by listener (memory_profile, max_handshakes_per_source).',
    each((s) => [s.limits.maxConnections, s.limits.maxInFlight, s.perSource?.max]),
  );
}
