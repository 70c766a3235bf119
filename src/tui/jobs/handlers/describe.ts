/** `describe` job: the engine's device, CPU variant and threads (as `unlearnkit doctor` shows them). */
import os from 'node:os';
import { getEngine } from '../../../engine/engine.ts';
import type { DescribeResult, DeviceView } from '../protocol.ts';
import type { Handler } from './index.ts';

export const run: Handler<'describe'> = async () => {
  const d = getEngine().describe() as {
    device: DeviceView;
    devices: DeviceView[];
    cpuVariant: string;
    threads: number;
    build: string;
    ggmlVersion: string;
    nodeLlamaCpp: string;
  };
  const r: DescribeResult = {
    device: d.device,
    devices: d.devices.map((x) => ({ name: x.name, description: x.description, type: x.type, memoryTotal: x.memoryTotal })),
    cpuVariant: d.cpuVariant,
    threads: d.threads,
    build: d.build,
    ggml: String(d.ggmlVersion),
    nodeLlamaCpp: String(d.nodeLlamaCpp),
    memory: { total: os.totalmem(), free: os.freemem() },
  };
  return r;
};
