// The time and size limits every listener (encryptor, peer, admin) applies, and the caps of the
// memory profile: a slow or huge request is cut without harming others.

import type { Server as HttpServer } from 'node:http';
import type { ServerOptions } from 'node:https';
import { PROFILES } from '../memory-profile.js';

/** The limits of the appliance profile; memory_profile and tests change them. */
export const LIMITS: {
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly timeoutCheckMs: number;
  readonly maxHeaderBytes: number;
  readonly maxConnections: number;
  readonly maxInFlight: number;
} = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  /** How often Node checks the two request timeouts above. */
  timeoutCheckMs: 1_000,
  maxHeaderBytes: 8_192,
  /** The appliance profile's caps; memory_profile sets smaller ones. */
  ...PROFILES.appliance,
};
export type Limits = typeof LIMITS;

/** The time and size limits of LIMITS as https server options; every listener uses these. */
export function limitOptions(limits: Limits): ServerOptions {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckMs,
    maxHeaderSize: limits.maxHeaderBytes,
  };
}

/** The limits that are set on the server object rather than passed as options (http or https). */
export function applyLimits<S extends HttpServer>(server: S, limits: Limits): S {
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs);
  return server;
}
