// What can go wrong when asking the KME for a key, each kind mapped by skip/key-source.ts to
// what a router can act on.

export type KmeFailure =
  /** No connection, a timeout, a 5xx (503: no key material yet, the link is down), or too many
   * requests in flight here: SKIP 503 with Retry-After. */
  | 'unavailable'
  /** dec_keys: the KME does not have that key_ID (400 or 404): SKIP 400, unknown keyId. */
  | 'not_found'
  /** The KME refused this SAE (401, 403): SKIP 500; the operator must act. */
  | 'unauthorized'
  /** TLS failed: the KME's certificate does not verify, or it refused ours: SKIP 500. */
  | 'tls'
  /** The answer breaks ETSI GS QKD 014 (not JSON, bad base64, a wrong key length, not a UUID,
   * another key_ID than asked): refused, nothing served, SKIP 502. */
  | 'malformed'
  /** enc_keys cannot deliver the size asked for: SKIP 400 naming the sizes it can. */
  | 'size'
  /** Any other refusal (a 4xx the KME explains): SKIP 502. */
  | 'refused';

export class KmeError extends Error {
  constructor(
    readonly failure: KmeFailure,
    /** Why, in words safe to log (never key material). */
    readonly reason: string,
    /** The KME's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(`KME ${failure}: ${reason}`);
    this.name = 'KmeError';
  }
}
