// The probe's report: one line per check with its time, the hint of each failure, a summary; or
// the same as JSON for monitoring systems.

import type { Check } from './checks.js';

export interface Report {
  ok: boolean;
  target: Record<string, unknown>;
  checks: Check[];
  failed: number;
  ms: number;
}

export function textReport(r: Report): string {
  const width = Math.min(56, Math.max(...r.checks.map((c) => c.name.length)));
  const lines = r.checks.map((c) => {
    const mark = c.info ? 'INFO' : c.ok ? 'PASS' : c.optional ? 'WARN' : 'FAIL';
    const time = c.ms !== undefined ? `  ${c.ms} ms` : '';
    const hint = !c.ok && c.hint ? `\n        -> ${c.hint}` : '';
    return `  ${mark}  ${c.name.padEnd(width)}  ${c.detail}${time}${hint}`;
  });
  const counted = r.checks.filter((c) => !c.info).length;
  const other = r.checks.filter((c) => !c.ok && c.optional);
  const summary = r.ok
    ? other.length === 0
      ? `all ${counted} checks passed in ${r.ms} ms`
      : `${counted - other.length} of ${counted} checks passed in ${r.ms} ms; ${other.length} outside --require failed: ${other[0]!.name}`
    : `${r.failed} of ${counted} checks failed (${r.ms} ms); first: ${r.checks.find((c) => !c.ok && !c.optional)?.name}`;
  return `${lines.join('\n')}\n${summary}\n`;
}

export function jsonReport(r: Report): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
