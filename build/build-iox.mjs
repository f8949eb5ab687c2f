// IOx packages without Docker (npm run build:iox): for x86_64 and aarch64, a directory that
// Cisco's `ioxclient package DIR` turns into an IOx package:
//   dist/iox/<arch>/package.yaml   iox/package.yaml with this cpuarch
//   dist/iox/<arch>/rootfs.tar     assembled directly: the single executable, the shared
//                                  libraries it links (its ELF interpreter and every DT_NEEDED,
//                                  transitively, from this machine's glibc for that arch),
//                                  /etc/passwd and /etc/group with the non-root user skip
//                                  (uid 10001), /data/appdata (the IOx volume), /tmp
// The executable carries cap_net_bind_service (port 443 without root) as a file capability in
// the tar's xattrs, when setcap exists (libcap2-bin; .ci/run installs it); else a warning.
// Libraries come from /lib/x86_64-linux-gnu and, for arm64, Debian's cross packages under
// /usr/aarch64-linux-gnu (libc6-arm64-cross, libstdc++6-arm64-cross, libgcc-s1-arm64-cross, libatomic1-arm64-cross).
// Needs readelf (binutils) and GNU tar. Run after npm run build:exe. An architecture that cannot be
// built here (no readelf, no glibc for it) gets dist/iox/<arch>/SKIPPED with the reason instead,
// and the tests skip it saying so.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const ARCHES = {
  x86_64: {
    exe: 'dist/skip-server-linux-x64',
    libDirs: ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu'],
    into: '/lib/x86_64-linux-gnu',
  },
  aarch64: {
    exe: 'dist/skip-server-linux-arm64',
    libDirs: ['/usr/aarch64-linux-gnu/lib', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'],
    into: '/lib/aarch64-linux-gnu',
  },
};
const UID = 10001;
const LIB_PACKAGES = {
  x86_64: 'libc6 libstdc++6 libgcc-s1',
  aarch64:
    'apt-get install libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross libatomic1-arm64-cross',
};
/** An architecture this machine cannot build for: written down, so the tests say why they skip. */
class Skip extends Error {}
const die = (msg) => {
  console.error(`build-iox: ${msg}`);
  process.exit(1);
};

/** The ELF interpreter and DT_NEEDED names of `file`, from readelf. */
export function elfDeps(file) {
  const out = execFileSync('readelf', ['-ldW', file], { encoding: 'utf8' });
  return {
    interpreter: /Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1],
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]),
  };
}

function build(arch) {
  const { exe, libDirs, into } = ARCHES[arch];
  if (!existsSync(exe)) die(`${exe} is missing: run npm run build:exe first`);
  const out = join('dist', 'iox', arch);
  const stage = join(out, 'rootfs');
  rmSync(out, { recursive: true, force: true });
  for (const d of ['usr/local/bin', 'etc', 'data/appdata', 'tmp', into.slice(1)])
    mkdirSync(join(stage, d), { recursive: true });
  copyFileSync(exe, join(stage, 'usr/local/bin/skip-server'));
  chmodSync(join(stage, 'usr/local/bin/skip-server'), 0o755);

  // The interpreter at its absolute path; every needed library, transitively, in `into`.
  const { interpreter, needed } = elfDeps(exe);
  if (!interpreter) die(`${exe} has no ELF interpreter`);
  const find = (name) => {
    for (const d of libDirs) if (existsSync(join(d, name))) return realpathSync(join(d, name));
    throw new Skip(
      `${name} not found in ${libDirs.join(', ')} (Debian: ${LIB_PACKAGES[arch]}; .ci/run installs them)`,
    );
  };
  const interpSource = find(basename(interpreter));
  mkdirSync(join(stage, dirname(interpreter)), { recursive: true });
  copyFileSync(interpSource, join(stage, interpreter));
  const seen = new Set([basename(interpreter)]);
  const queue = [...needed];
  while (queue.length > 0) {
    const name = queue.shift();
    if (seen.has(name)) continue;
    seen.add(name);
    const src = find(name);
    copyFileSync(src, join(stage, into, name));
    queue.push(...elfDeps(src).needed);
  }

  writeFileSync(
    join(stage, 'etc/passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\nskip:x:${UID}:${UID}:skip-server:/data/appdata:/usr/sbin/nologin\n`,
  );
  writeFileSync(join(stage, 'etc/group'), `root:x:0:\nskip:x:${UID}:\n`);
  chmodSync(join(stage, 'tmp'), 0o1777);
  chmodSync(join(stage, 'data/appdata'), 0o750);

  const setcap = spawnSync('setcap', ['cap_net_bind_service=+ep', join(stage, 'usr/local/bin/skip-server')]);
  if (setcap.status !== 0)
    console.warn(
      `build-iox: setcap failed or is missing (apt-get install libcap2-bin): ${arch} cannot bind 443 as skip`,
    );

  // Reproducible: sorted names, fixed times, numeric owners; /data/appdata belongs to skip.
  const tar = join(out, 'rootfs.tar');
  const common = [
    '--sort=name',
    '--mtime=@0',
    '--numeric-owner',
    '--format=posix',
    '--xattrs',
    '--xattrs-include=security.capability',
    '--pax-option=delete=atime,delete=ctime',
  ];
  execFileSync('tar', [
    '-cf',
    tar,
    ...common,
    '--owner=0',
    '--group=0',
    '--exclude=./data/appdata',
    '-C',
    stage,
    '.',
  ]);
  execFileSync('tar', [
    '-rf',
    tar,
    ...common,
    `--owner=${UID}`,
    `--group=${UID}`,
    '-C',
    stage,
    './data/appdata',
  ]);
  rmSync(stage, { recursive: true, force: true });

  const descriptor = readFileSync('iox/package.yaml', 'utf8').replace(
    /cpuarch: '[^']*'/,
    `cpuarch: '${arch}'`,
  );
  writeFileSync(join(out, 'package.yaml'), descriptor);
  console.log(`${out}: rootfs.tar with ${seen.size} libraries (${[...seen].join(' ')}), package.yaml`);
}

const noReadelf = spawnSync('readelf', ['--version']).status !== 0;
for (const arch of Object.keys(ARCHES)) {
  const out = join('dist', 'iox', arch);
  try {
    if (noReadelf) throw new Skip('readelf is missing (apt-get install binutils; .ci/run installs it)');
    build(arch);
  } catch (e) {
    if (!(e instanceof Skip)) throw e;
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'SKIPPED'), `${e.message}\n`);
    console.warn(`build-iox: ${arch} NOT built: ${e.message}`);
  }
}
