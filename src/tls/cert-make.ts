// A CA and the peer-link certificates it signs, with the openssl command (node:crypto verifies
// certificates but cannot issue them): what scripts/create_ca.sh and scripts/sign_server_cert.sh
// do, for an appliance that has only the executable. Same names, extensions and defaults as the
// scripts; private keys are written 0600 and nothing that exists is replaced unless `force`.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

export interface CaOptions {
  dir: string;
  cn?: string;
  days?: number;
  bits?: number;
  force?: boolean;
}

export interface SignOptions {
  caDir: string;
  out: string;
  /** The KP's name (its localSystemID): CN and first DNS SAN; files are named up to its first dot. */
  name: string;
  /** More SANs: DNS names or IP addresses. */
  sans?: string[];
  days?: number;
  bits?: number;
  force?: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function openssl(args: string[], what: string): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw new ConfigError([`${what}: the openssl command is needed (${r.error.message})`]);
  if (r.status !== 0)
    throw new ConfigError([
      `${what}: openssl failed: ${(r.stderr.trim().split('\n')[0] ?? '').slice(0, 200)}`,
    ]);
}

function refuseExisting(files: string[], force: boolean | undefined): void {
  const there = files.filter((f) => existsSync(f));
  if (there.length > 0 && !force)
    throw new ConfigError(there.map((f) => `${f}: exists; --force replaces it`));
}

/** Moves WORK/key (0600) and WORK/crt (0644) to where they belong, the key first. */
function settle(work: string, to: { key: string; cert: string }): void {
  chmodSync(join(work, 'key'), 0o600);
  renameSync(join(work, 'key'), to.key);
  chmodSync(join(work, 'crt'), 0o644);
  renameSync(join(work, 'crt'), to.cert);
}

/** Writes DIR/ca.pem and DIR/ca.key (0600); returns their paths. */
export function makeCa(o: CaOptions): { cert: string; key: string } {
  const cert = join(o.dir, 'ca.pem');
  const key = join(o.dir, 'ca.key');
  refuseExisting([cert, key], o.force);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(o.dir, '.skip-ca-'));
  try {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        `rsa:${o.bits ?? 4096}`,
        '-nodes',
        '-sha256',
        '-days',
        String(o.days ?? 3650),
        '-keyout',
        join(work, 'key'),
        '-out',
        join(work, 'crt'),
        '-subj',
        `/CN=${o.cn ?? 'skip-server CA'}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      'cert ca',
    );
    settle(work, { key, cert });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { cert, key };
}

/** Writes OUT/NAME.pem.crt and OUT/NAME_key.pem (0600), signed by CA_DIR's CA. */
export function signCert(o: SignOptions): { cert: string; key: string; sans: string } {
  const problems: string[] = [];
  if (!NAME.test(o.name)) problems.push(`"${o.name}": a name holds letters, digits, '.', '_' and '-'`);
  for (const s of o.sans ?? [])
    if (isIP(s) === 0 && !NAME.test(s)) problems.push(`--san "${s}": neither an IP address nor a DNS name`);
  const caCert = join(o.caDir, 'ca.pem');
  const caKey = join(o.caDir, 'ca.key');
  for (const f of [caCert, caKey])
    if (!existsSync(f)) problems.push(`${f}: not found (skip-server cert ca makes it)`);
  if (problems.length > 0) throw new ConfigError(problems);
  const short = o.name.split('.')[0]!;
  const cert = join(o.out, `${short}.pem.crt`);
  const key = join(o.out, `${short}_key.pem`);
  refuseExisting([cert, key], o.force);
  const sans = [
    `DNS:${o.name}`,
    ...(o.sans ?? []).filter((s) => s !== o.name).map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)),
  ].join(',');
  mkdirSync(o.out, { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(o.out, '.skip-cert-'));
  try {
    writeFileSync(
      join(work, 'ext'),
      `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n` +
        'keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n',
    );
    openssl(
      [
        'req',
        '-newkey',
        `rsa:${o.bits ?? 2048}`,
        '-nodes',
        '-keyout',
        join(work, 'key'),
        '-out',
        join(work, 'csr'),
        '-subj',
        `/CN=${o.name}`,
      ],
      'cert sign',
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        join(work, 'csr'),
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-CAserial',
        join(work, 'serial'),
        '-out',
        join(work, 'crt'),
        '-days',
        String(o.days ?? 825),
        '-sha256',
        '-extfile',
        join(work, 'ext'),
      ],
      'cert sign',
    );
    settle(work, { key, cert });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { cert, key, sans };
}
