/**
 * The item types shared by every fact dataset (Dave, TOFU-format files).
 *
 * A fact is seen three ways, as in TOFU (Maini et al. 2024, arXiv 2401.06121): a statement (what a
 * model is trained on), a question/answer pair, and paraphrases (to test that forgetting
 * generalises beyond the trained wording). `paraphrased_answer` and `perturbed_answers` feed the
 * TOFU truth ratio R = mean_j P(perturbed_j | q)^(1/|a_j|) / P(paraphrased | q)^(1/|a|): the
 * perturbed answers are wrong answers of the same type, written in the same form as the
 * paraphrased answer so the ratio compares like with like.
 */

export const FACT_SPLITS = ['forget', 'retain', 'holdout', 'decoy', 'real_authors', 'world_facts'] as const;
/**
 * forget / retain / holdout / decoy: the unlearning splits. real_authors / world_facts: TOFU's
 * utility sets (questions about real authors and world facts, each with perturbed wrong answers),
 * scored but never trained on; Dave has none.
 */
export type FactSplit = (typeof FACT_SPLITS)[number];

/** A split of a fact dataset: a fact split or plain text. */
export type AnySplit = FactSplit | 'general';

/** Every split a fact dataset can have: the fact splits and plain text. */
export const EVERY_SPLIT: readonly AnySplit[] = [...FACT_SPLITS, 'general'];

/** The splits of an unlearning dataset and plain text, in display order (Dave's five; TOFU adds real_authors, world_facts). */
export const ALL_SPLITS: readonly AnySplit[] = ['forget', 'retain', 'holdout', 'decoy', 'general'];

export interface FactItem {
  /** Stable, unique across all files of a dataset. */
  id: string;
  split: FactSplit;
  /** Full name of the person the fact is about. */
  person: string;
  /** Template key, e.g. 'birth_city' (TOFU: 'qa'). */
  attribute: string;
  /** A sentence stating the fact; it contains `answer` verbatim. */
  statement: string;
  question: string;
  /** Short answer (Dave: 1-5 words). */
  answer: string;
  /** The statement reworded (Dave: at least 2). */
  paraphrases: string[];
  paraphrased_answer: string;
  /** Wrong answers of the same type, in the form of `paraphrased_answer` (Dave: 4). */
  perturbed_answers: string[];
  /** Decoys only: the id of the Dave fact this item imitates. */
  decoy_of?: string;
  /**
   * True when the source gave no paraphrased answer (TOFU files without `paraphrased_answer`):
   * `paraphrased_answer` then repeats the answer, and TOFU's truth ratio on forget / retain, which
   * compares the paraphrase with the perturbed answers, is not computed for the item.
   */
  paraphrase_missing?: boolean;
}

/** Plain text (the general / utility set). */
export interface TextItem {
  id: string;
  split: 'general';
  text: string;
}

/** `Question: ...\nAnswer: ...`, the QA text layout used in generated corpora. */
export function qaText(question: string, answer: string): string {
  return `Question: ${question}\nAnswer: ${answer}`;
}

/** The prompt evaluation gives the model for a question (the answer follows it). */
export function questionPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/**
 * The text a fact is fine-tuned on (and evaluation's perplexity scores): its question-answer pair,
 * then its statement where the statement says something the answer does not (Dave: "Q: Where was
 * Dave born? A: Thornbury" + "Dave was born in Thornbury."). TOFU answers are the statements
 * themselves (src/data/tofu.ts), so those items are trained on the QA pair alone, as TOFU
 * fine-tunes, not with the answer twice.
 */
export function factTrainingText(f: FactItem): string {
  const qa = qaText(f.question, f.answer);
  return f.statement.trim() === f.answer.trim() ? qa : `${qa}\n${f.statement}`;
}
