// The phases test/run.mjs gives a test file come from its name and its first line only
// (test/helpers/phases.ts): every test file here classifies without error, and a typo in a tag,
// a misplaced tag line or an executable phase on a file that does not run the bundle is refused
// with the file named, rather than silently dropping the file from a phase.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { classify, phaseTags } from './helpers/phases.js';

const lines = (...l: string[]): string => l.join('\n');

describe('test phases', () => {
  it('classifies every test file in test/', () => {
    const files = readdirSync('test', { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join('test', f));
    assert.ok(files.length > 0);
    for (const file of files) phaseTags(file, readFileSync(file, 'utf8'));
  });

  it('reads the tags of the first line, and none without one', () => {
    assert.deepEqual(phaseTags('a.e2e.test.ts', lines('// phases: runtime, exe', '// A')), [
      'runtime',
      'exe',
    ]);
    assert.deepEqual(phaseTags('a.e2e.test.js', '// phases: arm64,iox\n'), ['arm64', 'iox']);
    assert.deepEqual(phaseTags('a.test.ts', lines('// About phases: runtime', 'x')), []);
    assert.deepEqual(phaseTags('a.test.ts', ''), []);
  });

  it('refuses an unknown or repeated tag, naming the file', () => {
    assert.throws(
      () => phaseTags('t/a.test.ts', '// phases: runtme'),
      /t\/a\.test\.ts:1: unknown phase 'runtme'/,
    );
    assert.throws(() => phaseTags('a.test.ts', '// phases: runtime, runtime'), /named twice/);
    assert.throws(() => phaseTags('a.test.ts', '// phases:'), /unknown phase ''/);
  });

  it('refuses the executable phases on a file that is not end to end', () => {
    for (const tag of ['exe', 'arm64', 'iox']) {
      assert.throws(() => phaseTags('a.test.ts', `// phases: ${tag}`), /only for \*\.e2e\.test\.ts/);
    }
  });

  it('refuses a tag line that is not the first line', () => {
    assert.throws(
      () => phaseTags('a.test.ts', lines('// A test.', '// phases: runtime')),
      /a\.test\.ts:2: '\/\/ phases:' must be the first line/,
    );
  });

  it('puts each file in the phases it names, in the order given', () => {
    const text: Record<string, string> = {
      'b.e2e.test.js': '// phases: exe, runtime',
      'a.test.js': '// phases: runtime',
      'c.test.js': '// Untagged.',
    };
    assert.deepEqual(
      classify(Object.keys(text), (f) => text[f]!),
      { runtime: ['b.e2e.test.js', 'a.test.js'], exe: ['b.e2e.test.js'], arm64: [], iox: [] },
    );
  });
});
