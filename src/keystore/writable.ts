// What `serve` will write: the keystore, its spent log, and new files in their folder (a new
// keystore, and the temporary file each is created through). check-config asks the kernel, so
// a read-only file system (EROFS) or a missing permission (EACCES) is named before serve starts.

import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { realPath } from './lock.js';
import { spentPath } from './spent.js';

/** Throws a ConfigError naming each of those paths that exists and cannot be written, and why. */
export function checkKeystoreWritable(keystorePath: string): void {
  const file = realPath(keystorePath);
  const problems: string[] = [];
  for (const p of [keystorePath, spentPath(file), dirname(file)]) {
    if (!existsSync(p)) continue;
    try {
      accessSync(p, constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'EROFS' ? 'on a read-only file system' : 'not writable by this user';
      problems.push(
        `${p}: ${why} (${code}); serve writes the keystore, its spent log and new files in their folder`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
