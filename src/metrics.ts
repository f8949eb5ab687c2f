// A small Prometheus registry (text exposition format 0.0.4): labelled counters, one histogram
// kind, and gauges read when scraped. Labels are fixed sets (routes, statuses, reasons), never
// request data, so cardinality stays bounded.

type Labels = Record<string, string>;

const key = (l: Labels): string =>
  Object.entries(l)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]!++;
    });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join('\n');
  }
}

/** Every sample line of `text` with `instance="name"` as its first label. */
function labelInstance(text: string, name: string): string {
  const label = `instance="${name.replace(/["\\\n]/g, '_')}"`;
  return text
    .split('\n')
    .map((line) => {
      if (line === '' || line.startsWith('#')) return line;
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      return brace >= 0 && brace < space
        ? `${line.slice(0, brace + 1)}${label},${line.slice(brace + 1)}`
        : `${line.slice(0, space)}{${label}}${line.slice(space)}`;
    })
    .join('\n');
}

export class Metrics {
  /** `instance`: the label every series carries (config instance_name), none when undefined. */
  constructor(private readonly instance?: string) {}

  readonly requests = new Counter('skip_requests_total', 'Encryptor API requests by route and status.');
  readonly peerRequests = new Counter('skip_peer_requests_total', 'Peer link requests received, by status.');
  readonly keysIssued = new Counter(
    'skip_keys_issued_total',
    'Keys agreed with a peer and handed to an encryptor (GET /key).',
  );
  readonly keysDelivered = new Counter(
    'skip_keys_delivered_total',
    'Keys handed out once by keyId (GET /key/{keyId}).',
  );
  readonly keysReceived = new Counter(
    'skip_keys_received_total',
    'Keys stored for a peer (POST /key-exchange).',
  );
  readonly peerFailures = new Counter(
    'skip_peer_exchange_failures_total',
    'Failed exchanges with a peer, by reason.',
  );
  readonly peerLatency = new Histogram(
    'skip_peer_exchange_seconds',
    'Time from encapsulation to the peer answer, for successful exchanges.',
    [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  readonly rateLimited = new Counter(
    'skip_rate_limited_total',
    'Encryptor requests refused with 503 by the per-identity rate limit, by identity.',
  );
  readonly heldKeysRefused = new Counter(
    'skip_held_keys_refused_total',
    'Keys a peer offered that were refused (503): max_held_keys_per_remote reached, by remote system.',
  );
  readonly identityQuotaRefused = new Counter(
    'skip_identity_quota_refused_total',
    'GET /key answered 503: the identity has max_held_keys_per_identity keys for that remote system that may still be waiting there, by identity.',
  );
  readonly admissionRefused = new Counter(
    'skip_admission_refused_total',
    'Connections closed at the connection cap or the per-source cap, and requests answered 503 at the in-flight cap.',
  );
  readonly handshakesRefused = new Counter(
    'skip_tls_handshakes_refused_total',
    'TLS handshakes refused, by listener, reason class and PSK identity (set only for identities in the PSK table).',
  );
  readonly kmeRequests = new Counter(
    'skip_kme_requests_total',
    'Requests to an ETSI GS QKD 014 KME, by KME (host:port) and operation (status, enc_keys, dec_keys).',
  );
  readonly kmeFailures = new Counter(
    'skip_kme_failures_total',
    'KME requests that gave no usable answer, by KME, operation and reason (unavailable, not_found, unauthorized, tls, malformed, size, refused).',
  );
  readonly kmeLatency = new Histogram(
    'skip_kme_request_seconds',
    "Time to the KME's answer, every request (a KP has one KME).",
    [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  private readonly gauges: (() => string)[] = [];

  /** A value read at each scrape (a gauge, or a counter kept elsewhere). */
  gauge(
    name: string,
    help: string,
    read: () => { labels?: Labels; value: number }[],
    type: 'gauge' | 'counter' = 'gauge',
  ): void {
    this.gauges.push(() =>
      [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} ${type}`,
        ...read().map((s) => `${name}${s.labels ? `{${key(s.labels)}}` : ''} ${s.value}`),
      ].join('\n'),
    );
  }

  render(): string {
    const all = [
      this.requests,
      this.peerRequests,
      this.keysIssued,
      this.keysDelivered,
      this.keysReceived,
      this.peerFailures,
      this.peerLatency,
      this.rateLimited,
      this.heldKeysRefused,
      this.identityQuotaRefused,
      this.admissionRefused,
      this.handshakesRefused,
      this.kmeRequests,
      this.kmeFailures,
      this.kmeLatency,
    ].map((m) => m.render());
    const text = `${[...all, ...this.gauges.map((g) => g())].join('\n')}\n`;
    return this.instance === undefined ? text : labelInstance(text, this.instance);
  }
}
