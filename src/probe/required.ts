// Which checks decide the probe's exit status. Draft Table 1 REQUIRES TLS 1.3 with
// TLS_AES_256_GCM_SHA384; IOS XE routers use TLS 1.2, and some KPs (the Python reference) serve
// only that. A KP that refuses TLS 1.3 gets one failed check for the REQUIRED suite instead of a
// TLS 1.3 run of failures, and `--require` says which TLS versions count for the exit status
// (default: every version probed), so monitoring of a TLS 1.2-only pair can stay green while the
// report still shows the gap.

import type { Check, ProbeOptions } from './checks.js';
import { httpRequest, TlsFailure, type TlsVersion } from './transport.js';

export const REQUIRED_TLS13 = 'TLS 1.3 TLS_AES_256_GCM_SHA384 (Table 1, REQUIRED)';

const UNREACHABLE = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|timed out/;

/** The failed REQUIRED-suite check when KP A refuses a TLS 1.3 handshake; else undefined. */
export async function tls13Refusal(o: ProbeOptions): Promise<Check | undefined> {
  try {
    await httpRequest(o.kp, '1.3', 'GET', '/capabilities', { timeoutMs: 5000 });
    return undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // Nothing answering is not a refusal: the smoke run reports it with its own hint.
    if (!(e instanceof TlsFailure) || UNREACHABLE.test(msg)) return undefined;
    return {
      name: REQUIRED_TLS13,
      ok: false,
      detail: `refused: ${msg}`,
      hint:
        "KP A does not serve draft Table 1's REQUIRED TLS 1.3 suite with a SHA-384 PSK (the Python " +
        'reference KP serves TLS 1.2 only; so does skip-server with tls13_psk: false); IOS XE uses TLS 1.2: ' +
        '--tls 1.2 checks only that, --require 1.2 keeps this check in the report without failing on it',
    };
  }
}

/** Marks the failures of a TLS version outside `required` as not deciding the exit status. */
export function markRequired(checks: Check[], version: TlsVersion, required: TlsVersion[]): Check[] {
  if (required.includes(version)) return checks;
  return checks.map((c) => (c.ok ? c : { ...c, optional: true }));
}

/** The checks that decide the exit status and the report's `ok`. */
export const failedRequired = (checks: Check[]): Check[] => checks.filter((c) => !c.ok && !c.optional);
