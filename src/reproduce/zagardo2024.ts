/**
 * `unlearnkit reproduce zagardo2024`: the protocol of Zagardo, "A More Practical Approach to
 * Machine Unlearning" (2024, arXiv 2406.09391) on our Dave data, over several seeds.
 *
 * Per model (the embedded default model; in full mode also a GPT-2-architecture model with random
 * weights) and seed s:
 *   1. fine-tune on a seeded sample of Dave's facts (forget split), other people's facts (retain
 *      split) and general replay text, AdamW, with the per-example gradient record of every epoch
 *      (`--record all-epochs`, every tensor: first-epoch ascent reads its epoch 1, all-epochs
 *      ascent all of it); the batch order is seeded with s;
 *   2. measure the fine-tuned model: per-item mean token NLL of forget / retain / holdout /
 *      general items, and the influence of each forget training example on each forget query
 *      (a paraphrase of a forget fact) by TracIn and by its normalised (cosine) variant;
 *   3. for each condition (method x layer target: first-epoch ascent, all-epochs ascent, classic
 *      gradient ascent, each on the whole model `all` and on the embedding only) unlearn the forget
 *      set from the fine-tuned model with the registry's default settings, and measure again;
 *   4. per condition, paired t-tests after vs before (src/stats pairedTTest: t, p, Cohen's d_z):
 *      forget NLL per item, retain NLL per item, TracIn and cosine TracIn per (query, example) pair.
 * The claims are then signed quantities of those per-seed results (see CLAIMS below), with 95% t
 * intervals over the seeds (claims.ts).
 *
 * Influence as we define it (the paper does not define its score precisely in the material we
 * have): TracIn at the one fine-tuned checkpoint, lr * g_q . g_i with g the exact per-example
 * gradient of the example's mean token loss over every parameter (Pruthi et al. 2020), the fine-tune's
 * lr as the checkpoint's step size; the cosine variant divides by ||g_q|| ||g_i||
 * (src/influence/tracin.ts). Sign after ascent: ascent raises the forget examples' losses and with
 * them their gradients' norms, so the dot product of two forget gradients usually RISES after
 * unlearning although the model has forgotten; a TracIn rise is not a failure to unlearn. The cosine
 * keeps only the alignment of the two gradients, so its drop is the reading of "influence drops"
 * that is not confounded by the gradients' size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finetune } from '../train/finetune.ts';
import { factExamples, replayTexts } from '../train/examples.ts';
import { getDataset } from '../data/dataset.ts';
import { PROJECT_ROOT, embeddedModelPath } from '../util/paths.ts';
import { prepare, makeContext, measure, sampleItems, toExamples, type Measurement, type Prepared } from '../unlearn/index.ts';
import { exampleGradients, gradientSimilarity } from '../influence/tracin.ts';
import { resolveFilter } from '../model/paramGroups.ts';
import { writeRandomModel, type ModelShape } from '../model/randomModel.ts';
import { mean, pairedTTest } from '../stats/index.ts';
import { UserError } from '../util/errors.ts';
import { DEFAULT_ETA } from '../unlearn/defaults.ts';
import { makeClaim, fmtNum, type Claim, type ClaimSpec } from './claims.ts';
import { intervalBarChart, type ReproduceChart, type ReproduceReport } from './report.ts';
import { seedInterval } from './claims.ts';
import { list, paragraph, table, type Block, type Table } from '../report/document.ts';

export const ZAGARDO_CITATION = 'Zagardo 2024, "A More Practical Approach to Machine Unlearning", arXiv 2406.09391';

export interface ZagardoModel {
  name: string;
  /** 'embedded': models/unlearnkit-base.gguf; 'gpt2-random': a GPT-2 architecture model with random weights at `shape`, the embedded model's vocabulary. */
  kind: 'embedded' | 'gpt2-random';
  shape?: ModelShape;
}

export interface Condition {
  method: 'first-epoch' | 'all-epochs' | 'gradient-ascent';
  target: 'all' | 'embedding';
}

export interface ZagardoSettings {
  seeds: number[];
  models: ZagardoModel[];
  /** Facts sampled per seed (0 = the whole split). */
  forgetFacts: number;
  retainFacts: number;
  replay: number;
  epochs: number;
  lr: number;
  batch: number;
  /** Items per evaluation set. */
  evalLimit: number;
  /** Forget queries x forget training examples scored for influence. */
  influenceQueries: number;
  influenceTrain: number;
  conditions: Condition[];
}

/** A GPT-2-architecture shape two cores fine-tune three times in minutes (GPT-2 124M's would take hours per seed). */
const GPT2_SMALL_SHAPE: ModelShape = { arch: 'gpt2', nEmbd: 128, nLayer: 4, nHead: 4, nFf: 512, nCtx: 256, tiedOutput: true };

const ZAGARDO_CONDITIONS: Condition[] = [
  { method: 'first-epoch', target: 'all' },
  { method: 'first-epoch', target: 'embedding' },
  { method: 'all-epochs', target: 'all' },
  { method: 'all-epochs', target: 'embedding' },
  { method: 'gradient-ascent', target: 'all' },
  { method: 'gradient-ascent', target: 'embedding' },
];

export function zagardoSettings(quick: boolean, seeds: number[]): ZagardoSettings {
  if (quick) {
    return {
      seeds,
      models: [{ name: 'embedded (unlearnkit-base, LLaMA 1.07M)', kind: 'embedded' }],
      forgetFacts: 10,
      retainFacts: 10,
      replay: 4,
      epochs: 2,
      lr: 3e-3,
      batch: 4,
      evalLimit: 8,
      influenceQueries: 5,
      influenceTrain: 5,
      conditions: ZAGARDO_CONDITIONS.filter((c) => c.target === 'all' || c.method === 'first-epoch'),
    };
  }
  return {
    seeds,
    models: [
      { name: 'embedded (unlearnkit-base, LLaMA 1.07M)', kind: 'embedded' },
      { name: 'GPT-2 architecture, random init (128 wide, 4 layers)', kind: 'gpt2-random', shape: GPT2_SMALL_SHAPE },
    ],
    forgetFacts: 0,
    retainFacts: 120,
    replay: 60,
    epochs: 3,
    lr: 1e-3,
    batch: 8,
    evalLimit: 60,
    influenceQueries: 16,
    influenceTrain: 16,
    conditions: ZAGARDO_CONDITIONS,
  };
}

export interface PairedSummary {
  n: number;
  /** mean(after - before). */
  meanChange: number;
  /** Paired t of after vs before (positive: the value rose). */
  t: number;
  p: number;
  /** Cohen's d_z of after - before. */
  dz: number;
}

export interface ConditionResult extends Condition {
  label: string;
  seconds: number;
  forgetNll: PairedSummary;
  retainNll: PairedSummary;
  generalNll: PairedSummary | null;
  tracin: PairedSummary;
  cosine: PairedSummary;
  /** Mean gradient norm of the forget training examples before and after (why TracIn rises). */
  gradNorm: { before: number; after: number };
}

export interface ZagardoSeedResult {
  model: string;
  seed: number;
  finetuneLoss: number[];
  seconds: { finetune: number; measure: number; total: number };
  conditions: ConditionResult[];
}

function paired(after: number[], before: number[]): PairedSummary {
  const r = pairedTTest(after, before);
  return { n: after.length, meanChange: r.meanDiff, t: r.t, p: r.p, dz: r.dz };
}

function conditionLabel(c: Condition): string {
  return `${c.method}@${c.target}`;
}

function nllPaired(before: Measurement, after: Measurement, set: string): PairedSummary | null {
  const b = before.sets[set];
  const a = after.sets[set];
  if (!a || !b || b.ids.length < 2) return null;
  const at = new Map(a.ids.map((id, i) => [id, a.nll[i]!]));
  return paired(b.ids.map((id) => at.get(id)!), b.nll);
}

interface InfluenceState {
  dot: number[];
  cos: number[];
  trainNorm: number;
}

function influence(model: Prepared['model'], tensors: string[], queries: Prepared['forget'], train: Prepared['forget'], lr: number): InfluenceState {
  const gq = exampleGradients(model, tensors, queries);
  const gt = exampleGradients(model, tensors, train);
  const flat = (m: number[][]) => m.flatMap((r) => r);
  const norms = gt.map((g) => Math.sqrt(g.reduce((s, v) => s + v * v, 0)));
  return { dot: flat(gradientSimilarity(gq, gt, 'dot')).map((v) => lr * v), cos: flat(gradientSimilarity(gq, gt, 'cosine')).map((v) => lr * v), trainNorm: mean(norms) };
}

/** The model file of a ZagardoModel (the random one is written into `work`, seeded by 0: one architecture, every seed fine-tunes it). */
function modelFile(m: ZagardoModel, work: string): string {
  if (m.kind === 'embedded') return embeddedModelPath();
  const f = path.join(work, 'gpt2-random.gguf');
  if (!fs.existsSync(f)) writeRandomModel(f, { shape: m.shape ?? GPT2_SMALL_SHAPE, vocab: { file: embeddedModelPath() }, seed: 0, name: 'gpt2-shaped-random' });
  return f;
}

const EVAL_SETS = ['forget', 'retain', 'general'];

/** One model and seed of the protocol (module comment, steps 1-4). */
function runZagardoSeed(s: ZagardoSettings, m: ZagardoModel, seed: number, work: string, log: (l: string) => void): ZagardoSeedResult {
  const t0 = performance.now();
  const data = path.join(PROJECT_ROOT, 'datasets', 'dave');
  const ds = getDataset(data);
  const forget = sampleItems(ds.facts('forget'), s.forgetFacts, 1000 + seed);
  const retain = sampleItems(ds.facts('retain'), s.retainFacts, 2000 + seed);
  const replay = replayTexts(s.replay, new Set(ds.texts().map((t) => t.text)), 99 + seed);
  const items = [...factExamples([...forget, ...retain]), ...replay];
  const ftDir = path.join(work, `${m.kind}-seed-${seed}`);
  log(`[${m.kind} seed ${seed}] fine-tune on ${forget.length} forget + ${retain.length} retain facts + ${replay.length} replay texts, ${s.epochs} epochs, all-epochs record`);
  const ft = finetune({
    modelPath: modelFile(m, work),
    items,
    out: ftDir,
    epochs: s.epochs,
    lr: s.lr,
    batch: s.batch,
    optimizer: 'adamw',
    record: 'all-epochs',
    recordFilter: 'all',
    recordDtype: 'f32',
    seed,
    quiet: true,
  });
  const tf = performance.now();
  const p = prepare({ from: ftDir, data, forget: 'forget', evalLimit: s.evalLimit, seed });
  const tensors = resolveFilter('all', p.model.config);
  // the sets the claims read (holdout and decoy items would only cost time here)
  for (const k of Object.keys(p.evalSets.sets)) if (!EVAL_SETS.includes(k)) delete p.evalSets.sets[k];
  const before: Measurement = measure(p.model, p.evalSets);
  // influence pairs: forget training examples x paraphrase queries of forget facts (seeded samples)
  const train = sampleItems(p.forget, s.influenceTrain, 3000 + seed);
  const qFacts = sampleItems(
    p.forget.map((e) => p.facts.get(e.id)!).filter((f) => f && f.paraphrases.length > 0),
    s.influenceQueries,
    4000 + seed,
  );
  const queries = toExamples(qFacts.map((f) => ({ id: `query:${f.id}`, text: f.paraphrases[0]! })), p.tokenizer, p.maxLen);
  if (queries.length < 2 || train.length < 2) throw new UserError(`zagardo2024: too few influence queries (${queries.length}) or training examples (${train.length})`);
  const infBefore = influence(p.model, tensors, queries, train, s.lr);
  const measureSeconds = (performance.now() - tf) / 1000;
  const conditions: ConditionResult[] = [];
  for (const c of s.conditions) {
    const tc = performance.now();
    const { method, ctx } = makeContext(p, { method: c.method, filter: c.target, quiet: true, seed });
    try {
      method.run(ctx);
      const after = measure(ctx.work, p.evalSets);
      const inf = influence(ctx.work, tensors, queries, train, s.lr);
      const r: ConditionResult = {
        ...c,
        label: conditionLabel(c),
        seconds: (performance.now() - tc) / 1000,
        forgetNll: nllPaired(before, after, 'forget')!,
        retainNll: nllPaired(before, after, 'retain')!,
        generalNll: nllPaired(before, after, 'general'),
        tracin: paired(inf.dot, infBefore.dot),
        cosine: paired(inf.cos, infBefore.cos),
        gradNorm: { before: infBefore.trainNorm, after: inf.trainNorm },
      };
      conditions.push(r);
      log(`[${m.kind} seed ${seed}] ${r.label.padEnd(26)} forget NLL d_z ${fmtNum(r.forgetNll.dz)}, retain d_z ${fmtNum(r.retainNll.dz)}, TracIn change ${fmtNum(r.tracin.meanChange)} (t ${fmtNum(r.tracin.t)}), cosine change ${fmtNum(r.cosine.meanChange)} (${r.seconds.toFixed(1)} s)`);
    } finally {
      ctx.pool.dispose();
    }
  }
  fs.rmSync(ftDir, { recursive: true, force: true });
  return {
    model: m.name,
    seed,
    finetuneLoss: ft.epochs.map((e) => e.meanLoss),
    seconds: { finetune: (tf - t0) / 1000, measure: measureSeconds, total: (performance.now() - t0) / 1000 },
    conditions,
  };
}

const FE = 'first-epoch@all';

/** The claims, each as a signed quantity of one model's per-seed results (see the module comment). */
function zagardoClaims(results: ZagardoSeedResult[], model: ZagardoModel, conditions: string[], suffix: string, scaleText: string): Claim[] {
  const cond = (r: ZagardoSeedResult, label: string) => {
    const c = r.conditions.find((x) => x.label === label);
    if (!c) throw new UserError(`zagardo2024: condition ${label} missing from seed ${r.seed}`);
    return c;
  };
  const others = conditions.filter((c) => c !== FE);
  const label = model.kind === 'embedded' ? undefined : `${model.name}`;
  const spec = (id: string, x: Omit<ClaimSpec, 'id' | 'label'>): ClaimSpec => ({ id: id + suffix, label, ...x });
  const per = (f: (r: ZagardoSeedResult) => number) => results.map(f);
  const n = results.length;
  const tried = `${model.name}, ${n} seed(s), ${scaleText} (registry default step sizes)`;
  const needed = 'GPT-2 124M fine-tuned on the full Dave set as in the paper, the paper\'s step sizes, and more seeds (the interval has n - 1 degrees of freedom)';
  const claims: Claim[] = [
    makeClaim(
      spec('Z1', {
        claim: 'The influence of forget examples (on forget queries) drops after first-epoch unlearning; the confidence intervals show it',
        paper: 'drops, with CIs excluding 0 (no values quoted)',
        quantity: `mean TracIn change (after - before) over (query, example) pairs, ${FE}`,
        expected: 'negative',
      }),
      per((r) => cond(r, FE).tracin.meanChange),
      {
        tried,
        needed: `the paper's exact influence score (ours is TracIn, defined below) and ${needed}`,
        whyNo: 'TracIn is a gradient dot product: ascent raises the forget examples\' losses and their gradients\' norms (grad norm column), so TracIn rises although the model forgot (Z3b); see Z1c for the normalised score.',
      },
    ),
    makeClaim(
      spec('Z1c', {
        claim: 'As Z1, with influence normalised (our cosine TracIn; not in the paper)',
        paper: 'drops (the direction of Z1)',
        quantity: `mean cosine-TracIn change over pairs, ${FE}`,
        expected: 'negative',
      }),
      per((r) => cond(r, FE).cosine.meanChange),
      {
        tried,
        needed: `the paper's influence definition and ${needed}`,
        whyNo: 'Ascent moves every forget example the same way, so the gradients of forget queries and forget examples stay or become more aligned.',
      },
    ),
    makeClaim(
      spec('Z2', {
        claim: 'First-epoch gradient ascent has the highest t-statistic of the methods compared (influence before vs after)',
        paper: 'highest t of the compared methods (values not quoted)',
        quantity: `t of the TracIn drop (before - after) of ${FE} minus the largest such t of the other ${others.length} conditions (${others.join(', ')})`,
        expected: 'positive',
      }),
      per((r) => -cond(r, FE).tracin.t - Math.max(...others.map((o) => -cond(r, o).tracin.t))),
      { tried, needed: `the paper's influence score and ${needed}`, whyNo: 'On TracIn a larger ascent step gives a larger rise, so the ordering of t follows step size rather than forgetting.' },
    ),
    makeClaim(
      spec('Z3', {
        claim: "Cohen's d of the unlearning effect on influence between 1.94 and 4.23",
        paper: 'd = 1.94 to 4.23',
        quantity: `Cohen's d_z of the TracIn drop (before - after) over pairs, ${FE}`,
        expected: 'positive',
      }),
      per((r) => -cond(r, FE).tracin.dz),
      { tried, needed: `the paper's influence score and ${needed}`, whyNo: 'The influence change has the opposite sign (Z1); the size of the effect on forgetting itself is Z3b.' },
    ),
    makeClaim(
      spec('Z3b', {
        claim: "Cohen's d of the unlearning effect between 1.94 and 4.23, read on the forget loss",
        paper: 'd = 1.94 to 4.23',
        quantity: `Cohen's d_z of the forget items' NLL rise (after - before), ${FE}`,
        expected: 'positive',
      }),
      per((r) => cond(r, FE).forgetNll.dz),
      { tried, needed, whyNo: 'First-epoch ascent at the default step lowered the forget loss here.' },
    ),
  ];
  if (conditions.includes('all-epochs@all')) {
    claims.push(
      makeClaim(
        spec('Z4', {
          claim: 'First-epoch ascent beats all-epochs ascent',
          paper: 'first-epoch better (values not quoted)',
          quantity: 'd_z of the forget NLL rise, first-epoch@all minus all-epochs@all',
          expected: 'positive',
        }),
        per((r) => cond(r, FE).forgetNll.dz - cond(r, 'all-epochs@all').forgetNll.dz),
        { tried, needed, whyNo: `At the default step (eta ${DEFAULT_ETA} for both) first-epoch ascent reverses the first epoch's recorded updates only, while all-epochs ascent reverses every epoch's, so it raises the forget loss more; the paper's claim is about a step of equal utility cost (\`unlearn --eta auto\` finds one per method).` },
      ),
    );
  }
  if (conditions.includes('first-epoch@embedding')) {
    claims.push(
      makeClaim(
        spec('Z5', {
          claim: 'First-epoch unlearning over the model beats embedding-layer-only unlearning',
          paper: 'significant improvement over embedding-layer unlearning (values not quoted)',
          quantity: 'd_z of the forget NLL rise, first-epoch@all minus first-epoch@embedding',
          expected: 'positive',
        }),
        per((r) => cond(r, FE).forgetNll.dz - cond(r, 'first-epoch@embedding').forgetNll.dz),
        { tried, needed, whyNo: 'The embedding (tied with the output) holds a large share of this model\'s parameters and of the recorded step; GPT-2 124M\'s embedding is 31% of its parameters.' },
      ),
    );
  }
  if (conditions.includes('gradient-ascent@all')) {
    claims.push(
      makeClaim(
        spec('Z6', {
          claim: 'First-epoch unlearning beats whole-model (classic) gradient ascent',
          paper: 'significant improvement over whole-model unlearning (values not quoted)',
          quantity: 'd_z of the forget NLL rise, first-epoch@all minus gradient-ascent@all',
          expected: 'positive',
        }),
        per((r) => cond(r, FE).forgetNll.dz - cond(r, 'gradient-ascent@all').forgetNll.dz),
        { tried, needed: `the step sizes the paper used for both (not in our material) and ${needed}`, whyNo: 'Classic ascent for one pass at the fine-tune\'s learning rate moves the forget loss more than reversing the recorded steps.' },
      ),
    );
  }
  return claims;
}

function conditionTable(results: ZagardoSeedResult[]): Table {
  return {
    head: ['seed', 'condition', 'forget NLL change', 't', 'd_z', 'retain NLL change', 'd_z', 'general NLL change', 'TracIn change', 't', 'd_z', 'cosine change', 't', 'grad norm before -> after', 's'],
    rows: results.flatMap((r) =>
      r.conditions.map((c) => [
        String(r.seed),
        c.label,
        ...[c.forgetNll.meanChange, c.forgetNll.t, c.forgetNll.dz, c.retainNll.meanChange, c.retainNll.dz].map(fmtNum),
        c.generalNll ? fmtNum(c.generalNll.meanChange) : '-',
        ...[c.tracin.meanChange, c.tracin.t, c.tracin.dz, c.cosine.meanChange, c.cosine.t].map(fmtNum),
        `${fmtNum(c.gradNorm.before)} -> ${fmtNum(c.gradNorm.after)}`,
        c.seconds.toFixed(1),
      ]),
    ),
  };
}

const INFLUENCE_DEFINITION: Block[] = [
  paragraph('The paper tracks "influence" of training examples but its score is not defined precisely in the material we have, so we state ours:'),
  list([
    '**TracIn** (Pruthi et al. 2020) at the one fine-tuned checkpoint: lr x g(query) . g(example), with g the exact per-example gradient of the mean token loss over every parameter and lr the fine-tune\'s learning rate. Queries are paraphrases of forget facts, examples the forget facts\' training texts; every (query, example) pair is one paired observation, before vs after unlearning.',
    '**Cosine TracIn** (our normalised variant, `cosineTracinScores` in src/influence/tracin.ts): lr x g(query) . g(example) / (||g(query)|| ||g(example)||), the alignment of the two gradients without their size.',
    '**What the sign means after ascent.** Unlearning by ascent raises the forget examples\' losses, and with them the norms of their gradients (the "grad norm" column). TracIn multiplies two such gradients, so it **rises** after successful unlearning; a rise does not mean the model remembers more. The cosine removes the norms; it drops only if the query\'s and the example\'s gradients stop pointing the same way. The forget NLL change says directly whether the model forgot.',
    'LiSSA influence functions are not part of this protocol (their HVP recursion costs ~100 gradient passes per query); `unlearnkit influence --methods if` computes them and says when the recursion diverges.',
  ]),
];

export interface ZagardoRun {
  settings: ZagardoSettings;
  results: ZagardoSeedResult[];
  claims: Claim[];
  report: Omit<ReproduceReport, 'seconds'>;
}

/** Run the protocol for every model and seed and build the report (not yet written). */
export function runZagardo(s: ZagardoSettings, o: { quick: boolean; work?: string; log?: (l: string) => void }): ZagardoRun {
  const log = o.log ?? (() => {});
  if (s.seeds.length < 1) throw new UserError('zagardo2024: give at least one seed');
  const work = o.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-zagardo-'));
  const results: ZagardoSeedResult[] = [];
  const claims: Claim[] = [];
  const sections: ReproduceReport['sections'] = [{ title: 'Influence as we define it', blocks: INFLUENCE_DEFINITION }];
  const charts: ReproduceChart[] = [];
  const labels = s.conditions.map(conditionLabel);
  const scaleText = `per seed ${s.forgetFacts || 'all 113'} forget facts, ${s.retainFacts} retain facts, ${s.replay} replay texts, ${s.epochs} epochs (AdamW, lr ${s.lr}, batch ${s.batch}); ${s.conditions.length} conditions; influence on ${s.influenceQueries} x ${s.influenceTrain} pairs`;
  if (!labels.includes(FE)) throw new UserError(`zagardo2024: the conditions must include ${FE}`);
  try {
    s.models.forEach((m, mi) => {
      const mine = s.seeds.map((seed) => runZagardoSeed(s, m, seed, work, log));
      results.push(...mine);
      claims.push(...zagardoClaims(mine, m, labels, mi === 0 ? '' : `-${m.kind}`, scaleText));
      sections.push({
        title: `Per seed and condition: ${m.name}`,
        blocks: [
          paragraph(`Changes are after minus before; t and d_z from paired t-tests over items (NLL) or (query, example) pairs (influence). Fine-tune loss per epoch: ${mine.map((r) => `seed ${r.seed}: ${r.finetuneLoss.map(fmtNum).join(' -> ')}`).join('; ')}.`),
          table(conditionTable(mine)),
        ],
      });
      const rows = labels.flatMap((l) => {
        const g = (f: (c: ConditionResult) => number, group: string) => {
          const iv = seedInterval(mine.map((r) => f(r.conditions.find((c) => c.label === l)!)), `${l} ${group}`);
          return { group, series: l, mean: iv.estimate, lo: iv.lo, hi: iv.hi };
        };
        return [g((c) => c.forgetNll.dz, 'forget NLL d_z'), g((c) => c.retainNll.dz, 'retain NLL d_z'), g((c) => c.tracin.dz, 'TracIn d_z'), g((c) => c.cosine.dz, 'cosine TracIn d_z')];
      });
      charts.push(intervalBarChart(`effects-${m.kind}`, `Effect sizes per condition, ${m.name} (mean over seeds, 95% CI)`, rows, "Cohen's d_z (after - before)"));
    });
  } finally {
    if (!o.work) fs.rmSync(work, { recursive: true, force: true });
  }
  const scale = `${s.models.map((m) => m.name).join(' and ')}; ${scaleText}`;
  return {
    settings: s,
    results,
    claims,
    report: {
      paper: 'zagardo2024',
      title: `Reproducing ${ZAGARDO_CITATION}${o.quick ? ' (--quick)' : ''}`,
      citation: ZAGARDO_CITATION,
      summary: `The paper's Dave protocol (fine-tune with a first-epoch gradient record, then unlearn Dave's facts by first-epoch ascent and the comparison methods) on our Dave dataset: ${scale}. The paper fine-tuned GPT-2 (124M); ours are substitutes two CPU cores can fine-tune ${s.seeds.length} times. ${o.quick ? 'This is the --quick run: every claim row is computed, at a scale too small to settle any of them.' : ''}`,
      claims,
      seeds: s.seeds,
      sections,
      charts,
      settings: { ...s, conditionsRun: labels, unlearningSettings: `registry defaults: first-epoch and all-epochs eta = ${DEFAULT_ETA}, gradient-ascent lr = fine-tune lr, steps = one pass over the forget set, batch = fine-tune batch, AdamW` },
      data: { results },
    },
  };
}
