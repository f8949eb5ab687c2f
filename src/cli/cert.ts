// `skip-server cert ca` and `cert sign`: the peer link's CA and certificates, made with openssl,
// for an appliance that has the executable but not the source's scripts/.

import { makeCa, signCert } from '../tls/cert-make.js';
import { EXIT, UsageError, str, type Command, type Values } from './common.js';

const days = (v: Values[string], fallback: number): number => {
  const text = str(v);
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1)
    throw new UsageError(`--days must be a whole number of days, not "${text}"`);
  return Number(text);
};

export const certCa: Command = {
  name: 'cert ca',
  summary: "Make the CA that signs every KP's peer-link certificate (needs openssl).",
  synopsis: '--dir DIR [--cn NAME] [--days N] [--force]',
  about: `Write DIR/ca.pem (give it to every Key Provider as cafile) and DIR/ca.key (mode 0600:
keep it offline, on the machine that signs). RSA 4096, SHA-256, CA:TRUE. The same as
scripts/create_ca.sh. Never replaces a file without --force.`,
  options: {
    dir: { type: 'string', arg: 'DIR', help: 'where ca.pem and ca.key go (made if missing)' },
    cn: { type: 'string', arg: 'NAME', help: 'the CA\'s Common Name (default "skip-server CA")' },
    days: { type: 'string', arg: 'N', help: 'validity in days (default 3650)' },
    force: { type: 'boolean', help: 'replace ca.pem and ca.key' },
  },
  run(values, io) {
    const dir = str(values.dir);
    if (dir === undefined) throw new UsageError('cert ca needs --dir DIR');
    const cn = str(values.cn);
    const r = makeCa({
      dir,
      days: days(values.days, 3650),
      force: values.force === true,
      ...(cn !== undefined && { cn }),
    });
    io.out(
      `CA certificate: ${r.cert} (give it to every KP as cafile)\nCA private key: ${r.key} (mode 0600; keep it offline)\n`,
    );
    return EXIT.ok;
  },
};

export const certSign: Command = {
  name: 'cert sign',
  summary: "Sign a KP's peer-link certificate with the CA (needs openssl).",
  synopsis: '--ca DIR --out DIR --name NAME [--san NAME|IP ...] [--days N] [--force]',
  about: `Write OUT/SHORT.pem.crt and OUT/SHORT_key.pem (mode 0600), SHORT being NAME up to its
first dot: a certificate for the peer link (serverAuth and clientAuth) whose first DNS SAN
is NAME, the KP's localSystemID, which its peers check. --san adds DNS names or IP
addresses (repeat it). Signed by DIR/ca.pem and DIR/ca.key from "cert ca". The same as
scripts/sign_server_cert.sh. Never replaces a file without --force.`,
  options: {
    ca: { type: 'string', arg: 'DIR', help: 'the folder of ca.pem and ca.key' },
    out: { type: 'string', arg: 'DIR', help: 'where the certificate and its key go' },
    name: { type: 'string', arg: 'NAME', help: "the KP's localSystemID (CN and first DNS SAN)" },
    san: { type: 'string', multiple: true, arg: 'NAME|IP', help: 'another DNS name or IP address (repeat)' },
    days: { type: 'string', arg: 'N', help: 'validity in days (default 825)' },
    force: { type: 'boolean', help: 'replace the certificate and key' },
  },
  run(values, io) {
    const ca = str(values.ca);
    const out = str(values.out);
    const name = str(values.name);
    if (ca === undefined || out === undefined || name === undefined)
      throw new UsageError('cert sign needs --ca DIR, --out DIR and --name NAME');
    const r = signCert({
      caDir: ca,
      out,
      name,
      sans: Array.isArray(values.san) ? values.san.filter((s): s is string => typeof s === 'string') : [],
      days: days(values.days, 825),
      force: values.force === true,
    });
    io.out(`certificate: ${r.cert} (${r.sans})\nprivate key: ${r.key} (mode 0600)\n`);
    return EXIT.ok;
  },
};
