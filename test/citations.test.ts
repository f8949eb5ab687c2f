// Every repository path a comment or a document cites exists: paths under the repository's own
// folders (docs/x.md, src/a/b.ts, test/..., scripts/..., bench/, build/, config/, monitoring/,
// iox/) in the comments of src/ and build/*.service, in README.md, docs/*.md and iox/README.md;
// bare document names (security.md) found beside the citing file, at the top or in docs/; and
// relative Markdown links. Nothing cites the parent folder's shared/ or design/: the repository
// stands alone.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';

const ROOTS = ['docs', 'src', 'test', 'scripts', 'bench', 'build', 'config', 'monitoring', 'iox'];
/** A path under one of ROOTS, not inside a longer path (/etc/x/src/..., out/src/..., a URL). */
const ROOTED = new RegExp(`(?<![\\w./-])(?:\\./)?((?:${ROOTS.join('|')})/[\\w./{},*-]*)`, 'g');
/** A bare document name: security.md, not docs/security.md or a URL's page. */
const BARE_DOC = /(?<![\w./-])([\w-]+\.md)\b/g;
/** A relative Markdown link target. */
const LINK = /\]\((?!https?:|mailto:|#)([^)\s#]+)/g;
/** What no file may cite: outside the repository, or the design folder it does not have. */
const OUTSIDE = ['..', 'shared'].join('/').replace(/[./]/g, '\\$&');
const FOREIGN = new RegExp(`${OUTSIDE}\\b[\\w./-]*|(?<![\\w-])design\\/[\\w./-]*`, 'g');
/** Paths of an installed KP's folder that look like the repository's (its config/ holds
 * skip.yaml.example): the reference layout and the IOx appdata. */
const DEPLOYED = new Set(['config/skip.yaml']);

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? filesUnder(join(dir, e.name), suffix)
      : e.name.endsWith(suffix)
        ? [join(dir, e.name)]
        : [],
  );
}

/** The comments of a TypeScript file, each with the line it starts on. */
function tsComments(text: string): { line: number; text: string }[] {
  const found: { line: number; text: string }[] = [];
  for (const m of text.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)) {
    // `'https://x'` in code is not a comment: skip a `//` right after a colon.
    if (m[0].startsWith('//') && text[m.index - 1] === ':') continue;
    found.push({ line: text.slice(0, m.index).split('\n').length, text: m[0] });
  }
  return found;
}

/** The `#` comment lines of a systemd unit. */
const hashComments = (text: string): { line: number; text: string }[] =>
  text.split('\n').flatMap((t, i) => (t.trimStart().startsWith('#') ? [{ line: i + 1, text: t }] : []));

/** The searched text of each source, as (file, line, text) pieces. */
function pieces(): { file: string; line: number; text: string }[] {
  const out: { file: string; line: number; text: string }[] = [];
  const add = (file: string, parts: { line: number; text: string }[]): void => {
    for (const p of parts) out.push({ file, ...p });
  };
  for (const file of filesUnder('src', '.ts')) add(file, tsComments(readFileSync(file, 'utf8')));
  for (const file of filesUnder('build', '.service')) add(file, hashComments(readFileSync(file, 'utf8')));
  for (const file of ['README.md', 'iox/README.md', ...filesUnder('docs', '.md')]) {
    add(
      file,
      readFileSync(file, 'utf8')
        .split('\n')
        .map((text, i) => ({ line: i + 1, text })),
    );
  }
  return out;
}

/** `a/{b,c}.ts` as `a/b.ts` and `a/c.ts`. */
function expand(path: string): string[] {
  const m = /\{([^{}]*)\}/.exec(path);
  if (!m) return [path];
  return m[1]!
    .split(',')
    .flatMap((alt) => expand(path.slice(0, m.index) + alt + path.slice(m.index + m[0].length)));
}

/** The repository paths one piece of text cites that do not exist. */
function missing(file: string, text: string): string[] {
  const bad: string[] = [];
  for (const m of text.matchAll(ROOTED)) {
    const cited = m[1]!.replace(/[.,]+$/, '');
    if (cited.includes('*') || DEPLOYED.has(cited)) continue; // a pattern, or not ours
    for (const path of expand(cited)) if (!existsSync(path)) bad.push(path);
  }
  for (const m of text.matchAll(BARE_DOC)) {
    const name = m[1]!;
    const places = [join(dirname(file), name), name, join('docs', name)];
    if (!places.some((p) => existsSync(p))) bad.push(name);
  }
  if (file.endsWith('.md')) {
    for (const m of text.matchAll(LINK)) {
      const target = normalize(join(dirname(file), m[1]!));
      if (!existsSync(target)) bad.push(`${m[1]!} (link)`);
    }
  }
  for (const m of text.matchAll(FOREIGN)) bad.push(`${m[0].replace(/[.,]+$/, '')} (not in the repository)`);
  return bad;
}

describe('citations', () => {
  it('finds cited paths in comments and documents', () => {
    // The scan must see something to check, or a broken pattern would pass silently.
    const cited = pieces().flatMap((p) => [...p.text.matchAll(ROOTED)]);
    assert.ok(cited.length > 50, `only ${cited.length} cited paths found`);
    assert.deepEqual(missing('src/x.ts', '// see docs/no-such.md and design/x.md.'), [
      'docs/no-such.md',
      'design/x.md (not in the repository)',
    ]);
    assert.deepEqual(missing('src/x.ts', '// src/{cli,config}/nope.ts, /etc/src/x, out/src/y'), [
      'src/cli/nope.ts',
      'src/config/nope.ts',
    ]);
  });

  it('every path a comment or document cites exists', () => {
    const broken = pieces().flatMap((p) =>
      missing(p.file, p.text).map((path) => `${p.file}:${p.line}: ${path}`),
    );
    assert.deepEqual(broken, []);
  });
});
