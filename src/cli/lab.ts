// `skip-server lab`: the development pair on loopback.

import { LAB_KEY_SOURCES, runLab, type LabKeySource } from '../provision/lab.js';
import { EXIT, UsageError, kemFromEnv, str, type Command } from './common.js';

export const DEFAULT_BASE_PORT = 10443;

export const lab: Command = {
  name: 'lab',
  summary: 'Development: KPs alice and bob on loopback, with generated secrets.',
  synopsis: '[--dir DIR] [--base-port N] [--key-source mlkem|etsi014|hybrid] [--instances 1|2|3]',
  about: `Development: run KPs alice and bob on loopback with generated secrets in DIR (default
./lab, made on the first run and reused after; needs the openssl command) and print the
openssl s_client lines that play their encryptors. Ctrl-C stops both; so does the end of
this process, however it ends. From a clone: npm start -- --base-port N. --key-source
etsi014 or hybrid also runs two linked simulated QKD KMEs (ETSI GS QKD 014) on N+2 and
N+1002, and the KPs take their keys from them (hybrid: combined with ML-KEM). --instances 2
or 3 runs bob as a hub (docs/cluster.md): its instances on 127.0.0.1, 127.0.0.2 (and .3) share a
local etcd (one member on N+3 and N+4, data in DIR/etcd; needs the etcd command: Debian
etcd-server), and alice lists them all.`,
  options: {
    dir: { type: 'string', arg: 'DIR', help: 'the lab folder (default ./lab)' },
    'base-port': {
      type: 'string',
      arg: 'N',
      help: `alice listens on N (encryptors) and N+1 (peers), bob on N+1000 and N+1001\n(default ${DEFAULT_BASE_PORT})`,
    },
    'key-source': {
      type: 'string',
      arg: 'SOURCE',
      help: `where keys come from: ${LAB_KEY_SOURCES.join(', ')} (default mlkem; docs/key-sources.md)`,
    },
    instances: {
      type: 'string',
      arg: 'N',
      help: "bob's instances: 1 (default), or 2 or 3 sharing a local etcd (with mlkem only)",
    },
  },
  async run(values, io) {
    const text = str(values['base-port']);
    const base = text === undefined ? DEFAULT_BASE_PORT : /^[0-9]{4,5}$/.test(text) ? Number(text) : NaN;
    if (!(base >= 1024 && base <= 64000))
      throw new UsageError('--base-port must be a number from 1024 to 64000');
    const source = str(values['key-source']) ?? 'mlkem';
    if (!(LAB_KEY_SOURCES as readonly string[]).includes(source))
      throw new UsageError(`--key-source must be ${LAB_KEY_SOURCES.join(', ')}, not "${source}"`);
    const count = str(values.instances) ?? '1';
    if (!/^[123]$/.test(count)) throw new UsageError(`--instances must be 1, 2 or 3, not "${count}"`);
    const code = await runLab({
      keySource: source as LabKeySource,
      instances: Number(count),
      dir: str(values.dir) ?? 'lab',
      basePort: base,
      kem: kemFromEnv(),
      out: io.out,
      err: io.err,
    });
    return code === 0 ? EXIT.ok : EXIT.runtime;
  },
};
