/**
 * Incremental decoding with a KV cache, for every architecture family: the family's own forward
 * builder (llama.ts for llama / qwen2 / qwen3, gpt2.ts) runs on one token per sequence, with its attention replaced
 * (BuildMode.attention) by one that appends the block's keys and values to per-layer f16 caches
 * (ggml_set_rows) and attends over them with the flash attention the evaluation forward uses
 * (layers.ts causalAttention: f16 K/V, f16 mask, f32 accumulation, what llama.cpp computes on CPU).
 *
 * Why: generation without a cache (one full forward of the whole sequence per new token) costs
 * O(T) forward passes of T tokens each; ROUGE's greedy answers were ~80% of an unlearning run's
 * evaluation time. With the cache each new token costs one token's forward.
 *
 * Sequences advance in lock-step, one position per compute: sequence b feeds its token at its own
 * position p_b (a prompt token while p_b < its prompt length, else the token it generated last),
 * so prompts of different lengths need no padding; the mask of sequence b admits keys 0..p_b.
 * The builder sees the B tokens as one sequence of length B whose positions are the p_b (rope and
 * GPT-2's position embedding read them per token). Each token's keys and values are computed once,
 * from the same weights and ops as the full forward, and the logits equal the full recompute's
 * (test/model/decode.test.ts).
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { familyOf, headDim } from './config.ts';
import { ARCH_BUILDERS, frozenWeightType, loraHook, uploadWeight, type CausalLM } from './model.ts';
import { attnScale } from './layers.ts';

export class KvDecoder {
  readonly graph: Graph;
  /** Cache length (positions per sequence) and sequences. */
  readonly T: number;
  readonly B: number;
  private tokens: Tensor;
  private pos: Tensor;
  private rows: Tensor;
  private mask: Tensor;
  readonly logits: Tensor;
  private maskHost: Uint16Array;

  constructor(
    readonly model: CausalLM,
    T: number,
    B: number,
  ) {
    const c = model.config;
    if (!Number.isInteger(T) || T < 1 || T > c.nCtx) throw new RangeError(`KvDecoder: cache length ${T} must be 1..${c.nCtx}`);
    if (!Number.isInteger(B) || B < 1) throw new RangeError(`KvDecoder: ${B} sequences`);
    this.T = T;
    this.B = B;
    const hd = headDim(c);
    const g = new Graph({ maxNodes: c.nLayer * (familyOf(c.arch).nodesPerLayer + 20) + 200 });
    this.graph = g;
    try {
      const weights = new Map<string, Tensor>();
      const w = (name: string): Tensor => {
        let t = weights.get(name);
        if (!t) {
          const h = model.weights.get(name);
          if (!h) throw new Error(`KvDecoder: the model has no tensor ${name}`);
          // a LoRA adapter's factors stay out of the repacking buffer types, as llama.cpp keeps them
          const adapter = name.endsWith('.lora_a') || name.endsWith('.lora_b');
          t = g.input(name, h.ne, frozenWeightType(h, false), adapter ? {} : { placement: 'weight' });
          weights.set(name, t);
        }
        return t;
      };
      this.tokens = g.input('tokens', [B], 'i32');
      this.pos = g.input('pos', [B], 'i32');
      this.rows = g.input('cache_rows', [B], 'i32');
      this.mask = g.input('mask', [T, 1, 1, B], 'f16');
      const attention = (q: Tensor, k: Tensor, v: Tensor, layer: number): Tensor => {
        // q [hd, H, B, 1], k and v [hd, Hkv, B, 1] (the B tokens as one sequence)
        const H = q.ne[1];
        const Hkv = k.ne[1];
        // caches [hd * Hkv, T * B] f16: row b * T + p_b holds sequence b's key at position p_b
        const store = (x: Tensor, name: string) => op.setRows(g.newTensor('f16', [hd * Hkv, T * B], `${name}.${layer}`), op.reshape(op.cont(x), [hd * Hkv, B]), this.rows);
        const K = op.permute(op.reshape(store(k, 'k_cache'), [hd, Hkv, T, B]), [0, 2, 1, 3]); // [hd, T, Hkv, B]
        const V = op.permute(op.reshape(store(v, 'v_cache'), [hd, Hkv, T, B]), [0, 2, 1, 3]);
        const Q = op.permute(op.reshape(op.cont(q), [hd, H, 1, B]), [0, 2, 1, 3]); // [hd, 1, H, B]
        return op.reshape(op.flashAttnExt(Q, K, V, this.mask, attnScale(hd)), [hd * H, B]); // [hd, H, 1, B]
      };
      const out = ARCH_BUILDERS[c.arch](c, w, { tokens: this.tokens, pos: this.pos, mask: this.mask, T: B, B: 1 }, { differentiable: false, attention, lora: loraHook(model, w) });
      this.logits = out.logits; // [V, B]
      g.build({ outputs: [this.logits] });
      g.allocate();
      for (const [name, t] of weights) uploadWeight(g, t, model.weights.get(name)!);
      this.maskHost = new Uint16Array(T * B);
    } catch (e) {
      g.dispose();
      throw e;
    }
  }

  /**
   * Feed tokens[b] at position positions[b] of sequence b (positions must grow by one per call,
   * from 0, for every sequence that is still read) and return the logits [V, B] of the next token.
   */
  step(tokens: number[], positions: number[]): Float32Array {
    const { T, B } = this;
    if (tokens.length !== B || positions.length !== B) throw new RangeError(`KvDecoder.step: ${B} tokens and positions expected`);
    const rows = new Int32Array(B);
    const pos = new Int32Array(B);
    const NEG_INF_F16 = 0xfc00;
    for (let b = 0; b < B; b++) {
      const p = positions[b]!;
      if (!Number.isInteger(p) || p < 0 || p >= T) throw new RangeError(`KvDecoder.step: position ${p} outside the cache (0..${T - 1})`);
      pos[b] = p;
      rows[b] = b * T + p;
      // f16 0 for keys 0..p, -inf after
      this.maskHost.fill(0, b * T, b * T + p + 1);
      this.maskHost.fill(NEG_INF_F16, b * T + p + 1, (b + 1) * T);
    }
    const g = this.graph;
    g.set(this.tokens, Int32Array.from(tokens));
    g.set(this.pos, pos);
    g.set(this.rows, rows);
    g.set(this.mask, new Uint8Array(this.maskHost.buffer));
    g.compute('forward');
    return g.get(this.logits);
  }

  dispose(): void {
    this.graph.dispose();
  }
}
