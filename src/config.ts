// skip.yaml: the reference Python Key Provider's format, read unchanged (YAML 1.1, as PyYAML reads
// it), plus `host`. Every problem names the file, the line, the key and why; all are reported at once.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Node } from 'yaml';
import { ConfigError, errorCode, errorMessage } from './errors.js';
import { compileGlob, isGlob } from './skip/glob.js';
import { PROFILE_NAMES, type ProfileChoice } from './memory-profile.js';
import { parseSystemId } from './skip/system-id.js';
import { firstInvalidUtf8 } from './utf8.js';
import { LEVELS, type Level } from './log.js';

export interface RemoteSystemConfig {
  id: string;
  ip: string;
  mtls_port?: number;
  pubkey_path: string;
  mtls_client_identity?: string;
  mtls_client_identities?: string[];
}

export interface Config {
  /** Absolute path of the file this came from. */
  source: string;
  localSystemID: string;
  remoteSystems: RemoteSystemConfig[];
  algorithm: string;
  default_key_size_bits: number;
  default_entropy_bits: number;
  keystore_path: string;
  kem_pub_key_path: string;
  kem_priv_key_path: string;
  use_psk: boolean;
  psk_file?: string;
  psk_identity?: string;
  use_ssl: boolean;
  certfile: string;
  keyfile: string;
  cafile: string;
  host: string;
  port: number;
  mtls_port: number;
  key_ttl_seconds: number;
  admin_host: string;
  admin_port?: number;
  /** Certificate mode: the certificate identities (DNS/IP SAN, else CN) that may act as encryptors. */
  encryptor_identities?: string[];
  /** Keys waiting to be collected for one remote system, at most; past it the peer gets 503. */
  max_held_keys_per_remote: number;
  /** Keys waiting in all, at most: bounds the keystore index in memory (~200 bytes a key). */
  max_held_keys: number;
  /** Per encryptor identity: sustained requests per second, and the burst above it. */
  identity_requests_per_second: number;
  identity_request_burst: number;
  /** Caps on connections and requests in flight (src/memory-profile.ts). */
  memory_profile: ProfileChoice;
  /** Least severe log lines written: debug, info (default), warn, error. */
  log_level: Level;
}

/** Key sizes served by GET /key, draft §4.2 (default 256 bits); bits, multiples of 8. */
export const KEY_BITS = { min: 128, max: 256, default: 256 } as const;
/** How long a key agreed by a peer waits for its encryptor, in seconds (default one hour). */
export const KEY_TTL_SECONDS = { min: 10, max: 604_800, default: 3_600 } as const;
/** Uncollected keys held per remote system (finding 10): ~1 KB of memory and a 512-byte slot each. */
export const MAX_HELD_KEYS = { min: 1, max: 1_000_000, default: 10_000 } as const;
/** All uncollected keys: the index of 50,000 is ~10 MiB, inside the executable's 32 MiB heap. */
export const MAX_HELD_KEYS_TOTAL = { min: 1, max: 1_000_000, default: 50_000 } as const;
/** Per-identity token bucket (finding 10); the burst covers a hub rekeying 2,000 tunnels at once. */
export const IDENTITY_RATE = { min: 1, max: 100_000, default: 100 } as const;
export const IDENTITY_BURST = { min: 1, max: 1_000_000, default: 2_000 } as const;
/** Entropy sizes served by GET /entropy, draft §4.3 (default 256 bits); bits, multiples of 8. */
export const ENTROPY_BITS = { min: 8, max: 4096, default: 256 } as const;

type Kind = 'string' | 'bool' | 'port' | 'bits' | 'seconds' | 'count' | 'path' | 'strings' | 'choice';
interface Field {
  kind: Kind;
  /** For kind 'choice': the allowed values. */
  choices?: readonly string[];
  required?: boolean;
  default?: string | number | boolean;
  range?: { min: number; max: number };
}

/** Every top-level key, for documentation tests. */
export const CONFIG_KEYS = (): string[] => Object.keys(TOP);
/** Every key of a remoteSystems entry. */
export const REMOTE_KEYS = (): string[] => Object.keys(REMOTE);

const TOP: Record<string, Field | 'remotes'> = {
  localSystemID: { kind: 'string', required: true },
  remoteSystems: 'remotes',
  algorithm: { kind: 'string', default: 'PRF' },
  default_key_size_bits: { kind: 'bits', default: KEY_BITS.default, range: KEY_BITS },
  default_entropy_bits: { kind: 'bits', default: ENTROPY_BITS.default, range: ENTROPY_BITS },
  keystore_path: { kind: 'path', required: true },
  kem_pub_key_path: { kind: 'path', required: true },
  kem_priv_key_path: { kind: 'path', required: true },
  use_psk: { kind: 'bool', default: true },
  psk_file: { kind: 'path' },
  psk_identity: { kind: 'string' },
  use_ssl: { kind: 'bool', default: true },
  certfile: { kind: 'path', required: true },
  keyfile: { kind: 'path', required: true },
  cafile: { kind: 'path', required: true },
  host: { kind: 'string', default: '0.0.0.0' },
  port: { kind: 'port', default: 443 },
  mtls_port: { kind: 'port', default: 8443 },
  key_ttl_seconds: { kind: 'seconds', default: KEY_TTL_SECONDS.default, range: KEY_TTL_SECONDS },
  admin_host: { kind: 'string', default: '127.0.0.1' },
  admin_port: { kind: 'port' },
  encryptor_identities: { kind: 'strings' },
  max_held_keys_per_remote: { kind: 'count', default: MAX_HELD_KEYS.default, range: MAX_HELD_KEYS },
  max_held_keys: { kind: 'count', default: MAX_HELD_KEYS_TOTAL.default, range: MAX_HELD_KEYS_TOTAL },
  identity_requests_per_second: { kind: 'count', default: IDENTITY_RATE.default, range: IDENTITY_RATE },
  identity_request_burst: { kind: 'count', default: IDENTITY_BURST.default, range: IDENTITY_BURST },
  memory_profile: { kind: 'choice', default: 'auto', choices: PROFILE_NAMES },
  log_level: { kind: 'choice', default: 'info', choices: LEVELS },
};

const REMOTE: Record<string, Field> = {
  id: { kind: 'string', required: true },
  ip: { kind: 'string', required: true },
  mtls_port: { kind: 'port' },
  pubkey_path: { kind: 'path', required: true },
  mtls_client_identity: { kind: 'string' },
  mtls_client_identities: { kind: 'strings' },
};

/** Reads and validates a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string): Config {
  const source = resolve(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(source);
  } catch (e) {
    throw new ConfigError([`${file}: cannot read config file (${errorCode(e) ?? errorMessage(e)})`]);
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const line = bytes.subarray(0, bad).toString('latin1').split('\n').length;
    throw new ConfigError([
      `${file}:${line}: not valid UTF-8 at byte offset ${bad} (0x${bytes[bad]!.toString(16).padStart(2, '0')}); save the file as UTF-8`,
    ]);
  }
  return parseConfig(bytes.toString('utf8'), file, source);
}

export function parseConfig(text: string, file: string, source = resolve(file)): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
  });
  const problems: string[] = [];
  const at = (node: Node | null | undefined): string =>
    node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file;
  for (const err of doc.errors) {
    problems.push(
      `${file}:${lines.linePos(err.pos[0]).line}: YAML syntax error: ${err.message.split('\n')[0]}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (!isMap(doc.contents))
    throw new ConfigError([`${file}: expected a mapping of keys (localSystemID: ..., ...)`]);

  visit(doc, {
    Alias(_, node) {
      problems.push(
        `${at(node)}: YAML aliases (*${node.source}) are not supported in a config; write the value out`,
      );
    },
    Pair(_, pair) {
      // YAML 1.1 parses `<<` as the merge key, a Symbol.
      if (isScalar(pair.key) && (pair.key.value === '<<' || typeof pair.key.value === 'symbol'))
        problems.push(
          `${at(pair.key)}: YAML merge keys (<<) are not supported in a config; write the keys out`,
        );
    },
  });
  if (problems.length > 0) throw new ConfigError(problems);
  const out: Record<string, unknown> = {};
  readMap(doc.contents, TOP, '', out);
  if (problems.length > 0) throw new ConfigError(problems);
  const cfg = out as unknown as Config;
  cfg.source = source;
  crossCheck(cfg);
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;

  function readMap(
    map: Node,
    spec: Record<string, Field | 'remotes'>,
    prefix: string,
    into: Record<string, unknown>,
  ): void {
    if (!isMap(map)) return;
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      // Own keys only: "__proto__", "constructor" or "toString" are unknown keys, not prototypes.
      const field = Object.hasOwn(spec, key) ? spec[key] : undefined;
      if (field === undefined) {
        const hint = suggest(key, Object.keys(spec));
        problems.push(
          `${at(keyNode)}: unknown key "${prefix}${key}"${hint ? `; did you mean "${prefix}${hint}"?` : ''}`,
        );
        continue;
      }
      const valueNode = pair.value as Node | null;
      if (field === 'remotes') into[key] = readRemotes(valueNode, keyNode);
      else {
        const v = readValue(valueNode ?? keyNode ?? map, `${prefix}${key}`, field, valueNode === null);
        if (v !== undefined) into[key] = v;
      }
    }
    for (const [key, field] of Object.entries(spec)) {
      if (Object.hasOwn(into, key)) continue;
      if (field === 'remotes')
        problems.push(`${at(map)}: missing required key "remoteSystems" (the peer KPs)`);
      else if (field.required) problems.push(`${at(map)}: missing required key "${prefix}${key}"`);
      else if (field.default !== undefined) into[key] = field.default;
    }
  }

  function readRemotes(node: Node | null, keyNode: Node | null): RemoteSystemConfig[] {
    if (!isSeq(node) || node.items.length === 0) {
      problems.push(
        `${at(node ?? keyNode)}: "remoteSystems" must be a non-empty list of {id, ip, pubkey_path}`,
      );
      return [];
    }
    return node.items.map((item, i) => {
      const entry: Record<string, unknown> = {};
      if (!isMap(item))
        problems.push(`${at(item as Node)}: remoteSystems[${i}] must be a mapping (id: ..., ip: ...)`);
      else readMap(item, REMOTE, `remoteSystems[${i}].`, entry);
      return entry as unknown as RemoteSystemConfig;
    });
  }

  function readValue(node: Node, name: string, field: Field, empty: boolean): unknown {
    const bad = (why: string): undefined => void problems.push(`${at(node)}: "${name}" ${why}`);
    if (empty) return bad('has no value');
    if (field.kind === 'strings') {
      if (!isSeq(node) || node.items.length === 0) return bad('must be a non-empty list of strings');
      const list = node.items.map((n) => (isScalar(n) && typeof n.value === 'string' ? n.value : undefined));
      return list.every((s) => s !== undefined && s.length > 0)
        ? list
        : bad('must contain only non-empty strings');
    }
    const v: unknown = isScalar(node) ? node.value : undefined;
    switch (field.kind) {
      case 'choice': {
        const choices = field.choices ?? [];
        if (typeof v === 'string' && choices.includes(v)) return v;
        const hint = typeof v === 'string' ? suggest(v, [...choices]) : undefined;
        return bad(`must be one of ${choices.join(', ')}${hint ? `; did you mean "${hint}"?` : ''}`);
      }
      case 'string':
      case 'path':
        if (typeof v !== 'string' || v.length === 0)
          return bad('must be a non-empty string (quote it if needed)');
        return field.kind === 'path' ? resolve(v) : v;
      case 'bool':
        return typeof v === 'boolean' ? v : bad('must be true or false');
      case 'port':
        return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535
          ? v
          : bad('must be a TCP port number from 1 to 65535 (0 picks a free port)');
      case 'seconds':
      case 'count': {
        const r = field.range!;
        const ok = Number.isInteger(v) && (v as number) >= r.min && (v as number) <= r.max;
        const unit = field.kind === 'seconds' ? ' of seconds' : '';
        return ok ? v : bad(`must be a whole number${unit} from ${r.min} to ${r.max}`);
      }
      case 'bits': {
        const r = field.range!;
        const ok =
          Number.isInteger(v) && (v as number) >= r.min && (v as number) <= r.max && (v as number) % 8 === 0;
        return ok ? v : bad(`must be a number of bits from ${r.min} to ${r.max}, a multiple of 8`);
      }
    }
  }

  function crossCheck(c: Config): void {
    const local = parseSystemId(c.localSystemID);
    if (!local) problems.push(`${file}: "localSystemID" must be 1 to 255 bytes without control characters`);
    else if (isGlob(local))
      problems.push(`${file}: "localSystemID" must not contain glob characters (* ? [ \\)`);
    c.remoteSystems.forEach((r, i) => {
      const name = `remoteSystems[${i}]`;
      if (typeof r.id !== 'string') return;
      if (!parseSystemId(r.id))
        problems.push(`${file}: "${name}.id" must be 1 to 255 bytes without control characters`);
      if (r.id === c.localSystemID) problems.push(`${file}: "${name}.id" is this KP's own localSystemID`);
      if (isGlob(r.id)) {
        try {
          compileGlob(r.id);
        } catch (e) {
          problems.push(`${file}: "${name}.id" is not a valid glob pattern: ${errorMessage(e)}`);
        }
      } else if (`${r.ip}${r.pubkey_path}`.includes('{id}')) {
        problems.push(`${file}: "${name}" uses {id} but its id is not a pattern`);
      }
      if (typeof r.ip === 'string' && r.ip.includes(':') && isIP(r.ip) !== 6) {
        const port = /:(\d+)$/.exec(r.ip)?.[1];
        problems.push(
          `${file}: "${name}.ip" is "${r.ip}": an address or host name only` +
            (port ? `; put the port in "${name}.mtls_port: ${port}"` : ''),
        );
      }
      // A peer on this host at this KP's own peer port is this KP itself: it would dial itself
      // and get a baffling 403 (a peer's mtls_port defaults to this KP's).
      const port = r.mtls_port ?? c.mtls_port;
      const local = r.ip === c.host || /^(127\.|::1$|localhost$)/.test(r.ip ?? '');
      if (local && port !== 0 && port === c.mtls_port) {
        problems.push(
          `${file}: "${name}" (${r.id}) would be dialled at ${r.ip}:${port}, this KP's own peer port; ` +
            `set "${name}.mtls_port" to the peer's port${r.mtls_port === undefined ? " (it defaults to this KP's mtls_port)" : ''}`,
        );
      }
      const dup = c.remoteSystems.findIndex((o) => o.id === r.id);
      if (dup < i) problems.push(`${file}: "${name}.id" repeats remoteSystems[${dup}].id "${r.id}"`);
    });
    if (c.use_psk && c.psk_file === undefined)
      problems.push(`${file}: "use_psk" is true but "psk_file" is not set`);
    if (!c.use_psk && !c.use_ssl) {
      problems.push(
        `${file}: "use_psk" and "use_ssl" are both false; the encryptor link needs TLS (plain HTTP is never served)`,
      );
    }
    if (!c.use_psk && c.encryptor_identities === undefined) {
      problems.push(
        `${file}: "use_psk" is false (certificate mode) but "encryptor_identities" is not set: list the ` +
          `routers' certificate identities; a certificate from "cafile" alone does not make an encryptor`,
      );
    }
    for (const id of c.encryptor_identities ?? []) {
      const peer = c.remoteSystems.find(
        (r) => r.id === id || r.mtls_client_identity === id || (r.mtls_client_identities ?? []).includes(id),
      );
      if (peer)
        problems.push(`${file}: "encryptor_identities" names "${id}", a peer Key Provider's identity`);
    }
    if (c.port !== 0 && c.port === c.mtls_port)
      problems.push(`${file}: "port" and "mtls_port" are both ${c.port}`);
  }
}

/** The closest known key, for "did you mean": same letters in another case, or few edits for its length. */
export function suggest(key: string, known: string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= Math.max(3, Math.floor(k.length / 3)) && d < bestDist) [best, bestDist] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
