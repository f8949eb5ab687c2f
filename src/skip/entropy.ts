// GET /entropy[?minentropy=N], draft-cisco-skip-02 §4.3: N bits of fresh randomness as hex.
// 503 when the system random number generator fails (Table 9).

import { ENTROPY_BITS } from '../config/load.js';
import { HttpError } from '../errors.js';
import { parseDecimal, parseQuery } from '../http/query.js';
import type { Reply } from '../http/respond.js';
import type { SkipRequest } from '../http/routes.js';
import type { SkipDeps } from './deps.js';

const RULE = `${ENTROPY_BITS.min} to ${ENTROPY_BITS.max} bits in multiples of 8`;

export function entropy(deps: SkipDeps, req: SkipRequest): Reply {
  const q = parseQuery(req.query, ['minentropy'], 'GET /entropy');
  const raw = q.get('minentropy');
  const bits = raw === undefined ? deps.config.default_entropy_bits : parseDecimal(raw, 'minentropy', RULE);
  if (bits < ENTROPY_BITS.min || bits > ENTROPY_BITS.max || bits % 8 !== 0) {
    throw new HttpError(400, `"minentropy" must be ${RULE}`);
  }
  let bytes: Buffer;
  try {
    bytes = deps.rng(bits / 8);
  } catch (e) {
    deps.log.error('entropy unavailable', { error: e instanceof Error ? e.message : String(e) });
    throw new HttpError(503, 'the system random number generator is not available');
  }
  try {
    return { status: 200, body: { randomStr: bytes.toString('hex'), minentropy: bits }, noStore: true };
  } finally {
    bytes.fill(0);
  }
}
