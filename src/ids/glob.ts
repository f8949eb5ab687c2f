// Glob patterns for remoteSystemID entries, draft-cisco-skip-02 §4.1.2 Table 5 (POSIX fnmatch):
// `*` any run of characters, `?` one character, `[list]` / `[!list]` one character in / not in
// the list (ranges `a-z` allowed, `]` first in a list is literal), `\x` the literal x.

/** True when the string uses any glob metacharacter and so names many systems. */
export function isGlob(s: string): boolean {
  return /[*?[\\]/.test(s);
}

const escapeRe = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** Compiles a pattern to an anchored RegExp; throws with the reason when the pattern is malformed. */
export function compileGlob(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) throw new Error('pattern ends with a lone "\\"');
      re += escapeRe(next);
    } else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (pattern[j] === '!') {
        negate = true;
        j++;
      }
      let body = '';
      let first = true;
      for (; j < pattern.length && (first || pattern[j] !== ']'); j++, first = false) {
        const ch = pattern[j]!;
        if (ch === '-' && !first && j + 1 < pattern.length && pattern[j + 1] !== ']') body += '-';
        else body += escapeRe(ch);
      }
      if (j >= pattern.length) throw new Error(`unterminated "[" at position ${i + 1}`);
      re += `[${negate ? '^' : ''}${body}]`;
      i = j;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's');
}
