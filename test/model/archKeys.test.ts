/**
 * Never silently wrong: every GGUF key and tensor llama.cpp reads for our architectures is either
 * implemented (our log-probs equal llama.cpp's with it set to a non-default value) or refused with a
 * UserError naming it.
 *
 * The keys and tensors come from llama.cpp's own source (the build node-llama-cpp ships, read via
 * test/helpers/llamacppSource.ts): the `ml.get_key*` / `get_arr*` calls of
 * llama_model_base::load_hparams in src/llama-model.cpp (branches for other architectures left
 * out) and of each family's load_arch_hparams in src/models/<arch>.cpp, the `create_tensor(tn(...))`
 * calls of its load_arch_tensors (with create_tensor_qkv expanded), and the key and tensor names
 * of src/llama-arch.cpp. Each key must be in the family's key table (src/model/arch/), and is then
 * set to a non-default value in a tiny random model of the family: a 'fixed' key must be refused
 * by name, an 'inert' one must leave our log-probs equal to llama.cpp's (1e-6), a 'read' one must
 * give equal log-probs or a refusal naming it, as this file's table says for it. Each tensor is
 * either one the family loads (then covered by test/model/archFamilies.test.ts) or refused by name.
 * Then one test per refusal kind: rope scaling type, unknown tensor, unknown architecture, unknown
 * `<arch>.*` key.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CausalLM, sequenceLogprobs } from '../../src/model/model.ts';
import { FAMILIES, familyOf, type Architecture } from '../../src/model/arch/registry.ts';
import type { KeyRule } from '../../src/model/arch/types.ts';
import { ggufToWriteSpec, readGguf, writeGguf, type GgufTypeHint, type GgufValue } from '../../src/model/gguf.ts';
import { UserError } from '../../src/util/errors.ts';
import { writeRandomModel, type ModelShape } from '../../src/model/randomModel.ts';
import { readLlamaCppSource } from '../helpers/llamacppSource.ts';
import { llamaLogprobs, maxAbsDiff } from '../helpers/llamacpp.ts';
import { FAMILY_CASES, TINY_VOCAB, randomTokens, tempDir } from './archCases.ts';

const BOUND = 1e-6;
const dir = tempDir('arch-keys');
const ARCHS = Object.keys(FAMILIES) as Architecture[];

// ---------------------------------------------------------------------------------------------
// llama.cpp's source

const archSrc = readLlamaCppSource('src/llama-arch.cpp');
const modelSrc = readLlamaCppSource('src/llama-model.cpp');

/** LLM_KV_* -> "%s.key" and LLM_TENSOR_* -> "blk.%d.name", from llama-arch.cpp's name tables. */
function nameTable(prefix: 'LLM_KV' | 'LLM_TENSOR'): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of archSrc.matchAll(new RegExp(`\\{\\s*(${prefix}_[A-Z0-9_]+)\\s*,\\s*"([^"]+)"\\s*\\}`, 'g'))) out.set(m[1]!, m[2]!);
  return out;
}
const KV_NAMES = nameTable('LLM_KV');
const TENSOR_NAMES = nameTable('LLM_TENSOR');

/** The text between `start` and `end` (exclusive); fails the test when either is missing. */
function between(src: string, start: string, end: string): string {
  const i = src.indexOf(start);
  assert.ok(i >= 0, `llama.cpp source: '${start}' not found`);
  const j = src.indexOf(end, i + start.length);
  assert.ok(j >= 0, `llama.cpp source: '${end}' not found after '${start}'`);
  return src.slice(i + start.length, j);
}

/** Remove `if (...arch == LLM_ARCH_X...) { ... }` blocks whose condition names none of `keep`. */
function dropOtherArchBranches(body: string, keep: string[]): string {
  let out = body;
  for (;;) {
    const m = /if \(([^{;]*arch == LLM_ARCH_[^{;]*)\)\s*\{/.exec(out);
    if (!m) return out;
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < out.length; end++) {
      if (out[end] === '{') depth++;
      else if (out[end] === '}' && --depth === 0) break;
    }
    const cond = m[1]!;
    const ours = keep.some((a) => new RegExp(`\\b${a}\\b`).test(cond));
    // keep the block's body when it applies to one of ours (drop only the `if` line)
    out = out.slice(0, m.index) + (ours ? out.slice(m.index + m[0].length, end) : '') + out.slice(end + 1);
  }
}

const LLM_ARCH: Record<Architecture, string> = { llama: 'LLM_ARCH_LLAMA', qwen2: 'LLM_ARCH_QWEN2', qwen3: 'LLM_ARCH_QWEN3', gpt2: 'LLM_ARCH_GPT2' };

/** The `<arch>.*` keys (without the prefix) llama.cpp reads for a family. */
function llamaCppKeys(arch: Architecture): string[] {
  const generic = dropOtherArchBranches(between(modelSrc, 'void llama_model_base::load_hparams(llama_model_loader & ml) {', 'load_arch_hparams(ml);'), [LLM_ARCH[arch]]);
  const own = between(readLlamaCppSource(`src/models/${arch}.cpp`), `::load_arch_hparams(`, `::load_arch_tensors(`);
  const out = new Set<string>();
  for (const m of (generic + own).matchAll(/\b(?:get_key|get_key_or_arr|get_arr|get_arr_n)\(\s*(LLM_KV_[A-Z0-9_]+)/g)) {
    const name = KV_NAMES.get(m[1]!);
    assert.ok(name, `${m[1]} is not in llama-arch.cpp's LLM_KV_NAMES`);
    if (name.startsWith('%s.')) out.add(name.slice(3));
  }
  return [...out];
}

/** The tensor names (block 0) llama.cpp's load_arch_tensors creates for a family, optional ones included. */
function llamaCppTensors(arch: Architecture): string[] {
  let body = between(readLlamaCppSource(`src/models/${arch}.cpp`), `::load_arch_tensors(`, `::build_arch_graph(`);
  if (body.includes('create_tensor_qkv(')) body += between(modelSrc, 'void llama_model_base::create_tensor_qkv(', 'void llama_model_base::load_swa_pattern');
  const out = new Set<string>();
  for (const m of body.matchAll(/\btn\(\s*(LLM_TENSOR_[A-Z0-9_]+)\s*,\s*"(\w+)"/g)) {
    const name = TENSOR_NAMES.get(m[1]!);
    assert.ok(name, `${m[1]} is not in llama-arch.cpp's LLM_TENSOR_NAMES`);
    out.add(`${name.replaceAll('%d', '0')}.${m[2]}`);
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// Tiny models of each family, with one key changed

const BASE: Record<Architecture, ModelShape> = Object.fromEntries(
  ARCHS.map((a) => [a, { ...FAMILY_CASES.find((c) => c.shape.arch === a)!.shape, nEmbd: 32, nFf: 64, nCtx: 128, ...(a === 'qwen3' ? { headDim: 16 } : {}) }]),
) as Record<Architecture, ModelShape>;

function writeShape(name: string, shape: ModelShape): string {
  const file = path.join(dir, `${name}.gguf`);
  writeRandomModel(file, { shape, vocab: { tiny: TINY_VOCAB }, seed: 5 });
  return file;
}

const baseFiles = new Map<Architecture, string>();
function baseFile(arch: Architecture): string {
  let f = baseFiles.get(arch);
  if (!f) baseFiles.set(arch, (f = writeShape(`${arch}-base`, BASE[arch])));
  return f;
}

/** A copy of the family's base file with metadata keys set (undefined: removed) and extra tensors. */
function withChanges(arch: Architecture, name: string, meta: Array<[string, GgufValue | undefined, GgufTypeHint?]>, extraTensors: string[] = []): string {
  const spec = ggufToWriteSpec(readGguf(baseFile(arch)));
  for (const [k, v, t] of meta) {
    if (v === undefined) spec.metadata.delete(k);
    else spec.metadata.setTyped(k, v, t!);
  }
  for (const n of extraTensors) spec.tensors.push({ name: n, type: 'F32', ne: [8], data: new Float32Array(8).fill(0.5) });
  const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.gguf`);
  writeGguf(file, spec);
  return file;
}

type Variant =
  | { meta: [GgufValue, GgufTypeHint]; expect: 'parity' | 'refuse' }
  | { shape: Partial<ModelShape>; expect: 'parity' };

/** What each key is set to, and what must happen (a 'fixed' key must be refused, an 'inert' one give parity: checked against the rule too). */
function variantFor(arch: Architecture, key: string, rule: KeyRule): Variant | undefined {
  const llamaLike = arch !== 'gpt2';
  const u32 = (v: number, expect: 'parity' | 'refuse'): Variant => ({ meta: [v, 'uint32'], expect });
  const f32 = (v: number, expect: 'parity' | 'refuse'): Variant => ({ meta: [v, 'float32'], expect });
  const table: Record<string, Variant> = {
    context_length: { shape: { nCtx: 200 }, expect: 'parity' },
    embedding_length: { shape: { nEmbd: 48 }, expect: 'parity' },
    block_count: { shape: { nLayer: 3 }, expect: 'parity' },
    feed_forward_length: { shape: { nFf: 40 }, expect: 'parity' },
    'attention.head_count': { shape: { nHead: 8 }, expect: 'parity' },
    'attention.head_count_kv': llamaLike ? { shape: { nHeadKv: 1 }, expect: 'parity' } : u32(2, 'refuse'),
    'attention.key_length': arch === 'llama' || arch === 'qwen3' ? { shape: { headDim: 24 }, expect: 'parity' } : u32(16, 'refuse'),
    'attention.value_length': u32(12, 'refuse'),
    'rope.dimension_count': u32(4, llamaLike ? 'refuse' : 'parity'),
    'rope.freq_base': f32(5000, 'parity'),
    'rope.scaling.type': { meta: ['yarn', 'string'], expect: llamaLike ? 'refuse' : 'parity' },
    'rope.scaling.factor': f32(4, 'parity'), // no type: llama.cpp's default type is linear
    'rope.scale_linear': f32(2, 'parity'),
    'rope.scaling.attn_factor': f32(0.5, llamaLike ? 'refuse' : 'parity'),
    'rope.scaling.finetuned': { meta: [true, 'bool'], expect: 'parity' },
    'rope.scaling.original_context_length': u32(64, 'parity'),
    'rope.scaling.alpha': f32(2, 'parity'),
    'attention.key_length_swa': u32(8, 'parity'),
    'attention.value_length_swa': u32(8, 'parity'),
    'rope.dimension_count_swa': u32(8, 'parity'),
    'attention.layer_norm_rms_epsilon': f32(1e-2, 'parity'),
    'attention.layer_norm_epsilon': f32(1e-2, 'parity'),
    vocab_size: u32(100, 'refuse'),
    embedding_length_out: u32(16, 'refuse'),
    'attention.causal': { meta: [false, 'bool'], expect: 'refuse' },
    pooling_type: u32(1, 'refuse'),
    nextn_predict_layers: u32(1, 'refuse'),
    expert_count: u32(4, 'refuse'),
    expert_used_count: u32(2, 'refuse'),
    expert_group_count: u32(2, 'refuse'),
    expert_group_used_count: u32(1, 'refuse'),
    'classifier.output_labels': { meta: [['yes', 'no'], 'array<string>'], expect: 'refuse' },
  };
  const v = table[key];
  if (v && rule.kind === 'fixed') assert.equal(v.expect, 'refuse', `${arch}.${key} is fixed: it must be refused when changed`);
  if (v && rule.kind === 'inert') assert.equal(v.expect, 'parity', `${arch}.${key} is inert: it must give llama.cpp's log-probs`);
  return v;
}

async function parity(t: test.TestContext, file: string, what: string): Promise<number> {
  const model = CausalLM.load(file);
  const tokens = randomTokens(model.config.nVocab, 48, 9);
  const ours = sequenceLogprobs(model, tokens);
  const ref = await llamaLogprobs(t, file, tokens, { contextSize: Math.min(128, model.config.nCtx) });
  if (!ref) return NaN;
  const worst = maxAbsDiff(ours, ref.logprobs);
  assert.ok(worst <= BOUND, `${what}: our log-probs differ from llama.cpp's by ${worst}`);
  return worst;
}

function refused(file: string, ...names: string[]): void {
  assert.throws(
    () => CausalLM.load(file),
    (e: Error) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${e.stack}`);
      for (const n of names) assert.ok(e.message.includes(n), `the refusal does not name '${n}': ${e.message}`);
      return true;
    },
  );
}

// ---------------------------------------------------------------------------------------------

for (const arch of ARCHS) {
  test(`${arch}: every <arch>.* key llama.cpp reads is in the family's table, and is implemented (llama.cpp's log-probs) or refused by name`, async (t) => {
    const fam = familyOf(arch);
    const keys = llamaCppKeys(arch);
    assert.ok(keys.includes('embedding_length') && keys.includes('rope.scaling.type'), `parsed keys: ${keys.join(', ')}`);
    const missing = keys.filter((k) => !Object.hasOwn(fam.keys, k));
    assert.deepEqual(missing, [], `keys llama.cpp reads for ${arch} that the family does not list`);
    const counts = { parity: 0, refused: 0 };
    for (const key of new Set([...keys, ...Object.keys(fam.keys)])) {
      const rule = fam.keys[key]!;
      const v = variantFor(arch, key, rule);
      assert.ok(v, `${arch}.${key} (${rule.kind}) has no test value in this file`);
      const full = `${arch}.${key}`;
      if ('shape' in v) {
        await parity(t, writeShape(`${arch}-${key}`, { ...BASE[arch], ...v.shape }), full);
        counts.parity++;
        continue;
      }
      const file = withChanges(arch, `${arch}-${key}`, [[full, v.meta[0], v.meta[1]]]);
      if (v.expect === 'refuse') {
        refused(file, full);
        counts.refused++;
      } else {
        await parity(t, file, `${full} = ${String(v.meta[0])}`);
        counts.parity++;
      }
    }
    t.diagnostic(`${arch}: ${keys.length} keys read by llama.cpp; ${counts.parity} changed values give llama.cpp's log-probs, ${counts.refused} are refused by name`);
  });

  test(`${arch}: every tensor llama.cpp's loader creates is loaded by the family or refused by name`, (t) => {
    const fam = familyOf(arch);
    const base = CausalLM.load(baseFile(arch)).config;
    // the family's tensors over the configs it can read: biases, rope_freqs, untied output
    const variants = [base, { ...base, attnBias: true }, { ...base, tiedOutput: false }, ...(arch === 'llama' ? [{ ...base, ropeFreqFactors: true }] : [])];
    const loaded = new Set(variants.flatMap((c) => fam.tensors(c).map((x) => x.name)));
    const names = llamaCppTensors(arch);
    assert.ok(names.includes('token_embd.weight') && names.includes('blk.0.attn_norm.weight'), `parsed tensors: ${names.join(', ')}`);
    const refusedNames: string[] = [];
    for (const name of names) {
      if (loaded.has(name)) continue;
      refused(withChanges(arch, `${arch}-tensor-${name}`, [], [name]), name);
      refusedNames.push(name);
    }
    t.diagnostic(`${arch}: ${names.length - refusedNames.length} tensors loaded; refused by name: ${refusedNames.join(', ')}`);
  });
}

test('rope scaling types: yarn, longrope and unknown ones are refused by name; none ignores the factor; linear x4 matches llama.cpp', async (t) => {
  for (const type of ['yarn', 'longrope', 'dynamic']) {
    const file = withChanges('llama', `rope-type-${type}`, [['llama.rope.scaling.type', type, 'string'], ['llama.rope.scaling.factor', 4, 'float32']]);
    refused(file, 'llama.rope.scaling.type', `'${type}'`);
  }
  const tokens = randomTokens(TINY_VOCAB, 48, 9);
  const plain = sequenceLogprobs(CausalLM.load(baseFile('llama')), tokens);
  const none = withChanges('llama', 'rope-type-none', [['llama.rope.scaling.type', 'none', 'string'], ['llama.rope.scaling.factor', 4, 'float32']]);
  await parity(t, none, 'rope.scaling.type none');
  assert.equal(maxAbsDiff(sequenceLogprobs(CausalLM.load(none), tokens), plain), 0, "type 'none' must ignore the factor");
  const linear = withChanges('llama', 'rope-type-linear', [['llama.rope.scaling.type', 'linear', 'string'], ['llama.rope.scaling.factor', 4, 'float32']]);
  await parity(t, linear, 'rope.scaling.type linear x4');
  assert.ok(maxAbsDiff(sequenceLogprobs(CausalLM.load(linear), tokens), plain) > 1e-2, 'linear x4 must change the log-probs');
});

test('an unexpected tensor is refused by name (llama attn_output.bias, qwen2 output.bias, qwen2 rope_freqs, gpt2 a stray tensor)', () => {
  refused(withChanges('llama', 'llama-wo-bias', [], ['blk.0.attn_output.bias']), 'blk.0.attn_output.bias');
  refused(withChanges('qwen2', 'qwen2-out-bias', [], ['output.bias']), 'output.bias');
  refused(withChanges('qwen2', 'qwen2-rope-freqs', [], ['rope_freqs.weight']), 'rope_freqs.weight');
  refused(withChanges('gpt2', 'gpt2-stray', [], ['blk.0.something_new.weight']), 'blk.0.something_new.weight');
});

test('an unknown architecture is refused by name', () => {
  const spec = ggufToWriteSpec(readGguf(baseFile('llama')));
  spec.metadata.setTyped('general.architecture', 'phi3', 'string');
  for (const [k, v, ty] of spec.metadata.typedEntries()) {
    if (k.startsWith('llama.')) {
      spec.metadata.delete(k);
      spec.metadata.setTyped(`phi3.${k.slice(6)}`, v, ty);
    }
  }
  const file = path.join(dir, 'phi3.gguf');
  writeGguf(file, spec);
  refused(file, "'phi3'", 'llama, qwen2, qwen3, gpt2');
});

test('an unknown <arch>.* key is refused by name; per-layer arrays only when uniform', () => {
  // a real llama.cpp key (read for other families, never for llama) and a made-up one
  refused(withChanges('llama', 'llama-swa', [['llama.attention.sliding_window', 64, 'uint32']]), 'llama.attention.sliding_window');
  refused(withChanges('qwen3', 'qwen3-made-up', [['qwen3.foo.bar', 1.5, 'float32']]), 'qwen3.foo.bar');
  // keys of other prefixes are not this model's: llama.cpp never reads them
  assert.ok(CausalLM.load(withChanges('llama', 'llama-other-prefix', [['qwen2.rope.freq_base', 1, 'float32']])));
  // llama.cpp's get_key_or_arr: a per-layer array of head counts
  const uniform = withChanges('llama', 'llama-heads-array', [['llama.attention.head_count', [4, 4], 'array<uint32>']]);
  assert.equal(CausalLM.load(uniform).config.nHead, 4);
  refused(withChanges('llama', 'llama-heads-ragged', [['llama.attention.head_count_kv', [2, 1], 'array<uint32>']]), 'llama.attention.head_count_kv');
});
