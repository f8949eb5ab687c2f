// Wires one Key Provider process: config -> TLS material -> handlers -> listeners.
// Everything with a side effect (store, peer link, randomness, log) can be injected by tests.
// Start-up is three steps (start/): assemble the parts, listen, log the start record. Whatever
// a step takes is deferred on one cleanup stack, which a failed start and close() both unwind.

import { Cleanup } from './cleanup.js';
import type { Config } from './config/load.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { assemble, type StartOptions } from './start/assemble.js';
import { listenAll } from './start/listen.js';
import { reload } from './start/reload.js';
import { startRecord, warnAboutSetUp } from './start/start-record.js';

export type { StartOptions } from './start/assemble.js';

export interface RunningServer {
  readonly encryptor: { host: string; port: number };
  readonly peer: { host: string; port: number };
  readonly admin?: { host: string; port: number };
  /**
   * SIGHUP: re-read the PSK file, this KP's own ML-KEM pair (a new pair becomes current, the
   * previous private key is still tried for kem_key_grace_seconds) and the peers' ML-KEM public
   * keys. Whatever does not load is logged and the old one kept; false if anything did not load.
   */
  reload(): boolean;
  /** Releases everything the start took, last taken first; rejects with the first failure. */
  close(): Promise<void>;
  /** The server's logger, for the lines about its own life (stopping, stopped). */
  readonly log: Logger;
}

export async function startServer(config: Config, opts: StartOptions): Promise<RunningServer> {
  const { log } = opts;
  const cleanup = new Cleanup(({ step, error }) =>
    log.warn('cleanup step failed', { step, error: errorMessage(error) }),
  );
  let parts, ports;
  try {
    parts = await assemble(config, opts, cleanup);
    ports = await listenAll(parts, cleanup);
  } catch (e) {
    return cleanup.fail(e);
  }
  log.info('started', startRecord(parts, ports));
  warnAboutSetUp(parts, ports);
  const p = parts;
  // Once stopping, a SIGHUP must not load secrets again into a server being wiped.
  let closing = false;
  return {
    encryptor: { host: config.host, port: ports.encryptor },
    peer: { host: config.host, port: ports.peer },
    ...(ports.admin !== undefined && { admin: { host: config.admin_host, port: ports.admin } }),
    log,
    reload: () => (closing ? false : reload(p)),
    async close() {
      closing = true;
      const [first] = await cleanup.unwind();
      if (first) throw first.error;
    },
  };
}
