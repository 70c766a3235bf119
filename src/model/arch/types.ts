/**
 * What every architecture family shares: the model config (hyper-parameters read from GGUF
 * metadata, one record for all families), the tensor list, the forward-builder signature, and the
 * interface a family implements to be registered (registry.ts).
 *
 * Keys and tensor names follow llama.cpp (src/llama-arch.cpp), so a file llama.cpp loads is a file
 * we load, and the files we write load in llama.cpp.
 */
import type { Tensor } from '../../engine/graph.ts';
import type { GgufFile, GgufValue } from '../gguf.ts';
import type { BuildMode, SequenceInputs } from '../layers.ts';
import type { Architecture } from './registry.ts';
import { UserError } from '../../util/errors.ts';

export type { Architecture } from './registry.ts';

export interface ModelConfig {
  arch: Architecture;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nVocab: number;
  nCtx: number;
  /** RMSNorm (llama, qwen2, qwen3) or LayerNorm (gpt2) epsilon. */
  normEps: number;
  /** Rotary dims per head (llama-like families; llama.cpp requires it to equal the head size). */
  ropeDims: number;
  ropeFreqBase: number;
  /** True when the output projection reuses token_embd.weight. */
  tiedOutput: boolean;
  /**
   * Size of one query / key / value head: `<arch>.attention.key_length` (= value_length); default
   * nEmbd / nHead. Qwen3-0.6B has 128 with nEmbd / nHead = 64, so W_q is [nEmbd, 128 * nHead].
   */
  headDim?: number;
  /** ggml_rope_ext's freq_scale: 1 / `<arch>.rope.scaling.factor` under linear scaling; default 1. */
  ropeFreqScale?: number;
  /**
   * The file holds `rope_freqs.weight` [ropeDims / 2]: per-frequency divisors of the rotation
   * angle, passed to ggml_rope_ext as freq_factors (Llama 3.1+ "llama3" rope scaling).
   */
  ropeFreqFactors?: boolean;
  /**
   * Q, K and V projections carry biases `blk.N.attn_{q,k,v}.bias` (Qwen2; llama.cpp also accepts
   * them on llama and qwen3). Default: the family's own (true for qwen2, false otherwise).
   */
  attnBias?: boolean;
}

/** Size of one attention head (query, key and value). */
export function headDim(c: ModelConfig): number {
  return c.headDim ?? c.nEmbd / c.nHead;
}

/** A tensor a model of some config has: its name and ggml shape (ne order). */
export interface TensorSpec {
  name: string;
  ne: number[];
  /**
   * A constant of the architecture, not a parameter (rope_freqs.weight): loaded and saved with the
   * model, never trained (ggml has no gradient for rope's freq factors) nor in a layer target.
   */
  constant?: boolean;
}

/** Builds a family's forward graph (evaluation or training; see layers.ts BuildMode). */
export type ForwardBuilder = (
  c: ModelConfig,
  w: (name: string) => Tensor,
  inp: SequenceInputs,
  mode: BuildMode,
) => { logits: Tensor; hidden: Tensor; trace?: unknown };

/**
 * How an `<arch>.*` metadata key is handled. Every key llama.cpp reads for a family is listed with
 * one of these (test/model/archKeys.test.ts walks llama.cpp's source to prove it); any other
 * `<arch>.*` key is refused, since it could change what llama.cpp computes.
 *   read:  implemented: the family's config reader uses it (and refuses values it cannot honour)
 *   inert: known not to change next-token log-probabilities for this family (the reason says why)
 *   fixed: only the default is implemented; any other value is refused naming the key
 */
export type KeyRule =
  | { kind: 'read'; why: string }
  | { kind: 'inert'; why: string }
  | { kind: 'fixed'; why: string; /** The value that is accepted; undefined: the key must be absent. */ value: GgufValue | undefined };

/** Typed access to a file's `<arch>.*` keys for a config reader (registry.ts checks them first). */
export interface KeyReader {
  readonly file: GgufFile;
  readonly arch: string;
  /** `<arch>.<key>` as a number; refuses a missing key. Per-layer arrays must be uniform. */
  num(key: string): number;
  /** `<arch>.<key>` as a number, or `d` when absent. */
  opt(key: string, d: number): number;
  /** `<arch>.<key>` as a string, or `d` when absent. */
  str(key: string, d: string): string;
  has(key: string): boolean;
  /** A refusal naming the file and the key. */
  refuse(key: string, why: string): never;
}

/**
 * One architecture family (llama, qwen2, ...): everything the rest of unlearnkit needs to load,
 * run, train and save it. Adding a family is one file implementing this plus a line in registry.ts.
 */
export interface ArchFamily {
  /** `general.architecture` value. */
  readonly name: string;
  /** One line for `inspect` and the README. */
  readonly description: string;
  /** Every `<arch>.*` key (without the prefix) this family knows, and how it is handled. */
  readonly keys: Readonly<Record<string, KeyRule>>;
  /**
   * Reads the config from a file whose keys passed the allow-list, given its tensors' shapes (ne,
   * trailing 1s dropped); registry.ts checks the tensors against `tensors(config)` after.
   */
  readConfig(r: KeyReader, tensors: ReadonlyMap<string, readonly number[]>): ModelConfig;
  /** Structural checks of a config (in memory or read from a file); throws UserError. */
  validate(c: ModelConfig, where: string): void;
  /** Every tensor a model of this config has, in file order. */
  tensors(c: ModelConfig): TensorSpec[];
  /** The forward graph. */
  build: ForwardBuilder;
  /**
   * Training gradients: 'manual' (the hand-written backward of llamaBackward.ts, the default,
   * with ggml's automatic backward available as 'auto') or 'auto' only.
   */
  backward: 'manual' | 'auto';
  /** Graph nodes per block of a forward graph, for sizing graphs. */
  nodesPerLayer: number;
  /**
   * Which half of its block a `blk.N.*` tensor belongs to, for the block:K:attn / block:K:mlp layer
   * targets (paramGroups.ts); the default reads llama.cpp's names (attn_* / ffn_*).
   */
  blockPart?: (tensorName: string) => 'attn' | 'mlp';
}

/**
 * The structural check every family starts with: each size of `c` is a positive integer. Returns
 * the family's thrower for its own checks: a UserError prefixed with `where` (the file or model).
 */
export function checkSizes(c: ModelConfig, where: string): (m: string) => never {
  const bad = (m: string): never => {
    throw new UserError(`${where}: ${m}`);
  };
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf', 'nVocab', 'nCtx'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  return bad;
}
