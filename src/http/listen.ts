// Opening and closing listeners, with errors an operator can act on.

import type { Server as HttpServer } from 'node:http';
import { errorCode, errorMessage } from '../errors.js';

/** Listening failed (port in use, no permission): the message says what to do. */
export class ListenError extends Error {}

/** Listens on host:port; resolves with the port (the real one when 0 was asked for). */
export function listen(server: HttpServer, host: string, port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e) => {
      const code = errorCode(e);
      const why =
        code === 'EADDRINUSE'
          ? 'the port is in use by another process'
          : code === 'EACCES'
            ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
            : code === 'EADDRNOTAVAIL'
              ? 'no interface has that address'
              : errorMessage(e);
      reject(new ListenError(`cannot listen for ${name}s on ${host}:${port}: ${why}`));
    });
    server.listen(port, host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** Stops accepting, lets in-flight requests finish for a moment, then cuts what is left. */
export async function closeServer(server: HttpServer, graceMs = 3_000): Promise<void> {
  if (!server.listening) return;
  const done = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
  await done;
  clearTimeout(timer);
}
