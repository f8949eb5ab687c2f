// One HTTP request over TLS as a router makes it: TLS 1.2 with a PSK through node:tls, TLS 1.3
// with an external SHA-384 PSK through our engine's client side (src/tls13/client.ts). A new
// connection per request, `Connection: close`; the response is parsed here (status, headers,
// body by Content-Length or to the end), so any HTTP/1.x server can answer.

import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { tls13Request } from '../tls13/client.js';
import { GROUP_NAMES } from '../tls13/key-share.js';

export interface Target {
  host: string;
  port: number;
  identity: string;
  psk: Buffer;
}

export type TlsVersion = '1.2' | '1.3';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  tls: { version: string; cipher: string; group?: string };
  ms: number;
}

/** A TLS handshake that failed: no HTTP answer at all. */
export class TlsFailure extends Error {}

/** The most a KP's answer may hold, head and body: a SKIP answer is well under 1 KiB. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** An answer longer than MAX_ANSWER_BYTES: the probe stopped reading it. */
export class AnswerTooLarge extends Error {
  constructor() {
    super(`answer exceeds ${MAX_ANSWER_BYTES / 1024} KiB (the probe's cap); stopped reading`);
  }
}

/** `responseComplete`, failing once `raw` is past the cap (the answer would never end). */
function completeWithin(raw: string): boolean {
  if (raw.length > MAX_ANSWER_BYTES) throw new AnswerTooLarge();
  return responseComplete(raw);
}

/** TLS 1.2 PSK suites a router may use (IOS XE's, then the draft's Table 1). */
export const TLS12_SUITES =
  'DHE-PSK-AES256-GCM-SHA384:PSK-AES256-GCM-SHA384:DHE-PSK-AES256-CBC-SHA384:DHE-PSK-AES256-CBC-SHA';

export function parseResponse(raw: string): Omit<HttpAnswer, 'tls' | 'ms'> {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no HTTP response (${raw.length} bytes)`);
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify((statusLine ?? '').slice(0, 60))}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  let body = raw.slice(split + 4);
  const length = Number(headers['content-length']);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (Number.isInteger(length) && length >= 0) body = body.slice(0, length);
  return { status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

/** The body of a chunked transfer coding (latin1 text in, latin1 text out). */
function dechunk(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) throw new Error('truncated chunked body');
    const size = parseInt(text.slice(at, eol).split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('bad chunk size');
    if (size === 0) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** True once `raw` holds a whole response: headers, and the body by Content-Length or chunks. */
export function responseComplete(raw: string): boolean {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) return false;
  const head = raw.slice(0, split).toLowerCase();
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head)?.[1];
  if (length !== undefined) return raw.length - split - 4 >= Number(length);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return raw.endsWith('\r\n0\r\n\r\n');
  return false;
}

export function requestText(method: string, path: string, host: string): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`;
}

/** One request; `suites` / `versions` narrow the TLS offer (TLS profile checks). */
export async function httpRequest(
  t: Target,
  version: TlsVersion,
  method: string,
  path: string,
  opts: {
    tls12Ciphers?: string;
    tls12Versions?: [ConnectionOptions['minVersion'], ConnectionOptions['maxVersion']];
    timeoutMs?: number;
    /** SNI to send (node:tls connections only). */
    servername?: string;
  } = {},
): Promise<HttpAnswer> {
  const started = performance.now();
  const request = requestText(method, path, t.host);
  if (version === '1.3') {
    let r;
    try {
      r = await tls13Request({
        host: t.host,
        port: t.port,
        identity: t.identity,
        psk: t.psk,
        request,
        timeoutMs: opts.timeoutMs ?? 10_000,
        complete: completeWithin,
      });
    } catch (e) {
      if (e instanceof AnswerTooLarge) throw e;
      throw new TlsFailure(e instanceof Error ? e.message : String(e));
    }
    return {
      ...parseResponse(r.response),
      tls: {
        version: 'TLSv1.3',
        cipher: 'TLS_AES_256_GCM_SHA384',
        ...(r.group !== undefined && { group: GROUP_NAMES[r.group] ?? String(r.group) }),
      },
      ms: Math.round(performance.now() - started),
    };
  }
  const [minVersion, maxVersion] = opts.tls12Versions ?? ['TLSv1.2', 'TLSv1.2'];
  return new Promise((resolve, reject) => {
    let secure = false;
    let raw = '';
    let tls: HttpAnswer['tls'] = { version: '?', cipher: '?' };
    const socket = tlsConnect({
      host: t.host,
      port: t.port,
      minVersion,
      maxVersion,
      ciphers: `${opts.tls12Ciphers ?? TLS12_SUITES}:@SECLEVEL=0`,
      pskCallback: () => ({ identity: t.identity, psk: t.psk }),
      checkServerIdentity: () => undefined,
      ...(opts.servername !== undefined && { servername: opts.servername }),
    });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), opts.timeoutMs ?? 10_000);
    socket.on('secureConnect', () => {
      secure = true;
      const c = socket.getCipher();
      tls = { version: socket.getProtocol() ?? '?', cipher: c.standardName ?? c.name };
      socket.write(request);
    });
    let tooLarge = false;
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      let complete: boolean;
      try {
        complete = completeWithin(raw);
      } catch (e) {
        tooLarge = true;
        clearTimeout(timer);
        socket.destroy();
        return reject(e instanceof Error ? e : new Error(String(e)));
      }
      if (complete) {
        socket.end();
        finish();
      }
    });
    socket.on('error', (e: Error) => {
      clearTimeout(timer);
      if (!secure) reject(new TlsFailure(e.message));
      else if (raw) finish();
      else reject(e);
    });
    const finish = (): void => {
      clearTimeout(timer);
      if (tooLarge) return;
      try {
        resolve({ ...parseResponse(raw), tls, ms: Math.round(performance.now() - started) });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    socket.on('end', finish);
    socket.on('close', () =>
      secure && raw ? finish() : !secure && reject(new TlsFailure('connection closed during the handshake')),
    );
  });
}
