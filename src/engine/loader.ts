/**
 * Finds the ggml shared libraries node-llama-cpp installed for this platform and picks which build
 * to load: the plain CPU build, or the Vulkan / CUDA build (each of those folders also carries the
 * full set of CPU variants, so loading it never loses the CPU backend).
 *
 * One build is loaded per process (two copies of libggml-base would not share state). The CPU
 * variant (zen4, skylakex, haswell, ...) is chosen by ggml itself through
 * ggml_backend_load_all_from_path, never hard-coded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export type DeviceChoice = 'auto' | 'cpu' | 'cuda' | 'vulkan';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'cpu', 'cuda', 'vulkan'];

export interface BinsDir {
  kind: 'cpu' | 'cuda' | 'vulkan';
  dir: string;
  packageName: string;
}

const require = createRequire(import.meta.url);

function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

/** The bins directories of the installed @node-llama-cpp/<platform>[-cuda|-vulkan] packages. */
export function findBinsDirs(): BinsDir[] {
  const out: BinsDir[] = [];
  const tag = platformTag();
  for (const [kind, suffix] of [
    ['cpu', ''],
    ['vulkan', '-vulkan'],
    ['cuda', '-cuda'],
  ] as const) {
    const packageName = `@node-llama-cpp/${tag}${suffix}`;
    const pkgDir = resolvePackageDir(packageName);
    if (pkgDir === null) continue;
    const binsRoot = path.join(pkgDir, 'bins');
    if (!fs.existsSync(binsRoot)) continue;
    for (const sub of fs.readdirSync(binsRoot)) {
      const dir = path.join(binsRoot, sub);
      if (fs.existsSync(path.join(dir, 'libggml-base.so')) || fs.existsSync(path.join(dir, 'ggml-base.dll'))) {
        out.push({ kind, dir, packageName });
        break;
      }
    }
  }
  return out;
}

/**
 * The folder of an installed package, found by walking up node_modules folders from node-llama-cpp
 * and from this file (the @node-llama-cpp packages do not export their package.json).
 */
function resolvePackageDir(name: string): string | null {
  const starts: string[] = [path.dirname(new URL(import.meta.url).pathname)];
  try {
    starts.unshift(path.dirname(require.resolve('node-llama-cpp')));
  } catch {
    // fall through to this file's folder
  }
  for (const start of starts) {
    let dir = start;
    while (dir !== path.dirname(dir)) {
      const cand = path.join(dir, 'node_modules', name);
      if (fs.existsSync(path.join(cand, 'package.json'))) return cand;
      dir = path.dirname(dir);
    }
  }
  return null;
}

function hasNvidiaDevice(): boolean {
  return fs.existsSync('/dev/nvidiactl') || fs.existsSync('/dev/nvidia0');
}

function hasVulkanLoader(): boolean {
  return ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some((p) =>
    fs.existsSync(p),
  );
}

/**
 * Which build to load for a device choice. 'auto' prefers CUDA where an NVIDIA device node exists,
 * then Vulkan where a Vulkan loader exists and a GPU render node exists, else the CPU build.
 * Explicit choices fail with a clear message when their package is not installed.
 */
export function chooseBinsDir(choice: DeviceChoice): BinsDir {
  const dirs = findBinsDirs();
  const byKind = (k: BinsDir['kind']) => dirs.find((d) => d.kind === k);
  const cpu = byKind('cpu');
  if (!cpu && dirs.length === 0) {
    throw new Error(
      `node-llama-cpp's prebuilt binaries for ${platformTag()} were not found (package @node-llama-cpp/${platformTag()}); ` +
        `run 'npm ci' in the project folder`,
    );
  }
  if (choice === 'cpu') return cpu ?? dirs[0]!;
  if (choice === 'cuda' || choice === 'vulkan') {
    const d = byKind(choice);
    if (!d) throw new Error(`--device ${choice} needs the package @node-llama-cpp/${platformTag()}-${choice}, which is not installed`);
    return d;
  }
  const cuda = byKind('cuda');
  if (cuda && hasNvidiaDevice()) return cuda;
  const vk = byKind('vulkan');
  if (vk && hasVulkanLoader() && (fs.existsSync('/dev/dri') || process.env.GGML_VK_VISIBLE_DEVICES !== undefined)) return vk;
  return cpu ?? dirs[0]!;
}

/** The installed node-llama-cpp version (from its package.json). */
export function nodeLlamaCppVersion(): string {
  try {
    const pkgPath = require.resolve('node-llama-cpp/package.json');
    return (JSON.parse(fs.readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    const main = require.resolve('node-llama-cpp');
    let dir = path.dirname(main);
    while (dir !== path.dirname(dir)) {
      const p = path.join(dir, 'package.json');
      if (fs.existsSync(p)) {
        const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version: string };
        if (j.name === 'node-llama-cpp') return j.version;
      }
      dir = path.dirname(dir);
    }
    return 'unknown';
  }
}
