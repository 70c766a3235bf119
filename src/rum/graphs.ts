/**
 * Engine graphs for the CNN: a training graph (forward + backward + SGD-momentum update in one
 * compute, see sgd.ts) with a loss made of weighted batch segments, and an evaluation graph
 * (logits and penultimate embeddings, parameters as plain inputs).
 *
 * Loss of a training graph. The batch is a concatenation of segments s with sizes n_s and weights
 * w_s (e.g. a retain batch and a forget batch); with CE_s the mean cross-entropy over segment s,
 *   L = sum_s w_s * CE_s  [+ l1 * sum_{conv, fc weights} |theta|]
 * so fine-tuning is one segment of weight 1, NegGrad one of weight -1 (gradient ascent), NegGrad+
 * two segments (beta, -(1 - beta)). ggml's cross-entropy backward assumes each label row sums to
 * one, so weights go on the segment losses, never into the labels. With per-example GroupNorm the
 * segments do not interact in the forward pass.
 *
 * The host keeps the weights (model.ts Weights); graphs load them, run, and hand them back
 * (`pull`), so one model moves between training graphs of different shapes and the evaluation
 * graph.
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { buildCnn, paramSpecs, type CnnConfig, type Weights } from './model.ts';
import { momentumExtras, setMomentumHyper, type MomentumHyper, type MomentumState } from './sgd.ts';

export interface Segment {
  size: number;
  /** Weight of this segment's mean cross-entropy (negative = gradient ascent). */
  weight: number;
}

export interface TrainGraphOptions {
  config: CnnConfig;
  segments: Segment[];
  /** Add the L1 penalty term (its coefficient is set per step). */
  l1?: boolean;
  /** Gradient masks per parameter (SalUn). */
  masked?: boolean;
}

export interface StepHyper extends MomentumHyper {
  /** L1 coefficient (graphs built with l1: true). */
  l1?: number;
}

function nodesFor(config: CnnConfig, batch: number): number {
  // every block is ~40 forward nodes; backward and the update roughly triple that
  const blocks = config.blocks.reduce((a, b) => a + b, 0);
  return Math.max(4096, 400 * (blocks + 2) + 64 * paramSpecs(config).length + 1024) + batch;
}

export class TrainGraph {
  readonly g: Graph;
  readonly batch: number;
  readonly x: Tensor;
  readonly y: Tensor;
  readonly logits: Tensor;
  readonly params: Map<string, Tensor>;
  private readonly mom: MomentumState;
  private readonly l1T: Tensor | null;
  private readonly loss: Tensor;

  constructor(readonly o: TrainGraphOptions) {
    const c = o.config;
    if (o.segments.length === 0 || o.segments.some((s) => !Number.isInteger(s.size) || s.size < 1 || !Number.isFinite(s.weight))) {
      throw new TypeError(`TrainGraph: segments need positive integer sizes and finite weights, got ${JSON.stringify(o.segments)}`);
    }
    this.batch = o.segments.reduce((a, s) => a + s.size, 0);
    this.g = new Graph({ maxNodes: nodesFor(c, this.batch) });
    try {
      this.x = this.g.input('x', [c.width, c.height, c.inChannels, this.batch]);
      this.y = this.g.input('y', [c.classes, this.batch]);
      const net = buildCnn(this.g, c, this.x, { nativeMatmul: true });
      this.params = net.params;
      this.logits = net.logits;
      let loss: Tensor | null = null;
      if (o.segments.length === 1) {
        const w = o.segments[0]!.weight;
        loss = op.crossEntropyLoss(net.logits, this.y);
        if (w !== 1) loss = op.scale(loss, w);
      } else {
        let at = 0;
        for (const s of o.segments) {
          const bytes = at * c.classes * 4;
          const ce = op.crossEntropyLoss(op.view(net.logits, [c.classes, s.size], bytes), op.view(this.y, [c.classes, s.size], bytes));
          at += s.size;
          if (s.weight === 0) continue;
          const term = s.weight === 1 ? ce : op.scale(ce, s.weight);
          loss = loss === null ? term : op.add(loss, term);
        }
        if (loss === null) throw new TypeError('TrainGraph: every segment has weight 0');
      }
      this.l1T = null;
      if (o.l1) {
        this.l1T = this.g.input('l1.coef', [1]);
        let l1: Tensor | null = null;
        for (const p of paramSpecs(c)) {
          if (p.kind !== 'conv' && p.kind !== 'fc-weight') continue;
          const t = op.sum(op.abs(this.params.get(p.name)!));
          l1 = l1 === null ? t : op.add(l1, t);
        }
        loss = op.add(loss, op.mul(l1!, this.l1T));
      }
      this.loss = loss;
      const { state, extras } = momentumExtras(this.g, [...this.params.values()], { masked: o.masked });
      this.mom = state;
      this.g.build({ outputs: [net.logits], loss, backward: true, extras, nativeMatmul: true });
      this.g.allocate();
      net.constants.apply(this.g);
    } catch (e) {
      this.g.dispose();
      throw e;
    }
  }

  /** Load weights; velocities start at zero (a fresh optimiser), masks at one. */
  load(w: Weights): void {
    for (const [name, t] of this.params) {
      const v = w.get(name);
      if (!v) throw new Error(`TrainGraph.load: missing weight ${name}`);
      this.g.set(t, v);
    }
    for (const v of this.mom.velocity.values()) this.g.fill(v, 0);
    for (const m of this.mom.masks.values()) this.g.fill(m, 1);
  }

  /** Set SalUn's gradient masks (1 = trainable). */
  setMasks(masks: Weights): void {
    if (!this.o.masked) throw new Error('TrainGraph: built without masks');
    for (const [name, t] of this.params) {
      const m = masks.get(name);
      if (!m) throw new Error(`TrainGraph.setMasks: missing mask ${name}`);
      this.g.set(this.mom.masks.get(t)!, m);
    }
  }

  /**
   * One step on a batch: images [batch x C x H x W] (NCHW) and one-hot labels [batch x classes].
   * Returns the loss (before the update) and, when asked, the logits the step saw.
   */
  step(images: Float32Array, onehot: Float32Array, h: StepHyper, opts: { logits?: boolean } = {}): { loss: number; logits?: Float32Array } {
    this.g.set(this.x, images);
    this.g.set(this.y, onehot);
    setMomentumHyper(this.g, this.mom, h);
    if (this.l1T) this.g.set(this.l1T, new Float32Array([h.l1 ?? 0]));
    this.g.compute('backwardExtras');
    return { loss: this.g.lossValue(), logits: opts.logits ? this.g.get(this.logits) : undefined };
  }

  /** Gradients of the loss at the current weights (no update), e.g. SalUn's saliency. */
  gradients(images: Float32Array, onehot: Float32Array, l1 = 0): Weights {
    this.g.set(this.x, images);
    this.g.set(this.y, onehot);
    if (this.l1T) this.g.set(this.l1T, new Float32Array([l1]));
    this.g.compute('backward');
    return new Map([...this.params].map(([n, t]) => [n, this.g.grad(t)]));
  }

  /** The loss at the current weights (forward only; the L1 term uses coefficient `l1`). */
  lossAt(images: Float32Array, onehot: Float32Array, l1 = 0): number {
    this.g.set(this.x, images);
    this.g.set(this.y, onehot);
    if (this.l1T) this.g.set(this.l1T, new Float32Array([l1]));
    this.g.compute('forward');
    return this.g.lossValue();
  }

  /** Replace one parameter's values (e.g. finite differences in tests). */
  setParam(name: string, v: Float32Array): void {
    const t = this.params.get(name);
    if (!t) throw new Error(`TrainGraph.setParam: no parameter ${name}`);
    this.g.set(t, v);
  }

  /** The current weights (host copies). */
  pull(): Weights {
    return new Map([...this.params].map(([n, t]) => [n, this.g.get(t)]));
  }

  velocity(): Weights {
    return new Map([...this.params].map(([n, t]) => [n, this.g.get(this.mom.velocity.get(t)!)]));
  }

  setVelocity(v: Weights): void {
    for (const [name, t] of this.params) {
      const x = v.get(name);
      if (x) this.g.set(this.mom.velocity.get(t)!, x);
    }
  }

  dispose(): void {
    this.g.dispose();
  }
}

/** Forward-only graph: logits and embeddings of a fixed-size batch. */
export class EvalGraph {
  readonly g: Graph;
  readonly x: Tensor;
  readonly logits: Tensor;
  readonly embedding: Tensor;
  readonly params: Map<string, Tensor>;
  private loaded: Weights | null = null;

  constructor(readonly config: CnnConfig, readonly batch: number) {
    this.g = new Graph({ maxNodes: nodesFor(config, batch) });
    try {
      this.x = this.g.input('x', [config.width, config.height, config.inChannels, batch]);
      const net = buildCnn(this.g, config, this.x, { trainable: false, nativeMatmul: true });
      this.params = net.params;
      this.logits = net.logits;
      this.embedding = net.embedding;
      this.g.build({ outputs: [net.logits, net.embedding], nativeMatmul: true });
      this.g.allocate();
      net.constants.apply(this.g);
    } catch (e) {
      this.g.dispose();
      throw e;
    }
  }

  /** Load weights (skipped when the same Weights object is already loaded). */
  load(w: Weights): void {
    if (this.loaded === w) return;
    for (const [name, t] of this.params) {
      const v = w.get(name);
      if (!v) throw new Error(`EvalGraph.load: missing weight ${name}`);
      this.g.set(t, v);
    }
    this.loaded = w;
  }

  /** Forget which weights are loaded (call after mutating a Weights map in place). */
  invalidate(): void {
    this.loaded = null;
  }

  run(images: Float32Array): { logits: Float32Array; embedding: Float32Array } {
    this.g.set(this.x, images);
    this.g.compute('forward');
    return { logits: this.g.get(this.logits), embedding: this.g.get(this.embedding) };
  }

  dispose(): void {
    this.g.dispose();
  }
}
