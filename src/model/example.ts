/**
 * The unit every trainer, scorer and unlearning method works on: one tokenized text. Lives in
 * model/ because the session pools (sessions.ts) and gradient helpers (gradients.ts) take it, and
 * train/, unlearn/ and influence/ all sit above model/ (README, Layout).
 */

/** A training or evaluation example: id, text, and its tokens (BOS first, EOS last when the tokenizer has one). */
export interface Example {
  id: string;
  text: string;
  tokens: number[];
}
