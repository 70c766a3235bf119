/**
 * Finds the ggml shared libraries node-llama-cpp installed for this platform and decides which
 * build to load: the CPU build, or a GPU build (Vulkan, CUDA, Metal). Every build folder also
 * carries ggml's CPU backend, so loading a GPU build never loses the CPU device.
 *
 * One build is loaded per process (two copies of libggml-base would not share state). The CPU
 * variant (zen4, skylakex, haswell, ...) is chosen by ggml itself through
 * ggml_backend_load_all_from_path, never hard-coded.
 *
 * Package and file names are node-llama-cpp 3.22.1's: `@node-llama-cpp/<platform>-<arch>[-gpu]`
 * (platform linux / mac / win, as in its dist/bindings/utils/compileLLamaCpp.js), each with
 * `bins/<folder>/` holding libggml-base, libggml.<variant> (its CMake addVariantSuffix: e.g.
 * libggml.v0.5.0.so, libggml.cuda.v0.5.0.so, ggml.vulkan.v0.5.0.dll, libggml.metal.v0.5.0.dylib)
 * and ggml's backend modules (libggml-cpu-<variant>.so, libggml-cuda.so, ...; CMake MODULE
 * libraries end in .so on macOS too, .dll on Windows, where nothing has a `lib` prefix).
 *
 * CUDA: `<os>-x64-cuda` is built against CUDA 13; its extension package `<os>-x64-cuda-ext` holds
 * `bins/<folder>/fallback/libggml-cuda` built against CUDA 12. node-llama-cpp (dist/bindings/Llama.js)
 * loads the -cuda folder's base libraries, then its backends, and when no CUDA device came of that,
 * the fallback folder's backends: the CUDA 12 library then links against the libggml-base already
 * loaded (same soname / DLL name), so it needs no copy of the base libraries beside it.
 * `loadBackends` below mirrors exactly that order and records why each build was or was not used.
 *
 * Every decision takes the platform, arch and a folder probe as parameters (the real ones by
 * default), so test/engine/loader.test.ts checks them for each platform on fake folder layouts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.ts';
import { installedPackageVersion } from '../util/packages.ts';

/** What `--device` accepts. */
export type DeviceChoice = 'auto' | 'cpu' | 'cuda' | 'vulkan' | 'metal';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'cpu', 'cuda', 'vulkan', 'metal'];

/** The kind of a node-llama-cpp build package. */
export type BuildKind = 'cpu' | 'vulkan' | 'cuda' | 'metal';
/** A build as reported: the kinds, plus `cuda-12`, the -cuda-ext package's CUDA 12 fallback. */
export type BuildLabel = BuildKind | 'cuda-12';

/** ggml's backend registry name of each GPU kind (ggml_backend_reg_name). */
export const REGISTRY_NAME: Record<Exclude<BuildKind, 'cpu'>, string> = { cuda: 'CUDA', vulkan: 'Vulkan', metal: 'MTL' };

/** The file-system reads the decisions make; a parameter so tests can run them on fake layouts. */
export interface FolderProbe {
  exists(p: string): boolean;
  /** File names in a folder; empty when it does not exist. */
  list(dir: string): string[];
}

const realFolderProbe: FolderProbe = {
  exists: (p) => fs.existsSync(p),
  list: (dir) => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  },
};

/** Which GPUs the machine appears to have (only `auto` reads this). */
export interface GpuPresence {
  nvidia: boolean;
  vulkan: boolean;
}

/** Everything the loader's decisions read about the machine. */
export interface LoaderHost {
  /** process.platform: linux, darwin, win32, ... */
  platform: string;
  /** process.arch: x64, arm64, arm, riscv64, ... */
  arch: string;
  probe: FolderProbe;
  /** Folders from which `node_modules/@node-llama-cpp/<package>` is looked for, walking upwards. */
  packageRoots: string[];
  env: Record<string, string | undefined>;
  /** Device nodes / driver libraries `auto` looks at. */
  gpus: (host: LoaderHost) => GpuPresence;
}

const require = createRequire(import.meta.url);

/** node-llama-cpp's folder and this file's folder: where its packages are installed beside it. */
function defaultPackageRoots(): string[] {
  const roots: string[] = [];
  try {
    roots.push(path.dirname(require.resolve('node-llama-cpp')));
  } catch {
    // not resolvable: fall back to this file's folder
  }
  roots.push(path.dirname(fileURLToPath(import.meta.url)));
  return roots;
}

/** The machine this process runs on, with `over` replacing any part (tests pass fakes). */
export function loaderHost(over: Partial<LoaderHost> = {}): LoaderHost {
  return {
    platform: process.platform,
    arch: process.arch,
    probe: realFolderProbe,
    packageRoots: over.packageRoots ?? defaultPackageRoots(),
    env: process.env,
    gpus: detectGpus,
    ...over,
  };
}

/** node-llama-cpp's platform name (its getPlatform): mac, win, linux, else Node's own. */
function nlcPlatform(platform: string): string {
  if (platform === 'darwin') return 'mac';
  if (platform === 'win32' || platform === 'cygwin') return 'win';
  if (platform === 'android') return 'linux';
  return platform;
}

/** One node-llama-cpp build package of a platform. */
export interface BuildPackage {
  kind: BuildKind;
  packageName: string;
  /** CUDA: the extension package holding the CUDA 12 fallback backend. */
  extPackageName?: string;
}

const pkg = (kind: BuildKind, name: string, ext?: string): BuildPackage => ({
  kind,
  packageName: `@node-llama-cpp/${name}`,
  ...(ext ? { extPackageName: `@node-llama-cpp/${ext}` } : {}),
});

/**
 * The prebuilt packages node-llama-cpp 3.22.1 has per `${process.platform}-${process.arch}`, as
 * its getPrebuiltBinariesPackageDirectoryForBuildOptions imports them (Linux arm64 / armv7l /
 * riscv64, Intel macOS and Windows arm64 have a CPU build only; Apple silicon's one build is Metal,
 * with the CPU backend inside).
 */
export const PLATFORM_PACKAGES: Readonly<Record<string, readonly BuildPackage[]>> = {
  'linux-x64': [pkg('cpu', 'linux-x64'), pkg('vulkan', 'linux-x64-vulkan'), pkg('cuda', 'linux-x64-cuda', 'linux-x64-cuda-ext')],
  'linux-arm64': [pkg('cpu', 'linux-arm64')],
  'linux-arm': [pkg('cpu', 'linux-armv7l')],
  'linux-riscv64': [pkg('cpu', 'linux-riscv64')],
  'darwin-arm64': [pkg('metal', 'mac-arm64-metal')],
  'darwin-x64': [pkg('cpu', 'mac-x64')],
  'win32-x64': [pkg('cpu', 'win-x64'), pkg('vulkan', 'win-x64-vulkan'), pkg('cuda', 'win-x64-cuda', 'win-x64-cuda-ext')],
  'win32-arm64': [pkg('cpu', 'win-arm64')],
};

const KIND_NAME: Record<BuildKind, string> = { cpu: 'CPU', cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal' };

function platformKey(platform: string, arch: string): string {
  return `${platform === 'android' ? 'linux' : platform}-${arch}`;
}

/** The build packages of a platform; a UserError naming platform, arch and package where there are none. */
function platformPackages(platform: string, arch: string): readonly BuildPackage[] {
  const p = PLATFORM_PACKAGES[platformKey(platform, arch)];
  if (p) return p;
  throw new UserError(
    `unlearnkit computes with the ggml libraries node-llama-cpp ships prebuilt, and there are none for ${platform}-${arch} ` +
      `(looked for the package @node-llama-cpp/${nlcPlatform(platform)}-${arch}). ` +
      `Supported: Linux x64 (CPU, Vulkan, CUDA), Linux arm64 / armv7l / riscv64 (CPU), macOS arm64 (Metal) and x64 (CPU), ` +
      `Windows x64 (CPU, Vulkan, CUDA) and arm64 (CPU).`,
  );
}

/**
 * Why `--device <choice>` cannot work on this platform at all (no such build exists for it), or
 * null. Whether the build is installed and finds a device is decided later, by loading it.
 */
export function deviceSupportError(choice: DeviceChoice, platform: string, arch: string): string | null {
  let packages: readonly BuildPackage[];
  try {
    packages = platformPackages(platform, arch);
  } catch (e) {
    return (e as Error).message;
  }
  if (choice === 'auto' || choice === 'cpu') return null;
  if (packages.some((p) => p.kind === choice)) return null;
  const where = Object.entries(PLATFORM_PACKAGES)
    .filter(([, ps]) => ps.some((p) => p.kind === choice))
    .map(([k]) => k);
  const here = DEVICE_CHOICES.filter((c) => c === 'auto' || c === 'cpu' || packages.some((p) => p.kind === c));
  return (
    `${KIND_NAME[choice]} is not available on ${platform}-${arch}: node-llama-cpp ships ${KIND_NAME[choice]} builds for ${where.join(', ')} only. ` +
    `Devices on this platform: ${here.join(', ')}`
  );
}

/** How a platform names shared libraries (libggml-base, libggml) and ggml's backend modules. */
export interface LibraryNaming {
  /** File-name prefixes, the usual first: `lib` on Unix; none on Windows (MSVC), `lib` with MinGW. */
  prefixes: string[];
  sharedExt: string;
  /** ggml's run-time-loaded backends are CMake MODULE libraries: `.so` on macOS too. */
  moduleExt: string;
}

export function libraryNaming(platform: string): LibraryNaming {
  if (platform === 'win32' || platform === 'cygwin') return { prefixes: ['', 'lib'], sharedExt: '.dll', moduleExt: '.dll' };
  if (platform === 'darwin') return { prefixes: ['lib'], sharedExt: '.dylib', moduleExt: '.so' };
  return { prefixes: ['lib'], sharedExt: '.so', moduleExt: '.so' };
}

/**
 * The file names of libggml-base and libggml in a folder's listing, or null when either is missing.
 * libggml carries node-llama-cpp's variant suffix (libggml.v0.5.0.so, ggml.cuda.v0.5.0.dll, ...);
 * an unsuffixed libggml is taken too. Backend modules (libggml-cpu-*.so) never match.
 */
export function ggmlLibraryFiles(files: readonly string[], platform: string): { base: string; ggml: string } | null {
  const { prefixes, sharedExt } = libraryNaming(platform);
  const has = new Set(files);
  for (const p of prefixes) {
    const base = `${p}ggml-base${sharedExt}`;
    if (!has.has(base)) continue;
    const exact = `${p}ggml${sharedExt}`;
    const variants = files.filter((f) => f.startsWith(`${p}ggml.`) && f.endsWith(sharedExt)).sort();
    const ggml = has.has(exact) ? exact : variants[0];
    if (ggml !== undefined) return { base, ggml };
  }
  return null;
}

/** The file name of ggml's backend module `name` (cuda, vulkan, metal) in a listing, or null. */
export function backendModuleFile(files: readonly string[], name: string, platform: string): string | null {
  const { prefixes, moduleExt, sharedExt } = libraryNaming(platform);
  for (const p of prefixes) {
    for (const ext of [moduleExt, sharedExt]) {
      const f = `${p}ggml-${name}${ext}`;
      if (files.includes(f)) return f;
    }
  }
  return null;
}

/** The file name ggml's backend module would have (for messages). */
function expectedModuleFile(name: string, platform: string): string {
  const n = libraryNaming(platform);
  return `${n.prefixes[0]}ggml-${name}${n.moduleExt}`;
}

/** An installed build folder. */
export interface BinsDir {
  kind: BuildKind;
  /** The folder whose libggml-base / libggml are loaded and whose backends load first. */
  dir: string;
  packageName: string;
  /** File names of libggml-base and libggml in `dir`. */
  files: { base: string; ggml: string };
  /** CUDA: the -cuda-ext package's `fallback` folder (CUDA 12 libggml-cuda), when installed. */
  fallbackDir?: string;
  extPackageName?: string;
}

/**
 * The folder of an installed package, found by walking up node_modules folders from each root
 * (the @node-llama-cpp packages do not export their package.json).
 */
function resolvePackageDir(name: string, host: LoaderHost): string | null {
  for (const start of host.packageRoots) {
    let dir = path.resolve(start);
    for (;;) {
      const cand = path.join(dir, 'node_modules', name);
      if (host.probe.exists(path.join(cand, 'package.json'))) return cand;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return null;
}

/** The build folder inside an installed package: the first `bins/<folder>` holding the ggml libraries. */
function buildFolder(pkgDir: string, host: LoaderHost): { dir: string; folder: string; files: { base: string; ggml: string } } | null {
  const binsRoot = path.join(pkgDir, 'bins');
  for (const folder of host.probe.list(binsRoot).sort()) {
    const dir = path.join(binsRoot, folder);
    const files = ggmlLibraryFiles(host.probe.list(dir), host.platform);
    if (files) return { dir, folder, files };
  }
  return null;
}

/** The installed build folders of this platform, in the order of PLATFORM_PACKAGES. */
export function findBinsDirs(over: Partial<LoaderHost> = {}): BinsDir[] {
  const host = loaderHost(over);
  const out: BinsDir[] = [];
  for (const p of platformPackages(host.platform, host.arch)) {
    const pkgDir = resolvePackageDir(p.packageName, host);
    if (pkgDir === null) continue;
    const b = buildFolder(pkgDir, host);
    if (!b) continue;
    const bins: BinsDir = { kind: p.kind, dir: b.dir, packageName: p.packageName, files: b.files };
    if (p.extPackageName) {
      bins.extPackageName = p.extPackageName;
      const extDir = resolvePackageDir(p.extPackageName, host);
      // node-llama-cpp: path.join(extBinsDir, folderName, "fallback")
      const fallback = extDir === null ? null : path.join(extDir, 'bins', b.folder, 'fallback');
      if (fallback !== null && host.probe.exists(fallback)) bins.fallbackDir = fallback;
    }
    out.push(bins);
  }
  return out;
}

/**
 * GPUs `auto` looks for, from device nodes and driver libraries (no library is loaded): Linux
 * /dev/nvidiactl, and a Vulkan loader with a render node (or GGML_VK_VISIBLE_DEVICES set, the tests'
 * way to use Mesa's software device); Windows the NVIDIA driver's nvcuda.dll / nvml.dll and
 * vulkan-1.dll in System32 (as node-llama-cpp's detectAvailableComputeLayers looks).
 */
export function detectGpus(host: LoaderHost): GpuPresence {
  const { probe, env } = host;
  if (host.platform === 'linux') {
    const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/lib64', ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
    const loader = libDirs.some((d) => probe.exists(path.join(d, 'libvulkan.so.1')));
    return {
      nvidia: probe.exists('/dev/nvidiactl') || probe.exists('/dev/nvidia0'),
      vulkan: loader && (probe.exists('/dev/dri') || env.GGML_VK_VISIBLE_DEVICES !== undefined),
    };
  }
  if (host.platform === 'win32') {
    const sys32 = path.win32.join(env.SystemRoot ?? env.windir ?? 'C:\\Windows', 'System32');
    return {
      nvidia: probe.exists(path.win32.join(sys32, 'nvcuda.dll')) || probe.exists(path.win32.join(sys32, 'nvml.dll')),
      vulkan: probe.exists(path.win32.join(sys32, 'vulkan-1.dll')),
    };
  }
  return { nvidia: false, vulkan: false };
}

/**
 * Which installed build to load for a device choice. `auto`: CUDA where an NVIDIA GPU shows, then
 * Vulkan where a Vulkan GPU shows, then Metal (Apple silicon), else the CPU build. `cpu`: the CPU
 * build, or where a platform has none (Apple silicon) a GPU build's CPU backend. An explicit GPU
 * that does not exist for the platform, or whose package is not installed, is a UserError.
 */
export function chooseBinsDir(choice: DeviceChoice, over: Partial<LoaderHost> = {}): BinsDir {
  const host = loaderHost(over);
  const tag = `${host.platform}-${host.arch}`;
  const packages = platformPackages(host.platform, host.arch);
  const unsupported = deviceSupportError(choice, host.platform, host.arch);
  if (unsupported) throw new UserError(`--device ${choice}: ${unsupported}`);
  const dirs = findBinsDirs(host);
  if (dirs.length === 0) {
    throw new UserError(
      `node-llama-cpp's prebuilt ggml libraries for ${tag} were not found (package ${packages.map((p) => p.packageName).join(' or ')}); ` +
        `run 'npm ci' in the project folder`,
    );
  }
  const byKind = (k: BuildKind) => dirs.find((d) => d.kind === k);
  if (choice === 'cpu') return byKind('cpu') ?? dirs[0]!;
  if (choice !== 'auto') {
    const d = byKind(choice);
    if (!d) {
      const p = packages.find((x) => x.kind === choice)!;
      throw new UserError(
        `--device ${choice} needs the package ${p.packageName}, which is not installed ` +
          `(node-llama-cpp installs it as an optional dependency on ${tag}; reinstall with 'npm ci', without --omit=optional)`,
      );
    }
    return d;
  }
  const gpus = host.gpus(host);
  const cuda = byKind('cuda');
  if (cuda && gpus.nvidia) return cuda;
  const vk = byKind('vulkan');
  if (vk && gpus.vulkan) return vk;
  return byKind('metal') ?? byKind('cpu') ?? dirs[0]!;
}

/** Why a build was or was not used, one per build. */
export interface BuildStatus {
  build: BuildLabel;
  /** e.g. "CUDA 13", "CUDA 12 fallback", "Vulkan", "CPU". */
  label: string;
  packageName: string;
  status: 'chosen' | 'not installed' | 'no device' | 'failed to load' | 'not loaded';
  reason: string;
}

/** One line for doctor and error messages: "CUDA 12 fallback build (@node-llama-cpp/linux-x64-cuda-ext): failed to load: libcudart.so.12: ...". */
export function formatBuildStatus(s: BuildStatus): string {
  return `${s.label} build (${s.packageName}): ${s.status}${s.reason ? `: ${s.reason}` : ''}`;
}

/** A GPU backend module to try, in order. */
export interface BackendCandidate {
  build: BuildLabel;
  label: string;
  packageName: string;
  /** The folder given to ggml_backend_load_all_from_path; null when its package is not installed. */
  dir: string | null;
  /** The backend module's path, or null (not installed, or linked into libggml as Metal may be). */
  module: string | null;
}

/** The GPU backend modules of a build, in the order node-llama-cpp loads them. */
export function backendCandidates(bins: BinsDir, over: Partial<LoaderHost> = {}): BackendCandidate[] {
  const host = loaderHost(over);
  if (bins.kind === 'cpu') return [];
  const name = bins.kind;
  const mod = (dir: string) => {
    const f = backendModuleFile(host.probe.list(dir), name, host.platform);
    return f === null ? null : path.join(dir, f);
  };
  const own: BackendCandidate = {
    build: bins.kind,
    label: bins.kind === 'cuda' ? 'CUDA 13' : KIND_NAME[bins.kind],
    packageName: bins.packageName,
    dir: bins.dir,
    module: mod(bins.dir),
  };
  if (bins.kind !== 'cuda') return [own];
  const fb = bins.fallbackDir ?? null;
  return [
    own,
    {
      build: 'cuda-12',
      label: 'CUDA 12 fallback',
      packageName: bins.extPackageName ?? `${bins.packageName}-ext`,
      dir: fb,
      module: fb === null ? null : mod(fb),
    },
  ];
}

/** What loadBackends needs from the native side (ffi.ts in the engine; fakes in the tests). */
export interface BackendIo {
  /** dlopen a library: null when it loads, else the system loader's message. */
  open(file: string): string | null;
  /** ggml_backend_load_all_from_path(dir): ggml's log lines meanwhile. */
  loadAll(dir: string): string[];
  /** Devices registered so far whose registry is `registry` (e.g. "CUDA"). */
  deviceCount(registry: string): number;
}

/**
 * Load a build's backends as node-llama-cpp does (its Llama constructor): the build folder's own
 * (the CPU variants and its GPU module), then, while no device of the build's GPU kind exists, each
 * fallback folder (CUDA: the CUDA 12 module of -cuda-ext). Each GPU module is first opened on its
 * own to keep the loader's message when it cannot load: ggml's release build drops that message
 * (ggml_backend_load_best is silent). Returns one status per candidate, and ggml's log.
 */
export function loadBackends(bins: BinsDir, io: BackendIo, over: Partial<LoaderHost> = {}): { statuses: BuildStatus[]; log: string[]; gpu: BuildLabel | null } {
  const log: string[] = [];
  if (bins.kind === 'cpu') {
    log.push(...io.loadAll(bins.dir));
    return { statuses: [{ build: 'cpu', label: 'CPU', packageName: bins.packageName, status: 'chosen', reason: `loaded from ${bins.dir}` }], log, gpu: null };
  }
  const registry = REGISTRY_NAME[bins.kind];
  const host = loaderHost(over);
  const statuses: BuildStatus[] = [];
  let gpu: BuildLabel | null = null;
  let before = 0;
  for (const c of backendCandidates(bins, host)) {
    const st = (status: BuildStatus['status'], reason: string) => statuses.push({ build: c.build, label: c.label, packageName: c.packageName, status, reason });
    if (gpu !== null) {
      st('not loaded', `${statuses.find((s) => s.status === 'chosen')!.label} was used`);
      continue;
    }
    if (c.dir === null) {
      st('not installed', `the package ${c.packageName} is not installed`);
      continue;
    }
    const openError = c.module === null ? null : io.open(c.module);
    const lines = io.loadAll(c.dir);
    log.push(...lines);
    const n = io.deviceCount(registry);
    if (n > before) {
      gpu = c.build;
      st('chosen', `${n - before} ${registry} device(s)${c.module ? `, ${c.module}` : ''}`);
    } else if (openError !== null) {
      st('failed to load', openError);
    } else if (c.module === null && c.build !== 'metal') {
      st('not installed', `${expectedModuleFile(bins.kind, host.platform)} is missing in ${c.dir}`);
    } else {
      const why = lines.find((l) => /fail|error|not supported|no .*device|insufficient/i.test(l) && !/loaded CPU backend/.test(l));
      st('no device', why ? why.trim() : `the ${c.label} backend loaded but found no device`);
    }
    before = n;
  }
  return { statuses, log, gpu };
}

/**
 * One status per build of the platform: `loaded` (loadBackends' statuses) for the build of this
 * process, `not loaded` for the other installed ones (one build per process; `unlearnkit doctor`
 * checks each in a child process), `not installed` for the rest.
 */
export function describeBuilds(bins: BinsDir, loaded: BuildStatus[], over: Partial<LoaderHost> = {}): BuildStatus[] {
  const host = loaderHost(over);
  const installed = findBinsDirs(host);
  const out: BuildStatus[] = [];
  for (const p of platformPackages(host.platform, host.arch)) {
    if (p.kind === bins.kind) {
      out.push(...loaded);
      continue;
    }
    const inst = installed.find((d) => d.kind === p.kind);
    const builds: Array<[BuildLabel, string, string, boolean]> =
      p.kind === 'cuda'
        ? [
            ['cuda', 'CUDA 13', p.packageName, inst !== undefined],
            ['cuda-12', 'CUDA 12 fallback', p.extPackageName!, inst?.fallbackDir !== undefined],
          ]
        : [[p.kind, KIND_NAME[p.kind], p.packageName, inst !== undefined]];
    for (const [build, label, packageName, present] of builds) {
      out.push({
        build,
        label,
        packageName,
        status: present ? 'not loaded' : 'not installed',
        reason: present ? `installed; this process loaded the ${KIND_NAME[bins.kind]} build (one build per process)` : `the package ${packageName} is not installed`,
      });
    }
  }
  return out;
}

/** The installed node-llama-cpp version (from its package.json). */
export function nodeLlamaCppVersion(): string {
  return installedPackageVersion('node-llama-cpp');
}
