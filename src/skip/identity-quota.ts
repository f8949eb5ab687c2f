// max_held_keys_per_identity (docs/security.md, per-identity quota): the keys one encryptor
// identity has had issued here for one remote system and that may still wait there for the other
// router. The issuing KP never sees that collection (the other router asks the peer KP), so a key
// counts from issue until the peer has surely dropped it if it was not collected: key_ttl_seconds
// plus the store's sweep period. That bounds from above what the identity holds at the peer, so
// one identity cannot fill the peer's max_held_keys_per_remote for every other router.

/** The keystore's expiry sweep runs every min(ttl, 60 s): a key may wait that much past its TTL. */
const SWEEP_SLACK_MS = 60_000;
/** Pairs with nothing counted are dropped at most this often. */
const PRUNE_EVERY_MS = 60_000;

export type Reservation =
  | { ok: true; /** The exchange failed: the peer holds no key, so it does not count. */ cancel(): void }
  | {
      ok: false;
      held: number;
      retryAfterS: number;
      /** The first refusal since this pair was last served: worth a log line. */
      first: boolean;
    };

export class IdentityQuota {
  /** Per identity and remote: when each counted key stops counting (ms, ascending). */
  private readonly counted = new Map<string, number[]>();
  /** Pairs refused since they were last served. */
  private readonly full = new Set<string>();
  private readonly holdMs: number;
  private readonly now: () => number;
  private lastPrune: number;

  constructor(private readonly o: { max: number; ttlMs: number; now?: () => number }) {
    this.holdMs = o.ttlMs + Math.min(o.ttlMs, SWEEP_SLACK_MS);
    this.now = o.now ?? (() => performance.now());
    this.lastPrune = this.now();
  }

  /** Counts one key for `identity` towards `remote`, or says how many it has and when to retry. */
  reserve(identity: string, remote: string): Reservation {
    const now = this.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) this.prune(now);
    const name = `${identity}\0${remote}`;
    const list = this.counted.get(name) ?? [];
    dropExpired(list, now);
    if (list.length >= this.o.max) {
      this.counted.set(name, list);
      const first = !this.full.has(name);
      this.full.add(name);
      const retryAfterS = Math.max(1, Math.ceil((list[0]! - now) / 1000));
      return { ok: false, held: list.length, retryAfterS, first };
    }
    this.full.delete(name);
    const until = now + this.holdMs;
    list.push(until);
    this.counted.set(name, list);
    return {
      ok: true,
      cancel: () => {
        const i = list.lastIndexOf(until);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  /** Keys counted now, in all (for tests and metrics). */
  size(): number {
    let n = 0;
    for (const l of this.counted.values()) n += l.length;
    return n;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    for (const [name, list] of this.counted) {
      dropExpired(list, now);
      if (list.length === 0) {
        this.counted.delete(name);
        this.full.delete(name);
      }
    }
  }
}

function dropExpired(list: number[], now: number): void {
  let i = 0;
  while (i < list.length && list[i]! <= now) i++;
  if (i > 0) list.splice(0, i);
}
