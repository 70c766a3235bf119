/**
 * Turning OpenAI chat messages into the prompt tokens the model expects. Models whose GGUF carries a
 * chat template get node-llama-cpp's matching chat wrapper (its Jinja template or a specialised
 * wrapper). Models without one (base models such as stories260K) get a plain template:
 *
 *     <BOS>{system}\n\nUser: {user}\nAssistant: {assistant}\nUser: {user}\nAssistant:
 *
 * tokenized exactly like a completion prompt of the same text, and generation stops at EOS or at
 * the next "\nUser:".
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

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

/** The plain template as text (without BOS), ending with "Assistant:" for the reply. */
function renderPlainChat(messages: readonly ChatMessage[]): string {
  let s = '';
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'developer') s += `${m.content}\n\n`;
    else if (m.role === 'user') s += `User: ${m.content}\n`;
    else s += `Assistant: ${m.content}\n`;
  }
  return s + 'Assistant:';
}

const PLAIN_STOP = '\nUser:';

/** The plain template as a node-llama-cpp chat wrapper (so LlamaChat users get the same format). */
class PlainChatWrapper extends ChatWrapper {
  readonly wrapperName = 'Plain (User:/Assistant:)';

  override generateContextState({ chatHistory }: ChatWrapperGenerateContextStateOptions): ChatWrapperGeneratedContextState {
    const msgs: ChatMessage[] = [];
    const last = chatHistory.length - 1;
    chatHistory.forEach((item, i) => {
      if (item.type === 'system') {
        msgs.push({ role: 'system', content: typeof item.text === 'string' ? item.text : LlamaText.fromJSON(item.text).toString() });
      } else if (item.type === 'user') msgs.push({ role: 'user', content: item.text });
      else if (i !== last) msgs.push({ role: 'assistant', content: item.response.filter((r): r is string => typeof r === 'string').join('') });
    });
    return {
      contextText: LlamaText([new SpecialToken('BOS'), renderPlainChat(msgs)]),
      stopGenerationTriggers: [LlamaText(new SpecialToken('EOS')), LlamaText(PLAIN_STOP)],
    };
  }
}

/** The chat wrapper for `model`: its own template when the GGUF has one, else the plain one. */
export function chooseChatWrapper(model: LlamaModel): ChatWrapper {
  const tmpl = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } }).tokenizer?.chat_template;
  if (typeof tmpl !== 'string' || tmpl.trim() === '') return new PlainChatWrapper();
  return resolveChatWrapper(model);
}

export interface RenderedChat {
  /** Prompt tokens without the leading BOS (LlamaCompletion prepends it when the model needs it). */
  tokens: Token[];
  /** Prompt length as evaluated, BOS included. */
  promptTokens: number;
  /** Plain-text stop strings (matched exactly on the generated text). */
  stopStrings: string[];
  /** Stop triggers that involve special tokens (left to node-llama-cpp). */
  stopTriggers: LlamaText[];
}

/** Render `messages` plus an empty assistant turn with `wrapper` and tokenize it. */
export function renderChat(model: LlamaModel, wrapper: ChatWrapper, messages: readonly ChatMessage[]): RenderedChat {
  const bos = model.tokens.bos;
  const prepends = model.tokens.shouldPrependBosToken && bos !== null;
  if (wrapper instanceof PlainChatWrapper) {
    const tokens = model.tokenize(renderPlainChat(messages));
    return { tokens, promptTokens: tokens.length + (prepends ? 1 : 0), stopStrings: [PLAIN_STOP], stopTriggers: [] };
  }
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
  if (prepends && tokens[0] === bos) tokens = tokens.slice(1);
  const stopStrings: string[] = [];
  const stopTriggers: LlamaText[] = [];
  for (const t of state.stopGenerationTriggers) {
    if (t.values.every((v) => typeof v === 'string')) stopStrings.push(t.toString());
    else stopTriggers.push(t);
  }
  return { tokens, promptTokens: tokens.length + (prepends ? 1 : 0), stopStrings: stopStrings.filter((s) => s !== ''), stopTriggers };
}
