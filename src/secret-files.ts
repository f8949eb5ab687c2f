// Files that hold secrets (PSKs, the ML-KEM private key, the TLS key, the master key, the
// keystore) should be readable by the KP's user (and, in the systemd layout, its group) only.
// A file others can read or write, or that login users can read through its group, is reported
// at start and by check-config, by name and mode, never refused: an operator may have a reason,
// but must not be surprised (docs/security.md).
//
// The systemd layout's group `skip-server` has no login members (the service runs as a dynamic
// user in it), so group access there is not reported; a group such as `adm` or `users` is.

import { readFileSync, statSync } from 'node:fs';
import type { Config } from './config.js';

export interface ExposedFile {
  file: string;
  what: string;
  mode: string;
  /** Who else can reach it: "others", or "group G (users a, b)". */
  by: string;
  fix: string;
}

/** The secret files of `config` (and the master key file, if any) that others can read or write. */
export function exposedSecretFiles(
  config: Config,
  masterKeyFile?: string,
  accounts = { passwd: '/etc/passwd', group: '/etc/group' },
): ExposedFile[] {
  const files: [string | undefined, string][] = [
    [config.psk_file, 'psk_file'],
    [config.kem_priv_key_path, 'kem_priv_key_path'],
    [config.keyfile, 'keyfile'],
    [config.keystore_path, 'keystore_path'],
    [masterKeyFile, 'KEYSTORE_MASTER_KEY_FILE'],
  ];
  const out: ExposedFile[] = [];
  let users: Accounts | undefined; // read once, and only if a file is group-readable
  for (const [file, what] of files) {
    if (file === undefined) continue;
    let st;
    try {
      st = statSync(file);
    } catch {
      continue;
    }
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    if (st.mode & 0o006) {
      out.push({ file, what, mode, by: 'others', fix: `chmod o-rwx ${file}` });
      continue;
    }
    if (!(st.mode & 0o060)) continue;
    users ??= readAccounts(accounts);
    const group = groupOf(st.gid, users);
    const members = group.members.filter((u) => u !== group.owners.get(st.uid));
    if (members.length > 0) {
      out.push({
        file,
        what,
        mode,
        by: `group ${group.name} (users ${members.join(', ')})`,
        fix: `chmod g-rwx ${file}, or chgrp it to the service's own group`,
      });
    }
  }
  return out;
}

interface Accounts {
  users: string[][];
  groups: string[][];
}

function readAccounts(files: { passwd: string; group: string }): Accounts {
  const read = (f: string): string[][] => {
    try {
      return readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  return { users: read(files.passwd), groups: read(files.group) };
}

/** A group's name and the login users in it (listed members, and users whose primary group it is). */
function groupOf(
  gid: number,
  { users, groups }: Accounts,
): { name: string; members: string[]; owners: Map<number, string> } {
  const owners = new Map(users.map((u) => [Number(u[2]), u[0]!]));
  const entry = groups.find((g) => Number(g[2]) === gid);
  const listed = entry?.[3] ? entry[3].split(',').filter(Boolean) : [];
  const primary = users.filter((u) => Number(u[3]) === gid).map((u) => u[0]!);
  return { name: entry?.[0] ?? String(gid), members: [...new Set([...primary, ...listed])], owners };
}

/** How a report line says it. */
export function describeExposure(f: ExposedFile): string {
  return `${f.file}: ${f.what} is mode ${f.mode}, reachable by ${f.by} (${f.fix})`;
}
