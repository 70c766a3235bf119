/**
 * Which items an evaluation scores, and as which text: the one selection every measurement uses
 * (`eval`'s plan, unlearning's before/after sets, fine-tuning's and the demo's perplexities), so
 * that `unlearnkit eval` and `unlearnkit unlearn` score the same items of a split for the same limit.
 *
 * - A split's items are the dataset's evaluation items of it (Dataset.evalFacts: the split itself,
 *   or TOFU's `retain_perturbed` subset of retain; general: the plain texts), in dataset order,
 *   optionally restricted to some ids (unlearning: the retain items it kept), then the first `limit`.
 * - A fact is scored as the text it is fine-tuned on (factTrainingText), a general item as its text.
 */
import type { Dataset } from '../data/dataset.ts';
import { factTrainingText, type FactItem, type FactSplit } from '../data/types.ts';
import type { EvalData, EvalSplit } from './types.ts';

/** The first `limit` items (all of them when `limit` is null, undefined or <= 0). */
export function selectItems<T>(xs: readonly T[], limit: number | null | undefined): T[] {
  return limit === null || limit === undefined || limit <= 0 ? xs.slice() : xs.slice(0, limit);
}

/** A fact's or text's evaluation text. */
export function evalText(item: FactItem | { id: string; text: string }): { id: string; text: string } {
  return 'question' in item ? { id: item.id, text: factTrainingText(item) } : { id: item.id, text: item.text };
}

/** The texts of a planned evaluation's split (EvalData holds the selected items). */
export function splitTexts(data: EvalData, split: EvalSplit): Array<{ id: string; text: string }> {
  if (split === 'general') return data.general.map(evalText);
  return (data.facts[split] ?? []).map(evalText);
}

/** The items of a dataset's split an evaluation with `limit` scores (those `keep` accepts, before the limit). */
export function evalSplitItems(ds: Dataset, split: EvalSplit, limit: number | null | undefined, keep?: (id: string) => boolean): Array<FactItem | { id: string; text: string }> {
  const all: Array<FactItem | { id: string; text: string }> = split === 'general' ? ds.texts() : ds.evalFacts(split as FactSplit);
  return selectItems(keep ? all.filter((x) => keep(x.id)) : all, limit);
}
