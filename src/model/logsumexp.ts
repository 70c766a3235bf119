/**
 * The float64 log-softmax of float32 logits, the last step of every per-token log-probability
 * (ours and llama.cpp's, so that both engines' numbers differ only by their logits):
 *
 *   log p(t) = x_t - m - log(S),   m = max_v x_v,   S = sum_v exp(x_v - m)   (x_v - m in float64)
 *
 * S is the costly part: one exp per vocabulary entry per scored token (49k-152k at real shapes,
 * ~0.6 ms per token with Math.exp, as much as a third of the forward pass of a 135M model on two
 * threads). It runs here as a small WebAssembly SIMD kernel, assembled below (no toolchain, no
 * binary in the repo), about twice as fast as Math.exp:
 *
 *   m       f32x4.max over the row (4 lanes), then the lanes and the tail
 *   d       promote(x) - m in float64, clamped below at -708 (exp(-708) ~ 3e-308 adds nothing to S >= 1)
 *   exp(d)  Cody-Waite reduction d = k ln2 + r, |r| <= ln2 / 2, with k from the 1.5 * 2^52 shifter;
 *           e^r by its Taylor series to r^13 (truncation < 5e-18 relative, Horner in float64);
 *           2^k built in the exponent bits ((k + 1023) << 52)
 *   S       two f64x2 accumulators over groups of 4 values, in blocks of 1024 values whose sums
 *           are added; the last n mod 4 values as one more group padded with -Infinity (whose
 *           terms are 3e-308, below S's half-ulp: exactly nothing)
 *
 * Accuracy (test/model/logsumexp.test.ts): each exp within 2.3e-16 relative of Math.exp; S within
 * ~2e-15 relative of a compensated sum at V = 152k (a plain running sum of Math.exp is off by up to
 * 1e-13 there), so log p is within ~2e-15 of the exact value for the given logits.
 * Where WebAssembly SIMD is missing, the same formula runs with Math.exp (results then differ
 * from the kernel's in the last bits, the same way in both engines).
 */

/** A float32 row's max and float64 sum of exp(x - max), written into `out` ([m, S]). */
export type MaxSumExp = Float64Array;

// ------------------------------------------------------------------------------------------------
// The kernel, as WebAssembly bytes
// ------------------------------------------------------------------------------------------------

const uleb = (n: number): number[] => {
  const o: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
};
const sleb = (n: number): number[] => {
  const o: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...o, b];
    o.push(b | 0x80);
  }
};
const f64Bytes = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];

/** The instructions used (core opcodes, and SIMD ones after the 0xfd prefix). */
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  f64Const: (v: number) => [0x44, ...f64Bytes(v)],
  /** block/loop with no result; br_if 1 leaves the block, br 0 repeats the loop. */
  blockLoop: (body: number[], exitIf: number[]) => [0x02, 0x40, 0x03, 0x40, ...exitIf, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b],
  i32Add: [0x6a],
  i32And: [0x71],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  i64ExtendI32S: [0xac],
  f32Load: (align: number, offset = 0) => [0x2a, align, ...uleb(offset)],
  f32Max: [0x97],
  f32DemoteF64: [0xb6],
  f64Add: [0xa0],
  simd: (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm],
};
const SIMD = {
  load: 0x00,
  load64Zero: 0x5d,
  i64x2Splat: 0x12,
  f32x4Splat: 0x13,
  f64x2Splat: 0x14,
  f32x4ExtractLane: 0x1f,
  f64x2ExtractLane: 0x21,
  f64x2PromoteLowF32x4: 0x5f,
  f32x4Max: 0xe9,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
  f64x2Pmax: 0xf7,
  i64x2Add: 0xce,
  i64x2Shl: 0xcb,
};
const V128 = 0x7b;
const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
const v128Splat = (x: number): number[] => [0xfd, 0x0c, ...f64Bytes(x), ...f64Bytes(x)]; // v128.const f64x2(x, x)

const LOG2E = Math.LOG2E;
/** 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits. */
const SHIFTER = 6755399441055744;
/** ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (fdlibm's constants). */
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const TAYLOR = Array.from({ length: 14 }, (_, i) => {
  let f = 1;
  for (let j = 2; j <= i; j++) f *= j;
  return 1 / f;
});

function func(locals: Array<[number, number]>, code: number[]): number[] {
  const body = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t]), ...code, 0x0b];
  return [...uleb(body.length), ...body];
}

/** maxF32(ptr, n) -> f32: max of n float32 values at byte offset ptr (locals: 2 acc v128, 3 end, 4 s f32). */
function maxF32Code(): number[] {
  const [ptr, n, acc, end, s] = [0, 1, 2, 3, 4];
  const lane = (i: number) => [...op.localGet(acc), ...op.simd(SIMD.f32x4ExtractLane, i)];
  return func(
    [
      [1, V128],
      [1, I32],
      [1, F32],
    ],
    [
      ...op.f64Const(-Infinity), ...op.f32DemoteF64, ...op.simd(SIMD.f32x4Splat), ...op.localSet(acc),
      // end = ptr + 4 * (n & ~3)
      ...op.localGet(ptr), ...op.localGet(n), ...op.i32Const(-4), ...op.i32And, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.localSet(end),
      ...op.blockLoop(
        [
          ...op.localGet(acc), ...op.localGet(ptr), ...op.simd(SIMD.load, 2, 0), ...op.simd(SIMD.f32x4Max), ...op.localSet(acc),
          ...op.localGet(ptr), ...op.i32Const(16), ...op.i32Add, ...op.localSet(ptr),
        ],
        [...op.localGet(ptr), ...op.localGet(end), ...op.i32GeU],
      ),
      ...lane(0), ...lane(1), ...op.f32Max, ...lane(2), ...op.f32Max, ...lane(3), ...op.f32Max, ...op.localSet(s),
      // the n mod 4 values left
      ...op.localGet(end), ...op.localGet(n), ...op.i32Const(3), ...op.i32And, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.localSet(end),
      ...op.blockLoop(
        [
          ...op.localGet(s), ...op.localGet(ptr), ...op.f32Load(2), ...op.f32Max, ...op.localSet(s),
          ...op.localGet(ptr), ...op.i32Const(4), ...op.i32Add, ...op.localSet(ptr),
        ],
        [...op.localGet(ptr), ...op.localGet(end), ...op.i32GeU],
      ),
      ...op.localGet(s),
    ],
  );
}

/**
 * sumExp4(ptr, n4, m) -> f64: sum of exp(x - m) over n4 groups of 4 float32 values at ptr.
 * Locals: 3 end, 4 m as f64x2, 5-6 the two accumulators, 7-10 and 11-14 each pair's d, kp, k, r.
 */
function sumExpCode(): number[] {
  const [ptr, n4, m, end, mv, acc0, acc1] = [0, 1, 2, 3, 4, 5, 6];
  /** exp(promote(x[off/4 .. off/4 + 1]) - m) as f64x2, left on the stack. */
  const expPair = (off: number, L: number): number[] => {
    const [d, kp, k, r] = [L, L + 1, L + 2, L + 3];
    const horner: number[] = [...v128Splat(TAYLOR[13]!)];
    for (let i = 12; i >= 0; i--) horner.push(...op.localGet(r), ...op.simd(SIMD.f64x2Mul), ...v128Splat(TAYLOR[i]!), ...op.simd(SIMD.f64x2Add));
    return [
      // d = max(promote(x) - m, -708)
      ...op.localGet(ptr), ...op.simd(SIMD.load64Zero, 2, ...uleb(off)), ...op.simd(SIMD.f64x2PromoteLowF32x4),
      ...op.localGet(mv), ...op.simd(SIMD.f64x2Sub), ...v128Splat(-708), ...op.simd(SIMD.f64x2Pmax), ...op.localTee(d),
      // kp = d log2(e) + SHIFTER (k in the low mantissa bits); k = kp - SHIFTER
      ...v128Splat(LOG2E), ...op.simd(SIMD.f64x2Mul), ...v128Splat(SHIFTER), ...op.simd(SIMD.f64x2Add), ...op.localTee(kp),
      ...v128Splat(SHIFTER), ...op.simd(SIMD.f64x2Sub), ...op.localSet(k),
      // r = (d - k LN2_HI) - k LN2_LO
      ...op.localGet(d), ...op.localGet(k), ...v128Splat(LN2_HI), ...op.simd(SIMD.f64x2Mul), ...op.simd(SIMD.f64x2Sub),
      ...op.localGet(k), ...v128Splat(LN2_LO), ...op.simd(SIMD.f64x2Mul), ...op.simd(SIMD.f64x2Sub), ...op.localSet(r),
      // e^r, then times 2^k = bits((kp + 1023) << 52)
      ...horner,
      ...op.localGet(kp), ...op.i32Const(1023), ...op.i64ExtendI32S, ...op.simd(SIMD.i64x2Splat), ...op.simd(SIMD.i64x2Add),
      ...op.i32Const(52), ...op.simd(SIMD.i64x2Shl), ...op.simd(SIMD.f64x2Mul),
    ];
  };
  return func(
    [
      [1, I32],
      [11, V128],
    ],
    [
      ...op.localGet(m), ...op.simd(SIMD.f64x2Splat), ...op.localSet(mv),
      ...v128Splat(0), ...op.localSet(acc0), ...v128Splat(0), ...op.localSet(acc1),
      ...op.localGet(ptr), ...op.localGet(n4), ...op.i32Const(4), ...op.i32Shl, ...op.i32Add, ...op.localSet(end),
      ...op.blockLoop(
        [
          ...expPair(0, 7), ...op.localGet(acc0), ...op.simd(SIMD.f64x2Add), ...op.localSet(acc0),
          ...expPair(8, 11), ...op.localGet(acc1), ...op.simd(SIMD.f64x2Add), ...op.localSet(acc1),
          ...op.localGet(ptr), ...op.i32Const(16), ...op.i32Add, ...op.localSet(ptr),
        ],
        [...op.localGet(ptr), ...op.localGet(end), ...op.i32GeU],
      ),
      ...op.localGet(acc0), ...op.localGet(acc1), ...op.simd(SIMD.f64x2Add), ...op.localTee(acc0),
      ...op.simd(SIMD.f64x2ExtractLane, 0), ...op.localGet(acc0), ...op.simd(SIMD.f64x2ExtractLane, 1), ...op.f64Add,
    ],
  );
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
  const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: (i32, i32) -> f32 and (i32, i32, f64) -> f64
    ...section(1, vec([[0x60, 2, I32, I32, 1, F32], [0x60, 3, I32, I32, F64, 1, F64]])),
    // import env.memory (min 1 page)
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...name('maxF32'), 0x00, 0], [...name('sumExp4'), 0x00, 1]])),
    ...section(10, vec([maxF32Code(), sumExpCode()])),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is unavailable. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    const bytes = moduleBytes();
    compiled = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

/** Whether log-softmaxes run on the WebAssembly SIMD kernel (false: the Math.exp fallback). */
export function simdLogSumExp(): boolean {
  return kernelModule() !== null;
}

// ------------------------------------------------------------------------------------------------
// Instances
// ------------------------------------------------------------------------------------------------

/** Bytes at the start of the memory: the padded tail group (4 float32). */
const TAIL_BYTES = 16;
/** Groups of 4 values per sumExp4 call (1024 values). */
const BLOCK = 256;
const PAGE = 65536;

/**
 * One kernel instance with its own memory. `scratch(n)` gives a float32 array in that memory (e.g.
 * to read a batch's logits into, so rows need no copy); rows elsewhere are copied in first. The
 * memory grows as needed and is freed with the instance (drop the reference).
 */
export class LogSoftmaxKernel {
  private memory: WebAssembly.Memory | null = null;
  private maxF32: ((ptr: number, n: number) => number) | null = null;
  private sumExp4: ((ptr: number, n4: number, m: number) => number) | null = null;
  private view: Float32Array | null = null;
  private readonly pair = new Float64Array(2);

  constructor() {
    const mod = kernelModule();
    if (mod === null) return;
    this.memory = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(mod, { env: { memory: this.memory } });
    this.maxF32 = inst.exports.maxF32 as (ptr: number, n: number) => number;
    this.sumExp4 = inst.exports.sumExp4 as (ptr: number, n4: number, m: number) => number;
  }

  /**
   * A float32 array of n values inside the kernel's memory (its contents are kept only until the
   * next scratch() or a row copied in), or a plain array where the kernel is unavailable or the
   * memory cannot grow that far (4 GiB at most).
   */
  scratch(n: number): Float32Array {
    const mem = this.memory;
    if (mem === null) return new Float32Array(n);
    const need = TAIL_BYTES + 4 * n;
    if (mem.buffer.byteLength < need) {
      try {
        mem.grow(Math.ceil((need - mem.buffer.byteLength) / PAGE));
      } catch {
        return new Float32Array(n);
      }
    }
    if (this.view === null || this.view.buffer !== mem.buffer || this.view.length < n) this.view = new Float32Array(mem.buffer, TAIL_BYTES, (mem.buffer.byteLength - TAIL_BYTES) >> 2);
    return this.view.length === n ? this.view : this.view.subarray(0, n);
  }

  /** [max, sum of exp(x - max)] of x[off .. off + n) (float32 values), into `out`. */
  maxSumExp(x: Float32Array, off: number, n: number, out: MaxSumExp = this.pair): MaxSumExp {
    if (this.memory === null || n === 0) return maxSumExpJs(x, off, n, out);
    let base: number;
    if (x.buffer === this.memory.buffer) base = x.byteOffset + 4 * off;
    else {
      const s = this.scratch(n);
      if (s.buffer !== this.memory.buffer) return maxSumExpJs(x, off, n, out);
      s.set(x.subarray(off, off + n));
      base = s.byteOffset;
    }
    const m = this.maxF32!(base, n);
    const n4 = n >> 2;
    // blocks of BLOCK groups summed apart, then added: the sum's rounding error grows with the
    // block length and the block count, not with n (1e-15 relative at n = 152k, vs 1e-13 for one running sum)
    let sum = 0;
    for (let g = 0; g < n4; g += BLOCK) sum += this.sumExp4!(base + 16 * g, Math.min(BLOCK, n4 - g), m);
    const rest = n & 3;
    if (rest) {
      const tail = new Float32Array(this.memory.buffer, 0, 4);
      const src = new Float32Array(this.memory.buffer, base + 16 * n4, rest);
      tail.fill(-Infinity);
      tail.set(src);
      sum += this.sumExp4!(0, 1, m);
    }
    out[0] = m;
    out[1] = sum;
    return out;
  }

  /** log softmax(x[off .. off + n))[target] in float64: x_t - m - log(S). */
  logProb(x: Float32Array, off: number, n: number, target: number): number {
    const [m, s] = this.maxSumExp(x, off, n);
    return x[off + target]! - m! - Math.log(s!);
  }

  /** The whole log-softmax row of x[off .. off + n) in float64. */
  logSoftmaxRow(x: Float32Array, off: number, n: number): Float64Array {
    const [m, s] = this.maxSumExp(x, off, n);
    const ls = Math.log(s!);
    const out = new Float64Array(n);
    for (let v = 0; v < n; v++) out[v] = x[off + v]! - m! - ls;
    return out;
  }
}

/** The Math.exp version of maxSumExp (where WebAssembly SIMD is unavailable). */
function maxSumExpJs(x: Float32Array, off: number, n: number, out: MaxSumExp): MaxSumExp {
  let m = -Infinity;
  for (let v = 0; v < n; v++) if (x[off + v]! > m) m = x[off + v]!;
  let s = 0;
  for (let b = 0; b < n; b += 4 * BLOCK) {
    let bs = 0;
    for (let v = b, e = Math.min(n, b + 4 * BLOCK); v < e; v++) bs += Math.exp(x[off + v]! - m);
    s += bs;
  }
  out[0] = m;
  out[1] = s;
  return out;
}

let shared: LogSoftmaxKernel | null = null;

/** The process's kernel for single rows (its memory holds one row at a time). */
export function sharedLogSoftmaxKernel(): LogSoftmaxKernel {
  return (shared ??= new LogSoftmaxKernel());
}
