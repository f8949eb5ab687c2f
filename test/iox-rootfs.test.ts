// The IOx packages built without Docker (npm run build:iox, part of npm test): each rootfs.tar
// holds the executable for its architecture, its ELF interpreter and every library it needs
// (each ELF of the right machine), the non-root user, the data volume's mount point, and the
// capability to bind 443; package.yaml is valid and names the architecture. The executable
// runs from the unpacked rootfs: chroot for x86_64 (root), qemu-aarch64 -L for aarch64.
// test/run.mjs then runs the encryptor API suite from each unpacked rootfs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import AjvDraft04 from 'ajv-draft-04';
import { parse } from 'yaml';

const ARCHES = {
  x86_64: { machine: 62, libDir: 'lib/x86_64-linux-gnu' },
  aarch64: { machine: 183, libDir: 'lib/aarch64-linux-gnu' },
} as const;

/** e_machine of an ELF file, or undefined when it is not ELF. */
function elfMachine(file: string): number | undefined {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    if (readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return h.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => lstatSync(f).isFile());
}

const readelf = spawnSync('readelf', ['--version']).status === 0;

for (const [arch, { machine, libDir }] of Object.entries(ARCHES)) {
  describe(`IOx package for ${arch}`, () => {
    const out = join('dist', 'iox', arch);
    const skipped = existsSync(join(out, 'SKIPPED'))
      ? readFileSync(join(out, 'SKIPPED'), 'utf8').trim()
      : undefined;

    it('has a rootfs whose every ELF is for this machine, with its interpreter and libraries inside', (t) => {
      if (skipped !== undefined) return t.skip(`npm run build:iox skipped ${arch}: ${skipped}`);
      if (!readelf) return t.skip('readelf is not installed (binutils; .ci/run installs it)');
      const root = mkdtempSync(join(tmpdir(), 'skip-rootfs-'));
      t.after(() => rmSync(root, { recursive: true, force: true }));
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', join(out, 'rootfs.tar'), '-C', root]);
      const elves = walk(root).filter((f) => elfMachine(f) !== undefined);
      assert.ok(
        elves.some((f) => f.endsWith('/usr/local/bin/skip-server')),
        'no executable',
      );
      const infos = elves.map(
        (f) => [f, execFileSync('readelf', ['-ldW', f], { encoding: 'utf8' })] as const,
      );
      // The loader is already in memory when a library names it, so its own path satisfies it.
      const loaders = new Map<string, string>();
      for (const [f, info] of infos) {
        assert.equal(elfMachine(f), machine, `${f} is for another machine`);
        const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(info)?.[1];
        if (interp === undefined) continue;
        assert.ok(existsSync(join(root, interp)), `${f}: interpreter ${interp} missing`);
        loaders.set(interp.slice(interp.lastIndexOf('/') + 1), interp);
      }
      assert.ok(loaders.size > 0, 'no ELF names an interpreter');
      for (const [f, info] of infos) {
        for (const m of info.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
          const lib = m[1]!;
          assert.ok(existsSync(join(root, libDir, lib)) || loaders.has(lib), `${f}: ${lib} missing`);
        }
      }
      assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^skip:x:10001:10001:/m);
      assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^skip:x:10001:/m);
      assert.equal(lstatSync(join(root, 'data/appdata')).uid, 10001);
      const exe = join(root, 'usr/local/bin/skip-server');
      if (spawnSync('getcap', ['-h']).error === undefined)
        assert.match(execFileSync('getcap', [exe], { encoding: 'utf8' }), /cap_net_bind_service=ep/);

      // It runs from the unpacked rootfs alone.
      const run =
        arch === 'x86_64'
          ? process.getuid?.() === 0
            ? spawnSync('chroot', [root, '/usr/local/bin/skip-server', '--version'], { encoding: 'utf8' })
            : undefined
          : spawnSync('qemu-aarch64', ['--version']).status === 0
            ? spawnSync('qemu-aarch64', ['-L', root, exe, '--version'], { encoding: 'utf8' })
            : undefined;
      if (!run) return t.skip(arch === 'x86_64' ? 'chroot needs root' : 'qemu-aarch64 is not installed');
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^\d+\.\d+\.\d+/);
    });

    it('has a package.yaml valid against the IOx descriptor schemas, naming this architecture', (t) => {
      if (skipped !== undefined) return t.skip(`npm run build:iox skipped ${arch}: ${skipped}`);
      const descriptor = parse(readFileSync(join(out, 'package.yaml'), 'utf8')) as {
        app: { cpuarch: string; env: Record<string, string>; startup: { rootfs: string; user: string } };
      };
      assert.equal(descriptor.app.cpuarch, arch);
      assert.equal(descriptor.app.startup.rootfs, 'rootfs.tar');
      assert.equal(descriptor.app.startup.user, 'skip');
      assert.equal(descriptor.app.env.MALLOC_ARENA_MAX, '2');
      const Ajv = AjvDraft04.default;
      for (const version of ['2.10', '2.17']) {
        const schema = JSON.parse(
          readFileSync(`test/fixtures/iox/package-descriptor-schema-${version}.json`, 'utf8'),
        ) as object;
        const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
        assert.ok(validate(descriptor), `${version}: ${JSON.stringify(validate.errors)}`);
      }
    });
  });
}
