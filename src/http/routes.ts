// The encryptor API: exactly draft-cisco-skip-02 §4 Table 2. Unknown path 404, known path with
// another method 405 with `Allow: GET` (Table 3). It never serves the peer route /key-exchange.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../errors.js';
import { clip, type Logger } from '../log.js';
import { errorReply, send, type Reply } from './respond.js';

export interface SkipRequest {
  /** Decoded nothing: the raw query string after `?`, parsed by each handler. */
  readonly query: string;
  /** The `{keyId}` path segment of GET /key/{keyId}, raw. */
  readonly keyIdSegment?: string;
  /** The PSK identity or certificate identity of the connection. */
  readonly identity?: string;
}

export interface SkipHandlers {
  capabilities(req: SkipRequest): Reply | Promise<Reply>;
  entropy(req: SkipRequest): Reply | Promise<Reply>;
  newKey(req: SkipRequest): Reply | Promise<Reply>;
  getKey(req: SkipRequest): Reply | Promise<Reply>;
}

type Route = keyof SkipHandlers;

function match(path: string): { route: Route; keyIdSegment?: string } | undefined {
  switch (path) {
    case '/capabilities':
      return { route: 'capabilities' };
    case '/entropy':
      return { route: 'entropy' };
    case '/key':
      return { route: 'newKey' };
  }
  if (path.startsWith('/key/') && path.indexOf('/', 5) < 0)
    return { route: 'getKey', keyIdSegment: path.slice(5) };
  return undefined;
}

export interface RouterOptions {
  handlers: SkipHandlers;
  log: Logger;
  /** Who is asking, for the request log: the PSK identity or certificate subject. */
  identify: (req: IncomingMessage) => string | undefined;
  now?: () => number;
  /** Counts requests by route (never by raw path) and status. */
  count?: (route: string, status: number) => void;
  /** Per-identity rate limit: seconds to wait, or 0 to serve (checked before any handler). */
  admit?: (identity: string | undefined) => number;
}

export function createRouter(opts: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const now = opts.now ?? (() => performance.now());
  return (req, res) => {
    const started = now();
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const m = match(path);
    let done: Reply['logFields'];
    res.on('finish', () => {
      opts.count?.(m?.route ?? 'unknown', res.statusCode);
      opts.log.info('request', {
        method: clip(req.method ?? '', 16),
        path: clip(path, 160),
        status: res.statusCode,
        ms: Math.round((now() - started) * 10) / 10,
        identity: opts.identify(req),
        ...done,
      });
    });
    dispatch(req, m, query).then(
      (reply) => {
        done = reply.logFields;
        send(res, reply);
      },
      (e: unknown) => send(res, errorReply(e, opts.log, 'request failed')),
    );
  };

  async function dispatch(req: IncomingMessage, m: ReturnType<typeof match>, query: string): Promise<Reply> {
    if (!m)
      throw new HttpError(
        404,
        'no such path; this Key Provider serves /capabilities, /key, /key/{keyId}, /entropy',
      );
    if (req.method !== 'GET') {
      throw new HttpError(405, `method ${clip(req.method ?? '', 16)} not allowed; only GET is supported`, {
        Allow: 'GET',
      });
    }
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody) return { status: 400, body: { detail: 'GET requests carry no body' }, close: true };
    const identity = opts.identify(req);
    // No identity: the connection's PSK was removed since its handshake (SIGHUP).
    if (identity === undefined)
      return { status: 403, body: { detail: 'this client is no longer authorised' }, close: true };
    const wait = opts.admit?.(identity) ?? 0;
    if (wait > 0) {
      throw new HttpError(503, `request rate limit reached for this client; retry in ${wait} s`, {
        'Retry-After': String(wait),
      });
    }
    return opts.handlers[m.route]({
      query,
      ...(m.keyIdSegment !== undefined && { keyIdSegment: m.keyIdSegment }),
      ...(identity !== undefined && { identity }),
    });
  }
}
