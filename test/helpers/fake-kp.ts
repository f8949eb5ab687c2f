// A stand-in SKIP Key Provider pair for the probe's tests: one process, two encryptor ports
// (A and B) sharing one key table, correct by draft-cisco-skip-02 §4 except for the one rule a
// test asks it to break. TLS 1.2 PSK through node:tls and TLS 1.3 through our engine's front
// door, so the probe can use both.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { installFrontDoor } from '../../src/tls13/front-door.js';

export type Violation =
  | 'none'
  | 'second-fetch-200'
  | '422-for-bad-size'
  | 'no-allow'
  | 'aes128'
  | 'mismatched-keys'
  /** TLS 1.2 only, as the Python reference KP. */
  | 'no-tls13';

export interface FakePair {
  portA: number;
  portB: number;
  close(): Promise<void>;
}

export async function startFakePair(
  routers: { a: { identity: string; key: string }; b: { identity: string; key: string } },
  violation: Violation,
): Promise<FakePair> {
  const keys = new Map<string, string>();
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
    close: () =>
      Promise.all(
        servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
      ).then(() => undefined),
  };
}
