// Query strings are parsed once at the boundary: percent-decoded (`+` is a space, as in HTML
// forms and the reference's FastAPI), each parameter at most once, only the names a method takes.

import { clip } from '../log.js';
import { HttpError } from '../errors.js';

export type Query = ReadonlyMap<string, string>;

export function parseQuery(qs: string, allowed: readonly string[], method: string): Query {
  const out = new Map<string, string>();
  for (const part of qs.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    if (!allowed.includes(name)) {
      const takes = allowed.length > 0 ? `takes only ${allowed.join(', ')}` : 'takes no parameters';
      throw new HttpError(400, `unknown query parameter "${clip(name, 64)}": ${method} ${takes}`);
    }
    if (out.has(name)) throw new HttpError(400, `query parameter "${name}" given more than once`);
    out.set(name, value);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the query string');
  }
}

/** A decimal whole number as a query value: digits only, no sign, no spaces. */
export function parseDecimal(value: string, name: string, rule: string): number {
  if (!/^[0-9]{1,6}$/.test(value)) throw new HttpError(400, `"${name}" must be a whole number: ${rule}`);
  return Number(value);
}
