// The admin listener (architecture.md): off unless admin_port is set, loopback by default, plain
// HTTP, GET /healthz and GET /metrics only. It never serves keys, and the encryptor and peer
// ports never serve it.

import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';

export interface Health {
  ok: boolean;
  [part: string]: unknown;
}

export function createAdminServer(metrics: Metrics, health: () => Promise<Health>): Server {
  return createServer((req, res) => {
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
  });
}
