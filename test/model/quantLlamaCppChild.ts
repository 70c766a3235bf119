/**
 * Child process for test/model/quantize.test.ts: quantises a GGUF with llama.cpp's own
 * `llama_model_quantize` (exported by node-llama-cpp's libllama, the build whose kernels our engine
 * runs), called through koffi. A child because llama.cpp logs every tensor to stderr and aborts the
 * process on internal errors.
 *
 *   node --import tsx quantLlamaCppChild.ts JOBS.json
 * with JOBS.json an array of { input, output, ftype, pure?, allowRequantize? }; prints one line of
 * JSON per job, `{"output": ..., "rc": <llama_model_quantize's return value>}`.
 */
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { chooseBinsDir } from '../../src/engine/loader.ts';

interface Job {
  input: string;
  output: string;
  ftype: number;
  pure?: boolean;
  allowRequantize?: boolean;
}
const jobs = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Job[];
const dir = chooseBinsDir('cpu').dir;
const file = fs.readdirSync(dir).find((f) => /^libllama(\.v[\d.]+)?\.so$/.test(f));
if (!file) throw new Error(`no libllama*.so in ${dir}`);
const lib = koffi.load(path.join(dir, file));

// struct llama_model_quantize_params of include/llama.h
koffi.struct('llama_model_quantize_params', {
  nthread: 'int32_t',
  ftype: 'int',
  output_tensor_type: 'int',
  token_embedding_type: 'int',
  allow_requantize: 'bool',
  quantize_output_tensor: 'bool',
  only_copy: 'bool',
  pure: 'bool',
  keep_split: 'bool',
  dry_run: 'bool',
  imatrix: 'void*',
  kv_overrides: 'void*',
  tt_overrides: 'void*',
  prune_layers: 'void*',
  max_buf_size: 'size_t',
});
const defaults = lib.func('llama_model_quantize_params llama_model_quantize_default_params()');
const quantize = lib.func('uint32_t llama_model_quantize(const char* fname_inp, const char* fname_out, const llama_model_quantize_params* params)');
lib.func('void llama_backend_init()')();

for (const job of jobs) {
  const params = defaults() as Record<string, unknown>;
  params.nthread = 1;
  params.ftype = job.ftype;
  params.pure = !!job.pure;
  params.allow_requantize = !!job.allowRequantize;
  const rc = quantize(job.input, job.output, params);
  process.stdout.write(JSON.stringify({ output: job.output, rc }) + '\n');
}
