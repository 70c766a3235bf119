/**
 * Parameter groups and filters ("layer targets"), for every architecture family. Families name
 * their tensors the way llama.cpp does, so groups are defined on names (a family may classify its
 * block tensors itself: ArchFamily.blockPart):
 *   embedding        token_embd.weight (+ position_embd.weight for gpt2)
 *   block:K          every tensor of block K (K may be negative: block:-1 is the last block)
 *   block:K:attn     block K's attention norm, projections and their biases (and qwen3's q/k norms)
 *   block:K:mlp      block K's feed-forward norm and projections
 *   final_norm       output_norm.*
 *   output           output.weight (for tied models, the shared token_embd.weight)
 *   norms            every normalisation weight and bias
 *   all              everything
 * A filter is a comma-separated list of groups; its tensors are the union. Constants of an
 * architecture (rope_freqs.weight) are in no group: they are never trained.
 */
import { familyOf, parameterNames, type ModelConfig } from './config.ts';
import { UserError } from '../util/errors.ts';

export const FILTER_HELP = 'all | embedding | block:K | block:K:attn | block:K:mlp | final_norm | output | norms, comma-separated (K may be negative: -1 = last block)';

function blockOf(name: string): number | null {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/** attn or mlp for a block tensor: the family's own classification, else llama.cpp's names (attn_* / ffn_*). */
function partOf(name: string, c?: ModelConfig): 'attn' | 'mlp' {
  const own = c ? familyOf(c.arch).blockPart : undefined;
  if (own) return own(name);
  return /\.ffn_/.test(name) ? 'mlp' : 'attn';
}

function isNorm(name: string): boolean {
  return /norm\.(weight|bias)$/.test(name);
}

/** Tensor names selected by one group term. */
function selectTerm(term: string, names: string[], c: ModelConfig): string[] {
  if (term === 'all') return names;
  if (term === 'embedding') return names.filter((n) => n === 'token_embd.weight' || n === 'position_embd.weight');
  if (term === 'final_norm') return names.filter((n) => n.startsWith('output_norm.'));
  if (term === 'output') return c.tiedOutput ? ['token_embd.weight'] : names.filter((n) => n === 'output.weight');
  if (term === 'norms') return names.filter(isNorm);
  const m = /^block:(-?\d+)(?::(attn|mlp))?$/.exec(term);
  if (m) {
    let k = Number(m[1]);
    if (k < 0) k += c.nLayer;
    if (k < 0 || k >= c.nLayer) throw new UserError(`filter '${term}': the model has blocks 0..${c.nLayer - 1}`);
    const part = m[2];
    return names.filter((n) => blockOf(n) === k && (!part || partOf(n, c) === part));
  }
  throw new UserError(`unknown layer target '${term}'; use ${FILTER_HELP}`);
}

/** Resolve a filter string to the sorted list of tensor names it selects (never empty). */
export function resolveFilter(filter: string, c: ModelConfig): string[] {
  const names = parameterNames(c);
  const terms = filter
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (terms.length === 0) throw new UserError(`empty layer target; use ${FILTER_HELP}`);
  const set = new Set<string>();
  for (const t of terms) for (const n of selectTerm(t, names, c)) set.add(n);
  if (set.size === 0) throw new UserError(`layer target '${filter}' selects no tensors of this ${c.arch} model`);
  return names.filter((n) => set.has(n));
}

/** The group a tensor belongs to, for reports (e.g. "block:3:attn"); pass the config for a family's own block classification. */
export function groupOf(name: string, c?: ModelConfig): string {
  if (name === 'token_embd.weight' || name === 'position_embd.weight') return 'embedding';
  if (name.startsWith('output_norm.')) return 'final_norm';
  if (name === 'output.weight') return 'output';
  const b = blockOf(name);
  if (b !== null) return `block:${b}:${partOf(name, c)}`;
  return 'other';
}

/** Every group term of a model, in order (for target comparisons and the TUI). */
export function listGroups(c: ModelConfig): string[] {
  const out = ['embedding'];
  for (let l = 0; l < c.nLayer; l++) out.push(`block:${l}`, `block:${l}:attn`, `block:${l}:mlp`);
  out.push('final_norm');
  if (!c.tiedOutput) out.push('output');
  return out;
}
