// A peer's `ip` entries as addresses to dial: an IP literal is used as written and never
// resolved; a host name is resolved through the system resolver (getaddrinfo, as /etc/hosts and
// nsswitch.conf say), every address it gives, at most MAX_ADDRESSES_PER_NAME. Answers are kept
// CACHE_MS (failures FAILURE_CACHE_MS), and concurrent exchanges share one lookup, so a slow
// resolver delays at most one exchange per name in that time.

import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { errorCode, errorMessage } from '../errors.js';

/** The resolver: node:dns lookup with `all: true` (the default), or another for tests. */
export type Lookup = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>;

export const defaultLookup: Lookup = (hostname, options) => dns.lookup(hostname, options);

/** How long a name's addresses are used before it is looked up again. */
export const CACHE_MS = 30_000;
/** How long a name that did not resolve fails at once before it is looked up again. */
export const FAILURE_CACHE_MS = 5_000;
/** Addresses used of one name; the rest of what the resolver gives is ignored. */
export const MAX_ADDRESSES_PER_NAME = 8;
/** Names remembered; a pattern entry (`ip: "{id}.spokes.example"`) may name thousands. */
const MAX_NAMES = 4_096;

/** One dialable address; `name` is the host name it came from (for SNI and the certificate
 * check), absent for a literal. */
export interface PeerAddress {
  readonly ip: string;
  readonly name?: string;
}

/** A name that did not resolve. */
export class NameLookupError extends Error {
  constructor(
    readonly hostname: string,
    readonly why: string,
  ) {
    super(`host name "${hostname}" does not resolve: ${why}`);
    this.name = 'NameLookupError';
  }
}

interface Entry {
  until: number;
  result: Promise<PeerAddress[]>;
}

export class PeerAddresses {
  private readonly names = new Map<string, Entry>();

  constructor(
    private readonly lookup: Lookup = defaultLookup,
    /** A lookup that takes longer fails (the resolver may go on; its answer is then cached). */
    private readonly timeoutMs = 5_000,
  ) {}

  /** The addresses of one `ip` entry; rejects with NameLookupError. */
  resolve(entry: string): Promise<PeerAddress[]> {
    if (isIP(entry) !== 0) return Promise.resolve([{ ip: entry }]);
    const now = performance.now();
    const cached = this.names.get(entry);
    if (cached && now < cached.until) return cached.result;
    const result = this.lookUp(entry);
    const e: Entry = { until: Infinity, result };
    this.names.delete(entry);
    if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!);
    this.names.set(entry, e);
    result.then(
      () => (e.until = performance.now() + CACHE_MS),
      () => (e.until = performance.now() + FAILURE_CACHE_MS),
    );
    return result;
  }

  /** Every address of `entries`, in order, each once; entries that do not resolve are left out
   * and returned as `failed` (in order). */
  async resolveAll(
    entries: readonly string[],
  ): Promise<{ addresses: PeerAddress[]; failed: NameLookupError[] }> {
    const each = await Promise.allSettled(entries.map((e) => this.resolve(e)));
    const addresses: PeerAddress[] = [];
    const failed: NameLookupError[] = [];
    const seen = new Set<string>();
    for (const r of each) {
      if (r.status === 'rejected') {
        failed.push(r.reason as NameLookupError);
        continue;
      }
      for (const a of r.value) {
        if (seen.has(a.ip)) continue;
        seen.add(a.ip);
        addresses.push(a);
      }
    }
    return { addresses, failed };
  }

  private async lookUp(name: string): Promise<PeerAddress[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NameLookupError(name, `no answer from the resolver in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      const found = await Promise.race([
        this.lookup(name, { all: true }).catch((e: unknown) => {
          throw new NameLookupError(name, errorCode(e) ?? errorMessage(e));
        }),
        late,
      ]);
      const ips = [...new Set(found.map((a) => a.address))].slice(0, MAX_ADDRESSES_PER_NAME);
      if (ips.length === 0) throw new NameLookupError(name, 'no addresses');
      return ips.map((ip) => ({ ip, name }));
    } finally {
      clearTimeout(timer);
    }
  }
}
