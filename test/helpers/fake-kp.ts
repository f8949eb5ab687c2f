// A stand-in SKIP Key Provider pair for the probe's tests: one process, two encryptor ports
// (A and B) sharing one key table, correct by draft-cisco-skip-02 §4 except for the one rule a
// test asks it to break. TLS 1.2 PSK through node:tls and TLS 1.3 through our engine's front
// door, so the probe can use both.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { installFrontDoor } from '../../src/tls13/front-door.js';

export type Violation =
  | 'none'
  | 'second-fetch-200'
  | '422-for-bad-size'
  | 'no-allow'
  | 'aes128'
  | 'mismatched-keys'
  /** Terminal control sequences and forged lines in status texts, headers and bodies. */
  | 'hostile-text'
  /** /capabilities answers with a body that never ends. */
  | 'endless'
  /** TLS 1.2 only, as the Python reference KP. */
  | 'no-tls13';

export interface FakePair {
  portA: number;
  portB: number;
  /** Bytes of endless bodies written so far ('endless'). */
  endlessBytes(): number;
  close(): Promise<void>;
}

export async function startFakePair(
  routers: { a: { identity: string; key: string }; b: { identity: string; key: string } },
  violation: Violation,
): Promise<FakePair> {
  const keys = new Map<string, string>();
  let endlessBytes = 0;
  const table = new Map([
    [routers.a.identity, Buffer.from(routers.a.key, 'hex')],
    [routers.b.identity, Buffer.from(routers.b.key, 'hex')],
  ]);
  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(text);
  };
  const handler = (me: 'A' | 'B') => (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://kp');
    if (violation === 'hostile-text') return hostile(me, url, req.method ?? 'GET', req.socket);
    if (violation === 'endless' && url.pathname === '/capabilities') return endless(req.socket);
    const [local, remote] = me === 'A' ? ['A', 'B'] : ['B', 'A'];
    const known =
      ['/capabilities', '/entropy', '/key'].includes(url.pathname) || url.pathname.startsWith('/key/');
    if (!known) return send(res, 404, { detail: 'Not Found' });
    if (req.method !== 'GET')
      return send(
        res,
        405,
        { detail: 'Method Not Allowed' },
        violation === 'no-allow' ? {} : { Allow: 'GET' },
      );
    if (url.pathname === '/capabilities')
      return send(res, 200, {
        entropy: true,
        key: true,
        algorithm: 'PRF',
        localSystemID: local,
        remoteSystemID: [remote],
      });
    if (url.pathname === '/entropy') {
      const n = Number(url.searchParams.get('minentropy') ?? 256);
      if (!Number.isInteger(n) || n % 8 !== 0 || n < 8 || n > 4096)
        return send(res, 400, { detail: 'bad minentropy' });
      return send(res, 200, { randomStr: randomBytes(n / 8).toString('hex'), minentropy: n });
    }
    const rsid = url.searchParams.get('remoteSystemID');
    if (rsid !== remote) return send(res, 400, { detail: 'unknown remoteSystemID' });
    if (url.pathname === '/key') {
      const size = Number(url.searchParams.get('size') ?? 256);
      if (!Number.isInteger(size) || size % 8 !== 0 || size < 128 || size > 256)
        return send(res, violation === '422-for-bad-size' ? 422 : 400, { detail: 'bad size' });
      const keyId = randomBytes(16).toString('hex');
      const key = randomBytes(size / 8).toString('hex');
      keys.set(keyId, key);
      return send(res, 200, { keyId, key });
    }
    const keyId = url.pathname.slice('/key/'.length);
    if (!/^[0-9a-f]{32}$/.test(keyId)) return send(res, 400, { detail: 'malformed keyId' });
    const key = keys.get(keyId);
    if (key === undefined) return send(res, 400, { detail: 'key not found' });
    if (violation !== 'second-fetch-200') keys.delete(keyId);
    return send(res, 200, {
      keyId,
      key: violation === 'mismatched-keys' ? randomBytes(32).toString('hex') : key,
    });
  };
  const endless = (socket: Duplex): void => {
    // Chunked, so no length ever says the answer is whole; written as fast as the client reads.
    const chunk = Buffer.from(`4000\r\n${'x'.repeat(0x4000)}\r\n`);
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const pump = (): void => {
      while (!socket.destroyed && socket.writable) {
        endlessBytes += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
    };
    socket.on('error', () => undefined);
    pump();
  };
  const servers: Server[] = [];
  const listen = async (me: 'A' | 'B'): Promise<number> => {
    const server = createServer(
      {
        maxVersion: 'TLSv1.2',
        ciphers:
          violation === 'aes128' ? 'PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256' : 'PSK-AES256-GCM-SHA384',
        pskCallback: (_s, identity) => table.get(identity) ?? null,
      },
      handler(me),
    );
    if (violation !== 'no-tls13')
      installFrontDoor(server, {
        psk: { lookup: (id) => table.get(id) },
        handshakeTimeoutMs: 5000,
        secure: (plain) => server.emit('secureConnection', plain),
        refused: () => undefined,
      });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  };
  const portA = await listen('A');
  const portB = await listen('B');
  return {
    portA,
    portB,
    endlessBytes: () => endlessBytes,
    close: () =>
      Promise.all(
        servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
      ).then(() => undefined),
  };
}

/** What a forged report line looks like: the probe must never print it at a line start. */
export const FORGED = 'all 10 checks passed in 1 ms';
/** ESC, CSI, OSC (title), a screen clear, C1 CSI (U+009B), CR and LF before a forged line. */
const EVIL = `\u001b[2J\u001b]0;owned\u0007\u009b31m\r\n${FORGED}\n\u001b[1A`;
const LATIN1_EVIL = Buffer.from(EVIL, 'utf8').toString('latin1').replace(/\r\n/g, '\r');

/** One raw HTTP answer with control sequences where a probe prints server text. */
function hostile(me: 'A' | 'B', url: URL, method: string, socket: Duplex): void {
  const answer = (status: string, headers: string[], body: string): void =>
    void socket.end(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 ${status}\r\n${headers.join('\r\n')}\r\n`, 'latin1'),
        Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`),
        Buffer.from(body),
      ]),
    );
  const json = ['Content-Type: application/json'];
  // The peer's name carries the sequences, as JSON escapes (so the JSON still parses).
  const evilA = `A${EVIL}`;
  const [local, remote] = me === 'A' ? [evilA, 'B'] : ['B', evilA];
  if (url.pathname === '/capabilities' && method === 'GET')
    return answer(
      `200 OK${LATIN1_EVIL}`,
      [...json, `X-Note: ${LATIN1_EVIL}`],
      JSON.stringify({
        entropy: true,
        key: true,
        algorithm: 'PRF',
        localSystemID: local,
        remoteSystemID: [remote, `C${EVIL}`],
      }),
    );
  if (url.pathname === '/capabilities')
    return answer('405 Method Not Allowed', [...json, `Allow: ${LATIN1_EVIL}`], '{"detail":"GET"}');
  if (url.pathname === '/key')
    return answer(
      '200 OK',
      [...json, `Cache-Control: ${LATIN1_EVIL}`],
      JSON.stringify({ keyId: randomBytes(16).toString('hex'), key: randomBytes(32).toString('hex') }),
    );
  if (url.pathname.startsWith('/key/'))
    // Raw (not JSON-escaped) control bytes in a body the probe quotes.
    return answer(`400 ${LATIN1_EVIL}`, json, `{"detail":"${EVIL}"}`);
  // Not even a status line: the probe quotes what it got instead.
  return void socket.end(Buffer.from(`${EVIL}HTTP/1.1 200 OK\r\n\r\n`));
}
