// The admin listener (docs/architecture.md): off unless admin_port is set, loopback by default, plain
// HTTP, GET /healthz and GET /metrics only. It never serves keys, and the encryptor and peer
// ports never serve it. It has the time and size limits of the other listeners and small caps of
// its own (ADMIN_CAPS), counted in /metrics as listener "admin", so a flood of admin connections
// costs little and never takes the encryptor port's connections or memory.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { admission, type AdmissionState } from '../http/admission.js';
import { applyLimits, limitOptions, type Limits } from '../http/limits.js';
import type { Metrics } from '../metrics.js';

export interface Health {
  ok: boolean;
  [part: string]: unknown;
}

/** A scraper and a health checker or two: a few connections, fewer requests at once. */
export const ADMIN_CAPS = { maxConnections: 16, maxInFlight: 4 } as const;

export function createAdminServer(
  metrics: Metrics,
  health: () => Promise<Health>,
  limits: Limits,
  admissions?: AdmissionState[],
): Server {
  // A connection that sends nothing has no request for Node's request timeouts to end: the idle
  // timeout does, as soon as a request would have timed out.
  const capped: Limits = {
    ...limits,
    ...ADMIN_CAPS,
    idleTimeoutMs: Math.min(limits.idleTimeoutMs, limits.headersTimeoutMs),
  };
  const server = applyLimits(createServer(limitOptions(capped)), capped);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        'Cache-Control': 'no-store',
      });
      res.end(body);
    };
    const json = (status: number, body: object): void =>
      send(status, 'application/json', JSON.stringify(body));
    if (path !== '/healthz' && path !== '/metrics')
      return json(404, { detail: 'the admin listener serves /healthz and /metrics' });
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return json(405, { detail: 'only GET' });
    }
    if (path === '/metrics') return send(200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render());
    health().then(
      (h) => json(h.ok ? 200 : 503, h),
      () => json(503, { ok: false, detail: 'health check failed' }),
    );
  };
  server.on('request', admission(server, 'admin', capped, handler, metrics, admissions));
  return server;
}
