/**
 * One llama.cpp context per adapter set in use. node-llama-cpp attaches LoRA adapters when a context
 * is created, so switching adapters means using another context (cheap next to the model: only the
 * KV cache is new; the base weights are shared). Contexts are created on demand, kept in an LRU of at
 * most `maxContexts`, and only idle ones are evicted. A request holds a lease on one sequence of one
 * context until it finishes, so unloading an adapter never disturbs requests already running: the
 * contexts that use it are retired (no new leases) and disposed once their last lease is returned.
 */
import type { LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import type { LoadedAdapter } from './adapters.ts';
import { ApiError } from './errors.ts';

export interface AdapterUse {
  adapter: LoadedAdapter;
  scale: number;
}

export interface Lease {
  sequence: LlamaContextSequence;
  /** Canonical key of the adapter set ("" for the base model). */
  key: string;
  release(): void;
}

export interface PoolOptions {
  sequences: number;
  contextSize: number;
  threads: number;
  maxContexts: number;
}

interface Entry {
  key: string;
  uses: AdapterUse[];
  ready: Promise<LlamaContext>;
  context?: LlamaContext;
  free: LlamaContextSequence[];
  busy: number;
  lastUsed: number;
  retired: boolean;
  disposed: boolean;
}

/** "" for the base model, else `name#sha@scale` joined by "|" in name order. */
function adapterSetKey(uses: readonly AdapterUse[]): string {
  return [...uses]
    .sort((a, b) => (a.adapter.name < b.adapter.name ? -1 : a.adapter.name > b.adapter.name ? 1 : 0))
    .map((u) => `${u.adapter.name}#${u.adapter.sha256.slice(0, 12)}@${u.scale}`)
    .join('|');
}

export class ContextPool {
  private readonly entries = new Map<string, Entry>();
  /** Retired entries still serving in-flight requests. */
  private readonly draining = new Set<Entry>();
  private clock = 0;

  constructor(
    private readonly model: LlamaModel,
    readonly opts: PoolOptions,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Lease a sequence on the context for `uses` (created when missing). */
  async acquire(uses: readonly AdapterUse[]): Promise<Lease> {
    const entry = this.entryFor(uses);
    entry.busy++;
    entry.lastUsed = ++this.clock;
    let ctx: LlamaContext;
    try {
      ctx = await entry.ready;
    } catch (err) {
      entry.busy--;
      throw err;
    }
    let seq = entry.free.pop();
    if (!seq) {
      if (ctx.sequencesLeft === 0) {
        entry.busy--;
        throw new ApiError(500, 'internal error: no free sequence on the context (admission and pool disagree)');
      }
      seq = ctx.getSequence();
    }
    const sequence = seq;
    let released = false;
    return {
      sequence,
      key: entry.key,
      release: () => {
        if (released) return;
        released = true;
        entry.busy--;
        entry.lastUsed = ++this.clock;
        if (!sequence.disposed) entry.free.push(sequence);
        if (entry.retired) {
          if (entry.busy === 0) void this.dispose(entry);
        } else {
          this.evict();
        }
      },
    };
  }

  /** Make sure the context for `uses` exists (creating it now), without leasing a sequence. */
  async warm(uses: readonly AdapterUse[]): Promise<void> {
    const e = this.entryFor(uses);
    e.lastUsed = ++this.clock;
    await e.ready;
  }

  /** Retire every context that uses the adapter `name`: no new leases, disposed when idle. */
  retireAdapter(name: string): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (!e.uses.some((u) => u.adapter.name === name)) continue;
      this.entries.delete(key);
      e.retired = true;
      n++;
      if (e.busy === 0) void this.dispose(e);
      else this.draining.add(e);
    }
    return n;
  }

  /** Contexts alive now, for /health. */
  describe(): Array<{ key: string; adapters: Array<{ name: string; scale: number }>; busy: number; retired: boolean }> {
    return [...this.entries.values(), ...this.draining].map((e) => ({
      key: e.key,
      adapters: e.uses.map((u) => ({ name: u.adapter.name, scale: u.scale })),
      busy: e.busy,
      retired: e.retired,
    }));
  }

  get size(): number {
    return this.entries.size + this.draining.size;
  }

  /** Dispose every context (server shutdown; leases must be returned or abandoned first). */
  async disposeAll(): Promise<void> {
    const all = [...this.entries.values(), ...this.draining];
    this.entries.clear();
    this.draining.clear();
    await Promise.all(all.map((e) => this.dispose(e)));
  }

  /** The entry of the context for `uses`, created (and its loading started) when missing. */
  private entryFor(uses: readonly AdapterUse[]): Entry {
    const key = adapterSetKey(uses);
    let e = this.entries.get(key);
    if (!e) {
      e = this.create(key, uses);
      this.entries.set(key, e);
    }
    return e;
  }

  private create(key: string, uses: readonly AdapterUse[]): Entry {
    const e: Entry = {
      key,
      uses: [...uses],
      free: [],
      busy: 0,
      lastUsed: ++this.clock,
      retired: false,
      disposed: false,
      ready: Promise.resolve(null as unknown as LlamaContext),
    };
    e.ready = this.model
      .createContext({
        contextSize: this.opts.contextSize,
        sequences: this.opts.sequences,
        threads: this.opts.threads,
        ...(uses.length > 0
          ? { lora: { adapters: uses.map((u) => ({ filePath: u.adapter.loadPath, scale: u.scale })) } }
          : {}),
      })
      .then(
        (ctx) => {
          e.context = ctx;
          this.log(`context created for ${key === '' ? 'the base model' : key}`);
          this.evict();
          return ctx;
        },
        (err: unknown) => {
          if (this.entries.get(key) === e) this.entries.delete(key);
          const msg = (err as Error)?.message ?? String(err);
          throw uses.length > 0
            ? new ApiError(400, `llama.cpp could not attach adapter(s) ${uses.map((u) => u.adapter.name).join(', ')}: ${msg}`, {
                code: 'invalid_adapter',
              })
            : new ApiError(500, `could not create a context: ${msg}`);
        },
      );
    // A failed creation is reported to whoever awaits it; keep it from being an unhandled rejection.
    e.ready.catch(() => {});
    return e;
  }

  /** Keep at most maxContexts by disposing the least recently used idle ones. */
  private evict(): void {
    while (this.entries.size > this.opts.maxContexts) {
      let victim: Entry | undefined;
      for (const e of this.entries.values()) {
        if (e.busy > 0 || !e.context) continue;
        if (!victim || e.lastUsed < victim.lastUsed) victim = e;
      }
      if (!victim) return;
      this.entries.delete(victim.key);
      this.log(`context evicted (LRU) for ${victim.key === '' ? 'the base model' : victim.key}`);
      void this.dispose(victim);
    }
  }

  private async dispose(e: Entry): Promise<void> {
    if (e.disposed) return;
    e.disposed = true;
    this.draining.delete(e);
    try {
      const ctx = await e.ready;
      await ctx.dispose();
    } catch {
      /* creation failed: nothing to free */
    }
  }
}
