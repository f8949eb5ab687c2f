// KPs whose remote systems use any key source, and the two linked simulated KMEs they use: the
// simulator runs in the test process (src/kme/sim/kme-sim.ts), the KPs from the bundle. Each KP's
// SAE certificate is its peer-link certificate (CN = its name = its SAE ID).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { SimKmeNetwork, type SimKmeOptions } from '../../src/kme/sim/kme-sim.js';
import { startKp, type RunningKp } from './bundle.js';
import { writeKpFiles, type KpFiles } from './kp-files.js';
import { makePki, type Pki } from './pki.js';
import { freePort, tempDir } from './tmp.js';

export interface KpSpec {
  name: string;
  /** Which simulated KME (0 or 1) this KP's SAE is attached to. */
  kme: 0 | 1;
  remotes: { id: string; source: 'mlkem' | 'etsi014' | 'hybrid' }[];
  /** Lines added to the kme block (e.g. timeout_seconds). */
  kmeExtra?: string;
  /** Changes to the kme block: another url or cafile. */
  kmeUrl?: string;
  kmeCa?: string;
}

export interface KmeKps {
  dir: string;
  pki: Pki;
  sim: SimKmeNetwork;
  urls: [string, string];
  files: Record<string, KpFiles>;
  kps: Record<string, RunningKp>;
}

export async function startKmeKps(
  t: TestContext,
  specs: KpSpec[],
  sim: Partial<SimKmeOptions> = {},
): Promise<KmeKps> {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const kmeLeaf = pki.leaf('kme');
  const saes = Object.fromEntries(specs.map((s) => [s.name, s.kme]));
  const network = new SimKmeNetwork({
    certfile: kmeLeaf.cert,
    keyfile: kmeLeaf.key,
    cafile: pki.ca,
    saes,
    ...sim,
  });
  const urls = await network.start();
  t.after(() => network.close());
  const ports = Object.fromEntries(
    await Promise.all(specs.map(async (s) => [s.name, await freePort()] as const)),
  );
  const files: Record<string, KpFiles> = {};
  for (const s of specs) {
    const f = writeKpFiles(dir, pki, {
      name: s.name,
      mtlsPort: ports[s.name],
      peers: [{ id: 'placeholder' }],
    });
    const remotes = s.remotes
      .map((r) => {
        const link =
          r.source === 'etsi014'
            ? ''
            : `    ip: "127.0.0.1"\n    mtls_port: ${ports[r.id]}\n    pubkey_path: "${join(dir, `${r.id}-kem_pub.pem`)}"\n`;
        const qkd = r.source === 'mlkem' ? '' : `    key_source: ${r.source}\n    sae_id: "${r.id}"\n`;
        return `  - id: "${r.id}"\n${link}${qkd}`;
      })
      .join('');
    const text = readFileSync(f.config, 'utf8').replace(
      /remoteSystems:\n(?: {2}.*\n| {4}.*\n)*/,
      `remoteSystems:\n${remotes}`,
    );
    const kme =
      `kme:\n  url: "${s.kmeUrl ?? urls[s.kme]}"\n  certfile: "${join(dir, `${s.name}.pem`)}"\n` +
      `  keyfile: "${join(dir, `${s.name}.key`)}"\n  cafile: "${s.kmeCa ?? pki.ca}"\n${s.kmeExtra ?? ''}`;
    writeFileSync(f.config, `${text}${s.remotes.some((r) => r.source !== 'mlkem') ? kme : ''}`);
    files[s.name] = f;
  }
  const kps: Record<string, RunningKp> = {};
  for (const s of specs) kps[s.name] = await startKp(files[s.name]!.config, { env: files[s.name]!.env });
  t.after(async () => {
    for (const kp of Object.values(kps)) await kp.stop();
  });
  return { dir, pki, sim: network, urls, files, kps };
}
