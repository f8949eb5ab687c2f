// A leaf certificate whose validity ends at a given second (openssl ca -enddate), to watch a KP
// whose own certificate expires while it runs. Signed by the test PKI's CA, over the leaf's key.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pki } from './pki.js';

const stamp = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';

/** Re-signs `name`'s key (made by pki.leaf) into `name`.pem, valid until `notAfter`. */
export function resignUntil(pki: Pki, name: string, notAfter: Date): string {
  const dir = pki.dir;
  const cnf = join(dir, `${name}-ca.cnf`);
  writeFileSync(join(dir, `${name}-index.txt`), '');
  writeFileSync(
    cnf,
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${name}-index.txt\nnew_certs_dir = .\nserial = ${name}-serial\n` +
      `default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  writeFileSync(join(dir, `${name}-serial`), '1000\n');
  const cert = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      cnf,
      '-cert',
      pki.ca,
      '-keyfile',
      pki.caKey,
      '-in',
      join(dir, `${name}.csr`),
      '-out',
      cert,
      '-extfile',
      join(dir, `${name}.ext`),
      '-startdate',
      stamp(new Date(Date.now() - 3_600_000)),
      '-enddate',
      stamp(notAfter),
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return cert;
}
