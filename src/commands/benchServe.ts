/**
 * `unlearnkit bench serve`: the inference server under a bounded loopback load, and its overhead
 * against node-llama-cpp called directly, measured in the same run on the same model instance.
 *
 * 1. Load: `requests` short completions (max_tokens `loadMaxTokens`) sent by `concurrency` clients
 *    in parallel; throughput (requests/s, generated tokens/s), latency p50 / p99 (nearest-rank), and
 *    errors (any non-200; must be 0).
 * 2. Overhead: one client sends non-streaming `genTokens`-token greedy completions; the same
 *    generations (same prompts, same sampling, same context configuration) run through
 *    LlamaCompletion directly, interleaved with the server ones so that machine noise hits both.
 *    ratio = (server tokens/s) / (direct tokens/s); the aim is >= 0.9.
 *
 * Returns the JSON object the caller writes to reports/bench/serve.json.
 */
import http from 'node:http';
import os from 'node:os';
import { LlamaCompletion } from 'node-llama-cpp';
import { describeDevice } from '../server/device.ts';
import type { GpuChoice } from '../server/options.ts';
import { startServer } from '../server/server.ts';
import { embeddedModelPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

export interface ServeBenchOptions {
  quick?: boolean;
  /** Model GGUF (default: the embedded model). */
  model?: string;
  requests?: number;
  concurrency?: number;
  loadMaxTokens?: number;
  genTokens?: number;
  genRequests?: number;
  gpu?: GpuChoice;
  threads?: number;
}

const PROMPTS = [
  'Once upon a time',
  'The little dog',
  'Tom and Sue went to the park.',
  'One day, a bird',
  'Lily wanted to play',
  'There was a big tree',
  'The sun was shining and',
  'Ben had a red ball.',
];

const SUBJECTS = ['Mia said:', 'Sam saw that', 'Then', 'Later,', 'Mom said', 'At night', 'In the garden', 'After lunch'];

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k]!;
}

interface CompletionReply {
  choices?: Array<{ text: string }>;
  usage?: { completion_tokens: number };
  error?: { message: string };
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export async function runServeBench(opts: ServeBenchOptions = {}) {
  const model = opts.model ?? embeddedModelPath();
  const requests = opts.requests ?? (opts.quick ? 100 : 400);
  const concurrency = opts.concurrency ?? 8;
  const loadMaxTokens = opts.loadMaxTokens ?? 8;
  const genTokens = opts.genTokens ?? 64;
  const genRequests = opts.genRequests ?? (opts.quick ? 4 : 12);
  if (!Number.isInteger(requests) || requests < 1) throw new UserError(`requests must be a positive integer, got ${requests}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UserError(`concurrency must be a positive integer, got ${concurrency}`);

  const server = await startServer({
    model,
    port: 0,
    host: '127.0.0.1',
    gpu: opts.gpu ?? 'auto',
    threads: opts.threads,
    parallel: concurrency,
    maxQueue: concurrency * 4,
    logLevel: 'silent',
  });
  const { engine } = server;
  // node:http with keep-alive: a lean client, so the numbers measure the server, not fetch().
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const { hostname, port } = new URL(server.url);
  const complete = (prompt: string, maxTokens: number) =>
    new Promise<{ status: number; body: CompletionReply }>((resolve, reject) => {
      const payload = JSON.stringify({ model: engine.modelId, prompt, max_tokens: maxTokens, temperature: 0 });
      const req = http.request(
        { hostname, port, path: '/v1/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) as CompletionReply });
            } catch (e) {
              reject(e);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  try {
    // Warm-up: connections, contexts, caches.
    for (let i = 0; i < concurrency; i++) await complete(PROMPTS[i % PROMPTS.length]!, 4);

    // 1. Bounded load.
    const latencies: number[] = [];
    const errors: string[] = [];
    let tokens = 0;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const i = next++;
          if (i >= requests) return;
          const s = performance.now();
          try {
            const r = await complete(PROMPTS[i % PROMPTS.length]!, loadMaxTokens);
            latencies.push(performance.now() - s);
            if (r.status !== 200) errors.push(`${r.status}: ${r.body.error?.message ?? ''}`);
            else tokens += r.body.usage?.completion_tokens ?? 0;
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);

    // 2. One client, 64-token completions: server vs node-llama-cpp directly, interleaved.
    const ctx = await engine.model.createContext({ contextSize: engine.contextSize, sequences: engine.pool.opts.sequences, threads: engine.threads });
    const seq = ctx.getSequence();
    const direct = async (prompt: string) => {
      const completion = new LlamaCompletion({ contextSequence: seq });
      let n = 0;
      const s = performance.now();
      const res = await completion.generateCompletionWithMeta(engine.model.tokenize(prompt), {
        maxTokens: genTokens,
        temperature: 0,
        topK: 0,
        topP: 1,
        minP: 0,
        repeatPenalty: false,
        disableContextShift: true,
        onToken: (t) => {
          n += t.length;
        },
      });
      const ms = performance.now() - s;
      completion.dispose({ disposeSequence: false });
      return { text: res.response, tokens: n, ms };
    };
    const viaServer = async (prompt: string) => {
      const s = performance.now();
      const r = await complete(prompt, genTokens);
      const ms = performance.now() - s;
      if (r.status !== 200) throw new Error(`server answered ${r.status}: ${r.body.error?.message}`);
      return { text: r.body.choices![0]!.text, tokens: r.body.usage!.completion_tokens, ms };
    };
    await direct(PROMPTS[0]!);
    await viaServer(PROMPTS[0]!);
    const srv = { tokens: 0, ms: 0 };
    const dir = { tokens: 0, ms: 0 };
    const pairRatios: number[] = [];
    let identical = true;
    for (let i = 0; i < genRequests; i++) {
      // A prompt neither path has seen, so neither reuses a cached prefix from earlier requests.
      const p = `${SUBJECTS[i % SUBJECTS.length]} ${PROMPTS[i % PROMPTS.length]!.toLowerCase()} (${i})`;
      // Alternate which goes first, so neither always runs on a warmer cache.
      const [a, b] = i % 2 === 0 ? [await viaServer(p), await direct(p)] : (([d, s]) => [s, d])([await direct(p), await viaServer(p)]);
      srv.tokens += a.tokens;
      srv.ms += a.ms;
      dir.tokens += b.tokens;
      dir.ms += b.ms;
      if (a.text !== b.text) identical = false;
      pairRatios.push(a.tokens / a.ms / (b.tokens / b.ms));
    }
    await ctx.dispose();
    const serverTps = srv.tokens / (srv.ms / 1000);
    const directTps = dir.tokens / (dir.ms / 1000);

    return {
      suite: 'serve',
      date: new Date().toISOString(),
      machine: { cpus: os.availableParallelism(), cpu_model: os.cpus()[0]?.model ?? 'unknown', node: process.version },
      model: { id: engine.modelId, path: engine.modelPath },
      device: { ...engine.device, description: describeDevice(engine.device) },
      threads: engine.threads,
      parallel: concurrency,
      load: {
        requests,
        concurrency,
        max_tokens: loadMaxTokens,
        wall_s: round(wall),
        throughput_rps: round(requests / wall, 1),
        generated_tokens_per_s: round(tokens / wall, 1),
        latency_ms: {
          p50: round(percentile(latencies, 50), 2),
          p99: round(percentile(latencies, 99), 2),
          mean: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length), 2),
          max: round(latencies[latencies.length - 1] ?? NaN, 2),
        },
        errors: errors.length,
        ...(errors.length > 0 ? { first_errors: errors.slice(0, 5) } : {}),
      },
      single_client: {
        max_tokens: genTokens,
        requests: genRequests,
        server_tokens: srv.tokens,
        direct_tokens: dir.tokens,
        server_tokens_per_s: round(serverTps, 1),
        direct_tokens_per_s: round(directTps, 1),
        ratio: round(serverTps / directTps),
        /** Median over prompt pairs of the same ratio: less sensitive to one noisy request. */
        ratio_median_of_pairs: round(percentile([...pairRatios].sort((x, y) => x - y), 50)),
        identical_outputs: identical,
      },
    };
  } finally {
    agent.destroy();
    await server.close();
  }
}

/** Human summary of a runServeBench result. */
export function printServeBench(r: Awaited<ReturnType<typeof runServeBench>>): void {
  const l = r.load;
  const s = r.single_client;
  process.stdout.write(
    `serve bench: ${r.model.id} on ${r.device.description}, ${r.threads} thread(s), ${r.parallel} parallel\n` +
      `  load: ${l.requests} requests x ${l.max_tokens} tokens at concurrency ${l.concurrency}: ${l.throughput_rps} req/s, ` +
      `${l.generated_tokens_per_s} tok/s, p50 ${l.latency_ms.p50} ms, p99 ${l.latency_ms.p99} ms, errors ${l.errors}\n` +
      `  one client, ${s.max_tokens}-token completions: server ${s.server_tokens_per_s} tok/s vs direct ${s.direct_tokens_per_s} tok/s ` +
      `= ratio ${s.ratio}${s.identical_outputs ? '' : ' (outputs differed!)'}\n`,
  );
}
