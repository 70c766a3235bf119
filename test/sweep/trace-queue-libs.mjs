// Preload for tests (node --import tsx --import ./trace-queue-libs.mjs ...): writes
// `QUEUE_LIB_LOADED <url>` to stderr when the process loads bullmq or ioredis, so a test can check
// that only the queue code loads them (src/sweep/queue.ts imports them dynamically).
import { register } from 'node:module';

const hooks = `
import fs from 'node:fs';
export async function load(url, context, next) {
  if (/[\\\\/]node_modules[\\\\/](bullmq|ioredis)[\\\\/]/.test(url)) fs.writeSync(2, 'QUEUE_LIB_LOADED ' + url + '\\n');
  return next(url, context);
}
`;
register('data:text/javascript,' + encodeURIComponent(hooks));
