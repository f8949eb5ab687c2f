// memory_profile: the caps that keep a KP's own memory inside its container (architecture.md,
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
  'c1.small': { maxConnections: 128, maxInFlight: 64 },
  'c1.medium': { maxConnections: 256, maxInFlight: 128 },
  appliance: { maxConnections: 1_024, maxInFlight: 512 },
};

const MiB = 1024 * 1024;

/** The cgroup (v2, else v1) memory limit in bytes, or undefined when there is none. */
export function cgroupMemoryLimit(
  read: (f: string) => string = (f) => readFileSync(f, 'utf8'),
): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    const n = Number(text);
    // "max" (v2) or a huge number (v1: no limit).
    return Number.isFinite(n) && n > 0 && n < 2 ** 52 ? n : undefined;
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
