// One KP (the bundle, or the executable under SKIP_TEST_EXE) with generated files, stopped when
// the test ends; `extra` is appended to its skip.yaml. Its admin port, when the config has one.
import type { TestContext } from 'node:test';
import { startKp, type RunningKp } from './bundle.js';
import { writeKpFiles, type KpFiles } from './kp-files.js';
import { makePki } from './pki.js';
import { tempDir } from './tmp.js';

export async function startOneKp(
  t: TestContext,
  extra?: string,
): Promise<{ kp: RunningKp; files: KpFiles; dir: string; adminPort?: number }> {
  const dir = tempDir(t);
  const files = writeKpFiles(dir, makePki(dir), {
    name: 'alice',
    peers: [{ id: 'bob' }],
    ...(extra && { extra }),
  });
  const kp = await startKp(files.config, { env: files.env });
  t.after(() => kp.stop());
  const admin = (await kp.waitFor('started')).admin as { port?: number } | string;
  const adminPort = typeof admin === 'object' ? admin.port : undefined;
  return { kp, files, dir, ...(adminPort !== undefined && { adminPort }) };
}
