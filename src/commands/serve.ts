/**
 * `unlearnkit serve`: the local OpenAI-compatible inference server over node-llama-cpp, with LoRA
 * adapters (unlearning runs) loaded, re-scaled and unloaded while the base model stays in memory.
 * See src/server/README.md for the endpoints. SIGINT / SIGTERM shut it down gracefully (exit 0).
 */
import { Option, type Command } from 'commander';
import { describeDevice } from '../server/device.ts';
import { DEFAULTS, parseAdapterSpec, type AdapterRef, type ServeOptions } from '../server/options.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { startServer } from '../server/server.ts';
import { UserError } from '../util/errors.ts';

function int(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UserError(`${flag} must be an integer in [${min}, ${max}], got "${v}"`);
    return n;
  };
}

function seconds(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UserError(`${flag} must be a positive number of seconds, got "${v}"`);
    return n;
  };
}

interface ServeFlags {
  model: string;
  adapter: AdapterRef[];
  adaptersDir: string;
  host: string;
  port: number;
  device?: string;
  /** Deprecated alias of --device. */
  gpu?: string;
  parallel: number;
  maxQueue: number;
  threads?: number;
  ctxSize?: number;
  maxContexts: number;
  apiKey?: string;
  bodyLimit: number;
  timeout: number;
  maxTokens: number;
  shutdownGrace: number;
  logLevel: string;
  json?: boolean;
  force?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a GGUF model over an OpenAI-compatible HTTP API, with LoRA adapters hot-swapped (see src/server/README.md)')
    .requiredOption('-m, --model <path>', 'base model GGUF file')
    .option(
      '-a, --adapter <name[:scale]>',
      'load an adapter at start: a run id (adapters/<run-id>/) or a .gguf inside --adapters-dir; repeatable',
      (v: string, acc: AdapterRef[]) => [...acc, parseAdapterSpec(v)],
      [] as AdapterRef[],
    )
    .option('--adapters-dir <dir>', 'folder that adapter names resolve inside', DEFAULTS.adaptersDir)
    .option('--host <host>', 'address to listen on (loopback by default)', DEFAULTS.host)
    .option('--port <n>', 'port (0 = any free port)', int('--port', 0, 65535), DEFAULTS.port)
    .addOption(deviceOption('compute device: auto | cpu | cuda | vulkan | metal (default: $UNLEARNKIT_DEVICE, else auto); an unusable GPU falls back to the CPU with a warning'))
    .addOption(new Option('--gpu <device>', 'deprecated: use --device').hideHelp())
    .option('--parallel <n>', 'requests generating at once (parallel sequences per context)', int('--parallel', 1, 256), DEFAULTS.parallel)
    .option('--max-queue <n>', 'requests that may wait for a slot; more get 429', int('--max-queue', 0), DEFAULTS.maxQueue)
    .option('--threads <n>', 'CPU threads (default: 1 for tiny models, else all cores)', int('--threads', 1, 1024))
    .option('--ctx-size <n>', 'context size per sequence in tokens (default: min(train context, 4096))', int('--ctx-size', 16))
    .option('--max-contexts <n>', 'contexts (adapter sets) kept alive at once; idle ones are evicted LRU', int('--max-contexts', 1, 64), DEFAULTS.maxContexts)
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" (or set UNLEARNKIT_API_KEY)')
    .option('--body-limit <bytes>', 'largest request body', int('--body-limit', 1024), DEFAULTS.bodyLimit)
    .option('--timeout <seconds>', 'cancel a request (queue wait + work) after this long', seconds('--timeout'), DEFAULTS.requestTimeoutMs / 1000)
    .option('--max-tokens <n>', 'upper bound on max_tokens of a request', int('--max-tokens', 1), DEFAULTS.maxTokensLimit)
    .option('--shutdown-grace <seconds>', 'on SIGINT/SIGTERM, let running requests finish this long', seconds('--shutdown-grace'), DEFAULTS.shutdownGraceMs / 1000)
    .option('--log-level <level>', 'silent|error|warn|info|debug', DEFAULTS.logLevel)
    .option('--json', 'print one JSON line (url, model, device) on stdout when ready')
    .option('--force', 'load adapters made for another base model (their recorded sha256 differs from --model\'s) with a warning instead of refusing them')
    .action(async (flags: ServeFlags) => {
      if (flags.gpu !== undefined) {
        process.stderr.write('unlearnkit serve: --gpu is deprecated; use --device\n');
        if (flags.device !== undefined && flags.device !== flags.gpu) throw new UserError(`--gpu ${flags.gpu} and --device ${flags.device} disagree; give --device only`);
      }
      // node-llama-cpp computes here, not our engine: validate only (llamaGpuOption maps the choice)
      const gpu = resolveDevice({ device: flags.device ?? flags.gpu }, { engine: 'none' });
      const levels = ['silent', 'error', 'warn', 'info', 'debug'];
      if (!levels.includes(flags.logLevel)) throw new UserError(`--log-level must be one of ${levels.join(', ')}`);
      const apiKey = flags.apiKey ?? (process.env.UNLEARNKIT_API_KEY || undefined);
      const opts: Partial<ServeOptions> & { model: string } = {
        model: flags.model,
        adapters: flags.adapter,
        adaptersDir: flags.adaptersDir,
        host: flags.host,
        port: flags.port,
        gpu,
        parallel: flags.parallel,
        maxQueue: flags.maxQueue,
        threads: flags.threads,
        contextSize: flags.ctxSize,
        maxContexts: flags.maxContexts,
        apiKey,
        bodyLimit: flags.bodyLimit,
        requestTimeoutMs: Math.round(flags.timeout * 1000),
        maxTokensLimit: flags.maxTokens,
        shutdownGraceMs: Math.round(flags.shutdownGrace * 1000),
        logLevel: flags.logLevel as ServeOptions['logLevel'],
        force: !!flags.force,
      };
      const server = await startServer(opts);
      const device = describeDevice(server.engine.device);
      if (flags.json) {
        process.stdout.write(
          JSON.stringify({ url: server.url, model: server.engine.modelId, device: server.engine.device, threads: server.engine.threads }) + '\n',
        );
      } else {
        process.stdout.write(`unlearnkit serve: ${server.engine.modelId} on ${device} at ${server.url}/v1 (Ctrl-C to stop)\n`);
      }
      await new Promise<void>((resolve, reject) => {
        const onSignal = (sig: NodeJS.Signals) => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.stderr.write(`unlearnkit serve: ${sig}, shutting down\n`);
          // A second signal while shutting down stops at once.
          process.once('SIGINT', () => process.exit(130));
          process.once('SIGTERM', () => process.exit(143));
          server.close().then(resolve, reject);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      // Native handles should all be closed now; never hang on one that is not.
      setTimeout(() => process.exit(0), 3000).unref();
    });
}
