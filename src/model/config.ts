/**
 * Model hyper-parameters read from GGUF metadata, in one shape for both architectures.
 * Keys follow llama.cpp's naming (`<arch>.embedding_length`, ...), so a file llama.cpp loads is a
 * file we load, and the files we write load in llama.cpp.
 */
import { getMeta, requireMeta, type GgufFile } from './gguf.ts';
import { UserError } from '../util/errors.ts';

export type Architecture = 'llama' | 'gpt2';
export const ARCHITECTURES: readonly Architecture[] = ['llama', 'gpt2'];

export interface ModelConfig {
  arch: Architecture;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nVocab: number;
  nCtx: number;
  /** RMSNorm (llama) or LayerNorm (gpt2) epsilon. */
  normEps: number;
  /** Rotary dims per head (llama). */
  ropeDims: number;
  ropeFreqBase: number;
  /** True when the output projection reuses token_embd.weight. */
  tiedOutput: boolean;
}

export function headDim(c: ModelConfig): number {
  return c.nEmbd / c.nHead;
}

export function configFromGguf(f: GgufFile): ModelConfig {
  const arch = String(requireMeta(f, 'general.architecture'));
  if (!ARCHITECTURES.includes(arch as Architecture)) {
    throw new UserError(`${f.path}: architecture '${arch}' is not supported (supported: ${ARCHITECTURES.join(', ')})`);
  }
  const a = arch as Architecture;
  const num = (k: string) => Number(requireMeta(f, `${a}.${k}`));
  const opt = (k: string, d: number) => {
    const v = getMeta(f, `${a}.${k}`);
    return v === undefined ? d : Number(v);
  };
  const names = new Set(f.tensors.map((t) => t.name));
  const emb = f.tensors.find((t) => t.name === 'token_embd.weight');
  if (!emb) throw new UserError(`${f.path}: no token_embd.weight tensor`);
  const nHead = num('attention.head_count');
  const nEmbd = num('embedding_length');
  const c: ModelConfig = {
    arch: a,
    nEmbd,
    nLayer: num('block_count'),
    nHead,
    nHeadKv: opt('attention.head_count_kv', nHead),
    nFf: num('feed_forward_length'),
    nVocab: emb.ne[1]!,
    nCtx: opt('context_length', 2048),
    normEps: a === 'llama' ? opt('attention.layer_norm_rms_epsilon', 1e-5) : opt('attention.layer_norm_epsilon', 1e-5),
    ropeDims: opt('rope.dimension_count', nEmbd / nHead),
    ropeFreqBase: opt('rope.freq_base', 10000),
    tiedOutput: !names.has('output.weight'),
  };
  validateConfig(c, f.path);
  return c;
}

export function validateConfig(c: ModelConfig, where: string): void {
  const bad = (m: string) => {
    throw new UserError(`${where}: ${m}`);
  };
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf', 'nVocab'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.nEmbd % c.nHead !== 0) bad(`embedding length ${c.nEmbd} is not a multiple of ${c.nHead} heads`);
  if (c.nHead % c.nHeadKv !== 0) bad(`${c.nHead} heads are not a multiple of ${c.nHeadKv} KV heads`);
  if (c.arch === 'llama' && (c.ropeDims > c.nEmbd / c.nHead || c.ropeDims % 2 !== 0)) bad(`rope dimension ${c.ropeDims} must be even and <= head size`);
}

/** Names and ggml shapes (ne order) of every tensor an architecture expects. */
export function expectedTensors(c: ModelConfig): Array<{ name: string; ne: number[] }> {
  const d = c.nEmbd;
  const kv = (c.nEmbd / c.nHead) * c.nHeadKv;
  const out: Array<{ name: string; ne: number[] }> = [{ name: 'token_embd.weight', ne: [d, c.nVocab] }];
  if (c.arch === 'gpt2') out.push({ name: 'position_embd.weight', ne: [d, c.nCtx] });
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blk.${l}`;
    if (c.arch === 'llama') {
      out.push(
        { name: `${b}.attn_norm.weight`, ne: [d] },
        { name: `${b}.attn_q.weight`, ne: [d, d] },
        { name: `${b}.attn_k.weight`, ne: [d, kv] },
        { name: `${b}.attn_v.weight`, ne: [d, kv] },
        { name: `${b}.attn_output.weight`, ne: [d, d] },
        { name: `${b}.ffn_norm.weight`, ne: [d] },
        { name: `${b}.ffn_gate.weight`, ne: [d, c.nFf] },
        { name: `${b}.ffn_up.weight`, ne: [d, c.nFf] },
        { name: `${b}.ffn_down.weight`, ne: [c.nFf, d] },
      );
    } else {
      out.push(
        { name: `${b}.attn_norm.weight`, ne: [d] },
        { name: `${b}.attn_norm.bias`, ne: [d] },
        { name: `${b}.attn_qkv.weight`, ne: [d, 3 * d] },
        { name: `${b}.attn_qkv.bias`, ne: [3 * d] },
        { name: `${b}.attn_output.weight`, ne: [d, d] },
        { name: `${b}.attn_output.bias`, ne: [d] },
        { name: `${b}.ffn_norm.weight`, ne: [d] },
        { name: `${b}.ffn_norm.bias`, ne: [d] },
        { name: `${b}.ffn_up.weight`, ne: [d, c.nFf] },
        { name: `${b}.ffn_up.bias`, ne: [c.nFf] },
        { name: `${b}.ffn_down.weight`, ne: [c.nFf, d] },
        { name: `${b}.ffn_down.bias`, ne: [d] },
      );
    }
  }
  out.push({ name: 'output_norm.weight', ne: [d] });
  if (c.arch === 'gpt2') out.push({ name: 'output_norm.bias', ne: [d] });
  if (!c.tiedOutput) out.push({ name: 'output.weight', ne: [d, c.nVocab] });
  return out;
}
