/**
 * One generation on a leased sequence, through node-llama-cpp's LlamaCompletion (which handles
 * stop strings, partial UTF-8 tokens and EOS). Sampling follows OpenAI's meaning of the parameters:
 * temperature 0 is greedy, top_p 1 / top_k 0 / min_p 0 switch those filters off, and no repetition
 * penalty unless one is asked for.
 */
import { LlamaCompletion, type LlamaContextSequence, type LlamaText, type Token } from 'node-llama-cpp';

export interface SamplingParams {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed?: number;
  stop: string[];
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** llama.cpp's multiplicative repeat penalty (1 = off). */
  repeatPenalty?: number;
}

export interface GenerationResult {
  text: string;
  completionTokens: number;
  finishReason: 'stop' | 'length';
}

/**
 * Generate from `promptTokens` (without BOS: LlamaCompletion prepends it when the model needs it).
 * `signal` aborting throws its reason. `onText` receives the text as it is produced.
 */
export async function generate(
  sequence: LlamaContextSequence,
  promptTokens: Token[],
  p: SamplingParams,
  opts: { signal?: AbortSignal; onText?: (t: string) => void; extraStopTriggers?: readonly LlamaText[] } = {},
): Promise<GenerationResult> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  let completionTokens = 0;
  const penalise = p.frequencyPenalty !== undefined || p.presencePenalty !== undefined || p.repeatPenalty !== undefined;
  try {
    const res = await completion.generateCompletionWithMeta(promptTokens, {
      maxTokens: p.maxTokens,
      temperature: p.temperature,
      topP: p.topP,
      topK: p.topK,
      minP: p.minP,
      ...(p.seed !== undefined ? { seed: p.seed } : {}),
      repeatPenalty: penalise
        ? {
            penalty: p.repeatPenalty ?? 1,
            frequencyPenalty: p.frequencyPenalty ?? 0,
            presencePenalty: p.presencePenalty ?? 0,
            lastTokens: 64,
          }
        : false,
      customStopTriggers: [...p.stop, ...(opts.extraStopTriggers ?? [])],
      // Stop at the end of the context instead of silently dropping the start of the prompt.
      disableContextShift: true,
      signal: opts.signal,
      onToken: (t) => {
        completionTokens += t.length;
      },
      onTextChunk: opts.onText,
    });
    return {
      text: res.response,
      completionTokens,
      finishReason: res.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
    };
  } finally {
    completion.dispose({ disposeSequence: false });
  }
}
