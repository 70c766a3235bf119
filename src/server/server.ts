/**
 * Start and stop the inference server in-process (the `serve` command, the tests and the bench all
 * use this). `close()` is the graceful shutdown: refuse new requests (503), give in-flight ones
 * `shutdownGraceMs` to finish, cancel the rest (generation stops at the next token), close the
 * listener, then free contexts, model and llama.cpp.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppState } from './app.ts';
import { describeDevice } from './device.ts';
import { RequestAborted } from './errors.ts';
import { InferenceEngine } from './engine.ts';
import { isLoopbackHost, withDefaults, type ServeOptions } from './options.ts';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8765 (OpenAI clients use `${url}/v1`). */
  url: string;
  host: string;
  port: number;
  engine: InferenceEngine;
  app: FastifyInstance;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startServer(options: Partial<ServeOptions> & { model: string }): Promise<RunningServer> {
  const opts = withDefaults(options);
  const log = (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => {
    const order = ['debug', 'info', 'warn', 'error'];
    if (opts.logLevel === 'silent' || order.indexOf(level) < order.indexOf(opts.logLevel)) return;
    process.stderr.write(`[unlearnkit serve] ${level}: ${msg}\n`);
  };
  if (!isLoopbackHost(opts.host) && opts.apiKey === undefined) {
    log('warn', `listening on ${opts.host} (not loopback) without --api-key: anyone who can reach this port can use the model`);
  }
  const engine = await InferenceEngine.create(opts, log);
  const state: AppState = { shuttingDown: false, inflight: new Set() };
  const { app } = buildApp(
    engine,
    {
      apiKey: opts.apiKey,
      bodyLimit: opts.bodyLimit,
      requestTimeoutMs: opts.requestTimeoutMs,
      maxTokensLimit: opts.maxTokensLimit,
      logLevel: opts.logLevel === 'info' ? 'warn' : opts.logLevel,
    },
    state,
  );
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    await engine.dispose();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${port}`;
  log('info', `listening on ${url} (model ${engine.modelId}, device ${describeDevice(engine.device)})`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      state.shuttingDown = true;
      const deadline = Date.now() + opts.shutdownGraceMs;
      while (state.inflight.size > 0 && Date.now() < deadline) await sleep(20);
      if (state.inflight.size > 0) {
        log('warn', `cancelling ${state.inflight.size} request(s) still running after the ${opts.shutdownGraceMs} ms grace period`);
        for (const c of state.inflight) c.abort(new RequestAborted('shutdown'));
        const hard = Date.now() + 5000;
        while (state.inflight.size > 0 && Date.now() < hard) await sleep(20);
      }
      await app.close();
      await engine.dispose();
      log('info', 'stopped');
    })();
    return closing;
  };
  return { url, host: opts.host, port, engine, app, close };
}
