// Per-source admission (docs/security.md, per-source cap): connections that have not authenticated
// yet are counted per source address, from accept until their TLS handshake completes (a known
// PSK, or a certificate the listener accepts) or they close. Past `max` a new connection from that
// source is closed at once, before any TLS work, so one address cannot hold the listener's whole
// connection cap by reconnecting each socket the handshake timeout closes. Authenticated
// connections do not count. IPv4-mapped IPv6 addresses count as their IPv4 address; other IPv6
// addresses count per /64, the block one host is usually given.

import type { Server, Socket } from 'node:net';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import type { AdmissionState } from './admission.js';

/** At most one log line per listener in this window; the line counts the refusals since the last. */
const LOG_EVERY_MS = 10_000;

/** The address a connection is counted under: IPv4, or an IPv6 /64. */
export function sourceOf(address: string | undefined): string {
  if (address === undefined) return '';
  const a = address.toLowerCase().split('%')[0]!;
  if (!a.includes(':')) return a;
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/.test(a)) return a.slice(7);
  const [head = '', tail] = a.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  // A dotted IPv4 tail stands for two groups.
  const width = (gs: string[]): number => gs.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all =
    tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - width(h) - width(t))).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((g) => (g.includes('.') ? '0' : parseInt(g, 16).toString(16)))
    .join(':')}::/64`;
}

export interface PerSourceOptions {
  /** The listener's name in metrics and logs: encryptor, peer. */
  listener: string;
  /** Unauthenticated connections from one source at most (max_handshakes_per_source). */
  max: number;
  log: Logger;
  metrics?: Metrics;
  /** The listener's admission state, which gets the per-source figures for /metrics. */
  state?: AdmissionState;
  now?: () => number;
}

/**
 * Puts the per-source cap in front of every `connection` listener `server` has now (node:tls, the
 * TLS 1.3 front door, the admission counter): install it after them. A connection counts as
 * authenticated at the server's `secureConnection` event.
 */
export function perSourceCap(server: Server, o: PerSourceOptions): void {
  const now = o.now ?? Date.now;
  const pending = new Map<string, number>();
  /** "address|port" of each counted connection: the secure socket names the same pair. */
  const open = new Map<string, () => void>();
  let lastLog = -Infinity;
  let unlogged = 0;
  const refuse = (socket: Socket, source: string): void => {
    socket.destroy();
    o.metrics?.admissionRefused.inc({ listener: o.listener, cap: 'per-source' });
    unlogged++;
    const t = now();
    if (t - lastLog < LOG_EVERY_MS) return;
    o.log.warn('connections refused: per-source cap', {
      listener: o.listener,
      peer: source,
      max: o.max,
      refused: unlogged,
      note: `${o.max} connections from this address are still in their TLS handshake; at most one line per ${LOG_EVERY_MS / 1000} s`,
    });
    lastLog = t;
    unlogged = 0;
  };
  const inner = server.listeners('connection') as ((s: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const source = sourceOf(socket.remoteAddress);
    const n = pending.get(source) ?? 0;
    if (n >= o.max) return refuse(socket, source);
    pending.set(source, n + 1);
    const id = `${socket.remoteAddress}|${socket.remotePort}`;
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      if (open.get(id) === release) open.delete(id);
      const left = (pending.get(source) ?? 1) - 1;
      if (left > 0) pending.set(source, left);
      else pending.delete(source);
    };
    open.set(id, release);
    socket.once('close', release);
    for (const l of inner) l.call(server, socket);
  });
  server.on('secureConnection', (s: { remoteAddress?: string; remotePort?: number }) => {
    open.get(`${s.remoteAddress}|${s.remotePort}`)?.();
  });
  if (o.state) {
    o.state.perSource = {
      max: o.max,
      busiest: () => Math.max(0, ...pending.values()),
    };
  }
}
