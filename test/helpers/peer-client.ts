// A bare mutual-TLS client for the peer port, as a peer KP that is not ours would speak.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Leaf } from './pki.js';

export interface PeerAnswer {
  status: number;
  headers: Record<string, string>;
  json: unknown;
}

export function peerRequest(
  port: number,
  opts: {
    ca: string;
    leaf?: Leaf;
    body?: string;
    method?: string;
    path?: string;
    headers?: Record<string, string>;
  },
): Promise<PeerAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/key-exchange',
        agent: false,
        ca: readFileSync(opts.ca),
        ...(opts.leaf && { cert: readFileSync(opts.leaf.cert), key: readFileSync(opts.leaf.key) }),
        headers: { 'Content-Type': 'application/json', ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
          resolve({ status: res.statusCode ?? 0, headers, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
