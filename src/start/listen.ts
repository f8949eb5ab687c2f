// Binds the assembled servers: the peer listener, the encryptor's, then the admin one (if any).

import type { Cleanup } from '../cleanup.js';
import { closeServer, listen } from '../http/listen.js';
import type { Parts } from './assemble.js';

export interface Ports {
  encryptor: number;
  peer: number;
  admin?: number;
}

export async function listenAll(p: Parts, cleanup: Cleanup): Promise<Ports> {
  const { config } = p;
  const servers = [p.peer, p.encryptor, ...(p.admin ? [p.admin] : [])];
  cleanup.defer('listeners', () => Promise.all(servers.map((s) => closeServer(s))));
  const peer = await listen(p.peer, config.host, config.mtls_port, 'peer KP');
  const encryptor = await listen(p.encryptor, config.host, config.port, 'encryptor');
  if (!p.admin) return { encryptor, peer };
  return {
    encryptor,
    peer,
    admin: await listen(p.admin, config.admin_host, config.admin_port!, 'admin client'),
  };
}
