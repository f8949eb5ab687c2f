// One test file, or one test name, in seconds while developing: compiles src and test with tsc
// (incremental, like `npm run compile`), builds the bundle only when an end-to-end file is among
// them, and runs the files under the system Node alone (no runtime matrix, no executables; that
// is test/run.mjs).
// Usage: npm run test:quick -- FILE [NAME]   the test files whose path contains FILE, only the
//                                            tests whose name matches the pattern NAME
//        npm run test:quick -- --name NAME   the test files whose source contains NAME as written
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const usage = 'usage: npm run test:quick -- FILE [NAME]  |  npm run test:quick -- --name NAME';
const args = process.argv.slice(2);
const byName = args[0] === '--name';
const [file, name] = byName ? [undefined, args[1]] : args;
if ((byName ? name : file) === undefined || args.length > 2) {
  console.error(usage);
  process.exit(2);
}

const sources = readdirSync('test', { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => join('test', f));
const chosen = byName
  ? sources.filter((f) => readFileSync(f, 'utf8').includes(name))
  : sources.filter((f) => f.includes(file));
if (chosen.length === 0) {
  console.error(byName ? `no test file contains '${name}'` : `no test file's path contains '${file}'`);
  process.exit(1);
}

const run = (what, argv) => {
  const started = Date.now();
  const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  console.log(`# ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
};

run('tsc', [
  'node_modules/typescript/bin/tsc',
  '-p',
  'tsconfig.json',
  '--incremental',
  '--tsBuildInfoFile',
  'out/tsconfig.tsbuildinfo',
]);
if (chosen.some((f) => /\.e2e\.test\.ts$/.test(f))) run('bundle', ['build/build.mjs']);

const compiled = chosen.map((f) => join('out', f.replace(/\.ts$/, '.js')));
console.log(
  `# quick run under the system Node ${process.version}: ${compiled.join(' ')}` +
    (name === undefined ? '' : ` (tests matching /${name}/)`),
);
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    ...(name === undefined ? [] : [`--test-name-pattern=${name}`]),
    ...compiled,
  ],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
