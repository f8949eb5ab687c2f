// One process per keystore file: two would each believe they alone hand a key out. The lock is
// an abstract-namespace UNIX socket (Linux) named after the keystore's real path: the kernel
// drops it the moment its owner dies, even by SIGKILL, so a crash never leaves a stale lock.
// Scope: one host and network namespace (containers sharing a volume across namespaces are not
// covered). Where abstract sockets do not exist, the store opens unlocked and says so.

import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';

export interface KeystoreLock {
  readonly held: boolean;
  release(): Promise<void>;
}

function lockName(path: string): string {
  let real: string;
  try {
    real = join(realpathSync(dirname(path)), basename(path));
  } catch {
    real = path;
  }
  return `\0skip-server/keystore/${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
}

export async function lockKeystore(path: string): Promise<KeystoreLock> {
  const server = createServer();
  const outcome = await new Promise<'held' | 'busy' | 'unsupported'>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      resolve(e.code === 'EADDRINUSE' ? 'busy' : 'unsupported'),
    );
    server.listen(lockName(path), () => resolve('held'));
  });
  if (outcome === 'busy') {
    throw new ConfigError([`${path}: the keystore is in use by another skip-server process on this host`]);
  }
  if (outcome === 'unsupported') return { held: false, release: () => Promise.resolve() };
  server.unref();
  return { held: true, release: () => new Promise<void>((r) => server.close(() => r())) };
}
