// Two KPs, alice and bob, from the bundle (or executable) on loopback, peers of each other over
// real mutual TLS: the files, the processes, and stopping both when the test ends.
import type { TestContext } from 'node:test';
import { startKp, type RunningKp } from './bundle.js';
import { writeKpFiles, type KpFiles } from './kp-files.js';
import { makePki, type Pki } from './pki.js';
import { freePort, tempDir } from './tmp.js';

export interface Pair {
  dir: string;
  pki: Pki;
  aliceFiles: KpFiles;
  bobFiles: KpFiles;
  alice: RunningKp;
  /** Replaced by startBob(). */
  bob: RunningKp;
  /** Starts bob again (after a stop), as an operator would. */
  startBob(): Promise<RunningKp>;
}

/** The two KPs' files, peers of each other on free ports; `*Extra` is appended to a skip.yaml. */
export async function writePairFiles(
  dir: string,
  pki: Pki,
  opts: { aliceExtra?: string; bobExtra?: string } = {},
): Promise<{ aliceFiles: KpFiles; bobFiles: KpFiles }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const aliceFiles = writeKpFiles(dir, pki, {
    name: 'alice',
    mtlsPort: pa,
    peers: [{ id: 'bob', port: pb }],
    ...(opts.aliceExtra !== undefined && { extra: opts.aliceExtra }),
  });
  const bobFiles = writeKpFiles(dir, pki, {
    name: 'bob',
    mtlsPort: pb,
    peers: [{ id: 'alice', port: pa }],
    ...(opts.bobExtra !== undefined && { extra: opts.bobExtra }),
  });
  return { aliceFiles, bobFiles };
}

export async function startPair(t: TestContext, opts: { bobExtra?: string } = {}): Promise<Pair> {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const { aliceFiles, bobFiles } = await writePairFiles(dir, pki, opts);
  const pair: Pair = {
    dir,
    pki,
    aliceFiles,
    bobFiles,
    bob: await startKp(bobFiles.config, { env: bobFiles.env }),
    alice: await startKp(aliceFiles.config, { env: aliceFiles.env }),
    async startBob() {
      pair.bob = await startKp(bobFiles.config, { env: bobFiles.env });
      return pair.bob;
    },
  };
  t.after(async () => {
    await pair.alice.stop();
    await pair.bob.stop();
  });
  return pair;
}
