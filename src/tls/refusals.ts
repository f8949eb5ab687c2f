// Refused TLS handshakes: a 'tls handshake refused' line each, up to a rate; past it one summary
// line per interval with the count by reason, so a flood of bad handshakes cannot flood the log.
// Every refusal is counted in /metrics by listener, reason class and identity. The identity label
// is set only for identities in the PSK table, so an attacker cannot grow the label set.

import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Metrics } from '../metrics.js';
import type { RefusalKind } from '../tls13/record.js';
import { clip, type Fields, type Logger } from '../log.js';

/** The reason classes of skip_tls_handshakes_refused_total for refusals whose kind is not known
 * where they are made (node:tls's error codes in words), in the order they are tried. */
const CLASSES: [RegExp, string][] = [
  [/unknown PSK identity/, 'unknown_identity'],
  [/wrong PSK|binder/, 'wrong_psk'],
  [/in time/, 'timeout'],
  [/TLS version|legacy_version|TLS 1\.3 not offered/, 'version'],
  [/suite|SHA-256 PSK|SHA-384|key exchange in common|ALPN/, 'no_common_profile'],
  [/not TLS/, 'not_tls'],
  [/closed the connection|client sent alert/, 'client_closed'],
  [/certificate|cafile/, 'certificate'],
];

/** The server name (SNI) `skip-server probe --conformance` sends in the handshakes it expects to
 * be refused (weaker suites and versions): their refusals are marked, so alerts can leave them out. */
export const PROBE_SERVER_NAME = 'conformance.probe.skip-server.invalid';

/** The refusal classes a weaker-suite check of the probe ends in. */
const PROBE_REFUSALS: ReadonlySet<string> = new Set(['no_common_profile', 'version']);

export const refusalClass = (reason: string): string =>
  CLASSES.find(([re]) => re.test(reason))?.[1] ?? 'malformed';

export interface RefusalOptions {
  listener: 'encryptor' | 'peer';
  /** The log event of each line. */
  event: string;
  log: Logger;
  metrics?: Metrics;
  /** True for an identity of the PSK table (a known router). */
  known?: (identity: string) => boolean;
  /** Lines a second, and the burst, before lines are summarised. */
  perSecond?: number;
  burst?: number;
  /** How often the summary of the lines not written goes out. */
  summaryMs?: number;
  now?: () => number;
}

export type RefusalReport = (
  fields: Fields & { reason: string; identity?: string; serverName?: string },
  /** The refusal's kind when the code that refused knows it; else it is read from `reason`. */
  kind?: RefusalKind,
) => void;

export function refusalReporter(o: RefusalOptions): RefusalReport {
  const perSecond = o.perSecond ?? 10;
  const burst = o.burst ?? 50;
  const summaryMs = o.summaryMs ?? 10_000;
  const now = o.now ?? Date.now;
  let tokens = burst;
  let last = now();
  let suppressed = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  const summarise = (): void => {
    timer = undefined;
    if (suppressed.size === 0) return;
    const reasons = Object.fromEntries(suppressed);
    const count = [...suppressed.values()].reduce((a, b) => a + b, 0);
    suppressed = new Map();
    o.log.warn('tls handshakes refused, not logged one by one', {
      listener: o.listener,
      count,
      reasons,
      seconds: summaryMs / 1000,
      note: `more than ${perSecond} a second; skip_tls_handshakes_refused_total counts every one`,
    });
  };
  return (fields, kind) => {
    const real = kind ?? refusalClass(fields.reason);
    // Only a refusal of the suite or version the probe offered on purpose is marked as its own:
    // anyone can send that server name, and a wrong key or identity must count as what it is.
    const probe = fields.serverName === PROBE_SERVER_NAME && PROBE_REFUSALS.has(real);
    const cls = probe ? 'probe_conformance' : real;
    const known = fields.identity !== undefined && (o.known?.(fields.identity) ?? false);
    o.metrics?.handshakesRefused.inc({
      listener: o.listener,
      reason: cls,
      identity: known ? fields.identity! : '',
    });
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * perSecond);
    last = t;
    if (tokens >= 1) {
      tokens -= 1;
      const { identity, serverName, ...rest } = fields;
      o.log.warn(o.event, {
        ...rest,
        ...(identity !== undefined && { identity: clip(identity, 128) }),
        ...(serverName !== undefined && { serverName: clip(serverName, 64) }),
        ...(probe && {
          probe: 'conformance',
          note: 'skip-server probe --conformance checked a weaker suite',
        }),
      });
      return;
    }
    suppressed.set(cls, (suppressed.get(cls) ?? 0) + 1);
    if (!timer) {
      timer = setTimeout(summarise, summaryMs);
      timer.unref();
    }
  };
}

/**
 * A connection whose TLS handshake failed or timed out is destroyed at once. node:https forwards
 * `tlsClientError` to `clientError`, whose HTTP answer cannot leave a socket without a TLS
 * session: without this the socket stayed (CLOSE-WAIT) and held a maxConnections slot forever,
 * so silent TCP clients could shut the port (docs/security.md).
 */
export function closeFailedHandshakes(server: Server, report: (err: Error, socket: TLSSocket) => void): void {
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    socket.destroy();
    report(err, socket);
  });
}
