// Bundles src/main.ts into one CommonJS file, dist/skip-server.js, that runs on Node >= 20 with
// nothing beside it (CommonJS so it runs from any folder, and so Node's SEA can embed it).
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/skip-server.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: false,
  sourcemap: false,
  legalComments: 'inline',
  banner: { js: '#!/usr/bin/env node' },
  define: { __SKIP_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
  charset: 'ascii',
});

// ASCII only: one non-ASCII character makes V8 keep the whole source as a two-byte string
// (twice the memory, held for the life of the process). charset 'ascii' escapes strings, regular
// expressions and names; what is left can only be in comments esbuild keeps, so it is replaced.
const out = readFileSync('dist/skip-server.js', 'utf8');
writeFileSync('dist/skip-server.js', out.replace(/[\u0080-\uffff]/g, '?'));

// Inside this repo package.json says "type": "module"; the bundle is CommonJS.
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
