// The bundle gets the package version at build time (build/build.mjs defines __SKIP_VERSION__).
declare const __SKIP_VERSION__: string | undefined;
export const VERSION: string = typeof __SKIP_VERSION__ === 'string' ? __SKIP_VERSION__ : 'dev';
