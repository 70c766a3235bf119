/**
 * What the Model screen shows about a model, read from the GGUF header only (no tensor data, no
 * ggml), so opening even a large file is instant and the UI thread never blocks: architecture,
 * sizes, parameter groups (layer targets) with their parameter counts, storage types, and the
 * memory a fine-tune needs. A Hugging Face folder is recognised and described from its
 * config.json; unlearnkit trains GGUF files, so the screen says how to convert it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readGguf, tensorNumel } from '../../model/gguf.ts';
import { configFromGguf, type ModelConfig } from '../../model/config.ts';
import { listGroups, resolveFilter } from '../../model/paramGroups.ts';
import { ggmlTypeName } from '../../model/ggufTypes.ts';
import { PROJECT_ROOT } from '../../util/paths.ts';
import { UserError } from '../../util/errors.ts';

export interface ModelInfo {
  kind: 'gguf';
  path: string;
  name: string;
  config: ModelConfig;
  parameters: number;
  fileBytes: number;
  /** Count of tensors per storage type, e.g. { F32: 48 }. */
  types: Record<string, number>;
  groups: Array<{ group: string; tensors: number; parameters: number }>;
  /**
   * Host memory of a full fine-tune in our engine: F32 weights, their gradients and AdamW's two
   * moments, 4 bytes x 4 per parameter (activations come on top and depend on the batch).
   */
  trainBytes: number;
}

export interface HfFolderInfo {
  kind: 'hf';
  path: string;
  modelType: string;
  architectures: string[];
  hidden: number | null;
  layers: number | null;
  heads: number | null;
  vocab: number | null;
  ggufInside: string[];
}

export function readModelInfo(p: string): ModelInfo | HfFolderInfo {
  if (!fs.existsSync(p)) throw new UserError(`${p} does not exist`);
  if (fs.statSync(p).isDirectory()) return readHfFolder(p);
  const f = readGguf(p);
  const config = configFromGguf(f);
  const numel = new Map(f.tensors.map((t) => [t.name, tensorNumel(t)]));
  const groups = listGroups(config).map((g) => {
    const names = resolveFilter(g, config);
    return { group: g, tensors: names.length, parameters: names.reduce((s, n) => s + (numel.get(n) ?? 0), 0) };
  });
  const parameters = f.tensors.reduce((s, t) => s + tensorNumel(t), 0);
  const types: Record<string, number> = {};
  for (const t of f.tensors) types[ggmlTypeName(t.type)] = (types[ggmlTypeName(t.type)] ?? 0) + 1;
  return { kind: 'gguf', path: p, name: path.basename(p), config, parameters, fileBytes: f.fileSize, types, groups, trainBytes: parameters * 16 };
}

function readHfFolder(dir: string): HfFolderInfo {
  const cfgFile = path.join(dir, 'config.json');
  const ggufInside = fs.readdirSync(dir).filter((f) => f.endsWith('.gguf'));
  if (!fs.existsSync(cfgFile)) {
    if (ggufInside.length) throw new UserError(`${dir} is a folder; open one of its GGUF files: ${ggufInside.join(', ')}`);
    throw new UserError(`${dir} is a folder without config.json or .gguf files; pick a GGUF file or a Hugging Face model folder`);
  }
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${cfgFile} is not valid JSON (${(e as Error).message})`);
  }
  const n = (...keys: string[]) => {
    for (const k of keys) if (typeof c[k] === 'number') return c[k] as number;
    return null;
  };
  return {
    kind: 'hf',
    path: dir,
    modelType: String(c.model_type ?? 'unknown'),
    architectures: Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [],
    hidden: n('hidden_size', 'n_embd', 'd_model'),
    layers: n('num_hidden_layers', 'n_layer'),
    heads: n('num_attention_heads', 'n_head'),
    vocab: n('vocab_size'),
    ggufInside,
  };
}

/** The embedded default model (committed by `unlearnkit pretrain`). */
const EMBEDDED_MODEL = path.join('models', 'unlearnkit-base.gguf');

/** The model the TUI opens first: the embedded model when it exists, else none (with a note). */
export function defaultModel(cwd = process.cwd()): { path: string | null; note?: string } {
  for (const base of [cwd, PROJECT_ROOT]) {
    const p = path.join(base, EMBEDDED_MODEL);
    if (fs.existsSync(p)) return { path: rel(cwd, p) };
  }
  return { path: null, note: `no model found: build the embedded one with \`unlearnkit pretrain\`, or type the path of a GGUF file (p)` };
}

function rel(cwd: string, p: string): string {
  const r = path.relative(cwd, p);
  return r.length < p.length ? r : p;
}

/**
 * GGUF files the Model screen offers: the open model (wherever it is), models/ (here and the
 * package's), and fine-tuned checkpoints under runs/.
 */
export function candidateModels(cwd = process.cwd(), open?: string | null): string[] {
  const out = new Set<string>();
  const add = (p: string) => {
    if (fs.existsSync(p)) out.add(rel(cwd, path.resolve(cwd, p)));
  };
  if (open) add(open);
  for (const dir of [path.join(cwd, 'models'), path.join(PROJECT_ROOT, 'models')]) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.gguf')) add(path.join(dir, f));
  }
  const runs = path.join(cwd, 'runs');
  if (fs.existsSync(runs)) {
    for (const r of fs.readdirSync(runs).sort().reverse()) add(path.join(runs, r, 'checkpoint.gguf'));
  }
  return [...out];
}
