// memory_profile: the caps that keep a KP's own memory inside its container (docs/architecture.md,
// Memory budget). Each idle TLS connection costs about 100 KB and each request in flight about
// 18 KB more, so the connection and in-flight caps bound what a storm can make the KP hold; the
// numbers come from `npm run bench`'s storm phase (see the README's memory figures).
// `auto` (the default) reads the cgroup memory limit the KP runs under (IOx profile, systemd
// MemoryMax): up to 80 MiB is c1.small (64 MB), up to 160 MiB c1.medium (128 MB), else appliance.

import { readFileSync } from 'node:fs';

export const PROFILE_NAMES = ['auto', 'c1.small', 'c1.medium', 'appliance'] as const;
export type ProfileChoice = (typeof PROFILE_NAMES)[number];
export type ProfileName = Exclude<ProfileChoice, 'auto'>;

export const PROFILES: Record<ProfileName, { maxConnections: number; maxInFlight: number }> = {
  'c1.small': { maxConnections: 64, maxInFlight: 32 },
  'c1.medium': { maxConnections: 256, maxInFlight: 128 },
  appliance: { maxConnections: 1_024, maxInFlight: 512 },
};

const MiB = 1024 * 1024;

/** The memory limit in bytes of the cgroup this process is in (v2, else v1), or undefined when
 * there is none. The cgroup is found in /proc/self/cgroup, so it is right with or without a
 * cgroup namespace (IOx, systemd, Docker). */
export function cgroupMemoryLimit(
  read: (f: string) => string = (f) => readFileSync(f, 'utf8'),
): number | undefined {
  let own: string[] = [];
  try {
    own = read('/proc/self/cgroup').split('\n');
  } catch {
    // not Linux, or no /proc: only the fixed places below
  }
  const v2 = own.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = own.find((l) => l.split(':')[1]?.split(',').includes('memory'))?.split(':')[2];
  const files = [
    ...(v2 !== undefined ? [`/sys/fs/cgroup${v2 === '/' ? '' : v2}/memory.max`] : []),
    ...(v1 !== undefined ? [`/sys/fs/cgroup/memory${v1 === '/' ? '' : v1}/memory.limit_in_bytes`] : []),
    '/sys/fs/cgroup/memory.max',
    '/sys/fs/cgroup/memory/memory.limit_in_bytes',
  ];
  for (const file of files) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    const n = Number(text);
    // "max" (v2) or a huge number (v1) means no limit.
    if (Number.isFinite(n) && n > 0 && n < 2 ** 52) return n;
  }
  return undefined;
}

/** The profile in force and why, for the start-up log. */
export function resolveProfile(
  choice: ProfileChoice,
  limit: number | undefined = cgroupMemoryLimit(),
): { name: ProfileName; reason: string } {
  if (choice !== 'auto') return { name: choice, reason: 'memory_profile in the config' };
  if (limit === undefined) return { name: 'appliance', reason: 'no cgroup memory limit' };
  const name = limit <= 80 * MiB ? 'c1.small' : limit <= 160 * MiB ? 'c1.medium' : 'appliance';
  return { name, reason: `cgroup memory limit ${Math.round(limit / MiB)} MiB` };
}
