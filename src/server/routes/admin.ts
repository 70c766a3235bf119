/**
 * GET /health, GET /v1/models, GET /metrics and the adapter routes
 * (GET /v1/adapters, POST /v1/adapters {name, scale?}, DELETE /v1/adapters/<name>).
 */
import type { FastifyInstance } from 'fastify';
import type { LoadedAdapter } from '../adapters.ts';
import { describeDevice } from '../device.ts';
import type { InferenceEngine } from '../engine.ts';
import { ApiError } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import { adapterLoadSchema, type AdapterRefBody } from '../schemas.ts';

function adapterJson(engine: InferenceEngine, a: LoadedAdapter) {
  return {
    object: 'adapter',
    name: a.name,
    kind: a.kind,
    model: `${engine.modelId}+${a.name}`,
    scale: a.scale,
    alpha: a.alpha,
    sha256: a.sha256,
    path: a.sourcePath,
    base_sha256: a.baseSha256,
    base_mismatch: a.baseMismatch,
    loaded_at: a.loadedAt,
    meta: a.meta,
  };
}

export function registerAdminRoutes(
  app: FastifyInstance,
  deps: { engine: InferenceEngine; metrics: ServerMetrics; isShuttingDown: () => boolean },
): void {
  const { engine, metrics } = deps;
  const created = Math.floor(engine.startedAt / 1000);

  app.get('/health', async () => ({
    status: deps.isShuttingDown() ? 'shutting_down' : 'ok',
    model: {
      id: engine.modelId,
      path: engine.modelPath,
      architecture: (engine.model.fileInfo.metadata as { general?: { architecture?: string } }).general?.architecture ?? null,
      size_bytes: engine.model.size,
      train_context_size: engine.model.trainContextSize,
      gpu_layers: engine.model.gpuLayers,
    },
    device: {
      backend: engine.device.backend,
      names: engine.device.deviceNames,
      build: engine.device.build,
      requested: engine.device.requested,
      description: describeDevice(engine.device),
      ...(engine.device.fallbackReason ? { fallback_reason: engine.device.fallbackReason } : {}),
    },
    threads: engine.threads,
    context_size: engine.contextSize,
    chat_template: engine.chatWrapper.wrapperName,
    adapters: engine.registry.list().map((a) => ({ name: a.name, scale: a.scale, sha256: a.sha256 })),
    contexts: engine.pool.describe(),
    queue: { running: engine.admission.running, queued: engine.admission.queued, slots: engine.admission.slots, max_queue: engine.admission.maxQueue },
    uptime_s: Math.round((Date.now() - engine.startedAt) / 1000),
  }));

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      { id: engine.modelId, object: 'model', created, owned_by: 'unlearnkit' },
      ...engine.registry.list().map((a) => ({ id: `${engine.modelId}+${a.name}`, object: 'model', created, owned_by: 'unlearnkit', parent: engine.modelId })),
    ],
  }));

  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return metrics.render({
      queued: engine.admission.queued,
      running: engine.admission.running,
      contexts: engine.pool.size,
      adapters: engine.registry.list().length,
    });
  });

  app.get('/v1/adapters', async () => ({ object: 'list', data: engine.registry.list().map((a) => adapterJson(engine, a)) }));

  app.post('/v1/adapters', { schema: { body: adapterLoadSchema } }, async (request) => {
    const body = request.body as AdapterRefBody;
    const a = await engine.loadAdapter(body.name, body.scale);
    return { ...adapterJson(engine, a), status: 'loaded' };
  });

  app.delete('/v1/adapters/*', async (request) => {
    const name = (request.params as { '*': string })['*'];
    if (!name) throw new ApiError(400, 'name the adapter to unload: DELETE /v1/adapters/<name>', { param: 'name' });
    const a = engine.unloadAdapter(name);
    return { object: 'adapter', name: a.name, deleted: true };
  });
}
