// `probe --conformance`: the status codes and bodies of draft-cisco-skip-02 §4 that a router can
// observe at KP A, and its TLS profile against Table 1. Never destructive: the only keys taken
// are none (every /key request here is one the KP must refuse, or a new key the probe asked for).

import { PROBE_SERVER_NAME } from '../tls/refusals.js';
import { randomBytes } from 'node:crypto';
import { tls13Request } from '../tls13/client.js';
import type { Check, ProbeOptions } from './checks.js';
import { REQUIRED_TLS13 } from './required.js';
import { httpRequest, requestText, type HttpAnswer, type TlsVersion } from './transport.js';

interface Rule {
  name: string;
  method?: string;
  path: string;
  /** The status the draft asks for (a list: any of them). */
  status: number[];
  /** Extra check of a good answer; returns a problem or undefined. */
  also?: (a: HttpAnswer) => string | undefined;
}

const isJson = (a: HttpAnswer): boolean => {
  try {
    JSON.parse(a.body);
    return /application\/json/.test(a.headers['content-type'] ?? '');
  } catch {
    return false;
  }
};
const errorBody = (a: HttpAnswer): string | undefined =>
  isJson(a)
    ? undefined
    : `error body is not JSON with Content-Type application/json (draft §4: responses are JSON)`;
const noStore = (a: HttpAnswer): string | undefined =>
  /no-store/.test(a.headers['cache-control'] ?? '')
    ? undefined
    : 'no Cache-Control: no-store on key material';
const entropy =
  (bits: number) =>
  (a: HttpAnswer): string | undefined => {
    let b: { randomStr?: unknown; minentropy?: unknown };
    try {
      b = JSON.parse(a.body) as typeof b;
    } catch {
      return 'body is not JSON';
    }
    if (b.minentropy !== bits) return `minentropy ${String(b.minentropy)}, asked for ${bits}`;
    if (
      typeof b.randomStr !== 'string' ||
      !/^[0-9a-fA-F]*$/.test(b.randomStr) ||
      b.randomStr.length !== bits / 4
    )
      return `randomStr is not ${bits / 4} hex digits`;
    return noStore(a);
  };

export async function conformance(o: ProbeOptions, v: TlsVersion, remote: string): Promise<Check[]> {
  const tag = o.tls.length > 1 ? `TLS ${v}: ` : '';
  const r = encodeURIComponent(remote);
  const unknown = `probe-${randomBytes(4).toString('hex')}`;
  const rules: Rule[] = [
    { name: '404 for an unknown path', path: '/probe-no-such-path', status: [404], also: errorBody },
    {
      name: '405 with Allow for a bad method',
      method: 'POST',
      path: '/capabilities',
      status: [405],
      also: (a) =>
        /\bGET\b/.test(a.headers.allow ?? '')
          ? errorBody(a)
          : `no "Allow: GET" header (got ${a.headers.allow ?? 'none'})`,
    },
    { name: '400 for /key without remoteSystemID', path: '/key', status: [400], also: errorBody },
    {
      name: '400 for an unknown remoteSystemID',
      path: `/key?remoteSystemID=${unknown}`,
      status: [400],
      also: errorBody,
    },
    {
      name: '400 for a size not a multiple of 8',
      path: `/key?remoteSystemID=${r}&size=250`,
      status: [400],
      also: errorBody,
    },
    {
      name: '400 for a size too large',
      path: `/key?remoteSystemID=${r}&size=1048576`,
      status: [400],
      also: errorBody,
    },
    {
      name: '400 for a malformed keyId',
      path: `/key/not-hex!?remoteSystemID=${r}`,
      status: [400],
      also: errorBody,
    },
    {
      name: '400 for an unknown keyId',
      path: `/key/${randomBytes(16).toString('hex')}?remoteSystemID=${r}`,
      status: [400],
      also: errorBody,
    },
    { name: 'entropy, default 256 bits', path: '/entropy', status: [200], also: entropy(256) },
    { name: 'entropy, minentropy=512', path: '/entropy?minentropy=512', status: [200], also: entropy(512) },
    {
      name: 'entropy, a bad minentropy refused',
      path: '/entropy?minentropy=7',
      status: [400],
      also: errorBody,
    },
  ];
  const checks: Check[] = [];
  for (const rule of rules) {
    const method = rule.method ?? 'GET';
    let a: HttpAnswer;
    try {
      a = await httpRequest(o.kp, v, method, rule.path);
    } catch (e) {
      checks.push({
        name: `${tag}${rule.name}`,
        ok: false,
        detail: `${method} ${rule.path}: ${e instanceof Error ? e.message : String(e)}`,
      });
      continue;
    }
    const problem = !rule.status.includes(a.status)
      ? `${method} ${rule.path}: ${a.status}, the draft says ${rule.status.join(' or ')}`
      : rule.also?.(a);
    checks.push({
      name: `${tag}${rule.name}`,
      ok: problem === undefined,
      detail: problem ?? `${a.status}`,
      ms: a.ms,
    });
  }
  return checks;
}

/** Which TLS versions and suites the KP accepts with this PSK: Table 1's, and any weaker one. */
export async function tlsProfile(o: ProbeOptions): Promise<Check[]> {
  type V = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  const accepts = async (ciphers: string, versions: [V, V], weaker = false): Promise<boolean> => {
    try {
      const a = await httpRequest(o.kp, '1.2', 'GET', '/capabilities', {
        tls12Ciphers: ciphers,
        tls12Versions: versions,
        timeoutMs: 5000,
        // The KP marks the refusals it logs for these, so alerts can leave them out.
        ...(weaker && { servername: PROBE_SERVER_NAME }),
      });
      return a.status > 0;
    } catch {
      return false;
    }
  };
  const tls13 = await tls13Request({
    host: o.kp.host,
    port: o.kp.port,
    identity: o.kp.identity,
    psk: o.kp.psk,
    request: requestText('GET', '/capabilities', o.kp.host),
    timeoutMs: 5000,
  }).then(
    () => true,
    () => false,
  );
  const checks: Check[] = [
    {
      name: REQUIRED_TLS13,
      ok: tls13,
      detail: tls13 ? 'accepted' : 'refused',
      ...(!tls13 && { hint: "the KP does not serve the draft's REQUIRED TLS 1.3 suite with a PSK" }),
    },
  ];
  for (const [suite, row] of [
    ['DHE-PSK-AES256-CBC-SHA384', 'Table 1, RECOMMENDED'],
    ['DHE-PSK-AES256-CBC-SHA', 'Table 1, RECOMMENDED'],
    ['DHE-PSK-AES256-GCM-SHA384', 'IOS XE'],
    ['PSK-AES256-GCM-SHA384', 'IOS XE; no forward secrecy'],
  ] as const) {
    const ok = await accepts(suite, ['TLSv1.2', 'TLSv1.2']);
    checks.push({
      name: `TLS 1.2 ${suite} (${row})`,
      ok: true,
      info: true,
      detail: ok ? 'accepted' : 'refused',
    });
  }
  for (const [suite, versions] of [
    ['PSK-AES128-GCM-SHA256', ['TLSv1.2', 'TLSv1.2']],
    ['DHE-PSK-AES128-GCM-SHA256', ['TLSv1.2', 'TLSv1.2']],
    ['PSK-AES128-CBC-SHA256', ['TLSv1.2', 'TLSv1.2']],
    ['PSK-CHACHA20-POLY1305', ['TLSv1.2', 'TLSv1.2']],
    ['PSK-AES256-CBC-SHA', ['TLSv1', 'TLSv1.1']],
    // Node's TLS 1.3 PSK is SHA-256 bound: what a KP on node:tls or OpenSSL's -psk would take.
    ['TLS_AES_128_GCM_SHA256', ['TLSv1.3', 'TLSv1.3']],
  ] as const) {
    const ok = await accepts(suite, [...versions], true);
    const label =
      versions[0] === 'TLSv1.3'
        ? `TLS 1.3 ${suite}`
        : versions[0] === 'TLSv1.2'
          ? `TLS 1.2 ${suite}`
          : `TLS 1.0/1.1 ${suite}`;
    checks.push({
      name: `weaker: ${label}`,
      ok: !ok,
      detail: ok ? 'ACCEPTED: weaker than Table 1' : 'refused',
      ...(ok && {
        hint: 'the KP accepts a suite or version weaker than draft Table 1; restrict its cipher list',
      }),
    });
  }
  return checks;
}
