// Structured logs: one JSON object per line on stdout (docs/architecture.md, style 6: events, never values).
// Nothing that holds key material may be passed as a field; fields are plain scalars or short lists.

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export type Fields = Record<
  string,
  string | number | boolean | null | undefined | readonly unknown[] | object
>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level?: Level;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? batchedStdout();
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level, event: string, fields?: Fields): void => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ ts: now().toISOString(), level, event, ...fields }) + '\n');
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

/**
 * Lines written within one tick go out in a single write: per-line writes to a pipe cost about a
 * tenth of the CPU under load. A line is never held past the current tick, and process exit
 * flushes what is pending.
 */
function batchedStdout(): (line: string) => void {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    process.stdout.write(chunk);
  };
  process.on('exit', flush);
  return (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
  });
  return Object.assign(logger, { lines });
}

/** Shortens attacker-controlled text before it goes into a log line. */
export function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}...(${s.length} chars)`;
}
