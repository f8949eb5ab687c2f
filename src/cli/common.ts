// What every command shares: exit codes, output, the option table and its help, config loading.

import { join } from 'node:path';
import { loadConfig, type Config } from '../config/load.js';
import { selectBackend, type KemBackend } from '../kem/mlkem.js';
import type { RunningServer } from '../server.js';

/** Exit codes (also in --help and the README). */
export const EXIT = { ok: 0, runtime: 1, usage: 2, config: 3 } as const;

export type Out = (s: string) => void;

export interface CliIo {
  out: Out;
  err: Out;
  /** Called with the running server so the caller can wire signals; main.ts does. */
  onServing?: (server: RunningServer) => void;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in help, e.g. FILE. */
  arg?: string;
  help: string;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  /** One or two words: "serve", "psk add". */
  name: string;
  /** One line for the general help. */
  summary: string;
  /** The arguments after the name, as in the usage line. */
  synopsis: string;
  /** What it does, wrapped at 78 columns, indented by the help printer. */
  about: string;
  options: Record<string, OptionSpec>;
  run(values: Values, io: CliIo): Promise<number> | number;
}

/** Bad usage: printed with a pointer to the command's --help, exit 2. */
export class UsageError extends Error {}

export const str = (v: Values[string]): string | undefined => (typeof v === 'string' ? v : undefined);

export const CONFIG_OPTION: Record<string, OptionSpec> = {
  config: {
    type: 'string',
    short: 'c',
    arg: 'FILE',
    help:
      "skip.yaml (the reference Python KP's format; config/skip.yaml.example)\n" +
      'default: $CAF_APP_PERSISTENT_DIR/config/skip.yaml when that is set (Cisco IOx)',
  },
};

/** The config file named by --config, or the IOx default; inside Cisco IOx the data volume holds it. */
export function readConfig(values: Values, command: string): Config {
  const caf = process.env.CAF_APP_PERSISTENT_DIR;
  const file = str(values.config) ?? (caf ? join(caf, 'config', 'skip.yaml') : undefined);
  if (file === undefined) throw new UsageError(`${command} needs --config FILE`);
  return loadConfig(file);
}

export function kemFromEnv(value = process.env.SKIP_KEM_BACKEND): KemBackend {
  if (value === undefined || value === '' || value === 'auto') return selectBackend('auto');
  if (value === 'native' || value === 'noble') return selectBackend(value);
  throw new UsageError(`SKIP_KEM_BACKEND must be auto, native or noble, not "${value}"`);
}

export const EXIT_CODES =
  'Exit codes:\n  0 success   1 failure at run time (e.g. port in use)   2 bad usage   3 invalid config or file\n';

/** The help of one command: usage, what it does, its options. */
export function commandHelp(c: Command): string {
  const rows = Object.entries(c.options).map(([name, o]) => {
    const left = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    return [left, o.help] as const;
  });
  rows.push(['-h, --help', 'this text']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const options = rows
    .map(([l, h]) => `  ${l.padEnd(width)}${h.split('\n').join(`\n  ${' '.repeat(width)}`)}`)
    .join('\n');
  const about = c.about
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
  return `Usage: skip-server ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''}\n\n${about}\n\nOptions:\n${options}\n\n${EXIT_CODES}`;
}
