/**
 * The metric registry: metrics are looked up by name (CLI `--metrics`, library `metrics: [...]`),
 * and a requested list is expanded with its dependencies in an order where every metric comes
 * after the metrics it reads. Register a new metric with `registerMetric` (see types.ts MetricDef).
 */
import type { MetricDef } from './types.ts';
import { UserError } from '../util/errors.ts';

const registry = new Map<string, MetricDef>();

/** Add (or replace) a metric under its name. */
export function registerMetric(def: MetricDef): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new UserError(`metric name '${def.name}' must be lower-case letters, digits and dashes`);
  registry.set(def.name, def);
}

/** The metric registered under `name`; a UserError listing the known ones otherwise. */
export function getMetric(name: string): MetricDef {
  const m = registry.get(name);
  if (!m) throw new UserError(`unknown metric '${name}'; known metrics: ${[...registry.keys()].join(', ')}`);
  return m;
}

/** Every registered metric, in registration order. */
export function listMetrics(): MetricDef[] {
  return [...registry.values()];
}

/** `names` plus their dependencies, dependencies first, each once (depth-first topological order). */
export function resolveMetricOrder(names: readonly string[]): MetricDef[] {
  const out: MetricDef[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new UserError(`metric dependency cycle: ${[...chain, name].join(' -> ')}`);
    const def = getMetric(name);
    state.set(name, 'visiting');
    for (const d of def.deps ?? []) visit(d, [...chain, name]);
    state.set(name, 'done');
    out.push(def);
  };
  for (const n of names) visit(n, []);
  return out;
}
