// Writing answers: JSON with Content-Type, `Cache-Control: no-store` on key and entropy answers,
// and the draft's status codes. Errors reach the client only as `{"detail": ...}` from an
// HttpError; any other exception becomes a bare 500 and is logged with its cause.

import type { ServerResponse } from 'node:http';
import { HttpError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface Reply {
  status: number;
  body: object;
  /** Key and entropy answers must not be cached by anything between KP and encryptor. */
  noStore?: boolean;
  headers?: Record<string, string>;
  /** Close the connection after this answer (the request could not be read cleanly). */
  close?: boolean;
  /** What the handler did, merged into the one request log line (never a secret). */
  logFields?: Record<string, string | number | boolean>;
}

export function send(res: ServerResponse, reply: Reply): void {
  const body = JSON.stringify(reply.body);
  res.statusCode = reply.status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (reply.noStore) res.setHeader('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.close) res.setHeader('Connection', 'close');
  res.end(body);
}

export function errorReply(e: unknown, log: Logger, event: string): Reply {
  if (e instanceof HttpError) {
    return { status: e.status, body: { detail: e.detail }, headers: e.headers, noStore: true };
  }
  log.error(event, { error: errorMessage(e) });
  return { status: 500, body: { detail: 'internal error; see the Key Provider log' }, noStore: true };
}
