/**
 * The child process of `bench eval` (benchEval.ts runs one per job, so that each model's peak RSS
 * is its own and a model's memory is returned before the next one):
 *
 *   node <loader flags> evalChild.ts make|measure <request.json> <result.json>
 *
 * `make` writes a shape's random model (makeModel), `measure` measures one model (measureModel).
 * The result file holds { ok: true, result } or { ok: false, error: { name, message } }; progress
 * lines go to stderr.
 */
import { makeModel, measureModel, type MeasureRequest } from './eval.ts';
import fs from 'node:fs';
import { writeJsonAtomic } from '../util/fs.ts';

const [job, reqFile, resFile] = process.argv.slice(2);
if ((job !== 'make' && job !== 'measure') || !reqFile || !resFile) {
  process.stderr.write('usage: evalChild.ts make|measure <request.json> <result.json>\n');
  process.exit(2);
}
const req = JSON.parse(fs.readFileSync(reqFile, 'utf8'));
try {
  const result = job === 'make' ? makeModel(req) : await measureModel(req as MeasureRequest, (l) => process.stderr.write(l + '\n'));
  writeJsonAtomic(resFile, { ok: true, result: result ?? null });
} catch (e) {
  const err = e as Error;
  writeJsonAtomic(resFile, { ok: false, error: { name: err.name, message: err.message } });
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
}
// node-llama-cpp's process-wide instance keeps the event loop alive: the job is done
process.exit();
