/**
 * Special tokens, BPE merges and add-BOS/EOS flags of a Hugging Face tokenizer folder, as
 * llama.cpp's gguf-py `SpecialVocab` (gguf/vocab.py) reads them:
 *
 * - merges from tokenizer.json `model.merges` (the old "a b" strings, or the [a, b] pairs written
 *   since transformers 4.45, whose spaces are stored as U+0120 = chr(ord(' ') + 256));
 * - add flags from the post-processor (RobertaProcessing: BOS, EOS and SEP; TemplateProcessing: a
 *   leading special token means add BOS, a trailing one add EOS) and from tokenizer_config.json
 *   `add_<type>_token`;
 * - token ids: tokenizer_config.json `<type>_token` looked up among tokenizer.json's added tokens,
 *   then config.json `<type>_token_id`; the first value found for a type wins;
 * - the chat template (tokenizer_config.json, chat_template.jinja or chat_template.json).
 *
 * The pair template decides add_sep_token as SpecialVocab does: with a template "A [x] B" (after
 * removing the single template's leading/trailing special tokens) add_sep is whether x is the SEP or
 * EOS token; LLaMA 3's "<|begin_of_text|> A <|begin_of_text|> B" gives add_sep_token = false.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import type { GgufTypeHint, GgufValue } from '../gguf.ts';

export type MetaEntry = [string, GgufValue, GgufTypeHint];

export interface SpecialVocab {
  merges: string[];
  /** type ('bos', 'eos', ...) -> token id, in the order found. */
  ids: Map<string, number>;
  /** type -> add flag. */
  add: Map<string, boolean>;
  chatTemplate?: string;
  warnings: string[];
}

type Json = Record<string, unknown>;

/** Read a JSON file, or null when absent; invalid JSON is a UserError naming the file. */
export function readJsonFile(file: string): Json | null {
  if (!fs.existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${file} must hold a JSON object`);
  return v as Json;
}

/** Merges from tokenizer.json in llama.cpp's "left right" string form. */
function mergesFromTokenizerJson(tokenizer: Json, file: string): string[] {
  const model = (tokenizer.model ?? {}) as Json;
  const merges = model.merges;
  if (!Array.isArray(merges) || merges.length === 0) return [];
  if (typeof merges[0] === 'string') return merges as string[];
  if (Array.isArray(merges[0]) && merges[0].length === 2 && typeof merges[0][0] === 'string') {
    const enc = (s: string) => s.replace(/ /g, String.fromCharCode(32 + 256));
    return (merges as string[][]).map((p) => {
      if (!Array.isArray(p) || p.length !== 2) throw new UserError(`${file}: malformed merge entry ${JSON.stringify(p)}`);
      return `${enc(p[0]!)} ${enc(p[1]!)}`;
    });
  }
  throw new UserError(`${file}: unknown tokenizer merges format`);
}

const ID_KEYS: Record<string, string> = {
  bos: 'tokenizer.ggml.bos_token_id',
  eos: 'tokenizer.ggml.eos_token_id',
  unk: 'tokenizer.ggml.unknown_token_id',
  sep: 'tokenizer.ggml.seperator_token_id',
  pad: 'tokenizer.ggml.padding_token_id',
  mask: 'tokenizer.ggml.mask_token_id',
  eot: 'tokenizer.ggml.eot_token_id',
  eom: 'tokenizer.ggml.eom_token_id',
};
const ADD_KEYS: Record<string, string> = {
  bos: 'tokenizer.ggml.add_bos_token',
  eos: 'tokenizer.ggml.add_eos_token',
  sep: 'tokenizer.ggml.add_sep_token',
};

function content(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** `tokenizerJson`: the folder's tokenizer.json when the caller has parsed it already (read, never changed). */
export function loadSpecialVocab(dir: string, opts: { loadMerges?: boolean; nVocab?: number; types?: string[]; tokenizerJson?: Json } = {}): SpecialVocab {
  let types = opts.types ?? ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'];
  const out: SpecialVocab = { merges: [], ids: new Map(), add: new Map(), warnings: [] };
  const setId = (typ: string, tid: unknown): void => {
    if (typeof tid !== 'number' || !Number.isInteger(tid)) return;
    if (tid < 0) throw new UserError(`invalid value for special token type ${typ}: ${tid}`);
    if (opts.nVocab === undefined || tid < opts.nVocab) {
      if (!out.ids.has(typ)) out.ids.set(typ, tid);
      return;
    }
    out.warnings.push(`special token type ${typ}, id ${tid} out of range, must be under ${opts.nVocab} - skipping`);
  };

  const tokFile = path.join(dir, 'tokenizer.json');
  const tokenizer = opts.tokenizerJson ?? readJsonFile(tokFile);
  const tcFile = path.join(dir, 'tokenizer_config.json');
  const tc = readJsonFile(tcFile);
  let addedTokens: Array<{ id?: number; content?: string }> = [];
  if (tokenizer) {
    if (opts.loadMerges) out.merges = mergesFromTokenizerJson(tokenizer, tokFile);
    addedTokens = Array.isArray(tokenizer.added_tokens) ? (tokenizer.added_tokens as typeof addedTokens) : [];
    let specialBos = content(tc?.bos_token);
    let specialCls = content(tc?.cls_token);
    let specialEos = content(tc?.eos_token);
    const specialSep = content(tc?.sep_token);
    if (!specialBos && specialCls && tc) tc.bos_token = specialBos = specialCls;
    if (!specialEos && specialSep && tc) tc.eos_token = specialEos = specialSep;
    const pp = tokenizer.post_processor as Json | null | undefined;
    if (pp && typeof pp === 'object') {
      const processors = Array.isArray(pp.processors) ? (pp.processors as Json[]) : [pp];
      for (const proc of processors) {
        if (proc.type === 'RobertaProcessing') {
          out.add.set('bos', true);
          out.add.set('eos', true);
          out.add.set('sep', true);
          if (!specialCls && tc) tc.cls_token = specialCls = (proc.cls as string[] | undefined)?.[0] ?? specialBos;
          if (!specialSep && tc) tc.sep_token = (proc.sep as string[] | undefined)?.[0] ?? specialEos;
          continue;
        }
        if (proc.type !== 'TemplateProcessing') continue;
        type Piece = { SpecialToken?: { id?: string }; Sequence?: { id?: string } };
        const single = (Array.isArray(proc.single) ? proc.single : []) as Piece[];
        let first: string | undefined;
        let last: string | undefined;
        if (single.length > 1) {
          first = single[0]?.SpecialToken?.id;
          if (first) {
            if (!tc) specialBos = first;
            else if (first !== specialBos && first !== specialCls) {
              if (!specialBos) tc.bos_token = specialBos = first;
              if (!specialCls) tc.cls_token = specialCls = first;
            }
            out.add.set('bos', first === specialBos || first === specialCls);
            if (first !== specialBos && first !== specialCls) out.warnings.push(`unknown leading special token '${first}' in TemplateProcessing<single>`);
          }
          last = single[single.length - 1]?.SpecialToken?.id;
          if (last) {
            if (!tc) specialEos = last;
            else if (last !== specialEos) {
              if (!types.includes('eot')) {
                types = [...types, 'eot'];
                tc.eot_token = specialEos;
              } else if (!types.includes('eom')) {
                types = [...types, 'eom'];
                tc.eom_token = specialEos;
              } else out.warnings.push(`overriding EOS token '${specialEos}' with '${last}' without EOT/EOM fallback`);
              tc.eos_token = specialEos = last;
            }
            out.add.set('eos', last === specialEos);
          }
        }
        // the pair template "A [sep] [eos] B" (minus the single template's leading/trailing tokens) decides add_sep
        const pair = (Array.isArray(proc.pair) ? proc.pair : []) as Piece[];
        if (pair.length) {
          const start = first && pair[0]?.SpecialToken?.id === first ? 1 : 0;
          const stop = last && pair[pair.length - 1]?.SpecialToken?.id === last ? pair.length - 1 : pair.length;
          if ((first && start === 0) || (last && stop === pair.length)) out.warnings.push('TemplateProcessing<single> leading/trailing special tokens do not match TemplateProcessing<pair>');
          const seq = pair.slice(start, stop);
          if (seq.length) {
            const a = seq[0]?.Sequence?.id;
            const b = seq[seq.length - 1]?.Sequence?.id;
            if (a !== 'A' || b !== 'B') out.warnings.push(`unknown sequence ${String(a)}...${String(b)} in TemplateProcessing<pair>`);
            const mid = seq.slice(1, -1);
            if (a === 'A' && b === 'B' && mid.length) {
              let addSep = false;
              const e0 = mid[0]?.SpecialToken?.id;
              if (e0 && (e0 === specialSep || e0 === specialEos) && !last) addSep = true;
              if (e0 && e0 !== specialSep && e0 !== specialEos) out.warnings.push(`unknown separator token '${e0}' in TemplateProcessing<pair>`);
              if (mid.length === 2) {
                const e1 = mid[1]?.SpecialToken?.id;
                if (e1 && (e1 === specialSep || e1 === specialEos)) addSep = true;
              }
              out.add.set('sep', addSep);
              if (addSep && !specialSep && tc) tc.sep_token = specialEos;
            }
          }
        }
      }
    }
  }
  if (tc) {
    const tmpl = tc.chat_template;
    if (typeof tmpl === 'string') out.chatTemplate = tmpl;
    else if (tmpl === undefined) {
      const jinja = path.join(dir, 'chat_template.jinja');
      if (fs.existsSync(jinja)) out.chatTemplate = fs.readFileSync(jinja, 'utf8');
      else {
        const ct = readJsonFile(path.join(dir, 'chat_template.json'))?.chat_template;
        if (typeof ct === 'string') out.chatTemplate = ct;
      }
    }
    for (const typ of types) {
      const addEntry = tc[`add_${typ}_token`];
      if (typeof addEntry === 'boolean') out.add.set(typ, addEntry);
      const c = content(tc[`${typ}_token`]);
      if (c === undefined) continue;
      const hit = addedTokens.find((a) => a.content === c);
      setId(typ, hit?.id);
    }
  }
  const config = readJsonFile(path.join(dir, 'config.json'));
  if (config) {
    for (const typ of types) {
      let tid = config[`${typ}_token_id`];
      if (tid === undefined && typeof config.text_config === 'object' && config.text_config !== null) tid = (config.text_config as Json)[`${typ}_token_id`];
      setId(typ, tid);
    }
  }
  if (opts.loadMerges && out.merges.length === 0) out.warnings.push('adding merges requested but no merges found, output may be non-functional');
  return out;
}

/** The GGUF metadata entries of a SpecialVocab (types llama.cpp has no key for are skipped, as gguf-py does). */
export function specialVocabEntries(sv: SpecialVocab): MetaEntry[] {
  const e: MetaEntry[] = [];
  if (sv.merges.length) e.push(['tokenizer.ggml.merges', sv.merges, 'array<string>']);
  for (const [typ, id] of sv.ids) {
    const k = ID_KEYS[typ];
    if (k) e.push([k, id, 'uint32']);
    else sv.warnings.push(`no GGUF key for special token type ${typ} (id ${id}) - skipping`);
  }
  for (const [typ, v] of sv.add) {
    const k = ADD_KEYS[typ];
    if (k) e.push([k, v, 'bool']);
  }
  if (sv.chatTemplate !== undefined) e.push(['tokenizer.chat_template', sv.chatTemplate, 'string']);
  return e;
}
