/**
 * Graphs with explicit lifetimes: a Graph owns one ggml context (tensor metadata) and, once
 * allocated, one backend buffer holding every tensor of that context (parameters, inputs,
 * intermediates, gradients and optimiser moments) on the chosen device. `dispose()` frees both;
 * nothing leaks in a loop of build / compute / dispose (test/engine/lifetime.test.ts measures it).
 *
 * Life cycle:
 *   const g = new Graph();                      // or new Graph({ engine, device })
 *   const w = g.param('w', [4, 3]);             // trainable (gets a gradient)
 *   const x = g.input('x', [4, 5]);             // data
 *   const loss = op.sum(op.sqr(op.mulMat(w, x)));
 *   g.build({ outputs: [loss], loss, backward: true, optimizer: 'adamw' });
 *   g.allocate();
 *   g.set(w, data); g.set(x, data);
 *   g.compute('backward'); g.grad(w);          // or g.step({ lr }) for forward + backward + update
 *   g.dispose();
 *
 * Backward graphs come from ggml_build_backward_expand; ops without a backward in this ggml build
 * are rejected in TypeScript before ggml is asked (autodiff.ts), since ggml would abort the process.
 *
 * Model weights of forward-only graphs can be declared with `input(name, shape, dtype, { placement:
 * 'weight' })`: on the CPU, allocate() then stores each in the buffer type llama.cpp would choose
 * for it (the CPU's extra buffer types AMX / CPU_REPACK, whose kernels round differently, or the
 * plain buffer; see placeWeights), in buffers of their own next to the graph's.
 */
import { getEngine, type Engine, type DeviceInfo } from './engine.ts';
import { readTensorHeader, ptrOrNull, rewriteAsCustomOp, clearTensorAllocation, deviceExtraBufferTypes, setTensorBuffer, setTensorSrc, withGgmlDebugMuted, type Ptr } from './ffi.ts';
import { checkShape, dtypeFromCode, dtypeOfCode, GGML_TYPE, numel, shapeStr, trimShape, type DType, type Shape } from './types.ts';
import { assertDifferentiable } from './autodiff.ts';
import { isNativeMatMulNode, nativeKernels } from './native.ts';
import { nativeWeightKernels } from './ops.ts';

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly ptr: Ptr,
    /** ggml ne order, always 4 entries. */
    readonly ne: [number, number, number, number],
    readonly dtype: DType,
  ) {}

  /** Shape in ne order without trailing 1s. */
  get shape(): number[] {
    return trimShape(this.ne);
  }

  get numel(): number {
    return this.ne[0] * this.ne[1] * this.ne[2] * this.ne[3];
  }

  get name(): string {
    // after dispose the tensor's memory is gone: never read it (messages still name the tensor's shape)
    if (this.graph.isDisposed) return '(disposed)';
    return String(this.graph.g.ggml_get_name!(this.ptr));
  }

  toString(): string {
    return `Tensor(${this.name || '?'} ${this.dtype} ${shapeStr(this.ne)})`;
  }
}

export type OptimizerKind = 'adamw' | 'sgd';

export interface BuildOptions {
  /** Tensors whose values are read after a forward compute. */
  outputs?: Tensor[];
  /** A scalar loss (required for backward). */
  loss?: Tensor;
  /** Build the backward graph. */
  backward?: boolean;
  /**
   * Accumulate gradients across computes into per-parameter buffers until zeroGrads() (gradient
   * accumulation over micro-batches); step() then runs the update only, from the accumulated sums.
   * With a manual backward the accumulators are f32 tensors of the parameters' shapes that each
   * backward adds its gradients into (ggml_add_inplace).
   */
  accumulate?: boolean;
  /** Build an optimiser update for every parameter. */
  optimizer?: OptimizerKind;
  /**
   * Extra nodes computed from forward values and gradients of any node (e.g. per-example
   * gradients): called after the backward graph exists with `gradOf(node)`; the returned tensors
   * are computed by the phases 'backwardExtras' and 'stepExtras' (before the optimiser update).
   */
  extras?: (gradOf: (t: Tensor) => Tensor) => Tensor[];
  /**
   * A hand-written backward instead of ggml's automatic one (e.g. matmul gradients from mul_mat
   * rather than OUT_PROD, for speed): returns the gradient tensor of every parameter and, for
   * `extras`, of any intermediate node it can.
   */
  manualBackward?: () => { params: Map<Tensor, Tensor>; nodes?: Map<Tensor, Tensor>; parts?: Array<[Tensor, Tensor]> };
  /**
   * CPU graphs (forward-only, or with ggml's automatic backward): once every gradient is built, turn the f32 MUL_MAT
   * and OUT_PROD nodes (forward products and the gradients autodiff made of them) into unlearnkit's
   * native matmul (native.ts), the same products on a ~3x faster kernel. Off by default so that
   * reference graphs (the automatic backward the manual one is tested against, evaluation graphs
   * that must match llama.cpp) run ggml's own kernels.
   */
  nativeMatmul?: boolean;
}

export interface AdamWHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface SgdHyper {
  lr: number;
  weightDecay?: number;
}

export interface GraphOptions {
  engine?: Engine;
  device?: DeviceInfo;
  /** Upper bound on graph nodes (forward + backward). */
  maxNodes?: number;
  /**
   * Allocate the intermediate tensors with ggml's graph allocator (ggml_gallocr) before each
   * compute, reusing memory between nodes whose lifetimes do not overlap, as llama.cpp allocates its
   * graphs; only parameters, inputs, optimiser moments and gradient accumulators get memory of their
   * own (allocated once). Tensors read after a compute must be graph outputs (build's `outputs`,
   * the loss, gradients, extras): other intermediates are overwritten. Without it (the default)
   * every tensor has its own memory for the graph's life. Not with ggml's automatic backward.
   */
  reuse?: boolean;
}

export type Phase = 'forward' | 'backward' | 'step' | 'backwardExtras' | 'stepExtras';

export class Graph {
  readonly engine: Engine;
  readonly g: Engine['g'];
  readonly device: DeviceInfo;
  private ctx: Ptr | null;
  private buffer: Ptr | null = null;
  private readonly maxNodes: number;
  readonly params: Tensor[] = [];
  readonly inputs: Tensor[] = [];
  private built = false;
  private gf: Ptr | null = null;
  private gb: Ptr | null = null;
  private gopt: Ptr | null = null;
  private gbx: Ptr | null = null;
  private manual: { params: Map<Tensor, Tensor>; nodes?: Map<Tensor, Tensor> } | null = null;
  private goptx: Ptr | null = null;
  private accumulate = false;
  private optimizer: OptimizerKind | null = null;
  private optHyper: Tensor | null = null;
  private moments = new Map<Tensor, { m: Tensor; v: Tensor | null }>();
  private optIter = 0;
  private lossT: Tensor | null = null;
  private flopsForward = 0;
  private checkedSupport = new Set<Ptr>();
  /** Inputs declared with placement 'weight', and where allocate() put them (see placeWeights). */
  private weightInputs = new Set<Tensor>();
  private placed = new Map<Tensor, WeightPlacement>();
  /** Buffers of the extra buffer types holding placed weights (freed with the graph). */
  private extraBuffers: Ptr[] = [];
  private threadStats = new Map<Ptr, { n: number; best: Map<number, number>; chosen: number }>();
  /** GraphOptions.reuse: the graph allocator, and the graph whose intermediates it placed last. */
  private readonly reuse: boolean;
  private galloc: Ptr | null = null;
  private gallocBuft: Ptr | null = null;
  private allocatedFor: Ptr | null = null;
  /** GraphOptions.reuse: the tensors with memory of their own, and each phase graph's others (cached). */
  private staticPtrs = new Set<Ptr>();
  private placedByGraph = new Map<Ptr, Ptr[]>();
  /** Manual backward with accumulate: each parameter's gradient accumulator. */
  private accs = new Map<Tensor, Tensor>();

  constructor(opts: GraphOptions = {}) {
    this.engine = opts.engine ?? getEngine();
    this.g = this.engine.g;
    this.device = opts.device ?? this.engine.device;
    this.maxNodes = opts.maxNodes ?? 8192;
    this.reuse = opts.reuse === true;
    const overhead = Number(this.g.ggml_tensor_overhead!());
    const memSize = overhead * this.maxNodes * 3 + 3 * Number(this.g.ggml_graph_overhead_custom!(this.maxNodes, true)) + 1024 * 1024;
    const ctx = ptrOrNull(this.g.ggml_init!({ mem_size: memSize, mem_buffer: null, no_alloc: true }));
    if (ctx === null) throw new Error('ggml_init failed (out of memory?)');
    this.ctx = ctx;
  }

  /** The raw ggml context, for ops.ts. */
  get context(): Ptr {
    if (this.ctx === null) throw new Error('this Graph was disposed');
    if (this.buffer !== null) throw new Error('this Graph is allocated; build every tensor before allocate()');
    return this.ctx;
  }

  get isDisposed(): boolean {
    return this.ctx === null;
  }

  get isAllocated(): boolean {
    return this.buffer !== null;
  }

  /** Wrap a tensor pointer returned by ggml; reads its type and shape back from the struct. */
  wrap(p: unknown, what: string): Tensor {
    const ptr = ptrOrNull(p);
    if (ptr === null) throw new Error(`ggml returned NULL for ${what} (context full? raise maxNodes)`);
    const h = readTensorHeader(ptr);
    return new Tensor(this, ptr, h.ne, dtypeFromCode(h.type));
  }

  /** A new tensor of the given type and shape (ne order). */
  newTensor(dtype: DType, shape: Shape, name?: string): Tensor {
    const [a, b, c, d] = checkShape(shape, name ?? 'tensor');
    const n = shape.length;
    const ctx = this.context;
    const code = GGML_TYPE[dtype];
    const p =
      n === 1
        ? this.g.ggml_new_tensor_1d!(ctx, code, a)
        : n === 2
          ? this.g.ggml_new_tensor_2d!(ctx, code, a, b)
          : n === 3
            ? this.g.ggml_new_tensor_3d!(ctx, code, a, b, c)
            : this.g.ggml_new_tensor_4d!(ctx, code, a, b, c, d);
    const t = this.wrap(p, `new tensor ${name ?? ''}`);
    if (name) this.g.ggml_set_name!(t.ptr, name.slice(0, 63));
    return t;
  }

  /** A trainable parameter (gets a gradient in backward graphs). */
  param(name: string, shape: Shape, dtype: DType = 'f32'): Tensor {
    if (dtype !== 'f32' && dtype !== 'f16') throw new TypeError(`parameter ${name}: trainable tensors must be f32 or f16, got ${dtype}`);
    const t = this.newTensor(dtype, shape, name);
    this.g.ggml_set_param!(t.ptr);
    this.params.push(t);
    return t;
  }

  /**
   * A data tensor (inputs, labels, masks, frozen weights). With `placement: 'weight'` (a model
   * weight of a forward-only graph) allocate() stores it where llama.cpp would store that weight on
   * this device: on the CPU, in the first of the device's extra buffer types (AMX, CPU_REPACK) that
   * accepts the op the weight is used with, else in the plain CPU buffer (see placeWeights).
   */
  input(name: string, shape: Shape, dtype: DType = 'f32', opts: { placement?: 'weight' } = {}): Tensor {
    const t = this.newTensor(dtype, shape, name);
    this.g.ggml_set_input!(t.ptr);
    this.inputs.push(t);
    if (opts.placement === 'weight') this.weightInputs.add(t);
    return t;
  }

  /** Build the forward (and optionally backward and optimiser) graphs. Call once, before allocate(). */
  build(opts: BuildOptions): void {
    if (this.built) throw new Error('Graph.build() was already called');
    const outputs = opts.outputs ?? [];
    if (opts.loss) outputs.push(opts.loss);
    if (outputs.length === 0) throw new TypeError('Graph.build needs at least one output or a loss');
    for (const t of outputs) if (t.graph !== this) throw new TypeError(`${t} belongs to another Graph`);
    const ctx = this.context;
    this.gf = this.g.ggml_new_graph_custom!(ctx, this.maxNodes, !!opts.backward) as Ptr;
    for (const t of outputs) {
      this.g.ggml_set_output!(t.ptr);
      this.g.ggml_build_forward_expand!(this.gf, t.ptr);
    }
    this.flopsForward = estimateFlops(this);
    if (opts.backward || opts.optimizer) {
      const loss = opts.loss;
      if (!loss) throw new TypeError('a backward graph needs a loss');
      if (loss.numel !== 1 || loss.dtype !== 'f32') throw new TypeError(`the loss must be an f32 scalar, got ${loss}`);
      if (this.params.length === 0) throw new TypeError('a backward graph needs at least one parameter (Graph.param)');
      this.lossT = loss;
      if (opts.manualBackward) {
        const mb = opts.manualBackward();
        this.manual = mb;
        for (const p of this.params) {
          const gp = mb.params.get(p);
          if (!gp) throw new TypeError(`the manual backward gives no gradient for parameter ${p.name}`);
          if (gp.ne.some((n, i) => n !== p.ne[i])) throw new TypeError(`manual gradient of ${p.name} has shape ${shapeStr(gp.ne)}, expected ${shapeStr(p.ne)}`);
        }
        this.gb = this.g.ggml_new_graph_custom!(ctx, this.maxNodes, false) as Ptr;
        this.g.ggml_build_forward_expand!(this.gb, loss.ptr);
        if (opts.accumulate) {
          // acc += grad, in place: the accumulators persist between computes (zeroGrads clears them).
          // Each part of a gradient is added in the order the backward produces them (else in reverse
          // parameter order, about the same), so that each add follows its part and the graph
          // allocator frees the part at once
          this.accumulate = true;
          for (const p of this.params) this.accs.set(p, this.newTensor('f32', p.ne, `acc.${p.name}`.slice(0, 63)));
          const parts = mb.parts ?? [...this.params].reverse().map((p) => [p, mb.params.get(p)!] as [Tensor, Tensor]);
          for (const [p, part] of parts) {
            const acc = this.accs.get(p);
            if (!acc) throw new TypeError(`the manual backward gives a gradient part for ${p.name}, which is not a parameter of this graph`);
            this.g.ggml_build_forward_expand!(this.gb, this.g.ggml_add_inplace!(ctx, acc.ptr, part.ptr));
          }
        } else {
          for (const p of this.params) {
            this.g.ggml_set_output!(mb.params.get(p)!.ptr);
            this.g.ggml_build_forward_expand!(this.gb, mb.params.get(p)!.ptr);
          }
        }
        this.buildExtrasAndOptimizer(opts, ctx);
        if (opts.nativeMatmul) this.nativeMatmulNodes = this.rewriteMatmuls();
        this.built = true;
        return;
      }
      if (this.reuse) throw new TypeError('Graph reuse needs a manual backward (ggml\'s automatic one keeps its gradient state in the graph)');
      this.g.ggml_set_loss!(loss.ptr);
      assertDifferentiable(this, this.gf, { accumulate: !!opts.accumulate });
      this.gb = this.g.ggml_graph_dup!(ctx, this.gf, true) as Ptr;
      let accs: BigInt64Array | null = null;
      if (opts.accumulate) {
        this.accumulate = true;
        const n = this.nodeCount('forward');
        accs = new BigInt64Array(n);
        for (let i = 0; i < n; i++) {
          const node = this.node(this.gf, i);
          const p = this.params.find((t) => t.ptr === node);
          if (p) accs[i] = this.newTensor('f32', p.ne, `acc.${p.name}`.slice(0, 63)).ptr;
        }
      }
      this.g.ggml_build_backward_expand!(ctx, this.gb, accs);
      for (const p of this.params) {
        if (ptrOrNull(this.g.ggml_graph_get_grad!(this.gb, p.ptr)) === null) {
          throw new TypeError(`parameter ${p.name} does not influence the loss (no gradient); leave it out of the params`);
        }
      }
      this.buildExtrasAndOptimizer(opts, ctx);
    }
    if (opts.nativeMatmul) this.nativeMatmulNodes = this.rewriteMatmuls();
    this.built = true;
  }

  /** How many nodes rewriteMatmuls turned into the native matmul. */
  nativeMatmulNodes = 0;

  /** See BuildOptions.nativeMatmul; returns the number of nodes rewritten. */
  private rewriteMatmuls(): number {
    if (this.device.type !== 'cpu') return 0;
    const k = nativeKernels().kernels;
    if (!k) return 0;
    const seen = new Set<Ptr>();
    let n = 0;
    for (const graph of [this.gf, this.gb, this.gbx, this.gopt, this.goptx]) {
      if (graph === null) continue;
      const count = Number(this.g.ggml_graph_n_nodes!(graph));
      for (let i = 0; i < count; i++) {
        const node = this.node(graph, i);
        if (seen.has(node)) continue;
        seen.add(node);
        const op = String(this.g.ggml_op_desc!(node));
        if (op !== 'MUL_MAT' && op !== 'OUT_PROD') continue;
        const h = readTensorHeader(node);
        const f32 = (p: Ptr | null) => p !== null && readTensorHeader(p).type === GGML_TYPE.f32;
        if (op === 'OUT_PROD' && h.type === GGML_TYPE.f32 && f32(h.src[1]!) && h.src[0] !== null && !f32(h.src[0]!)) {
          // out_prod(W, dY^T) through a frozen weight in another type (autodiff's dX = W^T dY): the
          // native kernel decodes W's rows in blocks instead of once per (row, token) pair
          const w = readTensorHeader(h.src[0]!);
          const dt = dtypeOfCode(w.type);
          if (dt === undefined || w.ne[2] !== 1 || w.ne[3] !== 1 || h.ne[2] !== 1 || h.ne[3] !== 1) continue;
          if (!nativeWeightKernels(new Tensor(this, h.src[0]!, w.ne, dt))) continue;
          rewriteAsCustomOp(node, customOpCode(this), k.wtMatmulOp, 1n);
          n++;
          continue;
        }
        if (op === 'MUL_MAT' && h.type === GGML_TYPE.f32 && f32(h.src[1]!) && h.src[0] !== null && !f32(h.src[0]!)) {
          // a product with a frozen weight in another type: on its decoded values (x not rounded to
          // an activation type), the function whose derivative the rewritten OUT_PROD above computes
          const w = readTensorHeader(h.src[0]!);
          const dt = dtypeOfCode(w.type);
          if (dt === undefined || dt === 'i32' || w.ne[2] !== 1 || w.ne[3] !== 1) continue;
          if (!nativeWeightKernels(new Tensor(this, h.src[0]!, w.ne, dt))) continue;
          rewriteAsCustomOp(node, customOpCode(this), k.wMatmulOp, 0n);
          n++;
          continue;
        }
        if (h.type !== GGML_TYPE.f32 || !f32(h.src[0]!) || !f32(h.src[1]!)) continue;
        rewriteAsCustomOp(node, customOpCode(this), k.matmulOp, op === 'OUT_PROD' ? 1n : 0n);
        n++;
      }
    }
    return n;
  }

  /** The gradient of any node in the backward graph (automatic or manual). */
  private gradOfNode(t: Tensor): Tensor {
    if (this.manual) {
      const g = this.manual.params.get(t) ?? this.manual.nodes?.get(t);
      if (!g) throw new TypeError(`${t} has no gradient in the manual backward graph`);
      return g;
    }
    const gp = ptrOrNull(this.g.ggml_graph_get_grad!(this.gb, t.ptr));
    if (gp === null) throw new TypeError(`${t} has no gradient in this backward graph`);
    return this.wrap(gp, `grad of ${t.name}`);
  }

  private buildExtrasAndOptimizer(opts: BuildOptions, ctx: Ptr): void {
    if (opts.extras) {
      const gradOf = (t: Tensor): Tensor => {
        return this.gradOfNode(t);
      };
      const extra = opts.extras(gradOf);
      this.gbx = this.g.ggml_graph_dup!(ctx, this.gb, true) as Ptr;
      for (const t of extra) {
        this.g.ggml_set_output!(t.ptr);
        this.g.ggml_build_forward_expand!(this.gbx, t.ptr);
      }
    }
    if (opts.optimizer) {
      this.optimizer = opts.optimizer;
      this.optHyper = this.newTensor('f32', [opts.optimizer === 'adamw' ? 7 : 2], 'opt.hyper');
      const stepNodes: Ptr[] = [];
      for (const p of this.params) {
        // accumulating under ggml's autodiff: the accumulator itself (a leaf), not the node that adds
        // into it, which would pull a whole backward pass into the update-only graph
        const acc = this.accumulate && !this.manual ? ptrOrNull(this.g.ggml_graph_get_grad_acc!(this.gb, p.ptr)) : null;
        const grad = acc ?? this.gradTensor(p).ptr;
        if (opts.optimizer === 'adamw') {
          const m = this.newTensor('f32', p.ne, `m.${p.name}`.slice(0, 63));
          const v = this.newTensor('f32', p.ne, `v.${p.name}`.slice(0, 63));
          this.moments.set(p, { m, v });
          stepNodes.push(this.g.ggml_opt_step_adamw!(ctx, p.ptr, grad, m.ptr, v.ptr, this.optHyper.ptr) as Ptr);
        } else {
          stepNodes.push(this.g.ggml_opt_step_sgd!(ctx, p.ptr, grad, this.optHyper.ptr) as Ptr);
        }
      }
      const withSteps = (base: Ptr | null): Ptr => {
        const gr = base === null ? (this.g.ggml_new_graph_custom!(ctx, this.maxNodes, false) as Ptr) : (this.g.ggml_graph_dup!(ctx, base, true) as Ptr);
        for (const n of stepNodes) this.g.ggml_build_forward_expand!(gr, n);
        return gr;
      };
      this.gopt = withSteps(this.accumulate ? null : this.gb);
      if (this.gbx !== null && !this.accumulate) this.goptx = withSteps(this.gbx);
    }
  }

  /** Allocate every tensor in one backend buffer on the device, zeroed; gradients of the loss set to 1. */
  allocate(): void {
    if (!this.built) throw new Error('call Graph.build() before allocate()');
    if (this.buffer !== null) return;
    const ctx = this.ctx!;
    const backend = this.engine.backend(this.device);
    if (this.weightInputs.size > 0) this.placeWeights();
    if (this.reuse) return this.allocateStatic(backend);
    const buf = ptrOrNull(this.g.ggml_backend_alloc_ctx_tensors!(ctx, backend));
    if (buf === null) throw new Error(`could not allocate the graph's tensors on ${this.device.name} (out of device memory?)`);
    this.buffer = buf;
    this.g.ggml_backend_buffer_clear!(buf, 0);
    if (this.gb !== null && !this.manual) this.g.ggml_graph_reset!(this.gb);
  }

  /**
   * GraphOptions.reuse: one buffer for the tensors that persist between computes (parameters,
   * inputs not placed elsewhere, optimiser moments and hyper-parameters, gradient accumulators),
   * zeroed; every other tensor is placed by the graph allocator before each compute (compute()).
   */
  private allocateStatic(backend: Ptr): void {
    const statics: Tensor[] = [...this.params, ...this.inputs, ...this.accs.values()];
    for (const { m, v } of this.moments.values()) statics.push(m, ...(v ? [v] : []));
    if (this.optHyper) statics.push(this.optHyper);
    const todo = [...new Set(statics)].filter((t) => readTensorHeader(t.ptr).buffer === null);
    for (const t of statics) this.staticPtrs.add(t.ptr);
    const buft = this.g.ggml_backend_get_default_buffer_type!(backend) as Ptr;
    const align = Number(this.g.ggml_backend_buft_get_alignment!(buft));
    const pad = (n: number) => Math.ceil(n / align) * align;
    const sizes = todo.map((t) => pad(Number(this.g.ggml_backend_buft_get_alloc_size!(buft, t.ptr))));
    const buf = ptrOrNull(this.g.ggml_backend_buft_alloc_buffer!(buft, Math.max(align, sizes.reduce((a, b) => a + b, 0))));
    if (buf === null) throw new Error(`could not allocate the graph's parameters and inputs on ${this.device.name} (out of device memory?)`);
    this.buffer = buf;
    const base = this.g.ggml_backend_buffer_get_base!(buf) as Ptr;
    let off = 0;
    todo.forEach((t, i) => {
      const status = Number(this.g.ggml_backend_tensor_alloc!(buf, t.ptr, base + BigInt(off)));
      if (status !== 0) throw new Error(`ggml_backend_tensor_alloc of ${t} failed (status ${status})`);
      off += sizes[i]!;
    });
    this.g.ggml_backend_buffer_clear!(buf, 0);
    this.gallocBuft = buft;
    this.galloc = this.newGallocr();
  }

  private newGallocr(): Ptr {
    const galloc = ptrOrNull(this.g.ggml_gallocr_new!(this.gallocBuft));
    if (galloc === null) throw new Error('ggml_gallocr_new failed');
    return galloc;
  }

  /**
   * GraphOptions.reuse: free the memory of the intermediates now (it is allocated again by the next
   * compute), e.g. while a trainer writes a checkpoint. Outputs of the last compute are lost.
   */
  releaseIntermediates(): void {
    if (this.galloc === null) return;
    this.g.ggml_gallocr_free!(this.galloc);
    this.galloc = this.newGallocr();
    this.allocatedFor = null;
  }

  /**
   * Place a phase graph's intermediates (GraphOptions.reuse) unless they were placed for it last.
   * The allocator keeps a tensor wherever it already has memory, and the phases share tensors (the
   * backward graph holds the forward's) under different lifetimes, so every intermediate of the
   * graph is unplaced first and the whole graph planned afresh.
   */
  private allocateIntermediates(graph: Ptr): void {
    if (this.galloc === null || this.allocatedFor === graph) return;
    for (const t of this.intermediatesOf(graph)) clearTensorAllocation(t);
    if (!this.g.ggml_gallocr_alloc_graph!(this.galloc, graph)) throw new Error(`could not allocate the graph's intermediate tensors on ${this.device.name} (out of memory?)`);
    this.allocatedFor = graph;
  }

  /** Every tensor a graph reads or computes (sources and view sources included) that has no memory of its own. */
  private intermediatesOf(graph: Ptr): Ptr[] {
    let list = this.placedByGraph.get(graph);
    if (list) return list;
    const seen = new Set<Ptr>();
    const visit = (p: Ptr | null): void => {
      if (p === null || seen.has(p) || this.staticPtrs.has(p)) return;
      seen.add(p);
      const h = readTensorHeader(p);
      for (const s of h.src) visit(s);
      visit(h.viewSrc);
    };
    const n = Number(this.g.ggml_graph_n_nodes!(graph));
    for (let i = 0; i < n; i++) visit(this.node(graph, i));
    list = [...seen];
    this.placedByGraph.set(graph, list);
    return list;
  }

  /**
   * Where allocate() put each weight input: the buffer type names of the weight and of its copies
   * (a weight used by ops whose buffer types differ, e.g. a tied embedding read by GET_ROWS and by
   * the output MUL_MAT, is stored once per buffer type, as llama.cpp loads it twice).
   */
  weightPlacements(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [t, p] of this.placed) out.set(t.name, p.bufferTypes);
    return out;
  }

  /**
   * Place the weight inputs as llama.cpp places a model's weights on the CPU (llama-model.cpp
   * make_cpu_buft_list, llama-model-loader.cpp select_weight_buft / weight_buft_supported): the
   * candidate buffer types are the CPU device's extra buffer types, in the order its
   * `ggml_backend_dev_get_extra_bufts` proc lists them (AMX, CPU_REPACK, ...), then the plain CPU
   * buffer; a weight goes to the first one for which the device supports llama.cpp's dummy op of
   * the weight's use (MUL_MAT with a [ne0, 512, ne2, ne3] f32 operand, GET_ROWS with 512 i32
   * indices) while the weight sits in a dummy buffer of that type. A weight's use is read off the
   * graph: the op of every node that reads it. Uses other than as the matrix of a MUL_MAT or the
   * table of a GET_ROWS (norm scales, biases, views) keep the plain buffer, as llama.cpp's ADD/MUL
   * checks do. Each node is checked too, so a buffer type is never given a node it does not
   * support. Uses that end in different buffer types get one copy of the weight each (the node's
   * source slot is pointed at the copy); set() uploads to every copy.
   *
   * Why: the extra buffer types run their own matmul kernels (AMX tiles or AVX-512 for F16 and
   * block-quantised weights, repacked Q4_0/Q4_K/IQ4_NL/Q8_0 with AVX2), which round differently
   * from the plain CPU kernels; placing weights where llama.cpp does gives llama.cpp's numbers.
   * Only forward-only graphs on the CPU are placed (training graphs keep F32 weights in one buffer).
   */
  private placeWeights(): void {
    if (this.device.type !== 'cpu') return;
    if (this.gb !== null) throw new TypeError('weight placement applies to forward-only graphs (this one has a backward graph)');
    const dev = this.device.ptr;
    const cpuBuft = this.g.ggml_backend_dev_buffer_type!(dev) as Ptr;
    const extras = cpuExtraBufferTypes(this.engine, dev);
    const candidates = [...extras, cpuBuft];
    const weights = new Map<Ptr, Tensor>();
    for (const t of this.weightInputs) weights.set(t.ptr, t);
    // every use of every weight: (node, source slot, op)
    const uses = new Map<Tensor, Array<{ node: Ptr; slot: number; op: string }>>();
    const seen = new Set<Ptr>();
    for (const node of this.nodes('forward')) {
      if (seen.has(node)) continue;
      seen.add(node);
      const h = readTensorHeader(node);
      h.src.forEach((src, slot) => {
        const w = src === null ? undefined : weights.get(src);
        if (!w) return;
        let list = uses.get(w);
        if (!list) uses.set(w, (list = []));
        list.push({ node, slot, op: String(this.g.ggml_op_desc!(node)) });
      });
    }
    const pending = new Map<Ptr, Tensor[]>(); // extra buffer type -> tensors to allocate there
    for (const w of this.weightInputs) {
      const groups = new Map<string, Array<{ node: Ptr; slot: number }>>();
      for (const u of uses.get(w) ?? []) {
        const kind = u.slot === 0 && (u.op === 'MUL_MAT' || u.op === 'GET_ROWS') ? u.op : 'OTHER';
        let g = groups.get(kind);
        if (!g) groups.set(kind, (g = []));
        g.push(u);
      }
      // buffer type per use kind, in llama.cpp's order
      const chosen = new Map<Ptr, Array<{ node: Ptr; slot: number }>>();
      for (const [kind, list] of groups) {
        let buft = cpuBuft;
        if (kind !== 'OTHER') {
          for (const b of candidates) {
            if (b === cpuBuft || (this.dummyOpSupported(w, kind as 'MUL_MAT' | 'GET_ROWS', b, dev) && list.every((u) => this.nodeSupportedWith(w, u.node, b, dev)))) {
              buft = b;
              break;
            }
          }
        }
        const c = chosen.get(buft);
        if (c) c.push(...list);
        else chosen.set(buft, [...list]);
      }
      if (chosen.size === 0) chosen.set(cpuBuft, []);
      // the weight itself goes to the plain buffer when some use stays there, else to the first choice
      const order = [...chosen.keys()].sort((a, b) => (a === cpuBuft ? -1 : b === cpuBuft ? 1 : 0));
      const placement: WeightPlacement = { bufferTypes: [], copies: [], extra: false };
      order.forEach((buft, i) => {
        let target = w.ptr;
        if (i > 0) {
          const dup = ptrOrNull(this.g.ggml_dup_tensor!(this.ctx!, w.ptr));
          if (dup === null) throw new Error(`ggml_dup_tensor failed for ${w} (context full? raise maxNodes)`);
          target = dup;
          this.g.ggml_set_name!(target, w.name.slice(0, 63));
          for (const u of chosen.get(buft)!) setTensorSrc(u.node, u.slot, target);
          placement.copies.push(target);
        }
        const name = String(this.g.ggml_backend_buft_name!(buft));
        placement.bufferTypes.push(name);
        if (buft !== cpuBuft) {
          if (i === 0) placement.extra = true;
          let list = pending.get(buft);
          if (!list) pending.set(buft, (list = []));
          list.push(i === 0 ? w : new Tensor(this, target, w.ne, w.dtype));
        }
      });
      this.placed.set(w, placement);
    }
    for (const [buft, tensors] of pending) this.allocateIn(buft, tensors);
  }

  /** One buffer of type `buft` holding `tensors` (ggml_tallocr's layout: each at its aligned alloc size). */
  private allocateIn(buft: Ptr, tensors: Tensor[]): void {
    const align = Number(this.g.ggml_backend_buft_get_alignment!(buft));
    const pad = (n: number) => Math.ceil(n / align) * align;
    const sizes = tensors.map((t) => pad(Number(this.g.ggml_backend_buft_get_alloc_size!(buft, t.ptr))));
    const total = sizes.reduce((a, b) => a + b, 0);
    const name = String(this.g.ggml_backend_buft_name!(buft));
    const buf = ptrOrNull(this.g.ggml_backend_buft_alloc_buffer!(buft, total));
    if (buf === null) throw new Error(`could not allocate ${total} bytes of ${name} buffer for the model weights`);
    this.extraBuffers.push(buf);
    const base = this.g.ggml_backend_buffer_get_base!(buf) as Ptr;
    let off = 0;
    tensors.forEach((t, i) => {
      const status = Number(this.g.ggml_backend_tensor_alloc!(buf, t.ptr, base + BigInt(off)));
      if (status !== 0) throw new Error(`ggml_backend_tensor_alloc of ${t} in the ${name} buffer failed (status ${status})`);
      off += sizes[i]!;
    });
  }

  /** llama.cpp's weight_buft_supported: does `dev` run the dummy op of this use with `w` in a `buft` buffer? */
  private dummyOpSupported(w: Tensor, op: 'MUL_MAT' | 'GET_ROWS', buft: Ptr, dev: Ptr): boolean {
    const ctx = ptrOrNull(this.g.ggml_init!({ mem_size: 8 * Number(this.g.ggml_tensor_overhead!()), mem_buffer: null, no_alloc: true }));
    if (ctx === null) throw new Error('ggml_init failed');
    try {
      let opTensor: Ptr;
      if (op === 'GET_ROWS') {
        const b = this.g.ggml_new_tensor_1d!(ctx, GGML_TYPE.i32, 512) as Ptr;
        opTensor = this.g.ggml_get_rows!(ctx, w.ptr, b) as Ptr;
      } else {
        const b = this.g.ggml_new_tensor_4d!(ctx, GGML_TYPE.f32, w.ne[0], 512, w.ne[2], w.ne[3]) as Ptr;
        opTensor = this.g.ggml_mul_mat!(ctx, w.ptr, b) as Ptr;
      }
      return this.nodeSupportedWith(w, opTensor, buft, dev);
    } finally {
      this.g.ggml_free!(ctx);
    }
  }

  /** ggml_backend_dev_supports_op(dev, node) while `w` sits in a zero-size dummy buffer of type `buft`. */
  private nodeSupportedWith(w: Tensor, node: Ptr, buft: Ptr, dev: Ptr): boolean {
    const dummy = ptrOrNull(this.g.ggml_backend_buft_alloc_buffer!(buft, 0));
    if (dummy === null) return false;
    setTensorBuffer(w.ptr, dummy);
    try {
      return !!this.g.ggml_backend_dev_supports_op!(dev, node);
    } finally {
      setTensorBuffer(w.ptr, null);
      this.g.ggml_backend_buffer_free!(dummy);
    }
  }

  private requireAllocated(): void {
    if (this.ctx === null) throw new Error('this Graph was disposed');
    if (this.buffer === null) throw new Error('call Graph.allocate() first');
  }

  /**
   * Copy host data into a tensor. f32 tensors take a Float32Array, i32 an Int32Array; f16/bf16/q8_0 raw bytes.
   * f32 values must be finite; `allowNegInfinity` admits -Infinity (attention masks for softMaxExt),
   * NaN and +Infinity are always rejected.
   */
  set(t: Tensor, data: Float32Array | Int32Array | Uint8Array, opts: { allowNegInfinity?: boolean } = {}): void {
    this.requireAllocated();
    if (t.graph !== this) throw new TypeError(`${t} belongs to another Graph`);
    const nbytes = Number(this.g.ggml_nbytes!(t.ptr));
    if (t.dtype === 'f32') {
      if (!(data instanceof Float32Array)) throw new TypeError(`${t}: expected a Float32Array`);
      if (data.length !== t.numel) throw new TypeError(`${t}: expected ${t.numel} values for shape ${shapeStr(t.ne)}, got ${data.length}`);
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (!Number.isFinite(v) && !(opts.allowNegInfinity && v === -Infinity)) {
          throw new RangeError(`${t}: value ${v} at index ${i} is not finite`);
        }
      }
    } else if (t.dtype === 'i32') {
      if (!(data instanceof Int32Array)) throw new TypeError(`${t}: expected an Int32Array`);
      if (data.length !== t.numel) throw new TypeError(`${t}: expected ${t.numel} values for shape ${shapeStr(t.ne)}, got ${data.length}`);
    } else if (data.byteLength !== nbytes) {
      throw new TypeError(`${t}: expected ${nbytes} raw bytes, got ${data.byteLength}`);
    }
    const placed = this.placed.get(t);
    if (!placed || (!placed.extra && placed.copies.length === 0)) return void this.g.ggml_backend_tensor_set!(t.ptr, data, 0, nbytes);
    // tensor_set goes through the buffer's set_tensor: AMX and CPU_REPACK convert the blocks to their
    // layout there (and log each conversion at debug level, muted here)
    withGgmlDebugMuted(this.engine.lib, () => {
      for (const p of [t.ptr, ...placed.copies]) this.g.ggml_backend_tensor_set!(p, data, 0, nbytes);
    });
  }

  /** Fill a tensor with one value (f32) — e.g. masks, constants. */
  fill(t: Tensor, value: number): void {
    this.set(t, new Float32Array(t.numel).fill(value));
  }

  /** Read a tensor back as Float32Array (f32 only; the engine computes in f32). */
  get(t: Tensor, into?: Float32Array): Float32Array {
    this.requireAllocated();
    if (t.graph !== this) throw new TypeError(`${t} belongs to another Graph`);
    if (t.dtype !== 'f32') throw new TypeError(`${t}: Graph.get reads f32 tensors; cast first`);
    if (this.placed.get(t)?.extra) throw new TypeError(`${t} is stored in the ${this.placed.get(t)!.bufferTypes[0]} buffer, whose layout cannot be read back`);
    if (into && into.length !== t.numel) throw new RangeError(`Graph.get: ${t} has ${t.numel} values, the buffer ${into.length}`);
    // `into`: a buffer to reuse (large repeated reads; saves allocating and zeroing a new one)
    const out = into ?? new Float32Array(t.numel);
    this.g.ggml_backend_tensor_get!(t.ptr, out, 0, out.byteLength);
    return out;
  }

  getI32(t: Tensor): Int32Array {
    this.requireAllocated();
    if (t.dtype !== 'i32') throw new TypeError(`${t}: not an i32 tensor`);
    const out = new Int32Array(t.numel);
    this.g.ggml_backend_tensor_get!(t.ptr, out, 0, out.byteLength);
    return out;
  }

  /** The gradient tensor of a parameter in the backward graph. */
  gradTensor(p: Tensor): Tensor {
    if (this.ctx === null) throw new Error('this Graph was disposed');
    if (this.gb === null) throw new Error('no backward graph: build with backward: true');
    if (this.manual) {
      const m = this.accs.get(p) ?? this.manual.params.get(p);
      if (!m) throw new TypeError(`${p} has no gradient (is it a Graph.param?)`);
      return m;
    }
    const gp = ptrOrNull(this.g.ggml_graph_get_grad!(this.gb, p.ptr));
    if (gp === null) throw new TypeError(`${p} has no gradient (is it a Graph.param?)`);
    return new Tensor(this, gp, p.ne, 'f32');
  }

  /** Read a parameter's gradient after compute('backward') (accumulated if built with accumulate). */
  grad(p: Tensor): Float32Array {
    return this.get(this.gradTensor(p));
  }

  /** Zero accumulated gradients (accumulate mode). */
  zeroGrads(): void {
    this.requireAllocated();
    if (this.gb === null) throw new Error('no backward graph');
    if (this.manual) {
      for (const acc of this.accs.values()) this.g.ggml_backend_tensor_memset!(acc.ptr, 0, 0, Number(this.g.ggml_nbytes!(acc.ptr)));
      return;
    }
    this.g.ggml_graph_reset!(this.gb);
  }

  /** AdamW moments (m, v) of a parameter, e.g. to record the optimiser's per-parameter step scale. */
  adamMoments(p: Tensor): { m: Float32Array; v: Float32Array; iteration: number } {
    const mv = this.moments.get(p);
    if (!mv || !mv.v) throw new Error(`${p} has no AdamW state`);
    return { m: this.get(mv.m), v: this.get(mv.v), iteration: this.optIter };
  }

  get iteration(): number {
    return this.optIter;
  }

  /** Restore AdamW state (moments and step count), e.g. when resuming training. */
  restoreAdam(p: Tensor, m: Float32Array, v: Float32Array, iteration: number): void {
    const mv = this.moments.get(p);
    if (!mv || !mv.v) throw new Error(`${p} has no AdamW state`);
    this.set(mv.m, m);
    this.set(mv.v, v);
    this.optIter = iteration;
  }

  private graphOf(phase: Phase): Ptr | null {
    switch (phase) {
      case 'forward':
        return this.gf;
      case 'backward':
        return this.gb;
      case 'step':
        return this.gopt;
      case 'backwardExtras':
        return this.gbx;
      case 'stepExtras':
        return this.goptx;
    }
  }

  /**
   * Run one phase: 'forward', 'backward' (forward + gradients), 'step' (see step()), or the same
   * with the extra nodes ('backwardExtras', 'stepExtras'). `threads` fixes the CPU thread count
   * (tests, benchmarks) instead of the size rule of pickThreads.
   */
  compute(phase: Phase = 'forward', opts: { threads?: number } = {}): void {
    this.requireAllocated();
    const graph = this.graphOf(phase);
    if (graph === null) throw new Error(`no ${phase} graph was built`);
    const backend = this.engine.backend(this.device);
    if (this.device.type !== 'cpu' && !this.checkedSupport.has(graph)) {
      this.assertSupported(graph, backend);
      this.checkedSupport.add(graph);
    }
    this.allocateIntermediates(graph);
    const threads = this.device.type !== 'cpu' ? 1 : opts.threads !== undefined ? Math.max(1, Math.min(opts.threads, this.engine.maxThreads)) : this.pickThreads(graph, phase);
    this.engine.setThreads(threads, this.device);
    const t0 = performance.now();
    const status = Number(this.g.ggml_backend_graph_compute!(backend, graph));
    if (status !== 0) throw new Error(`ggml graph compute failed with status ${status} on ${this.device.name}`);
    if (this.device.type === 'cpu') this.recordThreads(graph, threads, performance.now() - t0);
  }

  /**
   * CPU thread count per graph. By default a deterministic rule from the graph's size
   * (Engine.threadsForWork), so that results do not depend on timing: some ggml ops (e.g. the
   * cross-entropy loss) sum per-thread partial results, so their low bits depend on the thread
   * count. With UNLEARNKIT_THREADS=auto the count is tuned by measurement instead: the first
   * computes alternate between 1 thread and all threads and the faster is kept, re-checked every
   * 64 computes (ggml's spinning thread barriers make one thread several times faster for graphs of
   * many small nodes or on a loaded machine) — faster, but not bit-reproducible.
   */
  private pickThreads(graph: Ptr, phase: Phase): number {
    const max = this.engine.maxThreads;
    const heuristic = this.engine.threadsForWork(this.flopsForward * (phase === 'forward' ? 1 : 3));
    if (max <= 1 || process.env.UNLEARNKIT_THREADS !== 'auto') return heuristic;
    const st = this.threadStats.get(graph);
    if (!st) return heuristic;
    if (st.n < 5) return st.n % 2 === 1 ? 1 : max; // computes 2..5 alternate (the first is a warm-up)
    if (st.n % 64 === 0) return st.chosen === 1 ? max : 1; // periodic re-check of the other count
    return st.chosen;
  }

  private recordThreads(graph: Ptr, threads: number, ms: number): void {
    let st = this.threadStats.get(graph);
    if (!st) {
      st = { n: 0, best: new Map(), chosen: threads };
      this.threadStats.set(graph, st);
    }
    st.n++;
    if (st.n === 1) return; // warm-up compute
    const prev = st.best.get(threads);
    // keep a decaying best time per thread count so that a changed load is noticed
    st.best.set(threads, prev === undefined ? ms : Math.min(ms, 0.5 * (prev + ms)));
    if (st.n >= 5) {
      let bestT = st.chosen;
      let bestMs = Infinity;
      for (const [t, m] of st.best) if (m < bestMs) [bestT, bestMs] = [t, m];
      st.chosen = bestT;
    }
  }

  /**
   * One optimiser step. Without accumulate: forward + backward + update in one graph. With
   * accumulate: the update only, from the accumulated gradients. Hyper-parameters may change per step.
   */
  step(h: AdamWHyper | SgdHyper, opts: { extras?: boolean } = {}): void {
    this.requireAllocated();
    if (!this.optimizer || !this.optHyper) throw new Error('no optimiser: build with optimizer: "adamw" | "sgd"');
    this.optIter++;
    const wd = h.weightDecay ?? 0;
    if (this.optimizer === 'adamw') {
      const a = h as AdamWHyper;
      const b1 = a.beta1 ?? 0.9;
      const b2 = a.beta2 ?? 0.999;
      const eps = a.eps ?? 1e-8;
      this.set(this.optHyper, new Float32Array([a.lr, b1, b2, eps, wd, 1 / (1 - b1 ** this.optIter), 1 / (1 - b2 ** this.optIter)]));
    } else {
      this.set(this.optHyper, new Float32Array([h.lr, wd]));
    }
    this.compute(opts.extras ? 'stepExtras' : 'step');
  }

  /** Loss value after a compute. */
  lossValue(): number {
    if (!this.lossT) throw new Error('no loss');
    return this.get(this.lossT)[0]!;
  }

  nodeCount(phase: Phase = 'forward'): number {
    const graph = this.graphOf(phase);
    if (graph === null) return 0;
    return Number(this.g.ggml_graph_n_nodes!(graph));
  }

  /** Node pointers of a phase's graph, for inspection (op names, backend assignment). */
  nodes(phase: Phase = 'forward'): Ptr[] {
    const graph = this.graphOf(phase);
    if (graph === null) return [];
    const n = Number(this.g.ggml_graph_n_nodes!(graph));
    const out: Ptr[] = [];
    for (let i = 0; i < n; i++) out.push(this.node(graph, i));
    return out;
  }

  private node(graph: Ptr, i: number): Ptr {
    return this.g.ggml_graph_node!(graph, i) as Ptr;
  }

  /** Op names (ggml_op_desc) of a phase's nodes, e.g. to count them. */
  opCounts(phase: Phase = 'forward'): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.nodes(phase)) {
      const d = String(this.g.ggml_op_desc!(n));
      out[d] = (out[d] ?? 0) + 1;
    }
    return out;
  }

  /** Throws unless the backend supports every node of the graph (no silent CPU fallback). */
  private assertSupported(graph: Ptr, backend: Ptr): void {
    const n = Number(this.g.ggml_graph_n_nodes!(graph));
    const bad = new Set<string>();
    for (let i = 0; i < n; i++) {
      const node = this.node(graph, i);
      if (!this.g.ggml_backend_supports_op!(backend, node)) bad.add(String(this.g.ggml_op_desc!(node)));
    }
    if (bad.size > 0) {
      throw new Error(`device ${this.device.name} (${this.device.description}) does not support ops: ${[...bad].join(', ')}; use --device cpu`);
    }
  }

  /** Whether the backend supports every node of a phase (used by tests and doctor). */
  supportsAll(phase: Phase): boolean {
    const graph = this.graphOf(phase);
    if (graph === null) return false;
    const backend = this.engine.backend(this.device);
    return this.nodes(phase).every((n) => this.g.ggml_backend_supports_op!(backend, n));
  }

  /** Free the device buffer and the context. Safe to call twice. */
  dispose(): void {
    if (this.buffer !== null) {
      this.g.ggml_backend_buffer_free!(this.buffer);
      this.buffer = null;
    }
    if (this.galloc !== null) {
      this.g.ggml_gallocr_free!(this.galloc);
      this.galloc = null;
      this.allocatedFor = null;
    }
    for (const b of this.extraBuffers) this.g.ggml_backend_buffer_free!(b);
    this.extraBuffers = [];
    this.placed.clear();
    if (this.ctx !== null) {
      this.g.ggml_free!(this.ctx);
      this.ctx = null;
    }
    // the graphs lived in the context's memory: forget them so nothing reads freed memory
    this.gf = this.gb = this.gopt = null;
    this.checkedSupport.clear();
  }

  /** Estimated forward FLOPs (matrix products dominate). */
  get forwardFlops(): number {
    return this.flopsForward;
  }

  /** Bytes of the graph's device buffers: its own, the graph allocator's (GraphOptions.reuse) and the placed weights'. */
  get bufferBytes(): number {
    let n = this.buffer === null ? 0 : Number(this.g.ggml_backend_buffer_get_size!(this.buffer));
    if (this.galloc !== null) n += Number(this.g.ggml_gallocr_get_buffer_size!(this.galloc, 0));
    for (const b of this.extraBuffers) n += Number(this.g.ggml_backend_buffer_get_size!(b));
    return n;
  }

  /** Allocated-shape sanity for callers that compute sizes: numel of a shape. */
  static numel(shape: Shape): number {
    return numel(shape);
  }
}

let customOpCodeMemo: number | null = null;

/** The enum value of GGML_OP_CUSTOM in the loaded ggml (read off a throwaway custom node). */
function customOpCode(g: Graph): number {
  if (customOpCodeMemo !== null) return customOpCodeMemo;
  const ctx = ptrOrNull(g.g.ggml_init!({ mem_size: 4 * Number(g.g.ggml_tensor_overhead!()), mem_buffer: null, no_alloc: true }));
  if (ctx === null) throw new Error('ggml_init failed');
  try {
    const t = ptrOrNull(g.g.ggml_custom_4d!(ctx, GGML_TYPE.f32, 1, 1, 1, 1, null, 0, nativeKernels().kernels!.matmulOp, 1, null));
    if (t === null) throw new Error('ggml_custom_4d failed');
    customOpCodeMemo = readTensorHeader(t).op;
    return customOpCodeMemo;
  } finally {
    g.g.ggml_free!(ctx);
  }
}

/** Rough forward FLOPs: 2 * K * M * N per MUL_MAT node (ggml's or the native one), 1 per element for the rest. */
function estimateFlops(g: Graph): number {
  let flops = 0;
  for (const n of g.nodes('forward')) {
    const h = readTensorHeader(n);
    const out = h.ne[0] * h.ne[1] * h.ne[2] * h.ne[3];
    const a = h.src[0];
    const opName = String(g.g.ggml_op_desc!(n));
    if ((opName === 'MUL_MAT' || isNativeMatMulNode(h, opName)) && a) {
      const k = readTensorHeader(a).ne[0];
      flops += 2 * k * out;
    } else flops += out;
  }
  return flops;
}

/** Where a weight input was stored: its buffer type first, then those of its copies. */
interface WeightPlacement {
  bufferTypes: string[];
  /** Copies of the weight for uses placed in another buffer type (uploaded with it). */
  copies: Ptr[];
  /** Whether the weight itself sits in an extra buffer type (whose layout cannot be read back). */
  extra: boolean;
}

const extraBuftsMemo = new Map<Ptr, Ptr[]>();

/** The CPU device's extra buffer types (AMX, CPU_REPACK, ...), in llama.cpp's order; cached per device. */
export function cpuExtraBufferTypes(engine: Engine, dev: Ptr): Ptr[] {
  let list = extraBuftsMemo.get(dev);
  if (!list) {
    const reg = engine.g.ggml_backend_dev_backend_reg!(dev) as Ptr;
    list = deviceExtraBufferTypes(engine.g, reg, dev);
    extraBuftsMemo.set(dev, list);
  }
  return list;
}
