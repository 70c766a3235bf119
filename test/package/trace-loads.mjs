// Preload for tests (node --import tsx --import ./trace-loads.mjs ...): writes `LOADED <url>` to
// stderr for every module of the project's src/ that the process loads, so a test can check which
// modules a command line imported (the CLI imports a command module only when it is used).
import { register } from 'node:module';

const hooks = `
import fs from 'node:fs';
export async function load(url, context, next) {
  if (url.includes('/src/')) fs.writeSync(2, 'LOADED ' + url + '\\n');
  return next(url, context);
}
`;
register('data:text/javascript,' + encodeURIComponent(hooks));
