/**
 * The retain-only reference of forget quality and privleak: a model trained without the forget set,
 * whose forget-set truth ratios (and membership-inference AUC) an unlearned model is compared with.
 *
 * `--retain-model` (MetricOptions.retainReference) may be
 * - a GGUF model file, or a fine-tune run's adapter.gguf (applied to the run's base model);
 * - a fine-tune run folder: the run's `retain-model.json` when it records one (written by `unlearn
 *   --method retain-only`), else the run's own model (a run trained on the retain split only);
 * - an unlearning run folder of the retain-only method: its fine-tune run's recorded reference;
 * - an evaluation run folder (items.json + summary.json) of the reference model: its stored
 *   per-item results are read, nothing is scored again;
 * - (library) the truth ratios themselves, or { model, adapter }.
 * Without `--retain-model`, `eval` uses the reference the run behind the evaluated model records,
 * when it was made without every forget item being evaluated (`retainReferenceFromRun`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { findRunDir, readRetainModelRecord } from '../data/record.ts';
import { isLoraAdapter } from './loadModel.ts';
import { UserError } from '../util/errors.ts';
import { readJsonObject } from '../util/fs.ts';

export type RetainReferenceInput = string | number[] | { model: string; adapter?: string };

export type RetainReference =
  | { kind: 'model'; model: string; adapter?: string; source: string }
  | { kind: 'eval-run'; dir: string; source: string }
  | { kind: 'ratios'; ratios: number[]; source: string };

/** The model of a fine-tune run folder: checkpoint.gguf, or a LoRA run's base + adapter.gguf. */
function runModel(dir: string, run: Record<string, unknown>, source: string): RetainReference {
  const lora = run.lora as { adapter?: string } | undefined;
  if (lora) {
    const adapter = path.join(dir, lora.adapter ?? 'adapter.gguf');
    if (typeof run.model !== 'string' || !fs.existsSync(run.model)) throw new UserError(`${dir} is a LoRA fine-tune of ${String(run.model)}, which does not exist`);
    if (!fs.existsSync(adapter)) throw new UserError(`${dir} is a LoRA fine-tune without its adapter ${adapter}`);
    return { kind: 'model', model: run.model, adapter, source };
  }
  const ckpt = path.join(dir, 'checkpoint.gguf');
  if (!fs.existsSync(ckpt)) throw new UserError(`${dir} is a fine-tune run folder without checkpoint.gguf (did its first epoch finish?)`);
  return { kind: 'model', model: ckpt, source };
}

/** Resolve what `--retain-model` names (see the module doc). */
export function resolveRetainReference(ref: RetainReferenceInput): RetainReference {
  if (Array.isArray(ref)) return { kind: 'ratios', ratios: ref, source: `${ref.length} given truth ratios` };
  if (typeof ref === 'object') {
    for (const f of [ref.model, ref.adapter]) if (f !== undefined && !fs.existsSync(f)) throw new UserError(`retain-only reference ${f} does not exist`);
    return { kind: 'model', model: ref.model, ...(ref.adapter ? { adapter: ref.adapter } : {}), source: ref.adapter ? `${ref.model} + ${ref.adapter}` : ref.model };
  }
  if (!fs.existsSync(ref)) throw new UserError(`retain-only reference ${ref} does not exist`);
  if (!fs.statSync(ref).isDirectory()) {
    if (!isLoraAdapter(ref)) return { kind: 'model', model: ref, source: ref };
    const dir = path.dirname(ref);
    const run = readJsonObject(path.join(dir, 'run.json'));
    if (run?.kind === 'finetune' && run.lora) return runModel(dir, run, ref);
    throw new UserError(`${ref} is a LoRA adapter outside a fine-tune run folder; give the run folder (its run.json names the base model)`);
  }
  if (fs.existsSync(path.join(ref, 'items.json')) && fs.existsSync(path.join(ref, 'summary.json'))) return { kind: 'eval-run', dir: ref, source: ref };
  const run = readJsonObject(path.join(ref, 'run.json'));
  if (run?.kind === 'finetune') {
    const rec = readRetainModelRecord(ref);
    if (rec) return { kind: 'model', model: rec.model, ...(rec.adapter ? { adapter: rec.adapter } : {}), source: `${ref}/retain-model.json (${rec.madeBy})` };
    return runModel(ref, run, ref);
  }
  const meta = readJsonObject(path.join(ref, 'meta.json'));
  if (meta) {
    const from = typeof meta.fromRun === 'string' ? meta.fromRun : null;
    const rec = from ? readRetainModelRecord(from) : null;
    if (meta.method === 'retain-only' && rec) return { kind: 'model', model: rec.model, ...(rec.adapter ? { adapter: rec.adapter } : {}), source: `${from}/retain-model.json (${rec.madeBy})` };
    throw new UserError(`${ref} is an unlearning run (${String(meta.method)}), not a retain-only model; give the retain-only model (a GGUF, its fine-tune run folder, or the run whose retain-model.json records it)`);
  }
  throw new UserError(`${ref} is not a model, a fine-tune run folder or an evaluation run folder`);
}

/**
 * The retain-only reference recorded by the fine-tune run behind any of `paths` (the evaluated
 * model, adapter, ...), for evaluating `forgetIds`: used only when every evaluated forget item was
 * left out of it. `note` says what was found (for the user), also when it cannot be used.
 */
export function retainReferenceFromRun(paths: Array<string | undefined>, forgetIds: readonly string[]): { reference?: { model: string; adapter?: string }; note: string } {
  let runDir: string | null = null;
  for (const p of paths) if (p && !runDir) runDir = findRunDir(p);
  if (!runDir) return { note: 'no retain-only reference: give --retain-model (a GGUF, a fine-tune run folder or an evaluation run folder)' };
  const rec = readRetainModelRecord(runDir);
  if (!rec) return { note: `no retain-only reference: give --retain-model, or train one with \`unlearnkit unlearn --from ${runDir} --method retain-only\` (it is recorded in ${runDir}/retain-model.json)` };
  const excluded = new Set(rec.forget.ids ?? []);
  const missing = forgetIds.filter((id) => !excluded.has(id));
  if (missing.length) {
    return { note: `${runDir}/retain-model.json was trained with ${missing.length} of the ${forgetIds.length} evaluated forget items (e.g. ${missing[0]}), so it is no retain-only reference for them; give --retain-model` };
  }
  for (const f of [rec.model, rec.adapter]) if (f && !fs.existsSync(f)) return { note: `${runDir}/retain-model.json names ${f}, which no longer exists; give --retain-model` };
  return { reference: { model: rec.model, ...(rec.adapter ? { adapter: rec.adapter } : {}) }, note: `retain-only reference ${rec.model}${rec.adapter ? ` + ${rec.adapter}` : ''} (recorded in ${runDir}/retain-model.json)` };
}
