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

export const FACT_SPLITS = ['forget', 'retain', 'holdout', 'decoy'] as const;
export type FactSplit = (typeof FACT_SPLITS)[number];

/** Every split a fact dataset can have: the four fact splits and plain text. */
export const ALL_SPLITS = [...FACT_SPLITS, 'general'] as const;
export type AnySplit = (typeof ALL_SPLITS)[number];

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
