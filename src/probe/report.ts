// The probe's report: one line per check with its time, the hint of each failure, a summary; or
// the same as JSON for monitoring systems. Details quote what the KP sent, so nothing the KP
// controls reaches the terminal as a control character: in text every C0 and C1 character, DEL,
// the Unicode line separators and bidirectional controls are shown as escapes (\x1b, \u202e),
// and in JSON the same characters are JSON escapes (JSON.stringify leaves DEL, C1 and those raw).

import type { Check } from './checks.js';

export interface Report {
  ok: boolean;
  target: Record<string, unknown>;
  checks: Check[];
  failed: number;
  ms: number;
}

/** What a terminal could take as a control: C0, DEL, C1, line/paragraph separators, bidi controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** The controls JSON.stringify leaves raw (it escapes C0 itself; its own line breaks stay). */
const RAW_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

const hex = (c: string, width: number): string => c.charCodeAt(0).toString(16).padStart(width, '0');

/** `s` with each control character as an escape (\n, \r, \t, \xHH, \uHHHH): safe to print on a terminal. */
export function printable(s: string): string {
  return s.replace(CONTROLS, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : c.charCodeAt(0) < 0x100
            ? `\\x${hex(c, 2)}`
            : `\\u${hex(c, 4)}`,
  );
}

export function textReport(r: Report): string {
  const width = Math.min(56, Math.max(...r.checks.map((c) => c.name.length)));
  const lines = r.checks.map((c) => {
    const mark = c.info ? 'INFO' : c.ok ? 'PASS' : c.optional ? 'WARN' : 'FAIL';
    const time = c.ms !== undefined ? `  ${c.ms} ms` : '';
    const hint = !c.ok && c.hint ? `\n        -> ${printable(c.hint)}` : '';
    return `  ${mark}  ${printable(c.name).padEnd(width)}  ${printable(c.detail)}${time}${hint}`;
  });
  const counted = r.checks.filter((c) => !c.info).length;
  const other = r.checks.filter((c) => !c.ok && c.optional);
  const summary = r.ok
    ? other.length === 0
      ? `all ${counted} checks passed in ${r.ms} ms`
      : `${counted - other.length} of ${counted} checks passed in ${r.ms} ms; ${other.length} outside --require failed: ${printable(other[0]!.name)}`
    : `${r.failed} of ${counted} checks failed (${r.ms} ms); first: ${printable(r.checks.find((c) => !c.ok && !c.optional)?.name ?? '')}`;
  return `${lines.join('\n')}\n${summary}\n`;
}

export function jsonReport(r: Report): string {
  // Outside strings JSON text is ASCII, so every match is inside a string: a JSON escape there.
  const text = JSON.stringify(r, null, 2).replace(RAW_IN_JSON, (c) => `\\u${hex(c, 4)}`);
  return `${text}\n`;
}
