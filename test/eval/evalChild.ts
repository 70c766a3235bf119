/**
 * Child process for the resume test (test/eval/evaluate.test.ts): runs evaluate() with the JSON
 * options in argv[2]; the parent kills it part-way.
 */
import { evaluate, type EvaluateOptions } from '../../src/eval/index.ts';

const opts = JSON.parse(process.argv[2]!) as EvaluateOptions;
await evaluate({ ...opts, onProgress: (e) => process.stdout.write(`${e.phase} ${e.metric}\n`) });
process.stdout.write('finished\n');
