// Typed internal errors (docs/architecture.md, style 4). Their messages are for operators and logs;
// what a client sees is decided in http/respond.ts and never includes these messages verbatim
// unless the error is an HttpError made for that purpose.

/** An answer for the client: a status and a fixed, secret-free `detail`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpError';
  }
}

/** A configuration or input file is wrong; the message names the file, the field and why. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}
