/**
 * The inference engine behind the HTTP routes: llama.cpp on the chosen device, the base model, the
 * adapter registry, one context per adapter set (ContextPool) and admission control. Routes call
 * `run(refs, signal, fn)`, which waits for a slot, leases a sequence on the right context, runs `fn`
 * and gives everything back.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChatWrapper, Llama, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { UserError } from '../util/errors.ts';
import { adapterScaleDecl } from '../options/declarations.ts';
import { checkOption, describeAllowed } from '../options/validate.ts';

/** True when `s` lies in the declared range of an adapter scale (src/options adapterScaleDecl). */
function scaleAllowed(s: number): boolean {
  try {
    checkOption(adapterScaleDecl, s);
    return true;
  } catch {
    return false;
  }
}
import { processAlive } from '../util/fs.ts';
import { cachedSha256, unlearnRunDirOf } from '../unlearn/adapter.ts';
import { Admission } from './admission.ts';
import { AdapterRegistry, checkAdapterName, runArtifact, type LoadedAdapter } from './adapters.ts';
import { chooseChatWrapper } from './chatTemplate.ts';
import { ContextPool, type AdapterUse } from './contexts.ts';
import { describeDevice, loadLlama, type DeviceInfo, type LlamaLogSink } from './device.ts';
import { ApiError, badRequest } from './errors.ts';
import { chooseThreads, type AdapterRef, type ServeOptions } from './options.ts';

export type EngineOptions = Pick<
  ServeOptions,
  'model' | 'adapters' | 'adaptersDir' | 'gpu' | 'parallel' | 'maxQueue' | 'threads' | 'contextSize' | 'maxContexts'
> & { force?: boolean };

/** The exit hooks that remove each live engine's private folder (taken off again by dispose). */
const EXIT_CLEANUP = new Map<string, () => void>();

/** Prefix of the server's private folder in the system temp directory: `unlearnkit-serve-<pid>-XXXXXX`. */
const SERVE_TMP_PREFIX = 'unlearnkit-serve-';

/**
 * Remove the private folders of servers that are gone (killed before they could clean up): those
 * named `unlearnkit-serve-<pid>-*` whose process no longer runs. Returns the folders removed.
 */
function cleanStaleServeFolders(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return removed;
  }
  for (const n of names) {
    const m = /^unlearnkit-serve-(\d+)-/.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(tmp, n), { recursive: true, force: true });
      removed.push(path.join(tmp, n));
    } catch {
      /* someone else's: leave it */
    }
  }
  return removed;
}

/**
 * The name a model is served under: the run it comes from, not its file name. merged.gguf of an
 * unlearning run -> the run id; a file in a fine-tune run folder (run.json beside it, e.g.
 * runs/ft/checkpoint.gguf) -> the folder's name (`ft`); any other file -> its name without .gguf.
 */
function servedModelId(modelPath: string): string {
  const dir = path.dirname(modelPath);
  const runDir = unlearnRunDirOf(modelPath);
  if (runDir) {
    try {
      const id = (JSON.parse(fs.readFileSync(path.join(runDir, 'meta.json'), 'utf8')) as { runId?: unknown }).runId;
      if (typeof id === 'string' && id) return id;
    } catch {
      /* fall through */
    }
    return path.basename(runDir);
  }
  if (fs.existsSync(path.join(dir, 'run.json'))) return path.basename(path.resolve(dir));
  return path.basename(modelPath).replace(/\.gguf$/i, '');
}

export class InferenceEngine {
  readonly startedAt = Date.now();

  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly device: DeviceInfo,
    readonly modelId: string,
    readonly modelPath: string,
    readonly threads: number,
    readonly contextSize: number,
    readonly chatWrapper: ChatWrapper,
    readonly registry: AdapterRegistry,
    readonly pool: ContextPool,
    readonly admission: Admission,
    private readonly cacheDir: string,
    private readonly log: LlamaLogSink,
  ) {}

  static async create(opts: EngineOptions, log: LlamaLogSink): Promise<InferenceEngine> {
    let modelPath = path.resolve(opts.model);
    if (!fs.existsSync(modelPath)) throw new UserError(`model file not found: ${opts.model}`);
    if (fs.statSync(modelPath).isDirectory()) throw new UserError(`--model ${opts.model} is a folder; give the model's .gguf file`);
    for (const d of cleanStaleServeFolders()) log('info', `removed ${d}, left by a server that did not shut down`);
    // A run whose change LoRA cannot hold is served as its merged model (what unlearn measured).
    let adapters = opts.adapters;
    for (const a of opts.adapters) {
      let art;
      try {
        art = runArtifact(opts.adaptersDir, a.name);
      } catch (e) {
        throw new UserError(`--adapter ${a.name}: ${(e as Error).message}`);
      }
      if (!art || art.kind !== 'merged') continue;
      if (opts.adapters.length > 1) {
        throw new UserError(`--adapter ${a.name}: LoRA cannot hold this run's change (${art.reason}), so its model is ${art.path}; serve it alone (--adapter ${a.name} with no other adapter) or with --model ${art.path}`);
      }
      if (a.scale !== undefined && a.scale !== 1) throw new UserError(`--adapter ${a.name}:${a.scale}: its model is the merged ${art.path} (${art.reason}), which has no scale; give no scale`);
      if (art.base.sha256) {
        const actual = cachedSha256(modelPath);
        if (actual !== art.base.sha256) {
          const msg = `run ${a.name} was made from a model with sha256 ${art.base.sha256} (${art.base.checkpoint ?? 'unknown path'}), but --model ${opts.model} has sha256 ${actual}`;
          if (!opts.force) throw new UserError(`${msg}; serve the model it was made from, or pass --force`);
          log('warn', `${msg}; serving its merged model anyway (--force)`);
        }
      }
      log('warn', `run ${a.name}: LoRA cannot hold its change (${art.reason}); serving its merged model ${art.path} instead of ${opts.model} + adapter`);
      modelPath = art.path;
      adapters = [];
    }
    if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new UserError(`--parallel must be a positive integer, got ${opts.parallel}`);
    if (!Number.isInteger(opts.maxContexts) || opts.maxContexts < 1) throw new UserError(`--max-contexts must be a positive integer, got ${opts.maxContexts}`);
    const threads = chooseThreads(modelPath, opts.threads);
    const { llama, device } = await loadLlama(opts.gpu, log, threads);
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath });
    } catch (e) {
      await llama.dispose();
      throw new UserError(`could not load the model ${opts.model}: ${(e as Error).message}`);
    }
    const train = model.trainContextSize || 4096;
    const contextSize = opts.contextSize ?? Math.min(train, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 16) throw new UserError(`--ctx-size must be an integer >= 16, got ${contextSize}`);
    const arch = (model.fileInfo.metadata as { general?: { architecture?: string } }).general?.architecture;
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), `${SERVE_TMP_PREFIX}${process.pid}-`));
    // removed by dispose(); also on any exit that skips it (a second Ctrl-C exits at once)
    const rmCache = () => fs.rmSync(cacheDir, { recursive: true, force: true });
    process.once('exit', rmCache);
    EXIT_CLEANUP.set(cacheDir, rmCache);
    const base = { sha256: () => cachedSha256(modelPath), path: modelPath, force: !!opts.force, warn: (m: string) => log('warn', m) };
    const registry = new AdapterRegistry(opts.adaptersDir, cacheDir, arch, base);
    const pool = new ContextPool(
      model,
      { sequences: opts.parallel, contextSize, threads, maxContexts: opts.maxContexts },
      (m) => log('info', m),
    );
    const engine = new InferenceEngine(
      llama,
      model,
      device,
      servedModelId(modelPath),
      modelPath,
      threads,
      contextSize,
      chooseChatWrapper(model),
      registry,
      pool,
      new Admission(opts.parallel, opts.maxQueue),
      cacheDir,
      log,
    );
    try {
      await pool.warm([]);
      for (const a of adapters) {
        try {
          await engine.loadAdapter(a.name, a.scale);
        } catch (e) {
          throw new UserError(`--adapter ${a.name}: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      await engine.dispose();
      throw e;
    }
    log('info', `model ${engine.modelId} on ${describeDevice(device)}, ${threads} thread(s), context ${contextSize} x ${opts.parallel} sequences`);
    return engine;
  }

  /**
   * Number of tokens in the model's vocabulary (`tokenizer.ggml.tokens`); valid token ids are
   * 0 .. vocabSize - 1. 0 when the GGUF carries no vocabulary (token-id requests are then refused).
   */
  get vocabSize(): number {
    return this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
  }

  /**
   * Token ids from a request, checked: a list of integers 0 <= id < vocabSize. Anything else is a
   * 400 naming the element (`param[i]`) and the valid range (llama.cpp would read out of bounds).
   */
  checkTokenIds(ids: readonly unknown[], param: string): Token[] {
    const n = this.vocabSize;
    if (n === 0) throw badRequest(`${param}: this model's GGUF has no vocabulary, so token ids cannot be checked or used`, param, 'invalid_token');
    return ids.map((t, i) => {
      if (typeof t !== 'number' || !Number.isInteger(t)) {
        throw badRequest(`${param}[${i}] must be an integer token id, got ${JSON.stringify(t)}`, `${param}[${i}]`, 'invalid_token');
      }
      if (t < 0 || t >= n) {
        throw badRequest(`${param}[${i}]: token id ${t} is out of range (the vocabulary has ${n} tokens: 0..${n - 1})`, `${param}[${i}]`, 'invalid_token');
      }
      return t as Token;
    });
  }

  /**
   * The adapters a request names: `model` as `<id>[+<adapter>[:<scale>]]...` (the id may be "base"),
   * or an explicit `adapters` list (then `model` must name the base). Unknown names are 404s.
   */
  parseRequestAdapters(model: string | undefined, adapters: Array<{ name: string; scale?: number }> | undefined): AdapterRef[] {
    const refs: AdapterRef[] = [];
    if (model !== undefined && model !== '') {
      const parts = model.split('+');
      const base = parts[0]!;
      if (base !== this.modelId && base !== 'base') {
        throw new ApiError(404, `model "${model}" is not served here; the base model is "${this.modelId}" (see GET /v1/models)`, {
          param: 'model',
          code: 'model_not_found',
        });
      }
      for (const p of parts.slice(1)) {
        const i = p.lastIndexOf(':');
        const name = i >= 0 ? p.slice(0, i) : p;
        checkAdapterName(name, 'model');
        if (i >= 0) {
          const s = Number(p.slice(i + 1));
          if (p.slice(i + 1) === '' || !Number.isFinite(s)) throw badRequest(`adapter scale "${p.slice(i + 1)}" in model "${model}" is not a number`, 'model');
          if (!scaleAllowed(s)) throw badRequest(`adapter scale ${p.slice(i + 1)} in model "${model}" is out of range; allowed: ${describeAllowed(adapterScaleDecl)}`, 'model');
          refs.push({ name, scale: s });
        } else refs.push({ name });
      }
    }
    if (adapters !== undefined) {
      if (refs.length > 0) throw badRequest('name adapters either in "model" (id+adapter:scale) or in "adapters", not both', 'adapters');
      adapters.forEach((a, i) => {
        checkAdapterName(a.name, `adapters[${i}].name`);
        refs.push(a.scale === undefined ? { name: a.name } : { name: a.name, scale: a.scale });
      });
    }
    return refs;
  }

  /** Resolve names to loaded adapters (404 when one is not loaded; 400 on duplicates). */
  resolveAdapters(refs: readonly AdapterRef[]): AdapterUse[] {
    const seen = new Set<string>();
    return refs.map((r) => {
      if (seen.has(r.name)) throw badRequest(`adapter "${r.name}" is named twice`, 'adapters');
      seen.add(r.name);
      const a = this.registry.get(r.name);
      if (!a) {
        throw new ApiError(404, `adapter "${r.name}" is not loaded (load it with POST /v1/adapters {"name": "${r.name}"})`, {
          param: 'adapters',
          code: 'adapter_not_loaded',
        });
      }
      return { adapter: a, scale: r.scale ?? a.scale };
    });
  }

  /**
   * Run `fn` on a sequence of the context for `refs`: wait for a slot (429 when the queue is full),
   * resolve the adapters as they are now, lease a sequence, run, give it back.
   */
  async run<T>(refs: readonly AdapterRef[], signal: AbortSignal, fn: (seq: LlamaContextSequence, key: string) => Promise<T>): Promise<T> {
    this.resolveAdapters(refs); // fail fast, before queueing
    const release = await this.admission.acquire(signal);
    try {
      const uses = this.resolveAdapters(refs);
      const lease = await this.pool.acquire(uses);
      try {
        return await fn(lease.sequence, lease.key);
      } finally {
        lease.release();
      }
    } finally {
      release();
    }
  }

  /** Load (or reload / re-scale) an adapter and attach it once, so a bad file fails here. */
  async loadAdapter(name: string, scale?: number): Promise<LoadedAdapter> {
    const prev = this.registry.get(name);
    const entry = await this.registry.load(name, scale ?? prev?.scale ?? 1);
    if (prev) this.pool.retireAdapter(name);
    try {
      await this.pool.warm([{ adapter: entry, scale: entry.scale }]);
    } catch (e) {
      this.registry.unload(name);
      this.pool.retireAdapter(name);
      throw e;
    }
    this.log('info', `adapter ${name} loaded (scale ${entry.scale}, sha256 ${entry.sha256.slice(0, 12)})`);
    return entry;
  }

  /** Unload an adapter: new requests can no longer name it; its contexts close once idle. */
  unloadAdapter(name: string): LoadedAdapter {
    checkAdapterName(name);
    const e = this.registry.unload(name);
    if (!e) throw new ApiError(404, `adapter "${name}" is not loaded`, { param: 'name', code: 'adapter_not_loaded' });
    const n = this.pool.retireAdapter(name);
    this.log('info', `adapter ${name} unloaded (${n} context(s) retired)`);
    return e;
  }

  async dispose(): Promise<void> {
    await this.pool.disposeAll();
    if (!this.model.disposed) await this.model.dispose();
    if (!this.llama.disposed) await this.llama.dispose();
    fs.rmSync(this.cacheDir, { recursive: true, force: true });
    const rm = EXIT_CLEANUP.get(this.cacheDir);
    if (rm) process.off('exit', rm);
    EXIT_CLEANUP.delete(this.cacheDir);
  }
}
