// `skip-server psk add`: a new encryptor identity and key in the PSK file.

import { statSync } from 'node:fs';
import { MAX_PSK_BYTES, MIN_PSK_BYTES } from '../tls/psk.js';
import { addPsk } from '../tls/psk-add.js';
import { EXIT, UsageError, str, type Command } from './common.js';

export const pskAdd: Command = {
  name: 'psk add',
  summary: "Add an encryptor identity with a new random key; print the router's psk line.",
  synopsis: '--file FILE --identity ID [--bytes N]',
  about: `Add an encryptor identity with a new random key to the PSK file and print the router's
psk line. A new file is created 0600; an existing file keeps its owner, group and group
bits (others lose access). An identity already there is refused. SIGHUP (systemctl reload)
makes a running skip-server load it.`,
  options: {
    file: { type: 'string', arg: 'FILE', help: 'the PSK file ("identity:hexkey" lines)' },
    identity: { type: 'string', arg: 'ID', help: "the encryptor's PSK identity (the router's psk id)" },
    bytes: {
      type: 'string',
      arg: 'N',
      help: `key length, ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES} bytes (default 48)`,
    },
  },
  run(values, io) {
    const file = str(values.file);
    const identity = str(values.identity);
    if (file === undefined || identity === undefined)
      throw new UsageError('psk add needs --file FILE and --identity ID');
    const text = str(values.bytes);
    const bytes = text === undefined ? 48 : /^[0-9]{1,3}$/.test(text) ? Number(text) : NaN;
    if (!(bytes >= MIN_PSK_BYTES && bytes <= MAX_PSK_BYTES))
      throw new UsageError(`--bytes must be a number from ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES}`);
    const hex = addPsk(file, identity, bytes);
    const mode = (statSync(file).mode & 0o777).toString(8).padStart(4, '0');
    io.out(`added "${identity}" to ${file} (mode ${mode}); SIGHUP a running skip-server to load it\n`);
    io.out(`router: psk id ${identity} key hex ${hex}\n`);
    return EXIT.ok;
  },
};
