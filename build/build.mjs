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
});

// Inside this repo package.json says "type": "module"; the bundle is CommonJS.
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
