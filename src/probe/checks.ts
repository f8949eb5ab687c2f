// What `skip-server probe` checks, as the two routers of a KP pair would see it
// (draft-cisco-skip-02 §4): the smoke run (capabilities, a new key at A, the same key once at B)
// and the conformance run (status codes and bodies of §4's tables, and the TLS profile of
// Table 1). Only keys the probe asked for itself are ever taken.

import {
  AnswerTooLarge,
  httpRequest,
  TlsFailure,
  type HttpAnswer,
  type Target,
  type TlsVersion,
} from './transport.js';

export interface Check {
  name: string;
  ok: boolean;
  /** Why it failed, or what it saw. */
  detail: string;
  ms?: number;
  /** For a failure: what a router engineer can do about it. */
  hint?: string;
  /** Informational lines (not pass/fail), e.g. the suites a KP accepts. */
  info?: boolean;
  /** A failure outside `--require`: reported, but not deciding the exit status. */
  optional?: boolean;
}

export interface ProbeOptions {
  kp: Target;
  peer?: Target;
  remote?: string;
  tls: TlsVersion[];
  conformance: boolean;
}

const HEX = /^[0-9a-fA-F]+$/;
const isHex = (s: unknown, chars?: number): boolean =>
  typeof s === 'string' &&
  s.length > 0 &&
  s.length % 2 === 0 &&
  HEX.test(s) &&
  (chars === undefined || s.length === chars);

function json(a: HttpAnswer): unknown {
  try {
    return JSON.parse(a.body);
  } catch {
    return undefined;
  }
}

class Run {
  readonly checks: Check[] = [];
  /** The remote system the run settled on (for the conformance checks). */
  remote: string | undefined;
  constructor(private readonly tag: string) {}
  pass(name: string, detail: string, ms?: number): void {
    this.checks.push({ name: `${this.tag}${name}`, ok: true, detail, ...(ms !== undefined && { ms }) });
  }
  fail(name: string, detail: string, hint?: string, ms?: number): void {
    this.checks.push({
      name: `${this.tag}${name}`,
      ok: false,
      detail,
      ...(hint && { hint }),
      ...(ms !== undefined && { ms }),
    });
  }
  info(name: string, detail: string): void {
    this.checks.push({ name: `${this.tag}${name}`, ok: true, detail, info: true });
  }
}

const tlsHint = (who: string, v: TlsVersion): string =>
  `the TLS handshake with ${who} failed: check --identity and the key in the PSK file against the KP's psk_file ` +
  `(its log says "tls handshake refused" and why), and that the address and port are the encryptor port` +
  (v === '1.3'
    ? '; a KP without TLS 1.3 for SHA-384 PSKs (the Python reference KP) fails here: --tls 1.2 checks what IOS XE uses'
    : '');

async function ask(
  run: Run,
  name: string,
  t: Target,
  v: TlsVersion,
  path: string,
  who: string,
  method = 'GET',
): Promise<HttpAnswer | undefined> {
  try {
    return await httpRequest(t, v, method, path);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const hint = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|timed out/.test(msg)
      ? `nothing answers at ${t.host}:${t.port}: check the address and port, that ${who} runs, and the firewall`
      : e instanceof AnswerTooLarge
        ? `${who} sent an answer that does not end or is far larger than any SKIP answer: it is not a SKIP KP, or a hostile one`
        : e instanceof TlsFailure
          ? tlsHint(who, v)
          : `${who} did not answer over HTTP`;
    run.fail(name, `${method} ${path}: ${msg}`, hint);
    return undefined;
  }
}

function noStore(run: Run, name: string, a: HttpAnswer): void {
  if (/no-store/.test(a.headers['cache-control'] ?? '')) run.pass(name, 'Cache-Control: no-store');
  else
    run.fail(
      name,
      `Cache-Control is "${a.headers['cache-control'] ?? ''}"`,
      'key material must not be cached: send Cache-Control: no-store',
    );
}

interface Capabilities {
  localSystemID: string;
  remoteSystemID: string[];
}

function capabilities(run: Run, name: string, a: HttpAnswer | undefined): Capabilities | undefined {
  if (!a) return undefined;
  const body = json(a) as Record<string, unknown> | undefined;
  const problems: string[] = [];
  if (a.status !== 200) problems.push(`status ${a.status}`);
  if (!body || typeof body !== 'object') problems.push('body is not a JSON object');
  else {
    if (typeof body.entropy !== 'boolean') problems.push('"entropy" is not a boolean');
    if (typeof body.key !== 'boolean') problems.push('"key" is not a boolean');
    if (typeof body.algorithm !== 'string') problems.push('"algorithm" is not a string');
    if (typeof body.localSystemID !== 'string' || body.localSystemID === '')
      problems.push('"localSystemID" is not a non-empty string');
    if (!Array.isArray(body.remoteSystemID) || !body.remoteSystemID.every((x) => typeof x === 'string'))
      problems.push('"remoteSystemID" is not a list of strings');
  }
  if (problems.length > 0)
    return void run.fail(
      name,
      problems.join('; '),
      'the KP does not answer GET /capabilities as draft §4.1 says',
      a.ms,
    );
  const caps = body as unknown as Capabilities;
  run.pass(
    name,
    `${caps.localSystemID}, remotes ${caps.remoteSystemID.join(', ') || '(none)'} (${a.tls.version} ${a.tls.cipher}${a.tls.group ? ` ${a.tls.group}` : ''})`,
    a.ms,
  );
  return caps;
}

/** What to do about KP A's failed GET /key: its status and body name the cause (src/skip/key.ts). */
function newKeyHint(status: number, detail: string, remote: string): string {
  if (status === 500 && /own peer-link files/.test(detail))
    return `KP A's own files for the peer link are unusable (its certificate expired or is not yet valid, or its copy of KP B's ML-KEM public key is broken): the line "peer link broken here" in KP A's log names the file`;
  if (status === 502 && /refused this Key Provider's certificate/.test(detail))
    return `KP B (${remote}) refused KP A's certificate: KP B's cafile must hold the CA that signed KP A's certfile, and the certificate must be valid; KP B's log says "peer tls handshake refused" and why`;
  if (status === 502 && /^TLS with peer/.test(detail))
    return `KP A could not complete TLS with KP B (${remote}): KP A's cafile must hold the CA of KP B's certificate, which must name KP B's address or id and be valid; the line "key agreement failed" in KP A's log says why`;
  if (status === 503 && /unreachable/i.test(detail))
    return `KP A answered 503: it cannot reach KP B (${remote}) on its peer port (mtls_port): check that KP B runs, its address in KP A's remoteSystems, and the firewall; /healthz on KP A's admin port says more`;
  if (status === 503) return `KP A answered 503 (${detail}): busy or rate-limited; retry after Retry-After`;
  if (status === 502)
    return `KP A answered 502: KP B refused the exchange; KP B's log says why (identity, key confirmation)`;
  return `KP A answered ${status}: ${detail}`;
}

/** The smoke run over one TLS version: its checks, and the remote system it settled on. */
export async function smoke(o: ProbeOptions, v: TlsVersion): Promise<{ checks: Check[]; remote?: string }> {
  const run = await smokeRun(o, v);
  return { checks: run.checks, ...(run.remote !== undefined && { remote: run.remote }) };
}

async function smokeRun(o: ProbeOptions, v: TlsVersion): Promise<Run> {
  const run = new Run(o.tls.length > 1 ? `TLS ${v}: ` : '');
  const a = capabilities(
    run,
    'capabilities at KP A',
    await ask(run, 'capabilities at KP A', o.kp, v, '/capabilities', 'KP A'),
  );
  if (!a) return run;
  let remote = o.remote;
  if (o.peer) {
    const b = capabilities(
      run,
      'capabilities at KP B',
      await ask(run, 'capabilities at KP B', o.peer, v, '/capabilities', 'KP B'),
    );
    if (!b) return run;
    if (remote !== undefined && remote !== b.localSystemID)
      run.fail(
        'remote system',
        `--remote ${remote} but KP B says it is ${b.localSystemID}`,
        'point --peer-kp at the KP of --remote',
      );
    remote ??= b.localSystemID;
    if (!b.remoteSystemID.includes(a.localSystemID) && !b.remoteSystemID.some((p) => /[*?[]/.test(p)))
      run.fail(
        'pairing',
        `KP B (${b.localSystemID}) does not list ${a.localSystemID}`,
        `add ${a.localSystemID} to KP B's remoteSystems`,
      );
  }
  if (remote === undefined) {
    if (a.remoteSystemID.length !== 1) {
      run.fail(
        'remote system',
        `KP A lists ${a.remoteSystemID.length} remote systems`,
        'name one with --remote (or give --peer-kp)',
      );
      return run;
    }
    remote = a.remoteSystemID[0]!;
  }
  if (!a.remoteSystemID.includes(remote) && !a.remoteSystemID.some((p) => /[*?[]/.test(p)))
    run.fail(
      'pairing',
      `KP A (${a.localSystemID}) does not list ${remote}`,
      `add ${remote} to KP A's remoteSystems`,
    );

  run.remote = remote;
  const path = `/key?remoteSystemID=${encodeURIComponent(remote)}`;
  const k = await ask(run, 'new key at KP A', o.kp, v, path, 'KP A');
  if (!k) return run;
  const key = json(k) as { keyId?: unknown; key?: unknown } | undefined;
  if (k.status !== 200 || !key || !isHex(key.keyId) || !isHex(key.key)) {
    const detail = (json(k) as { detail?: string } | undefined)?.detail ?? k.body.slice(0, 200);
    const hint = newKeyHint(k.status, detail, remote);
    run.fail('new key at KP A', `GET ${path}: ${k.status} ${detail}`, hint, k.ms);
    return run;
  }
  const keyId = key.keyId as string;
  if (o.conformance) noStore(run, 'no-store on a new key', k);
  const bits = (key.key as string).length * 4;
  run.pass('new key at KP A', `keyId ${keyId.slice(0, 8)}..., ${bits}-bit key`, k.ms);
  if (bits !== 256) run.fail('default key size', `${bits} bits, draft §4.2.2 default is 256`);
  if (!o.peer) {
    run.info('key at KP B', 'not checked: no --peer-kp (the key waits at KP B until its TTL)');
    return run;
  }
  const takePath = `/key/${keyId}?remoteSystemID=${encodeURIComponent(a.localSystemID)}`;
  const t = await ask(run, 'same key at KP B', o.peer, v, takePath, 'KP B');
  if (!t) return run;
  const took = json(t) as { keyId?: unknown; key?: unknown } | undefined;
  if (t.status !== 200) {
    run.fail(
      'same key at KP B',
      `GET /key/{keyId}: ${t.status} ${t.body.slice(0, 200)}`,
      `KP B does not hold the key KP A agreed with ${remote}: are --peer-kp and KP A's remoteSystems entry the same KP?`,
      t.ms,
    );
    return run;
  }
  if (took?.key !== key.key || took?.keyId !== keyId)
    run.fail(
      'same key at KP B',
      'KP B returned another key',
      'the KPs disagree on the key: report it to the KP vendors with both logs',
      t.ms,
    );
  else run.pass('same key at KP B', 'keys equal', t.ms);
  if (o.conformance) noStore(run, 'no-store on a fetched key', t);
  const again = await ask(run, 'key taken once', o.peer, v, takePath, 'KP B');
  if (again) {
    if (again.status === 200)
      run.fail(
        'key taken once',
        'a second GET /key/{keyId} got 200',
        'draft §4.2.2: a KP must zeroize a key once provided; the key was handed out twice',
        again.ms,
      );
    else if (again.status !== 400)
      run.fail(
        'key taken once',
        `second fetch got ${again.status}, draft Table 7 says 400 (key not found)`,
        undefined,
        again.ms,
      );
    else run.pass('key taken once', 'second fetch refused (400)', again.ms);
  }
  return run;
}
