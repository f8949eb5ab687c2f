// Core dumps: a dump of a KP (a V8 fatal error aborts the process) would hold its PSKs, the
// keystore keys and keys in flight, and systemd-coredump or a container runtime keeps it on disk.
// The systemd unit (LimitCORE=0) and the container runtime (--ulimit core=0) are the controls;
// `serve` also lowers RLIMIT_CORE to 0 itself at start, before it reads any secret. Node has no
// setrlimit, so util-linux's prlimit(1) sets this process's limit from outside (prlimit(2) on our
// pid, allowed for a process of the same user); where it is missing (the IOx rootfs) or fails,
// `serve` warns. The result is read back from /proc/self/limits, never assumed.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** RLIMIT_CORE in bytes (Infinity for unlimited). */
export interface CoreLimit {
  soft: number;
  hard: number;
}

/** Where prlimit(1) is looked for: fixed paths, never PATH. */
export const PRLIMIT_PATHS = ['/usr/bin/prlimit', '/bin/prlimit'] as const;

/** How to turn core dumps off, for the warning. */
export const CORE_FIX =
  'LimitCORE=0 in the systemd unit (build/skip-server.service sets it), `ulimit -c 0` in the shell ' +
  'that starts it, `docker run --ulimit core=0`, or on IOS XE app-hosting `run-opts "--ulimit core=0"`';

/** The core-file limit from /proc/self/limits text; undefined when there is none (not Linux). */
export function coreLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): CoreLimit | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const n = (v: string): number => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

export interface CoreDumpState {
  /** The limit at start; undefined where the system does not say. */
  before?: CoreLimit;
  /** The limit after lowering it (the same as before when it was 0 already). */
  after?: CoreLimit;
}

/** Lowers this process's RLIMIT_CORE to 0 (soft and hard) when it is not 0 already. */
export function suppressCoreDumps(
  helpers: readonly string[] = PRLIMIT_PATHS,
  read?: () => string,
): CoreDumpState {
  const before = coreLimit(read);
  if (!before || before.soft === 0) return { ...(before && { before, after: before }) };
  const helper = helpers.find((h) => existsSync(h));
  if (helper) spawnSync(helper, [`--pid=${process.pid}`, '--core=0'], { stdio: 'ignore', timeout: 5_000 });
  const after = coreLimit(read);
  return { before, ...(after && { after }) };
}
