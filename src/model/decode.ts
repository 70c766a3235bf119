/**
 * Incremental decoding with a KV cache for LLaMA models: one graph that feeds one token per
 * sequence, appends its keys and values to per-layer f16 caches (ggml_set_rows) and attends over
 * the cache with the same flash attention the evaluation forward uses (llama.ts / layers.ts
 * causalAttention: f16 K/V, f16 mask, f32 accumulation, what llama.cpp computes on CPU).
 *
 * Why: generation without a cache (one full forward of the whole sequence per new token) costs
 * O(T) forward passes of T tokens each; ROUGE's greedy answers were ~80% of an unlearning run's
 * evaluation time. With the cache each new token costs one token's forward.
 *
 * Sequences advance in lock-step, one position per compute: sequence b feeds its token at its own
 * position p_b (a prompt token while p_b < its prompt length, else the token it generated last),
 * so prompts of different lengths need no padding; the mask of sequence b admits keys 0..p_b.
 * Each token's keys and values are computed once, from the same weights and ops as the full
 * forward, so the cache holds the f16 values the full forward would (to float rounding of the
 * one-column products) and greedy answers match the full recompute (test/model/decode.test.ts).
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import type { DType } from '../engine/types.ts';
import { headDim } from './config.ts';
import type { CausalLM } from './model.ts';

export class LlamaDecoder {
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
    if (c.arch !== 'llama') throw new TypeError(`LlamaDecoder: a LLaMA model is needed, got ${c.arch}`);
    if (!Number.isInteger(T) || T < 1 || T > c.nCtx) throw new RangeError(`LlamaDecoder: cache length ${T} must be 1..${c.nCtx}`);
    this.T = T;
    this.B = B;
    const hd = headDim(c);
    const H = c.nHead;
    const Hkv = c.nHeadKv;
    const g = new Graph({ maxNodes: c.nLayer * 80 + 200 });
    this.graph = g;
    try {
      const weights = new Map<string, Tensor>();
      const w = (name: string): Tensor => {
        let t = weights.get(name);
        if (!t) {
          const h = model.weights.get(name);
          if (!h) throw new Error(`LlamaDecoder: the model has no tensor ${name}`);
          const dtype: DType = h.ne.length >= 2 ? h.fileType : 'f32';
          t = g.input(name, h.ne, dtype);
          weights.set(name, t);
        }
        return t;
      };
      this.tokens = g.input('tokens', [B], 'i32');
      this.pos = g.input('pos', [B], 'i32');
      this.rows = g.input('cache_rows', [B], 'i32');
      this.mask = g.input('mask', [T, 1, 1, B], 'f16');
      const rope = (t: Tensor) => op.ropeExt(t, this.pos, { nDims: c.ropeDims, mode: op.ROPE_NORMAL, freqBase: c.ropeFreqBase, nCtxOrig: c.nCtx });
      const norm = (name: string, x: Tensor) => op.mul(op.rmsNorm(x, c.normEps), w(name));
      let x = op.getRows(w('token_embd.weight'), this.tokens); // [d, B]
      for (let l = 0; l < c.nLayer; l++) {
        const n = (s: string) => `blk.${l}.${s}.weight`;
        const h = norm(n('attn_norm'), x);
        const q = rope(op.reshape(op.mulMat(w(n('attn_q')), h), [hd, H, B])); // positions along ne[2]
        const k = rope(op.reshape(op.mulMat(w(n('attn_k')), h), [hd, Hkv, B]));
        const v = op.mulMat(w(n('attn_v')), h); // [hd * Hkv, B]
        // caches [hd * Hkv, T * B] f16: row b * T + p_b holds sequence b's key at position p_b
        const kc = op.setRows(g.newTensor('f16', [hd * Hkv, T * B], `k_cache.${l}`), op.reshape(k, [hd * Hkv, B]), this.rows);
        const vc = op.setRows(g.newTensor('f16', [hd * Hkv, T * B], `v_cache.${l}`), v, this.rows);
        const K = op.permute(op.reshape(kc, [hd, Hkv, T, B]), [0, 2, 1, 3]); // [hd, T, Hkv, B]
        const V = op.permute(op.reshape(vc, [hd, Hkv, T, B]), [0, 2, 1, 3]);
        const Q = op.permute(op.reshape(q, [hd, H, 1, B]), [0, 2, 1, 3]); // [hd, 1, H, B]
        const o = op.flashAttnExt(Q, K, V, this.mask, 1 / Math.sqrt(hd)); // [hd, H, 1, B]
        x = op.add(x, op.mulMat(w(n('attn_output')), op.reshape(o, [hd * H, B])));
        const h2 = norm(n('ffn_norm'), x);
        const a = op.swigluSplit(op.mulMat(w(n('ffn_gate')), h2), op.mulMat(w(n('ffn_up')), h2));
        x = op.add(x, op.mulMat(w(n('ffn_down')), a));
      }
      const outName = c.tiedOutput ? 'token_embd.weight' : 'output.weight';
      this.logits = op.mulMat(w(outName), norm('output_norm.weight', x)); // [V, B]
      g.build({ outputs: [this.logits] });
      g.allocate();
      for (const [name, t] of weights) {
        const hw = model.weights.get(name)!;
        g.set(t, t.dtype === 'f32' ? hw.data : hw.fileBytes!);
      }
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
    if (tokens.length !== B || positions.length !== B) throw new RangeError(`LlamaDecoder.step: ${B} tokens and positions expected`);
    const rows = new Int32Array(B);
    const pos = new Int32Array(B);
    const NEG_INF_F16 = 0xfc00;
    for (let b = 0; b < B; b++) {
      const p = positions[b]!;
      if (!Number.isInteger(p) || p < 0 || p >= T) throw new RangeError(`LlamaDecoder.step: position ${p} outside the cache (0..${T - 1})`);
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
