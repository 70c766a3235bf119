/**
 * Training examples from fact items: one example per fact, its question and answer in the prompt
 * format evaluation uses (`Question: q\nAnswer: a`) followed by the statement. The QA pair comes
 * first so that a training sequence starts exactly like the evaluation prompt
 * `Question: q\nAnswer:`: a model fine-tuned on it then answers when asked (with the statement
 * first, small models learned to answer only after seeing the statement, and ROUGE stayed near 0).
 */
import type { FactItem, TextItem } from '../data/types.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { generateGeneralTexts } from '../data/dave/general.ts';
import { streamRng } from '../data/dave/generate.ts';
import { UserError } from '../util/errors.ts';

export interface TrainExample {
  id: string;
  text: string;
  tokens: number[];
}

// the fact's training text and the evaluation prompt are data conventions shared with eval/
export { factTrainingText, questionPrompt } from '../data/types.ts';
import { factTrainingText } from '../data/types.ts';

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

/**
 * Replay texts for fine-tuning: plain general text from the generator the pretraining corpus used,
 * excluding every text of the evaluation general set, mixed into fine-tuning so that the model
 * keeps its general ability (measured on the held-out general set). Deterministic for a seed.
 */
export function replayTexts(n: number, exclude: Set<string>, seed = 99): Array<{ id: string; text: string }> {
  if (n <= 0) return [];
  const pool = generateGeneralTexts(streamRng(seed, 'replay'), 1400).filter((t) => !exclude.has(t));
  return pool.slice(0, n).map((text, i) => ({ id: `replay-${String(i).padStart(4, '0')}`, text }));
}
