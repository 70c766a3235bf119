/**
 * Convolution for the RUM CNN as a row gather plus one GEMM, on channel-innermost activations.
 *
 * Layout: an activation is [C, P] in ggml ne order (C contiguous), P = W * H * N pixels ordered
 * (x, y, n) with x fastest. A k x k convolution with stride s and "same" padding (k - 1) / 2 is
 *   cols = getRows(x, idx)             [C, k*k*P']   rows of x, k*k per output pixel
 *   y    = mulMat(W, reshape(cols))    W [k*k*C, OC], cols [k*k*C, P'] -> [OC, P']
 * where idx lists, for every output pixel p' = (ox, oy, n) and kernel tap t = ky * k + kx, the
 * input pixel (clamp(ox*s + kx - pad), clamp(oy*s + ky - pad), n). Row r of W is (tap, channel):
 * r = (ky * k + kx) * C + c.
 *
 * Padding is *replicate* (border pixels repeated; PyTorch padding_mode='replicate'), not zeros.
 * Why: ggml's backward of IM2COL (IM2COL_BACK) is 5-10x slower than its forward on CPU, while
 * GET_ROWS' backward is a scatter-add of rows. Zero padding by gathering would need a mask
 * multiply over the k*k-times larger cols tensor (forward and backward), which measured slower
 * than im2col's forward; clamped indices need nothing. Measured on the 2-core dev machine, batch
 * 64, 3x3 conv 32x32x16 -> 16 stride 2: im2col 5.2 ms forward / 51.7 ms forward + backward,
 * gather-with-mask 8.6 / 21.6 ms, replicate gather 3.2 / 11.4 ms.
 *
 * The index tensors are constants of a graph (one per input geometry, shared by layers), filled
 * after allocation (`GraphConstants`).
 */
import type { Graph, Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';

/** Host data that a graph's constant inputs need once it is allocated. */
export class GraphConstants {
  private readonly items: Array<{ t: Tensor; data: Int32Array | Float32Array }> = [];
  private readonly idx = new Map<string, Tensor>();

  add(t: Tensor, data: Int32Array | Float32Array): void {
    this.items.push({ t, data });
  }

  /** The gather-index tensor for a geometry (created once per graph). */
  gatherIndex(g: Graph, w: number, h: number, n: number, k: number, stride: number): { t: Tensor; ow: number; oh: number } {
    const { ow, oh } = convOut(w, h, k, stride);
    const key = `${w}x${h}x${n}:k${k}s${stride}`;
    let t = this.idx.get(key);
    if (!t) {
      const data = gatherIndices(w, h, n, k, stride);
      t = g.input(`idx.${key}`, [data.length], 'i32');
      this.idx.set(key, t);
      this.add(t, data);
    }
    return { t, ow, oh };
  }

  /** Set every constant (call right after Graph.allocate). */
  apply(g: Graph): void {
    for (const { t, data } of this.items) g.set(t, data);
  }
}

function convOut(w: number, h: number, k: number, stride: number): { ow: number; oh: number } {
  const pad = (k - 1) / 2;
  return { ow: Math.floor((w + 2 * pad - k) / stride) + 1, oh: Math.floor((h + 2 * pad - k) / stride) + 1 };
}

/** Row indices (see the module comment): length k*k*OW*OH*N, tap-fastest per output pixel. */
function gatherIndices(w: number, h: number, n: number, k: number, stride: number): Int32Array {
  if (k % 2 !== 1) throw new RangeError(`gather conv: kernel size must be odd, got ${k}`);
  const pad = (k - 1) / 2;
  const { ow, oh } = convOut(w, h, k, stride);
  const out = new Int32Array(k * k * ow * oh * n);
  let at = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ky = 0; ky < k; ky++) {
          const y = Math.max(0, Math.min(h - 1, oy * stride + ky - pad));
          for (let kx = 0; kx < k; kx++) {
            const x = Math.max(0, Math.min(w - 1, ox * stride + kx - pad));
            out[at++] = (b * h + y) * w + x;
          }
        }
      }
    }
  }
  return out;
}

/**
 * k x k convolution of x [C, W*H*N] with weight [k*k*C, OC] -> [OC, OW*OH*N]. A 1x1 convolution
 * with stride 1 is a plain GEMM.
 */
export function gatherConv(
  consts: GraphConstants,
  weight: Tensor,
  x: Tensor,
  geo: { w: number; h: number; n: number; k: number; stride: number },
): { y: Tensor; ow: number; oh: number } {
  const [c, p] = x.ne;
  const { w, h, n, k, stride } = geo;
  if (p !== w * h * n) throw new TypeError(`gatherConv: ${p} pixels in x, geometry ${w}x${h}x${n} has ${w * h * n}`);
  if (weight.ne[0] !== k * k * c) throw new TypeError(`gatherConv: weight has ${weight.ne[0]} rows, expected ${k}*${k}*${c}`);
  if (k === 1 && stride === 1) return { y: op.mulMat(weight, x), ow: w, oh: h };
  const idx = consts.gatherIndex(x.graph, w, h, n, k, stride);
  const cols = op.reshape(op.getRows(x, idx.t), [k * k * c, idx.ow * idx.oh * n]);
  return { y: op.mulMat(weight, cols), ow: idx.ow, oh: idx.oh };
}

/**
 * Plain float64 reference of the same convolution (replicate padding), for tests: x [C, W*H*N],
 * weight [k*k*C, OC] (both ne order) -> [OC, OW*OH*N].
 */
export function referenceConv(
  x: Float32Array,
  weight: Float32Array,
  c: number,
  oc: number,
  geo: { w: number; h: number; n: number; k: number; stride: number },
): Float64Array {
  const { w, h, n, k, stride } = geo;
  const pad = (k - 1) / 2;
  const { ow, oh } = convOut(w, h, k, stride);
  const out = new Float64Array(oc * ow * oh * n);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const p = (b * oh + oy) * ow + ox;
        for (let o = 0; o < oc; o++) {
          let s = 0;
          for (let ky = 0; ky < k; ky++) {
            const y = Math.max(0, Math.min(h - 1, oy * stride + ky - pad));
            for (let kx = 0; kx < k; kx++) {
              const xx = Math.max(0, Math.min(w - 1, ox * stride + kx - pad));
              const src = ((b * h + y) * w + xx) * c;
              const wr = (ky * k + kx) * c;
              for (let ch = 0; ch < c; ch++) s += x[src + ch]! * weight[o * k * k * c + wr + ch]!;
            }
          }
          out[p * oc + o] = s;
        }
      }
    }
  }
  return out;
}
