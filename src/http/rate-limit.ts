// A token bucket per client identity (docs/security.md): each request takes a token;
// tokens come back at `perSecond` up to `burst`. A router rekeying every tunnel at once is a
// burst; one that asks without end is held to the rate. Identities are the configured PSK
// identities or allowed certificates, so the table stays as small as the config.

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for `who`: 0 when granted, else whole seconds until one is available. */
  take(who: string): number {
    const t = this.now();
    const b = this.buckets.get(who) ?? { tokens: this.limit.burst, at: t };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
    b.at = t;
    this.buckets.set(who, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.limit.perSecond));
  }
}
