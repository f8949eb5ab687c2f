// Entry point of the bundle and the executable: run the CLI, wire signals for `serve`.
// Signal handlers go in before anything listens: SIGHUP's default action would kill the process.

import { EXIT, runCli } from './cli.js';
import { errorMessage } from './errors.js';
import type { RunningServer } from './server.js';

const out = (s: string): void => void process.stdout.write(s);
const err = (s: string): void => void process.stderr.write(s);

let server: RunningServer | undefined;
let stopping = false;

process.on('SIGHUP', () => void server?.reload());
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  err(`skip-server: ${signal}, stopping\n`);
  if (!server) process.exit(EXIT.ok);
  server.close().then(
    () => process.exit(EXIT.ok),
    () => process.exit(EXIT.runtime),
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

runCli(process.argv.slice(2), {
  out,
  err,
  onServing(running) {
    server = running;
  },
}).then(
  (code) => {
    process.exitCode = code;
    if (!server) process.removeAllListeners('SIGHUP');
  },
  (e: unknown) => {
    err(`skip-server: unexpected failure: ${errorMessage(e)}\n`);
    process.exit(EXIT.runtime);
  },
);
