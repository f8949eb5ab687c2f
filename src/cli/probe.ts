// `skip-server probe`: plays both routers of a KP pair and checks what they would see: the
// smoke run by default, the draft's status codes and TLS profile with --conformance. Works
// against any SKIP Key Provider.

import { conformance, tlsProfile } from '../probe/conformance.js';
import { smoke, type Check, type ProbeOptions } from '../probe/checks.js';
import { jsonReport, textReport, type Report } from '../probe/report.js';
import { REQUIRED_TLS13, failedRequired, markRequired, tls13Refusal } from '../probe/required.js';
import type { Target, TlsVersion } from '../probe/transport.js';
import { ConfigError } from '../errors.js';
import { readPskFile } from '../tls/psk.js';
import { EXIT, UsageError, str, type Command } from './common.js';

function hostPort(value: string | undefined, option: string): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535))
    throw new UsageError(`${option} must be HOST:PORT (e.g. 10.0.0.1:443), not "${value}"`);
  return { host: m[1] ?? m[2]!, port };
}

function target(at: { host: string; port: number }, identity: string, file: string): Target {
  const table = readPskFile(file);
  const key = table.get(identity);
  const psk = key && Buffer.from(key);
  for (const k of table.values()) k.fill(0);
  if (!psk) throw new ConfigError([`${file}: no line for identity "${identity}"`]);
  return { ...at, identity, psk };
}

export const probe: Command = {
  name: 'probe',
  summary: "Check a KP pair as its routers would: a shared key end to end, or the draft's rules.",
  synopsis:
    '--kp HOST:PORT --identity ID --psk-file F [--remote B] [--peer-kp HOST:PORT --peer-identity ID [--peer-psk-file F]] [--tls 1.2|1.3|both] [--require 1.2|1.3|both] [--conformance] [--json]',
  about: `Play router A at --kp and router B at --peer-kp, as IOS XE would: GET /capabilities at
both, a new key at A for B, the same key at B for A, exactly once. Each check is printed
with its time and, when it fails, what to do. --conformance checks, at KP A, the status
codes and bodies of draft-cisco-skip-02 §4 and the TLS suites of its Table 1 (and whether
a weaker one is accepted). Works against any SKIP Key Provider; takes only keys it asked
for itself. TLS 1.2 with a PSK through node:tls; TLS 1.3 (TLS_AES_256_GCM_SHA384, the PSK
bound to SHA-384) through skip-server's own TLS 1.3 client. A KP that refuses TLS 1.3 (the
Python reference KP) gets one failed check for Table 1's REQUIRED suite. Exit 0 only when
every check passed, counting only the TLS versions of --require (default: those of --tls);
--json prints the report for monitoring.`,
  options: {
    kp: { type: 'string', arg: 'HOST:PORT', help: "KP A's encryptor port (router A's KP)" },
    identity: { type: 'string', arg: 'ID', help: "router A's PSK identity at KP A" },
    'psk-file': {
      type: 'string',
      arg: 'F',
      help: 'a PSK file ("identity:hexkey" lines) holding that identity',
    },
    remote: {
      type: 'string',
      arg: 'B',
      help: "the remote system (KP B's localSystemID); default: from --peer-kp",
    },
    'peer-kp': { type: 'string', arg: 'HOST:PORT', help: "KP B's encryptor port (router B's KP)" },
    'peer-identity': { type: 'string', arg: 'ID', help: "router B's PSK identity at KP B" },
    'peer-psk-file': { type: 'string', arg: 'F', help: 'PSK file holding it (default: --psk-file)' },
    tls: { type: 'string', arg: 'V', help: 'TLS version to use: 1.2, 1.3 or both (default both)' },
    require: {
      type: 'string',
      arg: 'V',
      help: 'TLS versions whose failures set the exit status: 1.2, 1.3 or both (default: --tls)',
    },
    conformance: { type: 'boolean', help: "also check the draft's status codes and TLS profile at KP A" },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run(values, io) {
    const kp = hostPort(str(values.kp), '--kp');
    const identity = str(values.identity);
    const pskFile = str(values['psk-file']);
    if (!kp || identity === undefined || pskFile === undefined)
      throw new UsageError('probe needs --kp HOST:PORT, --identity ID and --psk-file F');
    const peerAt = hostPort(str(values['peer-kp']), '--peer-kp');
    const peerIdentity = str(values['peer-identity']);
    if (peerAt && peerIdentity === undefined)
      throw new UsageError("--peer-kp needs --peer-identity (router B's PSK identity)");
    const versionsOf = (option: string, value: string): TlsVersion[] => {
      const v: TlsVersion[] =
        value === 'both' ? ['1.2', '1.3'] : value === '1.2' || value === '1.3' ? [value] : [];
      if (v.length === 0) throw new UsageError(`${option} must be 1.2, 1.3 or both, not "${value}"`);
      return v;
    };
    const versions = versionsOf('--tls', str(values.tls) ?? 'both');
    const required = versionsOf(
      '--require',
      str(values.require) ?? (versions.length > 1 ? 'both' : versions[0]!),
    );
    if (!required.every((v) => versions.includes(v)))
      throw new UsageError(`--require ${str(values.require)} names a TLS version --tls does not probe`);
    const remote = str(values.remote);
    const o: ProbeOptions = {
      kp: target(kp, identity, pskFile),
      ...(peerAt && { peer: target(peerAt, peerIdentity!, str(values['peer-psk-file']) ?? pskFile) }),
      ...(remote !== undefined && { remote }),
      tls: versions,
      conformance: values.conformance === true,
    };
    const started = performance.now();
    const checks: Check[] = [];
    try {
      let b = remote;
      const refused: TlsVersion[] = [];
      for (const v of versions) {
        const refusal = v === '1.3' ? await tls13Refusal(o) : undefined;
        if (refusal) {
          refused.push(v);
          checks.push(...markRequired([refusal], v, required));
          continue;
        }
        const r = await smoke(o, v);
        checks.push(...markRequired(r.checks, v, required));
        b ??= r.remote;
      }
      if (o.conformance) {
        // Without a remote system to name, the /key rules could pass for the wrong reason.
        if (b === undefined)
          checks.push({
            name: 'conformance',
            ok: false,
            detail: 'no remote system known',
            hint: 'give --remote B',
          });
        else
          for (const v of versions.filter((x) => !refused.includes(x)))
            checks.push(...markRequired(await conformance(o, v, b), v, required));
        for (const c of await tlsProfile(o)) {
          if (c.name !== REQUIRED_TLS13) checks.push(c);
          else if (!refused.includes('1.3')) checks.push(...markRequired([c], '1.3', required));
        }
      }
    } finally {
      o.kp.psk.fill(0);
      o.peer?.psk.fill(0);
    }
    const failed = failedRequired(checks).length;
    const report: Report = {
      ok: failed === 0,
      target: {
        kp: `${kp.host}:${kp.port}`,
        identity,
        ...(peerAt && { peerKp: `${peerAt.host}:${peerAt.port}`, peerIdentity }),
        tls: versions,
        require: required,
        conformance: o.conformance,
      },
      checks,
      failed,
      ms: Math.round(performance.now() - started),
    };
    io.out(values.json === true ? jsonReport(report) : textReport(report));
    return failed === 0 ? EXIT.ok : EXIT.runtime;
  },
};
