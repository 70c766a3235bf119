/**
 * LoRA adapters the server can attach, by name.
 *
 * A name is either a run id (`<adapters-dir>/<run-id>/adapter.gguf`, with the run's `meta.json`
 * beside it) or the path of a `.gguf` file inside the adapters directory (`sweeps/a.gguf`). Names are
 * checked before any file is touched: only letters, digits, `.`, `_`, `-` and `/`, no segment
 * starting with `.` (so no `..`), not absolute; and after resolving symlinks the file must still lie
 * inside the adapters directory. Anything else is a 400, a missing file a 404.
 *
 * An unlearning run is served as what it measured (src/unlearn/adapter.ts servedArtifact): when LoRA
 * cannot hold its change (a norm changed, or a matrix needs a rank above its budget) the run's model
 * is merged.gguf, which cannot be hot-swapped onto the base: loading such a run is a 400 that says
 * so and how to serve it (`unlearnkit serve --adapter <run>` with no other adapter serves merged.gguf
 * as the model). Provenance: an adapter records the sha256 of the model it was made for (GGUF key
 * `unlearnkit.base_model.sha256`, or the run's meta.json); loading it onto a model with another
 * hash is a 400 naming both, unless the server runs with --force (then a warning is logged).
 *
 * llama.cpp caches a loaded adapter by file path for the model's lifetime, so a file rewritten in
 * place would silently keep serving the old weights. The registry therefore hands llama.cpp a private
 * copy named by the content's SHA-256: identical content reuses the cached adapter, changed content
 * gets a fresh one. (llama.cpp frees adapter weights only when the base model is disposed.)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { servedArtifact, unlearnRunDirOf, type ServedArtifact } from '../unlearn/adapter.ts';
import { ADAPTER_BASE_SHA256_KEY } from '../model/lora.ts';
import { ApiError, badRequest } from './errors.ts';

export interface LoadedAdapter {
  /** The name it was loaded by (run id or relative .gguf path). */
  name: string;
  kind: 'run' | 'file';
  /** Real path of the adapter GGUF inside the adapters directory. */
  sourcePath: string;
  /** Path of the private content-addressed copy that llama.cpp loads. */
  loadPath: string;
  sha256: string;
  /** Scale used when a request names the adapter without one. */
  scale: number;
  /** `adapter.lora.alpha` from the GGUF, when present. */
  alpha: number | null;
  /** The run's meta.json (run ids only; null when absent). */
  meta: unknown;
  /** sha256 of the model the adapter was made for, as recorded; null when none is. */
  baseSha256: string | null;
  /** Set when the recorded base differs from the served model and --force let it load anyway. */
  baseMismatch: boolean;
  loadedAt: string;
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

/** Validate the syntax of an adapter name (throws a 400 naming the problem). */
export function checkAdapterName(name: unknown, param = 'name'): string {
  if (typeof name !== 'string' || name.length === 0) throw badRequest('adapter name must be a non-empty string', param, 'invalid_adapter_name');
  if (name.length > 200) throw badRequest('adapter name is longer than 200 characters', param, 'invalid_adapter_name');
  if (!NAME_RE.test(name)) {
    throw badRequest(
      `adapter name "${name}" is not allowed: use a run id or a .gguf path inside the adapters directory ` +
        `(letters, digits, '.', '_', '-', '/'; no '..' or hidden segments, no absolute paths)`,
      param,
      'invalid_adapter_name',
    );
  }
  return name;
}

/** Resolve a checked name to the real path of its GGUF inside `adaptersDir` (400 / 404 otherwise). */
function resolveAdapterFile(adaptersDir: string, name: string): { file: string; kind: 'run' | 'file'; runDir?: string } {
  checkAdapterName(name);
  let realDir: string;
  try {
    realDir = fs.realpathSync(adaptersDir);
  } catch {
    throw new ApiError(404, `adapter "${name}" not found: the adapters directory ${adaptersDir} does not exist`, {
      param: 'name',
      code: 'adapter_not_found',
    });
  }
  const candidate = path.join(realDir, name);
  const inside = (p: string) => p.startsWith(realDir + path.sep);
  let real: string;
  try {
    real = fs.realpathSync(candidate);
  } catch {
    throw new ApiError(404, `adapter "${name}" not found in ${adaptersDir}`, { param: 'name', code: 'adapter_not_found' });
  }
  if (!inside(real)) {
    throw badRequest(`adapter name "${name}" resolves outside the adapters directory`, 'name', 'invalid_adapter_name');
  }
  const st = fs.statSync(real);
  if (st.isDirectory()) {
    let file = path.join(real, 'adapter.gguf');
    if (!fs.existsSync(file)) {
      const ggufs = fs.readdirSync(real).filter((f) => f.endsWith('.gguf'));
      if (ggufs.length !== 1) {
        throw new ApiError(404, `run "${name}" has no adapter.gguf (found ${ggufs.length} .gguf files)`, {
          param: 'name',
          code: 'adapter_not_found',
        });
      }
      file = path.join(real, ggufs[0]!);
    }
    const realFile = fs.realpathSync(file);
    if (!inside(realFile)) throw badRequest(`adapter "${name}" resolves outside the adapters directory`, 'name', 'invalid_adapter_name');
    return { file: realFile, kind: 'run', runDir: real };
  }
  if (!name.endsWith('.gguf')) {
    throw badRequest(`adapter "${name}" is a file but not a .gguf file`, 'name', 'invalid_adapter_name');
  }
  // a file inside an unlearning run folder (<run>/adapter.gguf) is that run
  const runDir = unlearnRunDirOf(real);
  if (runDir && inside(runDir)) return { file: real, kind: 'run', runDir };
  return { file: real, kind: 'file' };
}

/**
 * The unlearning run behind an adapter name (null for a plain .gguf): which of its files is its
 * model (servedArtifact). A UserError from the run (nothing changed, a file missing) is a 400.
 */
export function runArtifact(adaptersDir: string, name: string): ServedArtifact | null {
  const { runDir } = resolveAdapterFile(adaptersDir, name);
  if (!runDir || !unlearnRunDirOf(runDir)) return null;
  try {
    return servedArtifact(runDir);
  } catch (e) {
    throw badRequest(`run "${name}": ${(e as Error).message}`, 'name', 'invalid_adapter');
  }
}

/** The message for a run whose model is merged.gguf (LoRA cannot hold its change). */
function mergedOnlyMessage(name: string, a: ServedArtifact): string {
  return (
    `run "${name}" cannot be served as a LoRA adapter: ${a.reason}; its model is ${a.path}. ` +
    `Serve it as the model: unlearnkit serve --model <its base> --adapter ${name} (alone), or --model ${a.path}`
  );
}

function getKey(meta: unknown, dotted: string): unknown {
  const rec = meta as Record<string, unknown> | undefined;
  if (rec && dotted in rec) return rec[dotted];
  let cur: unknown = meta;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * The adapters loaded into the server. Loading validates the GGUF header (a LoRA adapter for the
 * served architecture) and makes the private copy; attaching to a context happens in the context pool.
 */
export class AdapterRegistry {
  private readonly byName = new Map<string, LoadedAdapter>();

  constructor(
    readonly adaptersDir: string,
    private readonly cacheDir: string,
    private readonly baseArchitecture: string | undefined,
    /** The served model's sha256 (computed on first need) and path, for the provenance check. */
    private readonly base?: { sha256: () => string; path: string; force: boolean; warn: (msg: string) => void },
  ) {}

  list(): LoadedAdapter[] {
    return [...this.byName.values()];
  }

  get(name: string): LoadedAdapter | undefined {
    return this.byName.get(name);
  }

  /** Load (or reload / re-scale) `name`. Returns the entry now registered. */
  async load(name: string, scale = 1): Promise<LoadedAdapter> {
    if (!Number.isFinite(scale)) throw badRequest('scale must be a finite number', 'scale');
    const { file, kind, runDir } = resolveAdapterFile(this.adaptersDir, name);
    let info;
    try {
      info = await readGgufFileInfo(file, { readTensorInfo: false, sourceType: 'filesystem', logWarnings: false });
    } catch (e) {
      throw badRequest(`adapter "${name}" is not a readable GGUF file: ${(e as Error).message}`, 'name', 'invalid_adapter');
    }
    const meta = info.metadata as unknown;
    const gtype = getKey(meta, 'general.type');
    const atype = getKey(meta, 'adapter.type');
    if (gtype !== 'adapter' || atype !== 'lora') {
      throw badRequest(
        `"${name}" is not a LoRA adapter GGUF (general.type=${String(gtype)}, adapter.type=${String(atype)})`,
        'name',
        'invalid_adapter',
      );
    }
    const arch = getKey(meta, 'general.architecture');
    if (this.baseArchitecture && typeof arch === 'string' && arch !== this.baseArchitecture) {
      throw badRequest(
        `adapter "${name}" is for architecture ${arch}, the served model is ${this.baseArchitecture}`,
        'name',
        'invalid_adapter',
      );
    }
    const alphaRaw = getKey(meta, 'adapter.lora.alpha');
    let runMeta: unknown = null;
    if (kind === 'run' && runDir && unlearnRunDirOf(runDir)) {
      const art = runArtifact(this.adaptersDir, name);
      if (art && art.kind === 'merged') throw badRequest(mergedOnlyMessage(name, art), 'name', 'adapter_needs_merged_model');
    }
    let baseSha256: string | null = null;
    const recorded = getKey(meta, ADAPTER_BASE_SHA256_KEY);
    if (typeof recorded === 'string' && recorded) baseSha256 = recorded;
    if (kind === 'run' && runDir) {
      const metaFile = path.join(runDir, 'meta.json');
      if (fs.existsSync(metaFile)) {
        try {
          runMeta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
        } catch (e) {
          throw badRequest(`run "${name}": meta.json is not valid JSON (${(e as Error).message})`, 'name', 'invalid_adapter');
        }
      }
    }
    if (!baseSha256) {
      const b = (runMeta as { base?: { sha256?: unknown } } | null)?.base?.sha256;
      if (typeof b === 'string' && b) baseSha256 = b;
    }
    let baseMismatch = false;
    if (baseSha256 && this.base) {
      const actual = this.base.sha256();
      if (actual !== baseSha256) {
        const msg = `adapter "${name}" was made for a base model with sha256 ${baseSha256}, but the served model ${this.base.path} has sha256 ${actual}`;
        if (!this.base.force) throw new ApiError(409, `${msg}; serve the model it was made from (or start the server with --force to apply it anyway)`, { param: 'name', code: 'adapter_base_mismatch' });
        this.base.warn(`${msg}; loaded anyway (--force)`);
        baseMismatch = true;
      }
    }
    const { sha256, loadPath } = this.privateCopy(file);
    const entry: LoadedAdapter = {
      name,
      kind,
      sourcePath: file,
      loadPath,
      sha256,
      scale,
      alpha: typeof alphaRaw === 'number' ? alphaRaw : null,
      meta: runMeta,
      baseSha256,
      baseMismatch,
      loadedAt: new Date().toISOString(),
    };
    this.byName.set(name, entry);
    return entry;
  }

  /** Forget `name`; returns the entry removed, undefined when it was not loaded. */
  unload(name: string): LoadedAdapter | undefined {
    const e = this.byName.get(name);
    this.byName.delete(name);
    return e;
  }

  private privateCopy(file: string): { sha256: string; loadPath: string } {
    const data = fs.readFileSync(file);
    const sha256 = crypto.createHash('sha256').update(data).digest('hex');
    fs.mkdirSync(this.cacheDir, { recursive: true });
    const loadPath = path.join(this.cacheDir, `${sha256.slice(0, 32)}.gguf`);
    if (!fs.existsSync(loadPath)) {
      const tmp = `${loadPath}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, loadPath);
    }
    return { sha256, loadPath };
  }
}
