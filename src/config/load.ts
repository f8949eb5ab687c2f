// skip.yaml: the reference Python Key Provider's format, read unchanged (YAML 1.1, as PyYAML reads
// it), plus `host`. Every problem names the file, the line, the key and why; all are reported at once.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import { PROFILE_NAMES } from '../memory-profile.js';
import { crossCheck } from './cross-check.js';
import { suggest } from './suggest.js';
import { readValue, type Field } from './values.js';
import { parseYaml } from './yaml-doc.js';

import { firstInvalidUtf8 } from '../utf8.js';
import { LEVELS } from '../log.js';
import type { Config, RemoteSystemConfig } from './types.js';

export { suggest } from './suggest.js';

export type { Config, EtcdConfig, KeySourceName, KmeConfig, RemoteSystemConfig } from './types.js';

/** Key sizes served by GET /key, draft §4.2 (default 256 bits); bits, multiples of 8. */
export const KEY_BITS = { min: 128, max: 256, default: 256 } as const;
/** How long a key agreed by a peer waits for its encryptor, in seconds (default one hour). */
export const KEY_TTL_SECONDS = { min: 10, max: 604_800, default: 3_600 } as const;
/** After a reload brings a new own ML-KEM pair, how long the previous private key is still tried
 * (default one hour: time to copy the new public key to every peer and reload them; 0: never). */
export const KEM_KEY_GRACE_SECONDS = { min: 0, max: 604_800, default: 3_600 } as const;
/** Uncollected keys held per remote system (docs/security.md): ~1 KB of memory and a 512-byte slot each. */
export const MAX_HELD_KEYS = { min: 1, max: 1_000_000, default: 10_000 } as const;
/** All uncollected keys: the index of 50,000 is ~10 MiB, inside the executable's 32 MiB heap. */
export const MAX_HELD_KEYS_TOTAL = { min: 1, max: 1_000_000, default: 50_000 } as const;
/** Per-identity token bucket (docs/security.md); the burst covers a hub rekeying 2,000 tunnels at once. */
export const IDENTITY_RATE = { min: 1, max: 100_000, default: 100 } as const;
export const IDENTITY_BURST = { min: 1, max: 1_000_000, default: 2_000 } as const;
/** Connections from one source address still in their TLS handshake, at most: below every
 * memory_profile's connection cap (64 at the smallest), above what one router or KP opens at once. */
export const HANDSHAKES_PER_SOURCE = { min: 1, max: 100_000, default: 32 } as const;
/** Keys one encryptor identity may have issued for one remote system within key_ttl_seconds:
 * a fifth of max_held_keys_per_remote's default, and the burst of a hub bringing up 2,000 tunnels. */
export const HELD_KEYS_PER_IDENTITY = { min: 1, max: 1_000_000, default: 2_000 } as const;
/** One request to the KME, at most (seconds), and connections to it at once. */
export const KME_TIMEOUT_SECONDS = { min: 1, max: 120, default: 10 } as const;
export const KME_CONNECTIONS = { min: 1, max: 1024, default: 16 } as const;
export const KEY_SOURCES = ['mlkem', 'etsi014', 'hybrid'] as const;
export const KEYSTORE_BACKENDS = ['file', 'etcd'] as const;
/** One connection attempt to an etcd member, and one keystore operation on etcd (ms). */
export const ETCD_DIAL_TIMEOUT_MS = { min: 100, max: 60_000, default: 2_000 } as const;
export const ETCD_REQUEST_TIMEOUT_MS = { min: 100, max: 120_000, default: 5_000 } as const;
/** Entropy sizes served by GET /entropy, draft §4.3 (default 256 bits); bits, multiples of 8. */
export const ENTROPY_BITS = { min: 8, max: 4096, default: 256 } as const;

/** Every top-level key, for documentation tests. */
export const CONFIG_KEYS = (): string[] => Object.keys(TOP);
/** Every key of a remoteSystems entry. */
export const REMOTE_KEYS = (): string[] => Object.keys(REMOTE);
/** Every key of the kme block. */
export const KME_KEYS = (): string[] => Object.keys(KME);
/** Every key of the etcd block. */
export const ETCD_KEYS = (): string[] => Object.keys(ETCD);

type Block = 'kme' | 'etcd';

const TOP: Record<string, Field | 'remotes' | Block> = {
  localSystemID: { kind: 'string', required: true },
  // Default: the host name (start/assemble.ts); checked in cross-check.ts.
  instance_name: { kind: 'string' },
  remoteSystems: 'remotes',
  algorithm: { kind: 'string', default: 'PRF' },
  default_key_size_bits: { kind: 'bits', default: KEY_BITS.default, range: KEY_BITS },
  default_entropy_bits: { kind: 'bits', default: ENTROPY_BITS.default, range: ENTROPY_BITS },
  keystore_backend: { kind: 'choice', default: 'file', choices: KEYSTORE_BACKENDS },
  // Required with keystore_backend file: cross-check.ts says so.
  keystore_path: { kind: 'path' },
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
  kem_key_grace_seconds: {
    kind: 'seconds',
    default: KEM_KEY_GRACE_SECONDS.default,
    range: KEM_KEY_GRACE_SECONDS,
  },
  admin_host: { kind: 'string', default: '127.0.0.1' },
  admin_port: { kind: 'port' },
  encryptor_identities: { kind: 'strings' },
  max_held_keys_per_remote: { kind: 'count', default: MAX_HELD_KEYS.default, range: MAX_HELD_KEYS },
  max_held_keys: { kind: 'count', default: MAX_HELD_KEYS_TOTAL.default, range: MAX_HELD_KEYS_TOTAL },
  identity_requests_per_second: { kind: 'count', default: IDENTITY_RATE.default, range: IDENTITY_RATE },
  identity_request_burst: { kind: 'count', default: IDENTITY_BURST.default, range: IDENTITY_BURST },
  max_handshakes_per_source: {
    kind: 'count',
    default: HANDSHAKES_PER_SOURCE.default,
    range: HANDSHAKES_PER_SOURCE,
  },
  max_held_keys_per_identity: {
    kind: 'count',
    default: HELD_KEYS_PER_IDENTITY.default,
    range: HELD_KEYS_PER_IDENTITY,
  },
  memory_profile: { kind: 'choice', default: 'auto', choices: PROFILE_NAMES },
  log_level: { kind: 'choice', default: 'info', choices: LEVELS },
  tls13_psk: { kind: 'bool', default: true },
  kme: 'kme',
  etcd: 'etcd',
};

const ETCD: Record<string, Field> = {
  endpoints: { kind: 'strings', required: true },
  prefix: { kind: 'string' },
  cafile: { kind: 'path' },
  certfile: { kind: 'path' },
  keyfile: { kind: 'path' },
  dial_timeout_ms: { kind: 'count', default: ETCD_DIAL_TIMEOUT_MS.default, range: ETCD_DIAL_TIMEOUT_MS },
  request_timeout_ms: {
    kind: 'count',
    default: ETCD_REQUEST_TIMEOUT_MS.default,
    range: ETCD_REQUEST_TIMEOUT_MS,
  },
};

const KME: Record<string, Field> = {
  url: { kind: 'string', required: true },
  certfile: { kind: 'path', required: true },
  keyfile: { kind: 'path', required: true },
  cafile: { kind: 'path', required: true },
  timeout_seconds: { kind: 'seconds', default: KME_TIMEOUT_SECONDS.default, range: KME_TIMEOUT_SECONDS },
  max_connections: { kind: 'count', default: KME_CONNECTIONS.default, range: KME_CONNECTIONS },
};

const REMOTE: Record<string, Field> = {
  id: { kind: 'string', required: true },
  // Required unless key_source is etsi014: cross-check.ts says so.
  ip: { kind: 'addresses' },
  mtls_port: { kind: 'port' },
  pubkey_path: { kind: 'path' },
  mtls_client_identity: { kind: 'string' },
  mtls_client_identities: { kind: 'strings' },
  key_source: { kind: 'choice', default: 'mlkem', choices: KEY_SOURCES },
  sae_id: { kind: 'string' },
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
  const { doc, at } = parseYaml(text, file);
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  readMap(doc, TOP, '', out);
  if (problems.length > 0) throw new ConfigError(problems);
  const cfg = out as unknown as Config;
  cfg.source = source;
  crossCheck(cfg, file, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;

  function readMap(
    map: Node,
    spec: Record<string, Field | 'remotes' | Block>,
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
      else if (field === 'kme' || field === 'etcd') {
        const entry: Record<string, unknown> = {};
        const example = field === 'kme' ? 'url: ..., certfile: ...' : 'endpoints: [...]';
        if (!isMap(valueNode))
          problems.push(`${at(valueNode ?? keyNode)}: "${field}" must be a mapping (${example})`);
        else readMap(valueNode, field === 'kme' ? KME : ETCD, `${field}.`, entry);
        into[key] = entry;
      } else {
        const node = valueNode ?? keyNode ?? map;
        const v = readValue(node, `${prefix}${key}`, field, valueNode === null, (why) =>
          problems.push(`${at(node)}: ${why}`),
        );
        if (v !== undefined) into[key] = v;
      }
    }
    for (const [key, field] of Object.entries(spec)) {
      if (Object.hasOwn(into, key)) continue;
      if (field === 'kme' || field === 'etcd') continue;
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
      else {
        readMap(item, REMOTE, `remoteSystems[${i}].`, entry);
        // What the key source needs: the KP-to-KP link (ip, pubkey_path), the QKD network (sae_id).
        const source = entry.key_source;
        const needs = [
          ...(source !== 'etsi014' ? ['ip', 'pubkey_path'] : []),
          ...(source === 'etsi014' || source === 'hybrid' ? ['sae_id'] : []),
        ];
        for (const k of needs)
          if (!Object.hasOwn(entry, k))
            problems.push(
              `${at(item)}: missing required key "remoteSystems[${i}].${k}"` +
                (source === 'mlkem' ? '' : ` (key_source ${String(source)})`),
            );
      }
      return entry as unknown as RemoteSystemConfig;
    });
  }
}
