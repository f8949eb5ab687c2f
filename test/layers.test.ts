// The import graph of src/: every import between two units (a folder, or a file at the top of
// src/) runs from a higher layer to a lower one, never up and never sideways between siblings;
// and no file imports itself through others (no cycle). docs/architecture.md draws the layers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

/** Lowest first. A unit may import only from units of a lower layer (and from itself). */
export const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'log', 'bytes', 'utf8', 'version', 'memory-profile', 'metrics', 'core-dumps', 'ids', 'cleanup'],
  ['config', 'kem', 'keystore', 'http'],
  ['tls13'],
  ['tls'],
  ['peer', 'kme'],
  ['skip', 'admin', 'probe'],
  ['provision'],
  ['start'],
  ['server'],
  ['cli'],
  ['main'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const unitOf = (file: string): string => {
  const parts = relative('src', file).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
};

/** file -> the src files it imports (relative imports only). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sources('src')) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)\.js'/g)].map((m) =>
      normalize(join(dirname(file), `${m[1]!}.ts`)),
    );
    g.set(file, deps);
  }
  return g;
}

describe('the import graph of src/', () => {
  const g = graph();
  const layer = new Map(LAYERS.flatMap((units, i) => units.map((u) => [u, i] as const)));

  it('places every unit of src/ in a layer', () => {
    assert.ok(g.size > 50, `only ${g.size} files: the scan is broken`);
    const units = [...new Set([...g.keys()].map(unitOf))];
    assert.deepEqual(
      units.filter((u) => !layer.has(u)),
      [],
      'new units must be placed in LAYERS',
    );
  });

  it('imports only downwards: no unit imports a higher or sibling unit', () => {
    const wrong: string[] = [];
    for (const [file, deps] of g)
      for (const dep of deps) {
        const [from, to] = [unitOf(file), unitOf(dep)];
        if (from !== to && !(layer.get(to)! < layer.get(from)!)) wrong.push(`${file} -> ${dep}`);
      }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') return void cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      state.set(f, 'open');
      for (const d of g.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of g.keys()) visit(f, []);
    assert.deepEqual(cycles, []);
  });
});
