/**
 * The architecture families unlearnkit implements, by their `general.architecture` name, and the
 * loader's allow-list: a GGUF is read only when everything in it that could change the computation
 * is implemented.
 *   - `general.architecture` must name a registered family;
 *   - every `<arch>.*` metadata key must be in the family's key table (types.ts KeyRule): keys it
 *     implements, keys known not to change the log-probs, and keys accepted only at their default;
 *     an unknown key is refused by name (an allow-list, not a deny-list, so a key llama.cpp gains
 *     later is refused until someone checks it);
 *   - every tensor must be one the family's tensor list expects for the config (an optional tensor
 *     llama.cpp would use but unlearnkit does not implement, such as attn_output.bias for llama, is
 *     refused by name), with the expected shape.
 * Tokenizer keys (`tokenizer.*`) are checked by the tokenizer (src/model/tokenizer/).
 *
 * Adding a family (phi3, gemma2, ...): one file in this folder implementing ArchFamily (keys from
 * llama.cpp's src/models/<arch>.cpp load_arch_hparams, tensors from its load_arch_tensors, the
 * forward graph following its graph builder), one line in FAMILIES, and tests: parity with
 * llama.cpp (test/model/archFamilies.test.ts), the key walk (test/model/archKeys.test.ts) and
 * gradients (test/model/llamaBackward.test.ts or ggml's automatic backward).
 */
import { getMeta, requireMeta, type GgufFile, type GgufValue } from '../gguf.ts';
import { UserError } from '../../util/errors.ts';
import { gpt2 } from './gpt2.ts';
import { llama } from './llama.ts';
import { qwen2 } from './qwen2.ts';
import { qwen3 } from './qwen3.ts';
import type { ArchFamily, KeyReader, ModelConfig, TensorSpec } from './types.ts';

export const FAMILIES = { llama, qwen2, qwen3, gpt2 } as const satisfies Record<string, ArchFamily>;

export type Architecture = keyof typeof FAMILIES;
export const ARCHITECTURES = Object.keys(FAMILIES) as Architecture[];

/** The family of an architecture name; refuses an unknown one by name. */
export function familyOf(arch: string, where?: string): ArchFamily {
  const f = (FAMILIES as Record<string, ArchFamily>)[arch];
  if (!f) throw new UserError(`${where ? `${where}: ` : ''}architecture '${arch}' is not supported (supported: ${ARCHITECTURES.join(', ')})`);
  return f;
}

/** Every tensor of a config, in file order. */
export function expectedTensors(c: ModelConfig): TensorSpec[] {
  return familyOf(c.arch).tensors(c);
}

function sameValue(a: GgufValue | undefined, b: GgufValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (typeof b === 'boolean') return a === b;
  if (typeof b === 'number' || typeof b === 'bigint') return (typeof a === 'number' || typeof a === 'bigint') && Number(a) === Number(b);
  return a === b;
}

function show(v: GgufValue): string {
  return Array.isArray(v) ? `[${v.slice(0, 8).map(show).join(', ')}${v.length > 8 ? ', ...' : ''}]` : typeof v === 'string' ? `'${v}'` : String(v);
}

function keyReader(f: GgufFile, arch: string): KeyReader {
  const key = (k: string) => `${arch}.${k}`;
  const refuse = (k: string, why: string): never => {
    throw new UserError(`${f.path}: ${key(k)}: ${why}`);
  };
  const asNumber = (k: string, v: GgufValue): number => {
    if (Array.isArray(v)) {
      // llama.cpp's get_key_or_arr: per-layer values; only uniform ones are implemented
      const vals = v.map((x) => Number(x));
      if (vals.length === 0 || vals.some((x) => x !== vals[0])) refuse(k, `per-layer values ${show(v)} differ; layers of different sizes are not implemented`);
      return vals[0]!;
    }
    if (typeof v === 'string') refuse(k, `expected a number, got ${show(v)}`);
    return Number(v);
  };
  return {
    file: f,
    arch,
    has: (k) => getMeta(f, key(k)) !== undefined,
    num: (k) => asNumber(k, requireMeta(f, key(k))),
    opt: (k, d) => {
      const v = getMeta(f, key(k));
      return v === undefined ? d : asNumber(k, v);
    },
    str: (k, d) => {
      const v = getMeta(f, key(k));
      if (v === undefined) return d;
      if (typeof v !== 'string') refuse(k, `expected a string, got ${show(v)}`);
      return v as string;
    },
    refuse,
  };
}

/** Trailing 1s dropped (GGUF writers differ in how they store a vector's shape). */
function trim(ne: readonly number[]): number[] {
  const out = [...ne];
  while (out.length > 1 && out[out.length - 1] === 1) out.pop();
  return out;
}

/**
 * The config of a GGUF model, after the allow-list checks of this module's comment. Every refusal
 * is a UserError naming the file and the key or tensor.
 */
export function readModelConfig(f: GgufFile): ModelConfig {
  const arch = String(requireMeta(f, 'general.architecture'));
  const fam = familyOf(arch, f.path);
  const prefix = `${arch}.`;
  for (const [k, v] of f.metadata) {
    if (!k.startsWith(prefix)) continue;
    const sub = k.slice(prefix.length);
    const rule = Object.hasOwn(fam.keys, sub) ? fam.keys[sub] : undefined;
    if (!rule) {
      throw new UserError(
        `${f.path}: metadata key '${k}' (= ${show(v)}) is not known to unlearnkit's ${arch} implementation; it could change what llama.cpp computes, so the model is refused rather than evaluated differently`,
      );
    }
    if (rule.kind === 'fixed' && !sameValue(v, rule.value)) {
      throw new UserError(`${f.path}: ${k} = ${show(v)} is not supported (${rule.why}; only ${rule.value === undefined ? 'its absence' : show(rule.value)} is implemented)`);
    }
  }
  const shapes = new Map(f.tensors.map((t) => [t.name, trim(t.ne)] as const));
  const c = fam.readConfig(keyReader(f, arch), shapes);
  fam.validate(c, f.path);
  const expected = new Map(fam.tensors(c).map((t) => [t.name, t] as const));
  for (const t of f.tensors) {
    if (!expected.has(t.name)) {
      throw new UserError(`${f.path}: tensor '${t.name}' is not part of unlearnkit's ${arch} model (not implemented here; llama.cpp may use it), so the model is refused rather than evaluated without it`);
    }
  }
  for (const e of expected.values()) {
    const ne = shapes.get(e.name);
    if (!ne) throw new UserError(`${f.path}: missing tensor ${e.name} for a ${arch} model`);
    if (ne.length !== e.ne.length || ne.some((n, i) => n !== e.ne[i])) {
      throw new UserError(`${f.path}: tensor ${e.name} has shape [${ne.join(', ')}], expected [${e.ne.join(', ')}] from the ${arch} metadata`);
    }
    if (e.constant && f.tensors.find((t) => t.name === e.name)!.type !== 0) {
      throw new UserError(`${f.path}: ${e.name} must be F32 (ggml_rope_ext reads its freq factors as f32)`);
    }
  }
  return c;
}
