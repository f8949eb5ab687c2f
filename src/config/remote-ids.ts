// Resolving a requested remoteSystemID to a configured peer KP (draft-cisco-skip-02 §4.1.2).
// An entry is either an exact ID or a glob pattern; a pattern entry may use `{id}` in `ip` and
// `pubkey_path` (and `sae_id`) to name the concrete peer, so one entry can serve thousands of spokes.

import type { KeySourceName, RemoteSystemConfig } from './load.js';
import { compileGlob, isGlob } from '../ids/glob.js';
import type { SystemId } from '../ids/system-id.js';

/** IDs that reach a pattern entry end up in a host name or file path, so only these characters. */
const SUBSTITUTABLE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export interface ResolvedRemote {
  readonly id: SystemId;
  /** The first of `ips`, the address probes and logs name. */
  readonly ip: string;
  /** Every address of the peer KP's instances (one in the reference format). */
  readonly ips: readonly string[];
  readonly mtlsPort: number;
  readonly pubkeyPath: string;
  /** Where keys for this system come from; etsi014 has no ip or pubkeyPath (both ''). */
  readonly keySource: KeySourceName;
  /** The remote KP's SAE ID in the QKD network ('' for mlkem). */
  readonly saeId: string;
  /** Certificate identities (CN or SAN) allowed to speak for this system on the peer link. */
  readonly clientIdentities: readonly string[];
  readonly entry: RemoteSystemConfig;
}

interface CompiledEntry {
  readonly entry: RemoteSystemConfig;
  readonly glob?: RegExp;
}

export class RemoteDirectory {
  private readonly entries: CompiledEntry[];

  constructor(
    private readonly localSystemId: string,
    entries: readonly RemoteSystemConfig[],
    private readonly defaultMtlsPort: number,
  ) {
    this.entries = entries.map((entry) =>
      isGlob(entry.id) ? { entry, glob: compileGlob(entry.id) } : { entry },
    );
  }

  /** The list for GET /capabilities: the configured IDs, patterns included (§4.1.2). */
  ids(): string[] {
    return this.entries.map((e) => e.entry.id);
  }

  /** The peers named exactly (not by a pattern) with a KP-to-KP link (key_source mlkem or
   * hybrid), resolved: the ones health checks can reach and whose public keys a reload reads. */
  concrete(): ResolvedRemote[] {
    return this.entries
      .filter((e) => !e.glob && e.entry.key_source !== 'etsi014')
      .map((e) => this.resolveEntry(e.entry, e.entry.id as SystemId));
  }

  /** Exact entries win over patterns; the first matching pattern wins; never our own ID. */
  resolve(id: SystemId): ResolvedRemote | undefined {
    if (id === this.localSystemId) return undefined;
    const exact = this.entries.find((e) => !e.glob && e.entry.id === id);
    if (exact) return this.resolveEntry(exact.entry, id);
    if (!SUBSTITUTABLE_ID.test(id)) return undefined;
    const match = this.entries.find((e) => e.glob?.test(id));
    return match ? this.resolveEntry(match.entry, id) : undefined;
  }

  private resolveEntry(entry: RemoteSystemConfig, id: SystemId): ResolvedRemote {
    const sub = (s: string): string => s.replaceAll('{id}', id);
    const identities =
      entry.mtls_client_identities ??
      (entry.mtls_client_identity !== undefined ? [entry.mtls_client_identity] : [id]);
    const ips = (entry.ip === undefined ? [''] : typeof entry.ip === 'string' ? [entry.ip] : entry.ip).map(
      sub,
    );
    return {
      id,
      ip: ips[0]!,
      ips,
      mtlsPort: entry.mtls_port ?? this.defaultMtlsPort,
      pubkeyPath: sub(entry.pubkey_path ?? ''),
      // Entries built in code (tests, the lab) may leave it out: the default is mlkem.
      keySource: entry.key_source ?? 'mlkem',
      saeId: sub(entry.sae_id ?? ''),
      clientIdentities: identities.map(sub),
      entry,
    };
  }
}
