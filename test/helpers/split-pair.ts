// Two KPs, alice and bob, each with its own folder as on two hosts: each holds its own ML-KEM
// pair and a copy of the other's public key, so rotating one means copying a file, as an operator
// would. `prepare` may change the files (certificates, CA bundles) before the processes start.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startKp, type RunningKp } from './bundle.js';
import { writeKpFiles, type KpFiles } from './kp-files.js';
import { makePki, type Pki } from './pki.js';
import { freePort, tempDir } from './tmp.js';

export interface Side {
  dir: string;
  files: KpFiles;
  /** This KP's own ML-KEM pair, and where its copy of the other's public key is. */
  pub: string;
  priv: string;
  peerPub: string;
  kp: RunningKp;
}

export interface SplitPair {
  pki: Pki;
  alice: Side;
  bob: Side;
}

/** Points `files.config`'s `key` at `value` (a top-level quoted string). */
export function setConfig(files: KpFiles, key: string, value: string): void {
  const text = readFileSync(files.config, 'utf8');
  writeFileSync(files.config, text.replace(new RegExp(`^${key}: .*$`, 'm'), `${key}: "${value}"`));
}

export async function startSplitPair(
  t: TestContext,
  prepare: (
    p: Omit<SplitPair, 'alice' | 'bob'> & Record<'alice' | 'bob', Omit<Side, 'kp'>>,
  ) => void = () => {},
): Promise<SplitPair> {
  const root = tempDir(t);
  const pki = makePki(root);
  const [pa, pb] = [await freePort(), await freePort()];
  const side = (name: string, peer: string, mtlsPort: number, peerPort: number): Omit<Side, 'kp'> => {
    const dir = join(root, name);
    mkdirSync(dir);
    const files = writeKpFiles(dir, pki, { name, mtlsPort, peers: [{ id: peer, port: peerPort }] });
    return {
      dir,
      files,
      pub: join(dir, `${name}-kem_pub.pem`),
      priv: join(dir, `${name}-kem_priv.pem`),
      peerPub: join(dir, `${peer}-kem_pub.pem`),
    };
  };
  const a = side('alice', 'bob', pa, pb);
  const b = side('bob', 'alice', pb, pa);
  copyFileSync(a.pub, b.peerPub);
  copyFileSync(b.pub, a.peerPub);
  prepare({ pki, alice: a, bob: b });
  const bob = { ...b, kp: await startKp(b.files.config, { env: b.files.env }) };
  t.after(() => bob.kp.stop());
  const alice = { ...a, kp: await startKp(a.files.config, { env: a.files.env }) };
  t.after(() => alice.kp.stop());
  return { pki, alice, bob };
}
