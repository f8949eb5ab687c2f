// One process per keystore file: two would each believe they alone hand a key out. The lock is
// an abstract-namespace UNIX socket (Linux): the kernel drops it the moment its owner dies, even
// by SIGKILL, so a crash never leaves a stale lock. Two names are held: one for the keystore's
// real path (taken before the file may be created) and one for the file itself, its device and
// inode (taken once it exists), so a symlink or hard link to the same file is refused too
// (docs/security.md).
// Scope: one host and network namespace (containers sharing a volume across namespaces are not
// covered). Where abstract sockets do not exist, the store opens unlocked and says so.

import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';

export interface KeystoreLock {
  readonly held: boolean;
  /** Also locks the file's device and inode; call once the file exists. */
  pinFile(): Promise<void>;
  release(): Promise<void>;
}

/** The real path of `path`, or of its folder when the file does not exist yet. */
export function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}

const socketName = (what: string): string =>
  `\0skip-server/keystore/${createHash('sha256').update(what).digest('hex').slice(0, 40)}`;

function listenOn(name: string): Promise<{ outcome: 'held' | 'busy' | 'unsupported'; server: Server }> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      resolve({ outcome: e.code === 'EADDRINUSE' ? 'busy' : 'unsupported', server }),
    );
    server.listen(name, () => resolve({ outcome: 'held', server }));
  });
}

const busy = (path: string): ConfigError =>
  new ConfigError([`${path}: the keystore is in use by another skip-server process on this host`]);

export async function lockKeystore(path: string): Promise<KeystoreLock> {
  const first = await listenOn(socketName(`path:${realPath(path)}`));
  if (first.outcome === 'busy') throw busy(path);
  if (first.outcome === 'unsupported') {
    return { held: false, pinFile: () => Promise.resolve(), release: () => Promise.resolve() };
  }
  const servers = [first.server.unref()];
  const release = (): Promise<void> =>
    Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {});
  return {
    held: true,
    async pinFile() {
      const st = statSync(path, { bigint: true });
      const inode = await listenOn(socketName(`inode:${st.dev}:${st.ino}`));
      if (inode.outcome !== 'held') throw busy(path);
      servers.push(inode.server.unref());
    },
    release,
  };
}
