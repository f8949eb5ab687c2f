// Files that hold secrets (PSKs, the ML-KEM private key, the TLS key, the master key, the
// keystore) should be readable by the KP's user (and, in the systemd layout, its group) only.
// A file others can read or write, or that login users can read through its group, is reported
// at start and by check-config, by name and mode, never refused: an operator may have a reason,
// but must not be surprised (docs/security.md).
//
// Group access counts only through other login users: the user skip-server runs as, and accounts
// whose shell is nologin or false (service accounts), are not reported. So the systemd layout's
// group `skip-server`, or a service group whose one member is the service's nologin user, is
// quiet; a group such as `adm` or `users` is reported with its login users by name.

import { readFileSync, statSync } from 'node:fs';
import type { Config } from './load.js';

export interface ExposedFile {
  file: string;
  what: string;
  mode: string;
  /** Who else can reach it: "others", or "group G (login users a, b)". */
  by: string;
  fix: string;
}

/** The secret files of `config` (and the master key file, if any) that others can read or write. */
export function exposedSecretFiles(
  config: Config,
  masterKeyFile?: string,
  accounts = { passwd: '/etc/passwd', group: '/etc/group' },
  /** The user skip-server runs as; it reads these files by design. */
  self: number | undefined = process.getuid?.(),
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
    const skip = new Set([st.uid, ...(self === undefined ? [] : [self])].map((uid) => group.owners.get(uid)));
    const members = group.members.filter((u) => !skip.has(u) && !group.noLogin.has(u));
    if (members.length > 0) {
      out.push({
        file,
        what,
        mode,
        by: `group ${group.name} (login users ${members.join(', ')})`,
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

/** A shell that refuses logins: the account is a service's, not a person's. */
const NO_LOGIN = /\/(nologin|false)$/;

/** A group's name, its users (listed members, and users whose primary group it is), who is who. */
function groupOf(
  gid: number,
  { users, groups }: Accounts,
): { name: string; members: string[]; owners: Map<number, string>; noLogin: Set<string> } {
  const owners = new Map(users.map((u) => [Number(u[2]), u[0]!]));
  const noLogin = new Set(users.filter((u) => NO_LOGIN.test(u[6] ?? '')).map((u) => u[0]!));
  const entry = groups.find((g) => Number(g[2]) === gid);
  const listed = entry?.[3] ? entry[3].split(',').filter(Boolean) : [];
  const primary = users.filter((u) => Number(u[3]) === gid).map((u) => u[0]!);
  return { name: entry?.[0] ?? String(gid), members: [...new Set([...primary, ...listed])], owners, noLogin };
}

/** How a report line says it. */
export function describeExposure(f: ExposedFile): string {
  return `${f.file}: ${f.what} is mode ${f.mode}, reachable by ${f.by} (${f.fix})`;
}
