/**
 * Model-facing building blocks of the QA metrics: the conditional log-probability of an answer
 * given its question, and greedy answers.
 *
 * log P(a | q) = sum over the answer's tokens t of log p(t | prompt, earlier answer tokens), where
 * the prompt is `Question: q\nAnswer:` (train/examples.ts questionPrompt, the layout the model was
 * fine-tuned on) and the scored sequence is BOS + tokens(prompt + " " + a). As in TOFU, the answer's
 * tokens are those after the prompt's own tokenization; where a tokenizer merges the prompt's last
 * token with the answer's first, the answer starts at the first token that differs (so no answer
 * token is ever dropped). No EOS is appended (TOFU adds one to its loss labels; answers here are
 * compared with each other under the same convention, so the choice cancels in truth ratios).
 *
 * Greedy answers: argmax decoding from BOS + tokens(prompt), up to `maxNewTokens` tokens, stopping at
 * EOS or at a token holding a newline (the model would go on to a next "Question:"); the decoded
 * text is cut at its first newline and trimmed. Generation batches default to 4 prompts: each new
 * token re-runs the whole sequence (generate.ts has no KV cache), and on CPU the cost of one
 * graph grows faster than its batch size. These settings (GREEDY_ANSWER_DEFAULTS) are the only
 * ones: the ROUGE metric and unlearning's before/after ROUGE both call answerRouge.
 */
import type { CausalLM } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { generateTokens } from '../model/generate.ts';
import { scoreSequences } from './perplexity.ts';
import { rouge, type RougeResult } from './rouge.ts';
import { questionPrompt } from '../data/types.ts';
import { UserError } from '../util/errors.ts';

export interface QaSequence {
  /** BOS + prompt + answer tokens. */
  tokens: number[];
  /** Index in `tokens` of the answer's first token. */
  answerStart: number;
}

/** Tokens of a question prompt followed by an answer, and where the answer starts. */
export function encodeQa(tok: Tokenizer, question: string, answer: string): QaSequence {
  const prompt = questionPrompt(question);
  const p = tok.encode(prompt, { addBos: true });
  const full = tok.encode(`${prompt} ${answer}`, { addBos: true });
  let k = 0;
  while (k < p.length && k < full.length && p[k] === full[k]) k++;
  if (k < 1) k = 1; // the first token (BOS) is context only
  if (k >= full.length) throw new UserError(`answer "${answer}" to "${question}" has no tokens of its own`);
  return { tokens: full, answerStart: k };
}

export interface AnswerScore {
  /** log P(a | q), natural log, summed over answer tokens. */
  logProb: number;
  /** Number of answer tokens |a|. */
  tokens: number;
}

/** Conditional log-probabilities of many (question, answer) pairs, scored in batches. */
export function scoreAnswers(
  model: CausalLM,
  tok: Tokenizer,
  pairs: ReadonlyArray<{ question: string; answer: string }>,
  batch = 16,
): AnswerScore[] {
  if (pairs.length === 0) return [];
  const seqs = pairs.map((p) => encodeQa(tok, p.question, p.answer));
  const nCtx = model.config.nCtx;
  seqs.forEach((s, i) => {
    if (s.tokens.length > nCtx) {
      throw new UserError(`question/answer ${i} has ${s.tokens.length} tokens, more than the model's context (${nCtx})`);
    }
  });
  // Score in order of length so that each graph is no longer than its longest sequence needs.
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.tokens.length - seqs[b]!.tokens.length);
  const out = new Array<AnswerScore>(pairs.length);
  for (let i = 0; i < order.length; i += batch * 4) {
    const chunk = order.slice(i, i + batch * 4);
    const scored = scoreSequences(
      model,
      chunk.map((j) => ({ id: String(j), tokens: seqs[j]!.tokens })),
      batch,
    );
    scored.items.forEach((it) => {
      const j = Number(it.id);
      const s = seqs[j]!;
      // logprobs[t - 1] = log p(tokens[t] | tokens[< t])
      let lp = 0;
      for (let t = s.answerStart; t < s.tokens.length; t++) lp += it.logprobs[t - 1]!;
      out[j] = { logProb: lp, tokens: s.tokens.length - s.answerStart };
    });
  }
  return out;
}

const newlineCache = new WeakMap<Tokenizer, number[]>();

/** Ids of the tokens whose text contains a newline (generation stops there: the answer line is over). */
function newlineTokenIds(tok: Tokenizer): number[] {
  let ids = newlineCache.get(tok);
  if (!ids) {
    ids = [];
    for (let id = 0; id < tok.vocabSize; id++) {
      let text: string;
      try {
        text = tok.decode([id]);
      } catch {
        continue;
      }
      if (text.includes('\n')) ids.push(id);
    }
    newlineCache.set(tok, ids);
  }
  return ids;
}

/** Greedy decoding settings of answers: at most 32 new tokens, 4 prompts per generation batch. */
export const GREEDY_ANSWER_DEFAULTS = { maxNewTokens: 32, batch: 4 } as const;

/** Greedy answers to questions (see module doc). */
export function greedyAnswers(
  model: CausalLM,
  tok: Tokenizer,
  questions: readonly string[],
  opts: { maxNewTokens?: number; batch?: number } = {},
): string[] {
  const maxNewTokens = opts.maxNewTokens ?? GREEDY_ANSWER_DEFAULTS.maxNewTokens;
  const batch = opts.batch ?? GREEDY_ANSWER_DEFAULTS.batch;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new UserError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  const prompts = questions.map((q) => tok.encode(questionPrompt(q), { addBos: true }));
  const out: string[] = [];
  for (let i = 0; i < prompts.length; i += batch) {
    const gen = generateTokens(model, prompts.slice(i, i + batch), {
      maxTokens: maxNewTokens,
      greedy: true,
      stopIds: [...(tok.eos >= 0 ? [tok.eos] : []), ...newlineTokenIds(tok)],
    });
    for (const ids of gen) out.push(answerText(tok, ids));
  }
  return out;
}

/** Decode generated ids (without EOS), keep the first line, trim. */
export function answerText(tok: Tokenizer, ids: readonly number[]): string {
  const clean = tok.eos >= 0 && ids.includes(tok.eos) ? ids.slice(0, ids.indexOf(tok.eos)) : ids;
  return tok.decode(clean).split('\n')[0]!.trim();
}

export interface AnswerRouge {
  id: string;
  /** The model's greedy answer. */
  answer: string;
  reference: string;
  /** ROUGE of the answer (candidate) against the reference (rouge.ts, stemmed as rouge_score). */
  scores: RougeResult;
}

/** Greedy answers to each item's question and their ROUGE against its answer (the ROUGE metric's per-item numbers). */
export function answerRouge(
  model: CausalLM,
  tok: Tokenizer,
  items: ReadonlyArray<{ id: string; question: string; answer: string }>,
  opts: { maxNewTokens?: number; batch?: number } = {},
): AnswerRouge[] {
  return rougeOfAnswers(items, greedyAnswers(model, tok, items.map((f) => f.question), opts));
}

/** ROUGE of given answers (candidates) against the items' answers (references): answerRouge's scoring. */
export function rougeOfAnswers(items: ReadonlyArray<{ id: string; answer: string }>, answers: readonly string[]): AnswerRouge[] {
  if (answers.length !== items.length) throw new Error(`internal: ${answers.length} answers for ${items.length} items`);
  return items.map((f, i) => ({ id: f.id, answer: answers[i]!, reference: f.answer, scores: rouge(answers[i]!, f.answer) }));
}
