// Which phases of test/run.mjs a test file runs in, from its name and its first line. Every test
// file runs under the system Node. A file ending in `.e2e.test.ts` runs the bundle (or, under
// SKIP_TEST_EXE, an executable) end to end. A first line `// phases: runtime, exe` adds phases:
//   runtime  again under each Node of the matrix (test/helpers/runtimes.ts);
//   exe      again against the x64 single executable (.e2e. files only);
//   arm64    again against the arm64 single executable under qemu (.e2e. files only);
//   iox      again from the unpacked IOx rootfs of each architecture (.e2e. files only).
import { readFileSync } from 'node:fs';

export const PHASE_TAGS = ['runtime', 'exe', 'arm64', 'iox'] as const;
export type PhaseTag = (typeof PHASE_TAGS)[number];

/** The tags that run the executables, so they need an end-to-end file. */
const EXE_TAGS: ReadonlySet<PhaseTag> = new Set(['exe', 'arm64', 'iox']);
const TAG_LINE = /^\/\/ phases:(.*)$/;

const isTag = (word: string): word is PhaseTag => (PHASE_TAGS as readonly string[]).includes(word);

/** True for an end-to-end test file (compiled or source). */
export const isE2e = (file: string): boolean => /\.e2e\.test\.[jt]s$/.test(file);

/**
 * The phase tags of one test file, from `text` (its contents). Throws, naming the file, on an
 * unknown tag, a repeated tag, an executable tag on a file that is not `.e2e.`, or a `// phases:`
 * line that is not the first line (it would be ignored).
 */
export function phaseTags(file: string, text: string): PhaseTag[] {
  const lines = text.split('\n');
  const misplaced = lines.findIndex((line, i) => i > 0 && TAG_LINE.test(line));
  if (misplaced > 0) {
    throw new Error(`${file}:${misplaced + 1}: '// phases:' must be the first line of the file`);
  }
  const words = TAG_LINE.exec(lines[0] ?? '')?.[1];
  if (words === undefined) return [];
  const tags: PhaseTag[] = [];
  for (const word of words.split(',').map((w) => w.trim())) {
    if (!isTag(word)) {
      throw new Error(`${file}:1: unknown phase '${word}' (known: ${PHASE_TAGS.join(', ')})`);
    }
    if (tags.includes(word)) throw new Error(`${file}:1: phase '${word}' is named twice`);
    if (EXE_TAGS.has(word) && !isE2e(file)) {
      throw new Error(`${file}:1: phase '${word}' runs the executables: only for *.e2e.test.ts`);
    }
    tags.push(word);
  }
  return tags;
}

/** The files of `files` in each tagged phase, in the order given. */
export function classify(
  files: readonly string[],
  read: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): Record<PhaseTag, string[]> {
  const phases: Record<PhaseTag, string[]> = { runtime: [], exe: [], arm64: [], iox: [] };
  for (const file of files) for (const tag of phaseTags(file, read(file))) phases[tag].push(file);
  return phases;
}
