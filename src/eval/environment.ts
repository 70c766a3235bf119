/**
 * The device and versions that produced a result, recorded with every evaluation run and shown
 * in reports (a published number should say what computed it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getEngine } from '../engine/engine.ts';
import { nodeLlamaCppVersion } from '../engine/loader.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { installedPackageVersion } from '../util/packages.ts';

export interface Environment {
  unlearnkit: string;
  node: string;
  nodeLlamaCpp: string;
  platform: string;
  cpu: string;
  cpus: number;
  /** The ggml device graphs ran on, e.g. "CPU (AMD EPYC ...)". */
  device: string;
  /** getEngine().describe(), without machine-local paths. */
  engine?: Record<string, unknown>;
  vega?: string;
  vegaLite?: string;
}

function packageVersion(dir: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Versions and CPU of this process; with `engine`, also the ggml engine's device (loads it). */
export function describeEnvironment(opts: { engine?: boolean } = {}): Environment {
  const cpus = os.cpus();
  const env: Environment = {
    unlearnkit: packageVersion(PROJECT_ROOT),
    node: process.version,
    nodeLlamaCpp: nodeLlamaCppVersion(),
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cpus: cpus.length,
    device: 'not loaded',
    vega: installedPackageVersion('vega'),
    vegaLite: installedPackageVersion('vega-lite'),
  };
  if (opts.engine) {
    const e = getEngine();
    const d = e.describe();
    // no machine-local paths in a published record: the binaries' folder is named relative to the
    // project (node_modules/@node-llama-cpp/...), also inside the build statuses' reasons
    const binsDir = String(d.binsDir);
    delete d.binsDir;
    d.builds = (d.builds as Array<{ reason?: string }>).map((b) => (b.reason === undefined ? b : { ...b, reason: b.reason.split(binsDir).join(path.relative(PROJECT_ROOT, binsDir)) }));
    env.engine = d;
    env.device = `${e.device.name} (${e.device.description})`;
  }
  return env;
}
