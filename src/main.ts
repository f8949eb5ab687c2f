// Entry point of the bundle and the executable: run the CLI, wire signals for `serve`.
// SIGHUP's handler goes in before anything listens (its default action would kill the process);
// SIGTERM/SIGINT stop the server gracefully once it serves (before that, their default applies;
// `lab` handles them itself).

import { EXIT, runCli } from './cli/dispatch.js';
import { errorMessage } from './errors.js';
import { stopWithLab } from './provision/lab.js';
import type { RunningServer } from './server.js';

const out = (s: string): void => void process.stdout.write(s);
const err = (s: string): void => void process.stderr.write(s);

let server: RunningServer | undefined;
const onHup = (): void => void server?.reload();
process.on('SIGHUP', onHup);

runCli(process.argv.slice(2), {
  out,
  err,
  onServing(running) {
    server = running;
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      running.log.info('stopping', { signal });
      running.close().then(
        () => {
          running.log.info('stopped', { signal });
          process.exit(EXIT.ok);
        },
        (e: unknown) => {
          running.log.error('stop failed', { signal, error: errorMessage(e) });
          process.exit(EXIT.runtime);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    stopWithLab(stop);
  },
}).then(
  (code) => {
    process.exitCode = code;
    if (!server) process.off('SIGHUP', onHup);
  },
  (e: unknown) => {
    err(`skip-server: unexpected failure: ${errorMessage(e)}\n`);
    process.exit(EXIT.runtime);
  },
);
