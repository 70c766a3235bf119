/**
 * Model commands: `inspect`, `logprobs` (our engine or llama.cpp), `generate`, `convert` (Hugging Face -> GGUF).
 */
import type { Command } from 'commander';
import fs from 'node:fs';
import { CausalLM, sequenceLogprobs } from '../model/model.ts';
import { decodeContinuation, generateTokens } from '../model/generate.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import { listGroups, resolveFilter } from '../model/paramGroups.ts';
import { llamaCppLogprobs } from '../model/llamacppLogprobs.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { commanderOption, readOptions, SAMPLING } from '../options/index.ts';

function loadModelWithTokenizer(path: string): { model: CausalLM; tokenizer: Tokenizer } {
  if (!fs.existsSync(path)) throw new UserError(`model file ${path} does not exist`);
  if (!fs.statSync(path).isFile()) throw new UserError(`${path} is ${fs.statSync(path).isDirectory() ? 'a folder' : 'not a regular file'}, not a GGUF model file`);
  const model = CausalLM.load(path);
  const tokenizer = tokenizerFromGguf(model.file!);
  return { model, tokenizer };
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('architecture, sizes and parameter groups of a GGUF model')
    .argument('<model>', 'GGUF file')
    .option('--json', 'print JSON')
    .action((path: string, o: { json?: boolean }) => {
      const { model, tokenizer } = loadModelWithTokenizer(path);
      const c = model.config;
      const groups = listGroups(c).map((g) => {
        const names = resolveFilter(g, c);
        return { group: g, tensors: names.length, parameters: names.reduce((s, n) => s + model.weights.get(n)!.ne.reduce((a, b) => a * b, 1), 0) };
      });
      const info = { path, config: c, parameters: model.parameterCount, vocab: tokenizer.vocabSize, tensorTypes: model.tensorTypes, quantizedTensors: model.quantizedTensors, groups };
      if (o.json) return void process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      const lines = [
        `${path}: ${c.arch}, ${model.parameterCount.toLocaleString('en-US')} parameters`,
        `  embedding ${c.nEmbd}, ${c.nLayer} blocks, ${c.nHead} heads (${c.nHeadKv} KV), ffn ${c.nFf}, vocab ${c.nVocab}, context ${c.nCtx}` +
          (c.arch === 'llama' ? `, rope dims ${c.ropeDims} base ${c.ropeFreqBase}` : '') +
          `, ${c.tiedOutput ? 'tied' : 'separate'} output`,
      ];
      lines.push(`  tensor types: ${Object.entries(model.tensorTypes).map(([t, n]) => `${n} ${t}`).join(', ')}`);
      if (model.quantizedTensors.length) lines.push(`  ${model.quantizedTensors.length} tensors stored in reduced precision (evaluated in that type); training dequantises them to F32`);
      lines.push('  parameter groups (layer targets):');
      for (const g of groups) lines.push(`    ${g.group.padEnd(16)} ${String(g.tensors).padStart(3)} tensors ${g.parameters.toLocaleString('en-US').padStart(12)} parameters`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('logprobs')
    .description('per-token log-probabilities of a text, from our engine or from llama.cpp')
    .requiredOption('--model <gguf>', 'model file')
    .requiredOption('--text <text>', 'text to score (BOS is prepended when the model uses one)')
    .option('--engine <engine>', 'ours | llama.cpp', 'ours')
    .option('--lora <adapter...>', 'LoRA adapter GGUF(s) (llama.cpp engine)')
    .option('--json', 'print JSON')
    .addOption(deviceOption())
    .action(async (o: { model: string; text: string; engine: string; lora?: string[]; json?: boolean; device?: string }) => {
      resolveDevice(o);
      if (o.engine !== 'ours' && o.engine !== 'llama.cpp') throw new UserError(`unknown engine '${o.engine}'; use ours or llama.cpp`);
      const { model, tokenizer } = loadModelWithTokenizer(o.model);
      const tokens = tokenizer.encode(o.text, { addBos: true });
      if (tokens.length < 2) throw new UserError('the text must give at least one token after BOS');
      let lps: number[];
      if (o.engine === 'ours') {
        if (o.lora?.length) throw new UserError('--lora applies to --engine llama.cpp; for our engine, merge the adapter first');
        lps = sequenceLogprobs(model, tokens);
      } else {
        const r = await llamaCppLogprobs(o.model, tokens, { lora: o.lora?.map((filePath) => ({ filePath })) });
        lps = Array.from(r.logprobs);
      }
      const total = lps.reduce((a, b) => a + b, 0);
      const ppl = Math.exp(-total / lps.length);
      const rows = lps.map((lp, i) => ({ token: tokens[i + 1]!, text: tokenizer.decode([tokens[i + 1]!]), logprob: lp }));
      if (o.json) return void process.stdout.write(JSON.stringify({ engine: o.engine, tokens: rows, sum: total, perplexity: ppl }, null, 2) + '\n');
      for (const r of rows) process.stdout.write(`${String(r.token).padStart(6)} ${JSON.stringify(r.text).padEnd(16)} ${r.logprob.toFixed(6)}\n`);
      process.stdout.write(`engine ${o.engine}: ${rows.length} tokens, sum ${total.toFixed(6)}, perplexity ${ppl.toFixed(4)}\n`);
    });

  const gen = program
    .command('generate')
    .description('generate text with our engine')
    .requiredOption('--model <gguf>', 'model file')
    .option('--prompt <text>', 'prompt (default: start from BOS)', '')
    .addOption(commanderOption(SAMPLING.maxTokens))
    .option('--greedy', 'argmax decoding (default)')
    .addOption(commanderOption(SAMPLING.temperature))
    .addOption(commanderOption(SAMPLING.topK))
    .addOption(commanderOption(SAMPLING.seed))
    .option('--json', 'print JSON')
    .addOption(deviceOption());
  gen.action((o: { model: string; prompt: string; maxTokens: string; temperature?: string; topK?: string; seed: string; json?: boolean; device?: string }) => {
      // every sampling value checked (src/options SAMPLING) before the model loads
      resolveDevice(o, { engine: 'none' });
      const v = readOptions({ maxTokens: SAMPLING.maxTokens, temperature: SAMPLING.temperature, topK: SAMPLING.topK, seed: SAMPLING.seed }, o);
      resolveDevice(o);
      const { model, tokenizer } = loadModelWithTokenizer(o.model);
      const prompt = tokenizer.encode(o.prompt, { addBos: true });
      const out = generateTokens(model, [prompt], {
        maxTokens: v.maxTokens!,
        greedy: v.temperature === undefined,
        temperature: v.temperature,
        topK: v.topK,
        seed: v.seed,
        stopIds: [tokenizer.eos],
      })[0]!;
      // decoded after the prompt, not alone: its first token's leading space is kept ("The horse", not "Thehorse")
      const text = decodeContinuation(tokenizer, prompt, out.filter((t) => t !== tokenizer.eos));
      if (o.json) return void process.stdout.write(JSON.stringify({ prompt: o.prompt, tokens: out, text }, null, 2) + '\n');
      process.stdout.write(o.prompt + text + '\n');
    });

  program
    .command('convert')
    .description(
      'convert a Hugging Face folder (config.json, model.safetensors or shards, tokenizer.json) to GGUF, as llama.cpp\'s convert_hf_to_gguf.py does. ' +
        'Architectures: LlamaForCausalLM (LLaMA 1-3, SmolLM2; rope_scaling none, linear or llama3), Qwen2ForCausalLM (Qwen2/2.5) and ' +
        'Qwen3ForCausalLM (rope_scaling none or linear), GPT2LMHeadModel. Other rope scalings (yarn, dynamic, longrope), sliding-window ' +
        'attention, biases the class does not have and quantized checkpoints are refused',
    )
    .argument('<hf-folder>', 'Hugging Face model folder')
    .argument('<out>', 'output .gguf file')
    .option('--outtype <type>', 'type of the weight matrices: f32 | f16 | bf16 | q8_0 (norms, biases and positions stay f32)', 'f32')
    .option('--name <name>', 'general.name (default: the folder name)')
    .option('--json', 'print JSON')
    .action(async (dir: string, out: string, o: { outtype: string; name?: string; json?: boolean }) => {
      const { convertHfToGguf, OUT_TYPES } = await import('../model/convert/index.ts');
      const outtype = o.outtype.toLowerCase();
      if (!(OUT_TYPES as readonly string[]).includes(outtype)) throw new UserError(`unknown --outtype '${o.outtype}'; use one of ${OUT_TYPES.join(', ')}`);
      const r = await convertHfToGguf(dir, out, { outtype: outtype as (typeof OUT_TYPES)[number], name: o.name });
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      const lines = [
        `${r.hfArchitecture} -> ${r.arch} GGUF ${out}: ${r.tensors.length} tensors, ${r.parameters.toLocaleString('en-US')} parameters, weights ${r.outtype}` +
          `, ${r.tiedOutput ? 'tied' : 'separate'} output`,
        `  tokenizer: ${r.tokenizer.model} (pre ${r.tokenizer.pre}), ${r.tokenizer.tokens} tokens, from ${r.tokenizer.source}`,
      ];
      for (const d of r.dropped) lines.push(`  dropped ${d.hfName}: ${d.why}`);
      for (const w of r.warnings) lines.push(`  warning: ${w}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
