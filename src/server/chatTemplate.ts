/**
 * Turning OpenAI chat messages into the prompt tokens the model expects. Models whose GGUF carries a
 * chat template get node-llama-cpp's matching chat wrapper (its Jinja template or a specialised
 * wrapper). Models without one (base models such as stories260K) get a plain template:
 *
 *     <BOS>{system}\n\nUser: {user}\nAssistant: {assistant}\nUser: {user}\nAssistant:
 *
 * and generation stops at EOS or at the next "\nUser:".
 */
import {
  ChatWrapper,
  LlamaText,
  SpecialToken,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapperGenerateContextStateOptions,
  type ChatWrapperGeneratedContextState,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';

export class PlainChatWrapper extends ChatWrapper {
  readonly wrapperName = 'Plain (User:/Assistant:)';

  override generateContextState({ chatHistory }: ChatWrapperGenerateContextStateOptions): ChatWrapperGeneratedContextState {
    const parts: Array<string | SpecialToken> = [new SpecialToken('BOS')];
    const last = chatHistory.length - 1;
    chatHistory.forEach((item, i) => {
      if (item.type === 'system') {
        const text = typeof item.text === 'string' ? item.text : LlamaText.fromJSON(item.text).toString();
        parts.push(`${text}\n\n`);
      } else if (item.type === 'user') {
        parts.push(`User: ${item.text}\n`);
      } else {
        const text = item.response.filter((r): r is string => typeof r === 'string').join('');
        parts.push(i === last && text === '' ? 'Assistant:' : `Assistant: ${text}${i === last ? '' : '\n'}`);
      }
    });
    return {
      contextText: LlamaText(parts),
      stopGenerationTriggers: [LlamaText(new SpecialToken('EOS')), LlamaText('\nUser:')],
    };
  }
}

/** The chat wrapper for `model`: its own template when the GGUF has one, else the plain one. */
export function chooseChatWrapper(model: LlamaModel): ChatWrapper {
  const tmpl = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } }).tokenizer?.chat_template;
  if (typeof tmpl !== 'string' || tmpl.trim() === '') return new PlainChatWrapper();
  return resolveChatWrapper(model);
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

export interface RenderedChat {
  /** Prompt tokens without the leading BOS (LlamaCompletion prepends it when the model needs it). */
  tokens: Token[];
  /** Prompt length as evaluated, BOS included. */
  promptTokens: number;
  stopTriggers: LlamaText[];
}

/** Render `messages` plus an empty assistant turn with `wrapper` and tokenize it. */
export function renderChat(model: LlamaModel, wrapper: ChatWrapper, messages: readonly ChatMessage[]): RenderedChat {
  const history: ChatHistoryItem[] = messages.map((m) =>
    m.role === 'system' || m.role === 'developer'
      ? { type: 'system', text: m.content }
      : m.role === 'user'
        ? { type: 'user', text: m.content }
        : { type: 'model', response: [m.content] },
  );
  history.push({ type: 'model', response: [] });
  const state = wrapper.generateContextState({ chatHistory: history });
  let tokens = state.contextText.tokenize(model.tokenizer);
  const bos = model.tokens.bos;
  const prepends = model.tokens.shouldPrependBosToken && bos !== null;
  if (prepends && tokens[0] === bos) tokens = tokens.slice(1);
  return {
    tokens,
    promptTokens: tokens.length + (prepends ? 1 : 0),
    stopTriggers: state.stopGenerationTriggers,
  };
}
