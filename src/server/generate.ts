/**
 * One generation on a leased sequence, through node-llama-cpp's LlamaCompletion (which handles
 * stop strings, partial UTF-8 tokens and EOS). Sampling follows OpenAI's meaning of the parameters:
 * temperature 0 is greedy, top_p 1 / top_k 0 / min_p 0 switch those filters off, and no repetition
 * penalty unless one is asked for.
 */
import { LlamaCompletion, type LlamaContextSequence, type LlamaText, type Token } from 'node-llama-cpp';
import { StopMatcher } from './stopMatcher.ts';

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
 * Stop strings (`p.stop` and `opts.stopStrings`) are matched exactly on the text (StopMatcher);
 * `opts.stopTriggers` with special tokens are left to node-llama-cpp. `signal` aborting throws its
 * reason. `onText` receives the text as it becomes final (never part of a stop string).
 */
export async function generate(
  sequence: LlamaContextSequence,
  promptTokens: Token[],
  p: SamplingParams,
  opts: { signal?: AbortSignal; onText?: (t: string) => void; stopStrings?: readonly string[]; stopTriggers?: readonly LlamaText[] } = {},
): Promise<GenerationResult> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const matcher = new StopMatcher([...p.stop, ...(opts.stopStrings ?? [])]);
  // Ends generation gracefully once a stop string is seen; the request signal still throws.
  const stopCtl = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stopCtl.signal]) : stopCtl.signal;
  let text = '';
  const emit = (t: string) => {
    if (t === '') return;
    text += t;
    opts.onText?.(t);
  };
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
      ...(opts.stopTriggers && opts.stopTriggers.length > 0 ? { customStopTriggers: opts.stopTriggers } : {}),
      // Stop at the end of the context instead of silently dropping the start of the prompt.
      disableContextShift: true,
      signal,
      stopOnAbortSignal: true,
      onToken: (t) => {
        completionTokens += t.length;
      },
      onTextChunk: (chunk) => {
        if (matcher.stopped) return;
        emit(matcher.push(chunk));
        if (matcher.stopped) stopCtl.abort();
      },
    });
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (!matcher.stopped) emit(matcher.flush());
    return {
      text,
      completionTokens,
      finishReason: !matcher.stopped && res.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
    };
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw e;
  } finally {
    completion.dispose({ disposeSequence: false });
  }
}
