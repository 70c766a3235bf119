/**
 * Training examples from fact items: one example per fact, its statement followed by its
 * question and answer in the prompt format evaluation uses (`Question: q\nAnswer: a`), so that a
 * model fine-tuned on it answers the question when prompted with `Question: q\nAnswer:`.
 */
import type { FactItem, TextItem } from '../data/types.ts';
import { qaText } from '../data/types.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { UserError } from '../util/errors.ts';

export interface TrainExample {
  id: string;
  text: string;
  tokens: number[];
}

export function factTrainingText(f: FactItem): string {
  return `${f.statement}\n${qaText(f.question, f.answer)}`;
}

/** The prompt evaluation gives the model for a question (the answer follows it). */
export function questionPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/** Tokenize with BOS (and EOS where the tokenizer has one), clipped to maxLen with a warning count. */
export function tokenizeExamples(items: Array<{ id: string; text: string }>, tok: Tokenizer, maxLen: number): { examples: TrainExample[]; clipped: number } {
  let clipped = 0;
  const examples = items.map(({ id, text }) => {
    let tokens = tok.encode(text, { addBos: true });
    if (tok.eos >= 0) tokens.push(tok.eos);
    if (tokens.length > maxLen) {
      clipped++;
      tokens = tokens.slice(0, maxLen);
    }
    if (tokens.length < 2) throw new UserError(`example ${id} has no tokens to predict`);
    return { id, text, tokens };
  });
  return { examples, clipped };
}

export function factExamples(facts: FactItem[]): Array<{ id: string; text: string }> {
  return facts.map((f) => ({ id: f.id, text: factTrainingText(f) }));
}

export function textExamples(texts: TextItem[]): Array<{ id: string; text: string }> {
  return texts.map((t) => ({ id: t.id, text: t.text }));
}
