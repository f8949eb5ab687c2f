// One skip.yaml value, checked against its field's kind: strings, paths, booleans, ports,
// numbers in a range, bit counts, choices, lists of strings, one address or a list of them.

import { resolve } from 'node:path';
import { isScalar, isSeq, type Node } from 'yaml';
import { suggest } from './suggest.js';

export type Kind =
  'string' | 'bool' | 'port' | 'bits' | 'seconds' | 'count' | 'path' | 'strings' | 'addresses' | 'choice';
export interface Field {
  kind: Kind;
  /** For kind 'choice': the allowed values. */
  choices?: readonly string[];
  required?: boolean;
  default?: string | number | boolean;
  range?: { min: number; max: number };
}

/** The value of key `name` as `field` says, or undefined after reporting why not to `problem`. */
export function readValue(
  node: Node,
  name: string,
  field: Field,
  empty: boolean,
  problem: (why: string) => void,
): unknown {
  const bad = (why: string): undefined => void problem(`"${name}" ${why}`);
  if (empty) return bad('has no value');
  // One address (the reference format) or a list of them.
  if (field.kind === 'addresses' && !isSeq(node))
    return readValue(node, name, { kind: 'string' }, empty, problem);
  if (field.kind === 'strings' || field.kind === 'addresses') {
    if (!isSeq(node) || node.items.length === 0) return bad('must be a non-empty list of strings');
    const list = node.items.map((n) => (isScalar(n) && typeof n.value === 'string' ? n.value : undefined));
    return list.every((s) => s !== undefined && s.length > 0)
      ? list
      : bad('must contain only non-empty strings');
  }
  const v: unknown = isScalar(node) ? node.value : undefined;
  switch (field.kind) {
    case 'choice': {
      const choices = field.choices ?? [];
      if (typeof v === 'string' && choices.includes(v)) return v;
      const hint = typeof v === 'string' ? suggest(v, [...choices]) : undefined;
      return bad(`must be one of ${choices.join(', ')}${hint ? `; did you mean "${hint}"?` : ''}`);
    }
    case 'string':
    case 'path':
      if (typeof v !== 'string' || v.length === 0)
        return bad('must be a non-empty string (quote it if needed)');
      return field.kind === 'path' ? resolve(v) : v;
    case 'bool':
      return typeof v === 'boolean' ? v : bad('must be true or false');
    case 'port':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535
        ? v
        : bad('must be a TCP port number from 1 to 65535 (0 picks a free port)');
    case 'seconds':
    case 'count': {
      const r = field.range!;
      const ok = Number.isInteger(v) && (v as number) >= r.min && (v as number) <= r.max;
      const unit = field.kind === 'seconds' ? ' of seconds' : '';
      return ok ? v : bad(`must be a whole number${unit} from ${r.min} to ${r.max}`);
    }
    case 'bits': {
      const r = field.range!;
      const ok =
        Number.isInteger(v) && (v as number) >= r.min && (v as number) <= r.max && (v as number) % 8 === 0;
      return ok ? v : bad(`must be a number of bits from ${r.min} to ${r.max}, a multiple of 8`);
    }
  }
}
