// Entry point of the bundle and the executable: run the CLI, wire signals for `serve`.

import { EXIT, runCli } from './cli.js';
import { errorMessage } from './errors.js';

const out = (s: string): void => void process.stdout.write(s);
const err = (s: string): void => void process.stderr.write(s);

runCli(process.argv.slice(2), {
  out,
  err,
  onServing(server) {
    process.on('SIGHUP', () => {
      try {
        server.reload();
      } catch (e) {
        err(
          `skip-server: PSK reload failed, keeping the previous table:\n  ${errorMessage(e).replaceAll('\n', '\n  ')}\n`,
        );
      }
    });
    const stop = (signal: string): void => {
      err(`skip-server: ${signal}, stopping\n`);
      server.close().then(
        () => process.exit(EXIT.ok),
        () => process.exit(EXIT.runtime),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  },
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`skip-server: unexpected failure: ${errorMessage(e)}\n`);
    process.exitCode = EXIT.runtime;
  },
);
