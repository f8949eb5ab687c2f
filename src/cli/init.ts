// `skip-server init`: a production Key Provider's files and the steps that remain.

import { initKp, LAYOUTS, type Layout } from '../provision/init.js';
import { selectBackend } from '../kem/mlkem.js';
import { EXIT, UsageError, str, type Command } from './common.js';

export const init: Command = {
  name: 'init',
  summary: "Write a production KP's files (host or IOx layout) and print the next steps.",
  synopsis:
    '--dir DIR --id NAME [--address HOST] [--router NAME] [--peer NAME=HOST ...] [--keystore FILE] [--layout host|iox]',
  about: `Write a production Key Provider's files into DIR: skip.yaml, psk.txt, an ML-KEM pair and
master.key (secrets 0600), with the first router's PSK (--router, default router-1) and a
loopback admin listener; never replaces a file; prints the next steps (public keys,
certificates with "skip-server cert", start, and the router's configuration). --layout iox writes config/,
secrets/ and certs/ as the IOx app's volume holds them, with skip.yaml naming
/data/appdata/..., and prints the app-hosting copy lines.`,
  options: {
    dir: { type: 'string', arg: 'DIR', help: 'where to write the files (made if missing)' },
    id: { type: 'string', arg: 'NAME', help: "this KP's localSystemID (also its certificate's name)" },
    peer: {
      type: 'string',
      multiple: true,
      arg: 'NAME=HOST',
      help: "a peer KP's localSystemID and address (repeat for each)",
    },
    keystore: {
      type: 'string',
      arg: 'FILE',
      help: 'keystore_path (default DIR/keystore.db; iox: /data/appdata/secrets/keystore.db)',
    },
    layout: { type: 'string', arg: 'LAYOUT', help: 'host (default) or iox' },
    address: {
      type: 'string',
      arg: 'HOST',
      help: "this KP's address as routers and peers reach it (router config, certificate SAN)",
    },
    router: { type: 'string', arg: 'NAME', help: "the first router's PSK identity (default router-1)" },
  },
  run(values, io) {
    const dir = str(values.dir);
    const id = str(values.id);
    if (dir === undefined || id === undefined) throw new UsageError('init needs --dir DIR and --id NAME');
    const layout = str(values.layout) ?? 'host';
    if (!(LAYOUTS as readonly string[]).includes(layout))
      throw new UsageError(`--layout must be ${LAYOUTS.join(' or ')}, not "${layout}"`);
    const keystore = str(values.keystore);
    const address = str(values.address);
    const router = str(values.router);
    io.out(
      initKp({
        dir,
        id,
        peers: Array.isArray(values.peer) ? values.peer : [],
        kem: selectBackend('auto'),
        layout: layout as Layout,
        ...(keystore !== undefined && { keystore }),
        ...(address !== undefined && { address }),
        ...(router !== undefined && { router }),
      }),
    );
    return EXIT.ok;
  },
};
