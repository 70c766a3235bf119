/**
 * `bench unlearn`: the time each unlearning method takes to forget the Dave forget set, divided by
 * the time of building the retain-only model (fine-tuning the base on the kept items with the same
 * options) in the same run, on the same machine; a ratio below 1 is the point of approximate
 * unlearning. The fine-tune being unlearned (with an all-epochs gradient record of the target's
 * tensors, so that every method can run) is made first and not counted; measurements of fast
 * methods are the median of three runs. Method settings are the defaults (`unlearnkit methods`);
 * every method runs on the same layer target (default: the recorded tensors). The retain-only
 * model always retrains what the fine-tune trained (all tensors).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finetune } from '../train/finetune.ts';
import { factExamples } from '../train/examples.ts';
import { getDataset } from '../data/dataset.ts';
import { embeddedModelPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { prepare, makeContext } from '../unlearn/prepare.ts';
import { listGroups, resolveFilter } from '../model/paramGroups.ts';
import type { ModelConfig } from '../model/config.ts';
import { listMethods } from '../unlearn/registry.ts';

export interface BenchUnlearnOptions {
  quick?: boolean;
  /** Base model (default models/unlearnkit-base.gguf, else the stories260K fixture). */
  modelPath?: string;
  /** An existing fine-tune run to unlearn from (default: fine-tune one here). */
  from?: string;
  data?: string;
  /** Methods to time (default: every registered method except retain-only, the denominator). */
  methods?: string[];
  /** Items of each split in the fine-tune (default: all; quick: 20 forget, 40 retain, 10 decoys). */
  sizes?: { forget?: number; retain?: number; decoy?: number };
  epochs?: number;
  lr?: number;
  batch?: number;
  /**
   * Layer target of every method (default: the run's recorded tensors, so that the stored-gradient
   * methods can run; for a fine-tune made here: `recordFilter`).
   */
  target?: string;
  /** Tensors recorded by the fine-tune made here (default embedding,block:-1:mlp: a full record of a 1M-parameter model over 3 epochs would take ~8 GB). */
  recordFilter?: string;
  workDir?: string;
  quiet?: boolean;
}

export interface BenchUnlearnResult {
  suite: 'unlearn';
  createdAt: string;
  model: string;
  threads: string | null;
  items: { train: number; forget: number; retain: number };
  /** Layer target of the timed methods. */
  target: string;
  finetune: { seconds: number | null; epochs: number; optimizer: string; record: string };
  oracle: { seconds: number; epochs: number };
  methods: Array<{ method: string; seconds: number; runs: number; ratio: number; settings: Record<string, number | string | boolean> }>;
  notes: string[];
}

function defaultModel(): string {
  const own = embeddedModelPath();
  if (fs.existsSync(own)) return own;
  throw new UserError(`no model to benchmark: the embedded model ${own} is missing (pass modelPath)`);
}

/** The recorded tensors as a filter: 'all' when every tensor was recorded, else their groups. */
function recordedTarget(c: ModelConfig, names: string[]): string {
  if (resolveFilter('all', c).every((n) => names.includes(n))) return 'all';
  const groups = listGroups(c).filter((g) => {
    const ts = resolveFilter(g, c);
    return ts.every((n) => names.includes(n));
  });
  // keep the widest groups only (block:K rather than block:K:attn + block:K:mlp)
  const keep = groups.filter((g) => !groups.some((h) => h !== g && g.startsWith(h + ':')));
  const covered = new Set(keep.flatMap((g) => resolveFilter(g, c)));
  if (names.every((n) => covered.has(n))) return keep.join(',');
  return 'all';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function benchUnlearn(o: BenchUnlearnOptions = {}): Promise<BenchUnlearnResult> {
  const notes: string[] = [];
  const workDir = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-bench-unlearn-'));
  const ownWork = !o.workDir;
  const log = (s: string) => o.quiet || process.stderr.write(`[bench unlearn] ${s}\n`);
  try {
    let from = o.from;
    let ftSeconds: number | null = null;
    const modelPath = o.modelPath ?? defaultModel();
    const epochs = o.epochs ?? (o.quick ? 2 : 3);
    if (!from) {
      const ds = getDataset(o.data ?? 'dave');
      const sz = o.sizes ?? (o.quick ? { forget: 20, retain: 40, decoy: 10 } : {});
      const take = <T>(a: T[], n?: number) => (n === undefined ? a : a.slice(0, n));
      const facts = [...take(ds.facts('retain'), sz.retain), ...take(ds.facts('forget'), sz.forget), ...take(ds.facts('decoy'), sz.decoy)];
      log(`fine-tuning ${path.basename(modelPath)} on ${facts.length} facts for ${epochs} epochs (all-epochs record; not timed in the ratios)`);
      const t0 = performance.now();
      const r = finetune({
        modelPath,
        items: factExamples(facts),
        out: path.join(workDir, 'finetune'),
        epochs,
        lr: o.lr ?? 1e-3,
        batch: o.batch ?? 8,
        optimizer: 'adamw',
        record: 'all-epochs',
        recordFilter: o.recordFilter ?? 'embedding,block:-1:mlp',
        quiet: true,
      });
      ftSeconds = (performance.now() - t0) / 1000;
      from = r.out;
    }
    const p = prepare({ from, data: o.data, evalLimit: 1 });
    const o2 = p.source.options;
    const recorded = p.source.record?.index.tensors.map((t) => t.name);
    const target = o.target ?? (recorded ? recordedTarget(p.model.config, recorded) : 'all');
    const wanted = o.methods ?? listMethods().map((m) => m.name).filter((m) => m !== 'retain-only');
    log(`retain-only model: fine-tuning on ${p.retain.length} kept items`);
    const oracle = makeContext(p, { method: 'retain-only', oracleDir: path.join(workDir, `oracle-${Date.now()}`), quiet: true });
    let oracleSeconds: number;
    try {
      const t0 = performance.now();
      oracle.method.run(oracle.ctx);
      oracleSeconds = (performance.now() - t0) / 1000;
    } finally {
      oracle.ctx.pool.dispose();
    }
    const methods: BenchUnlearnResult['methods'] = [];
    for (const name of wanted) {
      const times: number[] = [];
      let settings: Record<string, number | string | boolean> = {};
      for (let k = 0; k < 3; k++) {
        const { method, ctx } = makeContext(p, { method: name, filter: target, quiet: true });
        try {
          const t0 = performance.now();
          const out = method.run(ctx);
          times.push((performance.now() - t0) / 1000);
          settings = out.settings;
        } catch (e) {
          if (e instanceof UserError) {
            notes.push(`${name}: skipped (${e.message})`);
            break;
          }
          throw e;
        } finally {
          ctx.pool.dispose();
        }
        if (times[times.length - 1]! > 1 || o.quick) break;
      }
      if (!times.length) continue;
      const seconds = median(times);
      methods.push({ method: name, seconds, runs: times.length, ratio: seconds / oracleSeconds, settings });
      log(`${name}: ${seconds.toFixed(3)} s (x${(seconds / oracleSeconds).toFixed(4)} of retain-only)`);
    }
    return {
      suite: 'unlearn',
      createdAt: new Date().toISOString(),
      model: path.resolve(p.source.baseModel ?? modelPath),
      threads: process.env.UNLEARNKIT_THREADS ?? null,
      items: { train: p.train.length, forget: p.forget.length, retain: p.retain.length },
      target,
      finetune: { seconds: ftSeconds, epochs: o2?.epochs ?? epochs, optimizer: o2?.optimizer ?? 'adamw', record: o2?.record ?? 'unknown' },
      oracle: { seconds: oracleSeconds, epochs: o2?.epochs ?? epochs },
      methods,
      notes,
    };
  } finally {
    if (ownWork) fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export function printUnlearnBench(r: BenchUnlearnResult): void {
  const lines = [
    `unlearning time / retain-only time (${r.items.forget} forget, ${r.items.retain} kept items; ${path.basename(r.model)}; target ${r.target})`,
    `  retain-only (oracle)  ${r.oracle.seconds.toFixed(2)} s`,
    ...r.methods.map((m) => `  ${m.method.padEnd(20)}  ${m.seconds.toFixed(3)} s  ratio ${m.ratio.toFixed(4)}`),
    ...r.notes.map((n) => `  note: ${n}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
