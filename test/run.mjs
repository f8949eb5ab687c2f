// Runs the compiled tests (out/test) in phases and reports each one truthfully:
//   1. every test file under the system Node (20);
//   2. the files that touch the runtime (ML-KEM, PEM files, TLS listeners, peer exchange, CLI)
//      under Node 22, 24 and 26, installed by `npm ci` from the npm registry (pinned dev
//      dependencies); where the runtime has native ML-KEM (24, 26) the suites must use it;
//   3. the bundle's end-to-end files again with the single executables: x64 natively, arm64
//      under qemu-user with Debian's arm64 cross libraries (.ci/run installs them);
//   4. the encryptor API suite from the unpacked IOx rootfs of each architecture.
// A file's phases come from its name and its first line (`// phases: runtime, exe, arm64, iox`;
// test/helpers/phases.ts), so there is no list of files here. Phase 1 runs every test once; the
// later phases rerun some of them, and the summary counts those as reruns.
// A phase that cannot run says "skipped: why"; the exit status reflects every phase; the last
// line counts tests passed, failed and skipped over all phases.
// Usage: node test/run.mjs [--list] [substring ...]   (only the test files whose path contains
// one; --list prints which files each phase would run and runs nothing)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { RUNTIMES } from '../out/test/helpers/runtimes.js';
import { classify } from '../out/test/helpers/phases.js';

const dir = 'out/test';
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => join(dir, f));
const args = process.argv.slice(2);
const listOnly = args.includes('--list');
const filter = args.filter((a) => a !== '--list');
const chosen = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
const tagged = classify(chosen);

const show = (list) => (list.length ? list.map((f) => basename(f, '.test.js')).join(', ') : 'none');
console.log(
  filter.length
    ? `# filtered by ${filter.map((x) => `'${x}'`).join(' or ')}: ${chosen.length} of ${files.length} test files`
    : `# all ${files.length} test files`,
);
console.log(`#   system Node ${process.version}: ${filter.length ? show(chosen) : 'every file'}`);
console.log(`#   runtime (${Object.keys(RUNTIMES).join(', ')}): ${show(tagged.runtime)}`);
console.log(`#   exe (x64 executable): ${show(tagged.exe)}`);
console.log(`#   arm64 (arm64 executable under qemu): ${show(tagged.arm64)}`);
console.log(`#   iox (IOx rootfs, x86_64 and aarch64): ${show(tagged.iox)}`);
if (listOnly) process.exit(0);
if (chosen.length === 0) {
  console.log(`\nno test file matches ${filter.join(' or ')}\n\n0 passed, 0 failed, 0 skipped`);
  process.exit(1);
}

const NATIVE_KEM = new Set(['Node 24', 'Node 26']);

const totals = { passed: 0, failed: 0, skipped: 0 };
/** The part of `totals` from phases after the first: the same tests run again. */
const reruns = { passed: 0, failed: 0, skipped: 0 };
const phases = [];
let failedPhases = 0;
const tapDir = mkdtempSync(join(tmpdir(), 'skip-test-tap-'));

/** Runs `list` under `node` with the spec reporter on the terminal and TAP into a file whose
 * summary gives the counts; every phase after the first reruns tests the first one ran. */
function runPhase(name, node, list, env = {}) {
  if (list.length === 0) return;
  const rerun = phases.length > 0;
  console.log(`\n# phase: ${name}: ${list.length} file(s) under ${node}: ${show(list)}`);
  const tap = join(tapDir, `${phases.length}.tap`);
  const r = spawnSync(
    node,
    [
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...list,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (label) => Number(text.match(new RegExp(`^# ${label} (\\d+)$`, 'm'))?.[1] ?? 0);
  const c = { passed: count('pass'), failed: count('fail'), skipped: count('skipped') };
  const todo = count('todo');
  const ok = r.status === 0 && c.failed === 0 && text !== '';
  if (!ok) failedPhases++;
  for (const k of Object.keys(totals)) totals[k] += c[k];
  if (rerun) for (const k of Object.keys(reruns)) reruns[k] += c[k];
  phases.push(
    `${ok ? 'ran' : 'FAILED'}: ${name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped` +
      (todo > 0 ? `, ${todo} todo` : '') +
      (rerun ? ' (reruns)' : '') +
      (r.status !== 0 && c.failed === 0 ? ` (exit status ${r.status ?? r.signal})` : ''),
  );
}

function skipPhase(name, why) {
  console.log(`\n# phase: ${name}: skipped: ${why}`);
  phases.push(`skipped: ${name}: ${why}`);
}

/** A phase that must run: missing prerequisites fail the run, not just skip it. */
function requirePhase(name, why) {
  console.log(`\n# phase: ${name}: FAILED: ${why}`);
  phases.push(`FAILED: ${name}: ${why}`);
  failedPhases++;
}

// 1. Everything under the system Node.
runPhase(`${filter.length ? 'filtered' : 'all'} tests, ${process.version}`, process.execPath, chosen);

// 2. The runtime matrix: the runtime files.
for (const [name, node] of Object.entries(RUNTIMES)) {
  const list = tagged.runtime;
  if (list.length === 0) continue;
  if (!existsSync(node)) {
    requirePhase(name, `${node} is missing (npm ci installs it)`);
    continue;
  }
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  runPhase(
    `runtime suites, ${name} (${version})`,
    node,
    list,
    NATIVE_KEM.has(name) ? { SKIP_REQUIRE_NATIVE_KEM: '1' } : {},
  );
}

// 3. The single executables (npm run build:exe).
const x64 = 'dist/skip-server-linux-x64';
const arm64 = 'dist/skip-server-linux-arm64';
if (tagged.exe.length > 0) {
  if (!existsSync(x64)) requirePhase('x64 executable', `${x64} is missing (npm run build:exe)`);
  else runPhase(`x64 executable ${x64}`, process.execPath, tagged.exe, { SKIP_TEST_EXE: x64 });
}
if (tagged.arm64.length > 0) {
  const sysroot = '/usr/aarch64-linux-gnu';
  const qemu = spawnSync('qemu-aarch64', ['--version']).status === 0;
  const missing = ['libstdc++.so.6', 'libatomic.so.1'].find((l) => !existsSync(`${sysroot}/lib/${l}`));
  if (!existsSync(arm64)) requirePhase('arm64 executable', `${arm64} is missing (npm run build:exe)`);
  else if (!qemu || missing) {
    skipPhase(
      'arm64 executable under qemu-aarch64',
      `${!qemu ? 'qemu-aarch64 is not installed' : `${sysroot} has no arm64 ${missing}`} ` +
        '(apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross; .ci/run does)',
    );
  } else {
    runPhase(`arm64 executable ${arm64} under qemu-aarch64`, process.execPath, tagged.arm64, {
      SKIP_TEST_EXE: `qemu-aarch64 -L ${sysroot} ${arm64}`,
    });
  }
}

// 4. The IOx rootfs (npm run build:iox), unpacked and run as the router would: the iox files
//    with the x64 executable under chroot (the test's files are reached through a
//    link inside the rootfs that points at its own root) and the arm64 one under qemu -L.
if (tagged.iox.length > 0) {
  for (const arch of ['x86_64', 'aarch64']) {
    const tar = `dist/iox/${arch}/rootfs.tar`;
    const name = `IOx rootfs ${arch}`;
    const skipped = `dist/iox/${arch}/SKIPPED`;
    if (existsSync(skipped)) {
      skipPhase(name, `npm run build:iox skipped it: ${readFileSync(skipped, 'utf8').trim()}`);
      continue;
    }
    if (!existsSync(tar)) {
      requirePhase(name, `${tar} is missing (npm run build:iox)`);
      continue;
    }
    if (arch === 'x86_64' && process.getuid?.() !== 0) {
      skipPhase(name, 'chroot needs root (CI runs as root)');
      continue;
    }
    if (arch === 'aarch64' && spawnSync('qemu-aarch64', ['--version']).status !== 0) {
      skipPhase(name, 'qemu-aarch64 is not installed (apt-get install qemu-user; .ci/run does)');
      continue;
    }
    const root = mkdtempSync(join(tmpdir(), 'skip-rootfs-'));
    spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', tar, '-C', root], { stdio: 'inherit' });
    const exe = '/usr/local/bin/skip-server';
    if (arch === 'x86_64') {
      mkdirSync(join(root, dirname(root)), { recursive: true });
      symlinkSync('/', join(root, root));
      runPhase(`${name} under chroot`, process.execPath, tagged.iox, {
        SKIP_TEST_EXE: `chroot ${root} ${exe}`,
        TMPDIR: join(root, 'tmp'),
      });
    } else {
      runPhase(`${name} under qemu-aarch64 -L`, process.execPath, tagged.iox, {
        SKIP_TEST_EXE: `qemu-aarch64 -L ${root} ${root}${exe}`,
      });
    }
    rmSync(root, { recursive: true, force: true });
  }
}

rmSync(tapDir, { recursive: true, force: true });
console.log('\n# phases');
for (const p of phases) console.log(`#   ${p}`);
console.log(
  `\n# of the ${totals.passed} passes, ${totals.passed - reruns.passed} are distinct tests (the ` +
    `system Node phase) and ${reruns.passed} are reruns under other runtimes and executables`,
);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedPhases > 0 || totals.failed > 0 ? 1 : 0);
