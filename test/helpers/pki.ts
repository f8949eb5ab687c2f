// A throwaway PKI made with the openssl CLI, as an operator's scripts would: a CA and leaf
// certificates with loopback SANs. Made fresh per test run; nothing is committed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Leaf {
  cert: string;
  key: string;
}
export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  /** A leaf for `name`; `sans` '' makes one without subjectAltName, `subject` overrides /CN=name. */
  leaf(name: string, sans?: string, subject?: string, days?: number): Leaf;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

export function makePki(dir: string, caName = 'skip test CA'): Pki {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '90', '-subj', `/CN=${caName}`],
    dir,
  );
  return {
    dir,
    ca,
    caKey,
    // 60 days: beyond the start-up warning for certificates that expire within 30. days 0: expired.
    leaf(name, sans = `DNS:${name},DNS:localhost,IP:127.0.0.1,IP:::1`, subject = `/CN=${name}`, days = 60) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      // `sans` may name a section that follows it ("@alt\n[alt]\n..."), so it comes last.
      const san = sans === '' ? '' : `subjectAltName=${sans}\n`;
      writeFileSync(ext, `extendedKeyUsage=serverAuth,clientAuth\n${san}`);
      openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', subject, '-multivalue-rdn'], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          ca,
          '-CAkey',
          caKey,
          '-CAcreateserial',
          '-out',
          cert,
          '-days',
          String(days),
          '-extfile',
          ext,
        ],
        dir,
      );
      return { cert, key };
    },
  };
}
