#!/usr/bin/env node
// The `unlearnkit` executable: runs the built CLI (dist/, made by `npm run build`, which `npm ci`
// and `npm install` of a clone run through "prepare"). The tests run the sources instead
// (node --import tsx src/cli.ts).
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli.js')) {
    process.stderr.write('unlearnkit: dist/ is not built; run `npm run build` (or `npm ci`) in the unlearnkit folder\n');
    process.exit(1);
  }
  throw e;
}
await cli.runCli(process.argv);
