/**
 * Guards ggml's automatic differentiation. ggml_build_backward_expand aborts the whole process
 * (GGML_ABORT) when a node on the path from a parameter to the loss has an op without a backward,
 * so every forward graph is checked here first and a TypeScript error names the offending ops.
 *
 * The rules mirror ggml_build_backward_expand / ggml_compute_backward in the pinned ggml
 * (ggml/src/ggml.c): a node needs a gradient when it is a parameter or the loss, or when one of its
 * sources (other than the ignored ones: IM2COL's kernel, SGN/STEP inputs, CPY's target, GET_ROWS'
 * and ROPE's index sources) needs one; such a node's op must be in the supported list, its sources
 * that need gradients must be f32/f16, and it must not be an in-place op.
 */
import { readTensorHeader, type Ptr } from './ffi.ts';
import type { Graph } from './graph.ts';

/** Ops (ggml_op_desc names) with a backward in this ggml build. */
export const DIFFERENTIABLE_OPS: ReadonlySet<string> = new Set([
  'NONE', 'DUP', 'ADD', 'ADD1', 'ACC', 'SUB', 'MUL', 'DIV', 'SQR', 'SQRT', 'LOG', 'SIN', 'COS', 'SUM', 'SUM_ROWS',
  'MEAN', 'REPEAT', 'REPEAT_BACK', 'RMS_NORM', 'MUL_MAT', 'SCALE', 'SET', 'CPY', 'CONT', 'RESHAPE', 'VIEW',
  'PERMUTE', 'TRANSPOSE', 'GET_ROWS', 'DIAG_MASK_INF', 'DIAG_MASK_ZERO', 'SOFT_MAX', 'ROPE', 'IM2COL', 'POOL_2D',
  // unary ops
  'ABS', 'SGN', 'NEG', 'STEP', 'RELU', 'SILU', 'EXP', 'EXPM1', 'SOFTPLUS',
  'CROSS_ENTROPY_LOSS',
  // glu: split form only (checked below)
  'SWIGLU',
]);

const FLAG_PARAM = 4;
const FLAG_LOSS = 8;
const INPLACE_OK = new Set(['CPY', 'SET_ROWS', 'VIEW', 'RESHAPE', 'PERMUTE', 'TRANSPOSE']);
const TYPE_F32 = 0;
const TYPE_F16 = 1;
const TYPE_I32 = 26;

function ignoredSources(op: string): Set<number> {
  switch (op) {
    case 'IM2COL':
    case 'IM2COL_BACK':
    case 'SGN':
    case 'STEP':
      return new Set([0]);
    case 'CPY':
    case 'GET_ROWS':
    case 'GET_ROWS_BACK':
    case 'ROPE':
      return new Set([1]);
    default:
      return new Set();
  }
}

export class NotDifferentiableError extends TypeError {
  constructor(readonly ops: string[], detail: string) {
    super(
      `cannot build a backward graph: ${detail}. ggml has no backward for ${ops.join(', ')}; ` +
        `build it from differentiable ops (see src/engine/composite.ts: layerNorm, gelu, conv2d, batchNorm, groupNorm)`,
    );
    this.name = 'NotDifferentiableError';
  }
}

const sameShape = (a: Ptr, b: Ptr) => readTensorHeader(a).ne.every((v, i) => v === readTensorHeader(b).ne[i]);

/**
 * Throws NotDifferentiableError when the forward graph `gf` of `graph` cannot be differentiated.
 * Besides ops without a backward, it rejects the combinations where ggml_compute_backward fails a
 * GGML_ASSERT (pinned ggml.c): a broadcast second operand of SUB / DIV that needs a gradient (the
 * gradient is not reduced back to its shape), gradients into cross-entropy labels, a softmax mask or
 * rope frequency factors, MUL_MAT whose first operand is broadcast over a 4th dim > 1, and a
 * non-scalar MEAN whose input already has a gradient when MEAN's backward runs (ggml_add1 with a
 * non-scalar: its input feeds a later op, or is a parameter with an accumulator).
 */
export function assertDifferentiable(graph: Graph, gf: Ptr, opts: { accumulate?: boolean } = {}): void {
  const g = graph.g;
  const n = Number(g.ggml_graph_n_nodes!(gf));
  const needs = new Set<Ptr>();
  const badOps = new Set<string>();
  const problems: string[] = [];
  /** For each tensor needing a gradient: the index of the last node that takes a gradient through it. */
  const lastConsumer = new Map<Ptr, number>();
  const means: Array<{ i: number; src: Ptr; name: string }> = [];
  for (let i = 0; i < n; i++) {
    const node = g.ggml_graph_node!(gf, i) as Ptr;
    const h = readTensorHeader(node);
    if (h.type === TYPE_I32) continue;
    const op = String(g.ggml_op_desc!(node));
    let need = (h.flags & FLAG_PARAM) !== 0 || (h.flags & FLAG_LOSS) !== 0;
    const ignored = ignoredSources(op);
    const srcs = readSrcSlots(node);
    for (let j = 0; j < srcs.length; j++) {
      const s = srcs[j];
      if (s === null || ignored.has(j) || !needs.has(s)) continue;
      const st = readTensorHeader(s).type;
      if (st !== TYPE_F32 && st !== TYPE_F16) problems.push(`${op} node '${h.name}' takes a gradient through a non-float source`);
      need = true;
    }
    if (!need) continue;
    needs.add(node);
    for (let j = 0; j < srcs.length; j++) {
      const s = srcs[j];
      if (s !== null && !ignored.has(j) && needs.has(s)) lastConsumer.set(s, i);
    }
    const label = h.name || op;
    const s0 = srcs[0] ?? null;
    const s1 = srcs[1] ?? null;
    const s2 = srcs[2] ?? null;
    if ((op === 'SUB' || op === 'DIV') && s1 !== null && needs.has(s1) && !sameShape(s1, node)) {
      badOps.add(`${op} (broadcast operand)`);
      problems.push(`node '${label}' (${op}) broadcasts a second operand that needs a gradient; use ${op === 'SUB' ? 'sub' : 'div'}(a, repeat(b, a))`);
    }
    if (op === 'CROSS_ENTROPY_LOSS' && s1 !== null && needs.has(s1)) {
      badOps.add('CROSS_ENTROPY_LOSS (labels)');
      problems.push(`node '${label}': cross-entropy labels cannot take a gradient`);
    }
    if (op === 'SOFT_MAX' && s1 !== null && needs.has(s1)) {
      badOps.add('SOFT_MAX (mask)');
      problems.push(`node '${label}': a softmax mask cannot take a gradient`);
    }
    if (op === 'ROPE' && s2 !== null && needs.has(s2)) {
      badOps.add('ROPE (freq factors)');
      problems.push(`node '${label}': rope frequency factors cannot take a gradient`);
    }
    if (op === 'MUL_MAT' && s0 !== null && s1 !== null && needs.has(s0)) {
      const a = readTensorHeader(s0).ne;
      const b = readTensorHeader(s1).ne;
      if ((a[2] !== b[2] || a[3] !== b[3]) && b[3] !== 1) {
        badOps.add('MUL_MAT (broadcast over dim 3)');
        problems.push(`node '${label}': mul_mat's first operand is broadcast over a 4th dimension; repeat it first`);
      }
    }
    if (op === 'MEAN' && s0 !== null && needs.has(s0) && h.ne[0] * h.ne[1] * h.ne[2] * h.ne[3] > 1) {
      means.push({ i, src: s0, name: label });
    }
    if (!DIFFERENTIABLE_OPS.has(op)) {
      badOps.add(op);
      problems.push(`node '${h.name || op}' (${op}) lies between a parameter and the loss`);
      continue;
    }
    if (op === 'SWIGLU' && srcs[1] === null) {
      badOps.add('SWIGLU (fused form)');
      problems.push(`node '${h.name || op}' uses fused swiglu; use swigluSplit(gate, up)`);
    }
    if (h.viewSrc !== null && !INPLACE_OK.has(op)) {
      badOps.add(`${op} (in place)`);
      problems.push(`node '${h.name || op}' is an in-place ${op}`);
    }
  }
  for (const m of means) {
    const isAccParam = opts.accumulate === true && (readTensorHeader(m.src).flags & FLAG_PARAM) !== 0;
    if ((lastConsumer.get(m.src) ?? -1) > m.i || isAccParam) {
      badOps.add('MEAN (non-scalar, shared input)');
      problems.push(`node '${m.name}' (MEAN over rows) reads a tensor that also takes a gradient elsewhere; use scale(sumRows(x), 1 / n)`);
    }
  }
  if (problems.length > 0) throw new NotDifferentiableError([...badOps], problems.slice(0, 5).join('; '));
}

/** Source pointers by slot index (null where empty). */
function readSrcSlots(node: Ptr): Array<Ptr | null> {
  return readTensorHeader(node).src;
}
