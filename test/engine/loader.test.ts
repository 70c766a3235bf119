/**
 * The loader's decisions for every platform node-llama-cpp 3.22.1 ships (loader.ts), on fake folder
 * layouts: temp folders holding empty files named as the real packages name their libraries
 * (node_modules/@node-llama-cpp/<os>-<arch>[-gpu]/bins/<folder>/...; the Linux names checked against
 * the installed packages in the last tests), with the platform, arch and GPU presence passed in.
 * Checked: which build each --device value loads, the unsupported-platform and wrong-device
 * messages, the library file names (.so / .dylib / .dll), the backend load order with the
 * CUDA-13-cannot-load -> CUDA 12 fallback decision (node-llama-cpp's Llama constructor order),
 * the --device resolver, and the CLI: `finetune --device cuda` on a machine without an NVIDIA GPU,
 * `--device bogus`, `doctor --json`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  backendCandidates,
  backendModuleFile,
  chooseBinsDir,
  describeBuilds,
  detectGpus,
  deviceSupportError,
  findBinsDirs,
  ggmlLibraryFiles,
  loadBackends,
  loaderHost,
  PLATFORM_PACKAGES,
  type BackendIo,
  type BinsDir,
  type DeviceChoice,
  type FolderProbe,
  type GpuPresence,
  type LoaderHost,
} from '../../src/engine/loader.ts';
import { parseDevice, resolveDevice } from '../../src/commands/deviceOption.ts';
import { Engine } from '../../src/engine/engine.ts';
import { UserError } from '../../src/util/errors.ts';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';
import { skipLoudly } from '../helpers/fixtures.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A fake install: package name (without @node-llama-cpp/) -> files under the package folder. */
type Layout = Record<string, string[]>;

function install(layout: Layout): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-loader-'));
  roots.push(root);
  for (const [pkg, files] of Object.entries(layout)) {
    const dir = path.join(root, 'node_modules', '@node-llama-cpp', pkg);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `@node-llama-cpp/${pkg}`, version: '3.22.1' }));
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), '');
    }
  }
  return root;
}

const NO_GPU: GpuPresence = { nvidia: false, vulkan: false };

function host(root: string, platform: string, arch: string, gpus: GpuPresence = NO_GPU): Partial<LoaderHost> {
  return { platform, arch, packageRoots: [path.join(root, 'node_modules', 'x')], gpus: () => gpus, env: {} };
}

// What node-llama-cpp 3.22.1's packages hold (names only), per platform.
const LINUX_CPU_VARIANTS = ['libggml-cpu-haswell.so', 'libggml-cpu-zen4.so', 'libggml-cpu-sapphirerapids.so'];
const linuxX64: Layout = {
  'linux-x64': ['bins/linux-x64/_nlcBuildMetadata.json', 'bins/linux-x64/libggml-base.so', 'bins/linux-x64/libggml.v0.5.0.so', 'bins/linux-x64/libllama.v0.5.0.so', 'bins/linux-x64/llama-addon.node', ...LINUX_CPU_VARIANTS.map((f) => `bins/linux-x64/${f}`)],
  'linux-x64-vulkan': ['bins/linux-x64-vulkan/libggml-base.so', 'bins/linux-x64-vulkan/libggml.vulkan.v0.5.0.so', 'bins/linux-x64-vulkan/libggml-vulkan.so', ...LINUX_CPU_VARIANTS.map((f) => `bins/linux-x64-vulkan/${f}`)],
  'linux-x64-cuda': ['bins/linux-x64-cuda/libggml-base.so', 'bins/linux-x64-cuda/libggml.cuda.v0.5.0.so', 'bins/linux-x64-cuda/libggml-cuda.so', 'bins/linux-x64-cuda/libllama.cuda.v0.5.0.so', ...LINUX_CPU_VARIANTS.map((f) => `bins/linux-x64-cuda/${f}`)],
  'linux-x64-cuda-ext': ['bins/linux-x64-cuda/fallback/libggml-cuda.so'],
};
const linuxArm64: Layout = { 'linux-arm64': ['bins/linux-arm64/libggml-base.so', 'bins/linux-arm64/libggml.v0.5.0.so', 'bins/linux-arm64/libggml-cpu-armv8.2_1.so'] };
const linuxArmv7l: Layout = { 'linux-armv7l': ['bins/linux-armv7l/libggml-base.so', 'bins/linux-armv7l/libggml.v0.5.0.so', 'bins/linux-armv7l/libggml-cpu.so'] };
const macArm64: Layout = {
  'mac-arm64-metal': ['bins/mac-arm64-metal/libggml-base.dylib', 'bins/mac-arm64-metal/libggml.metal.v0.5.0.dylib', 'bins/mac-arm64-metal/libggml-metal.so', 'bins/mac-arm64-metal/libggml-cpu-apple_m1.so', 'bins/mac-arm64-metal/libllama.metal.v0.5.0.dylib'],
};
const macX64: Layout = { 'mac-x64': ['bins/mac-x64/libggml-base.dylib', 'bins/mac-x64/libggml.v0.5.0.dylib', 'bins/mac-x64/libggml-cpu-haswell.so'] };
const winX64: Layout = {
  'win-x64': ['bins/win-x64/ggml-base.dll', 'bins/win-x64/ggml.v0.5.0.dll', 'bins/win-x64/ggml-cpu-haswell.dll', 'bins/win-x64/llama.v0.5.0.dll', 'bins/win-x64/llama-addon.node'],
  'win-x64-vulkan': ['bins/win-x64-vulkan/ggml-base.dll', 'bins/win-x64-vulkan/ggml.vulkan.v0.5.0.dll', 'bins/win-x64-vulkan/ggml-vulkan.dll', 'bins/win-x64-vulkan/ggml-cpu-haswell.dll'],
  'win-x64-cuda': ['bins/win-x64-cuda/ggml-base.dll', 'bins/win-x64-cuda/ggml.cuda.v0.5.0.dll', 'bins/win-x64-cuda/ggml-cuda.dll', 'bins/win-x64-cuda/ggml-cpu-haswell.dll'],
  'win-x64-cuda-ext': ['bins/win-x64-cuda/fallback/ggml-cuda.dll'],
};
const winArm64: Layout = { 'win-arm64': ['bins/win-arm64/ggml-base.dll', 'bins/win-arm64/ggml.v0.5.0.dll', 'bins/win-arm64/ggml-cpu-armv8.2_1.dll'] };

/** The build each device value loads (kind + folder name), or the error message pattern. */
function pick(choice: DeviceChoice, h: Partial<LoaderHost>): string {
  try {
    const b = chooseBinsDir(choice, h);
    return `${b.kind}:${path.basename(b.dir)}`;
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${(e as Error).stack}`);
    return `error: ${(e as Error).message}`;
  }
}

describe('which build each --device value loads, per platform', () => {
  test('linux-x64 with the CPU, Vulkan, CUDA and CUDA-ext packages', () => {
    const root = install(linuxX64);
    const h = (g: GpuPresence = NO_GPU) => host(root, 'linux', 'x64', g);
    assert.equal(pick('cpu', h()), 'cpu:linux-x64');
    assert.equal(pick('vulkan', h()), 'vulkan:linux-x64-vulkan');
    assert.equal(pick('cuda', h()), 'cuda:linux-x64-cuda');
    assert.equal(pick('auto', h()), 'cpu:linux-x64');
    assert.equal(pick('auto', h({ nvidia: true, vulkan: true })), 'cuda:linux-x64-cuda');
    assert.equal(pick('auto', h({ nvidia: false, vulkan: true })), 'vulkan:linux-x64-vulkan');
    assert.match(pick('metal', h()), /^error: --device metal: Metal is not available on linux-x64: node-llama-cpp ships Metal builds for darwin-arm64 only\. Devices on this platform: auto, cpu, cuda, vulkan$/);
    const cuda = chooseBinsDir('cuda', h());
    assert.deepEqual(cuda.files, { base: 'libggml-base.so', ggml: 'libggml.cuda.v0.5.0.so' });
    assert.equal(cuda.fallbackDir, path.join(root, 'node_modules/@node-llama-cpp/linux-x64-cuda-ext/bins/linux-x64-cuda/fallback'));
    assert.equal(cuda.extPackageName, '@node-llama-cpp/linux-x64-cuda-ext');
    assert.deepEqual(chooseBinsDir('cpu', h()).files, { base: 'libggml-base.so', ggml: 'libggml.v0.5.0.so' });
    assert.deepEqual(
      backendCandidates(cuda, h()).map((c) => [c.build, c.label, c.module && path.relative(root, c.module)]),
      [
        ['cuda', 'CUDA 13', 'node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda/libggml-cuda.so'],
        ['cuda-12', 'CUDA 12 fallback', 'node_modules/@node-llama-cpp/linux-x64-cuda-ext/bins/linux-x64-cuda/fallback/libggml-cuda.so'],
      ],
    );
  });

  test('linux-x64 with only the CPU package: explicit GPUs name the missing package, auto takes the CPU', () => {
    const root = install({ 'linux-x64': linuxX64['linux-x64']! });
    const h = host(root, 'linux', 'x64', { nvidia: true, vulkan: true });
    assert.equal(pick('auto', h), 'cpu:linux-x64');
    assert.match(pick('cuda', h), /^error: --device cuda needs the package @node-llama-cpp\/linux-x64-cuda, which is not installed/);
    assert.match(pick('vulkan', h), /^error: --device vulkan needs the package @node-llama-cpp\/linux-x64-vulkan, which is not installed/);
  });

  test('linux-x64 CUDA without the -cuda-ext package: no fallback folder', () => {
    const { 'linux-x64-cuda-ext': _ext, ...rest } = linuxX64;
    const root = install(rest);
    const b = chooseBinsDir('cuda', host(root, 'linux', 'x64'));
    assert.equal(b.fallbackDir, undefined);
    const c = backendCandidates(b, host(root, 'linux', 'x64'));
    assert.deepEqual([c[1]!.build, c[1]!.dir, c[1]!.module, c[1]!.packageName], ['cuda-12', null, null, '@node-llama-cpp/linux-x64-cuda-ext']);
  });

  test('linux-arm64 and linux-armv7l: CPU only', () => {
    for (const [layout, arch, folder] of [
      [linuxArm64, 'arm64', 'linux-arm64'],
      [linuxArmv7l, 'arm', 'linux-armv7l'],
    ] as const) {
      const root = install(layout);
      const h = host(root, 'linux', arch, { nvidia: true, vulkan: true });
      assert.equal(pick('auto', h), `cpu:${folder}`);
      assert.equal(pick('cpu', h), `cpu:${folder}`);
      for (const gpu of ['cuda', 'vulkan', 'metal'] as const) {
        assert.match(pick(gpu, h), new RegExp(`^error: --device ${gpu}: \\w+ is not available on linux-${arch}: .*Devices on this platform: auto, cpu$`));
      }
    }
    assert.deepEqual(chooseBinsDir('cpu', host(install(linuxArmv7l), 'linux', 'arm')).files, { base: 'libggml-base.so', ggml: 'libggml.v0.5.0.so' });
  });

  test('macOS arm64: the Metal build, whose CPU backend serves --device cpu; .dylib libraries, .so modules', () => {
    const root = install(macArm64);
    const h = host(root, 'darwin', 'arm64');
    assert.equal(pick('auto', h), 'metal:mac-arm64-metal');
    assert.equal(pick('metal', h), 'metal:mac-arm64-metal');
    assert.equal(pick('cpu', h), 'metal:mac-arm64-metal');
    assert.match(pick('cuda', h), /^error: --device cuda: CUDA is not available on darwin-arm64: node-llama-cpp ships CUDA builds for linux-x64, win32-x64 only\. Devices on this platform: auto, cpu, metal$/);
    assert.match(pick('vulkan', h), /^error: --device vulkan: Vulkan is not available on darwin-arm64/);
    const b = chooseBinsDir('metal', h);
    assert.deepEqual(b.files, { base: 'libggml-base.dylib', ggml: 'libggml.metal.v0.5.0.dylib' });
    assert.deepEqual(
      backendCandidates(b, h).map((c) => [c.build, c.module && path.basename(c.module)]),
      [['metal', 'libggml-metal.so']],
    );
  });

  test('macOS x64: CPU only', () => {
    const root = install(macX64);
    const h = host(root, 'darwin', 'x64');
    assert.equal(pick('auto', h), 'cpu:mac-x64');
    assert.equal(pick('cpu', h), 'cpu:mac-x64');
    assert.match(pick('metal', h), /^error: --device metal: Metal is not available on darwin-x64: node-llama-cpp ships Metal builds for darwin-arm64 only/);
    assert.deepEqual(chooseBinsDir('cpu', h).files, { base: 'libggml-base.dylib', ggml: 'libggml.v0.5.0.dylib' });
  });

  test('Windows x64: CPU, Vulkan, CUDA 13 + CUDA 12 fallback; .dll names without a lib prefix', () => {
    const root = install(winX64);
    const h = (g: GpuPresence = NO_GPU) => host(root, 'win32', 'x64', g);
    assert.equal(pick('cpu', h()), 'cpu:win-x64');
    assert.equal(pick('auto', h()), 'cpu:win-x64');
    assert.equal(pick('auto', h({ nvidia: true, vulkan: true })), 'cuda:win-x64-cuda');
    assert.equal(pick('auto', h({ nvidia: false, vulkan: true })), 'vulkan:win-x64-vulkan');
    assert.equal(pick('vulkan', h()), 'vulkan:win-x64-vulkan');
    assert.match(pick('metal', h()), /^error: --device metal: Metal is not available on win32-x64/);
    const cuda = chooseBinsDir('cuda', h());
    assert.deepEqual(cuda.files, { base: 'ggml-base.dll', ggml: 'ggml.cuda.v0.5.0.dll' });
    assert.deepEqual(
      backendCandidates(cuda, h()).map((c) => [c.build, c.module && path.relative(root, c.module)]),
      [
        ['cuda', 'node_modules/@node-llama-cpp/win-x64-cuda/bins/win-x64-cuda/ggml-cuda.dll'],
        ['cuda-12', 'node_modules/@node-llama-cpp/win-x64-cuda-ext/bins/win-x64-cuda/fallback/ggml-cuda.dll'],
      ],
    );
    assert.deepEqual(chooseBinsDir('vulkan', h()).files, { base: 'ggml-base.dll', ggml: 'ggml.vulkan.v0.5.0.dll' });
  });

  test('Windows arm64: CPU only', () => {
    const root = install(winArm64);
    const h = host(root, 'win32', 'arm64', { nvidia: true, vulkan: true });
    assert.equal(pick('auto', h), 'cpu:win-arm64');
    assert.match(pick('cuda', h), /^error: --device cuda: CUDA is not available on win32-arm64/);
  });

  test('an unsupported platform: a UserError naming platform, arch and the package looked for', () => {
    const root = install(linuxX64);
    for (const [platform, arch, pkg] of [
      ['freebsd', 'x64', '@node-llama-cpp/freebsd-x64'],
      ['linux', 'ppc64', '@node-llama-cpp/linux-ppc64'],
      ['win32', 'ia32', '@node-llama-cpp/win-ia32'],
      ['darwin', 'ppc', '@node-llama-cpp/mac-ppc'],
    ]) {
      for (const choice of ['auto', 'cpu', 'cuda'] as const) {
        const m = pick(choice, host(root, platform!, arch!));
        assert.ok(m.startsWith('error: '), m);
        assert.ok(m.includes(`there are none for ${platform}-${arch} (looked for the package ${pkg})`), m);
      }
    }
    // every platform of the table has a CPU-capable build and no other message
    for (const key of Object.keys(PLATFORM_PACKAGES)) {
      const [platform, arch] = key.split('-') as [string, string];
      assert.equal(deviceSupportError('cpu', platform, arch), null, key);
      assert.equal(deviceSupportError('auto', platform, arch), null, key);
    }
  });

  test('a supported platform without its packages installed says to reinstall', () => {
    const root = install({});
    assert.match(pick('auto', host(root, 'linux', 'x64')), /^error: node-llama-cpp's prebuilt ggml libraries for linux-x64 were not found \(package @node-llama-cpp\/linux-x64 or @node-llama-cpp\/linux-x64-vulkan or @node-llama-cpp\/linux-x64-cuda\); run 'npm ci'/);
    assert.deepEqual(findBinsDirs(host(root, 'darwin', 'arm64')), []);
  });
});

describe('library file names', () => {
  test('libggml-base and libggml with its variant suffix; backend modules never taken for libggml', () => {
    assert.deepEqual(ggmlLibraryFiles(['libggml-cpu-zen4.so', 'libggml-base.so', 'libggml.v0.5.0.so', 'libggml-cuda.so'], 'linux'), { base: 'libggml-base.so', ggml: 'libggml.v0.5.0.so' });
    assert.deepEqual(ggmlLibraryFiles(['libggml-base.so', 'libggml.so'], 'linux'), { base: 'libggml-base.so', ggml: 'libggml.so' });
    assert.equal(ggmlLibraryFiles(['libggml-base.so', 'libggml-cpu-x64.so'], 'linux'), null);
    assert.equal(ggmlLibraryFiles(['libggml-base.dylib', 'libggml.v0.5.0.dylib'], 'linux'), null);
    assert.deepEqual(ggmlLibraryFiles(['libggml-base.dylib', 'libggml.metal.v0.5.0.dylib', 'libggml-metal.so'], 'darwin'), { base: 'libggml-base.dylib', ggml: 'libggml.metal.v0.5.0.dylib' });
    assert.deepEqual(ggmlLibraryFiles(['ggml-base.dll', 'ggml.cuda.v0.5.0.dll', 'ggml-cuda.dll'], 'win32'), { base: 'ggml-base.dll', ggml: 'ggml.cuda.v0.5.0.dll' });
    // a MinGW build keeps the lib prefix
    assert.deepEqual(ggmlLibraryFiles(['libggml-base.dll', 'libggml.dll'], 'win32'), { base: 'libggml-base.dll', ggml: 'libggml.dll' });
    assert.equal(backendModuleFile(['libggml-metal.so'], 'metal', 'darwin'), 'libggml-metal.so');
    assert.equal(backendModuleFile(['ggml-cuda.dll'], 'cuda', 'win32'), 'ggml-cuda.dll');
    assert.equal(backendModuleFile(['libggml-cuda.so'], 'cuda', 'win32'), null);
  });
});

/** A fake native side: which modules open (else their message), and the devices each folder's load adds. */
function fakeIo(opts: { openErrors?: Record<string, string>; devicesByDir?: Record<string, number>; logByDir?: Record<string, string[]> }) {
  const calls: string[] = [];
  let devices = 0;
  const io: BackendIo = {
    open(file) {
      calls.push(`open ${path.basename(path.dirname(file))}/${path.basename(file)}`);
      return opts.openErrors?.[path.basename(path.dirname(file))] ?? null;
    },
    loadAll(dir) {
      calls.push(`loadAll ${path.basename(dir)}`);
      devices += opts.devicesByDir?.[path.basename(dir)] ?? 0;
      return opts.logByDir?.[path.basename(dir)] ?? [];
    },
    deviceCount: () => devices,
  };
  return { io, calls };
}

describe('backend loading and the CUDA 12 fallback (node-llama-cpp order)', () => {
  const root = install(linuxX64);
  const h = host(root, 'linux', 'x64');
  const cuda = chooseBinsDir('cuda', h);
  const summary = (r: ReturnType<typeof loadBackends>) => r.statuses.map((s) => `${s.build}: ${s.status}: ${s.reason}`);

  test('CUDA 13 loads and finds a device: chosen, the fallback is not loaded', () => {
    const { io, calls } = fakeIo({ devicesByDir: { 'linux-x64-cuda': 1 } });
    const r = loadBackends(cuda, io, h);
    assert.equal(r.gpu, 'cuda');
    assert.deepEqual(calls, ['open linux-x64-cuda/libggml-cuda.so', 'loadAll linux-x64-cuda']);
    assert.match(summary(r)[0]!, /^cuda: chosen: 1 CUDA device\(s\), .*linux-x64-cuda\/libggml-cuda\.so$/);
    assert.equal(summary(r)[1], 'cuda-12: not loaded: CUDA 13 was used');
  });

  test('CUDA 13 cannot load (CUDA 12 machine): the -cuda-ext fallback loads beside the -cuda base libraries', () => {
    const { io, calls } = fakeIo({
      openErrors: { 'linux-x64-cuda': 'libcudart.so.13: cannot open shared object file: No such file or directory' },
      devicesByDir: { fallback: 2 },
    });
    const r = loadBackends(cuda, io, h);
    assert.equal(r.gpu, 'cuda-12');
    // the build folder first (its CPU variants load either way), then the fallback folder
    assert.deepEqual(calls, ['open linux-x64-cuda/libggml-cuda.so', 'loadAll linux-x64-cuda', 'open fallback/libggml-cuda.so', 'loadAll fallback']);
    assert.deepEqual(summary(r).map((s) => s.replace(/, \/.*/, '')), [
      'cuda: failed to load: libcudart.so.13: cannot open shared object file: No such file or directory',
      'cuda-12: chosen: 2 CUDA device(s)',
    ]);
  });

  test('CUDA 13 loads but finds no device (driver too old): ggml says why, and the fallback is tried', () => {
    const { io } = fakeIo({
      devicesByDir: { fallback: 1 },
      logByDir: { 'linux-x64-cuda': ['load_backend: loaded CPU backend from /x/libggml-cpu-zen4.so', 'ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version'] },
    });
    const r = loadBackends(cuda, io, h);
    assert.equal(r.gpu, 'cuda-12');
    assert.equal(summary(r)[0], 'cuda: no device: ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version');
    assert.deepEqual(r.log, ['load_backend: loaded CPU backend from /x/libggml-cpu-zen4.so', 'ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version']);
  });

  test('neither CUDA build loads (no NVIDIA runtime): no GPU, both messages kept', () => {
    const { io } = fakeIo({
      openErrors: { 'linux-x64-cuda': 'libcublas.so.13: cannot open shared object file', fallback: 'libcudart.so.12: cannot open shared object file' },
    });
    const r = loadBackends(cuda, io, h);
    assert.equal(r.gpu, null);
    assert.deepEqual(summary(r), ['cuda: failed to load: libcublas.so.13: cannot open shared object file', 'cuda-12: failed to load: libcudart.so.12: cannot open shared object file']);
    // every build of the platform gets a line: the other installed ones were not loaded here
    assert.deepEqual(
      describeBuilds(cuda, r.statuses, h).map((s) => `${s.build} ${s.status}`),
      ['cpu not loaded', 'vulkan not loaded', 'cuda failed to load', 'cuda-12 failed to load'],
    );
  });

  test('CUDA without the -cuda-ext package: the fallback is reported not installed', () => {
    const { 'linux-x64-cuda-ext': _ext, ...rest } = linuxX64;
    const r2 = install(rest);
    const h2 = host(r2, 'linux', 'x64');
    const { io, calls } = fakeIo({ openErrors: { 'linux-x64-cuda': 'libcudart.so.13: cannot open shared object file' } });
    const r = loadBackends(chooseBinsDir('cuda', h2), io, h2);
    assert.equal(r.gpu, null);
    assert.deepEqual(calls, ['open linux-x64-cuda/libggml-cuda.so', 'loadAll linux-x64-cuda']);
    assert.equal(summary(r)[1], 'cuda-12: not installed: the package @node-llama-cpp/linux-x64-cuda-ext is not installed');
  });

  test('Windows: the same order with ggml-cuda.dll', () => {
    const root = install(winX64);
    const hw = host(root, 'win32', 'x64');
    const { io, calls } = fakeIo({ openErrors: { 'win-x64-cuda': 'cudart64_13.dll was not found' }, devicesByDir: { fallback: 1 } });
    const r = loadBackends(chooseBinsDir('cuda', hw), io, hw);
    assert.equal(r.gpu, 'cuda-12');
    assert.deepEqual(calls, ['open win-x64-cuda/ggml-cuda.dll', 'loadAll win-x64-cuda', 'open fallback/ggml-cuda.dll', 'loadAll fallback']);
  });

  test('Vulkan without a device, Metal with one, the CPU build', () => {
    const vk = chooseBinsDir('vulkan', h);
    const a = loadBackends(vk, fakeIo({ logByDir: { 'linux-x64-vulkan': ['ggml_vulkan: No devices found.'] } }).io, h);
    assert.deepEqual(summary(a), ['vulkan: no device: ggml_vulkan: No devices found.']);
    const b = loadBackends(vk, fakeIo({ openErrors: { 'linux-x64-vulkan': 'libvulkan.so.1: cannot open shared object file' } }).io, h);
    assert.deepEqual(summary(b), ['vulkan: failed to load: libvulkan.so.1: cannot open shared object file']);
    const mroot = install(macArm64);
    const hm = host(mroot, 'darwin', 'arm64');
    const m = loadBackends(chooseBinsDir('auto', hm), fakeIo({ devicesByDir: { 'mac-arm64-metal': 1 } }).io, hm);
    assert.equal(m.gpu, 'metal');
    const { io, calls } = fakeIo({});
    const c = loadBackends(chooseBinsDir('cpu', h), io, h);
    assert.deepEqual([c.gpu, calls, summary(c).map((s) => s.split(':').slice(0, 2).join(':'))], [null, ['loadAll linux-x64'], ['cpu: chosen']]);
  });
});

describe('GPU presence for auto', () => {
  const fake = (paths: string[]): FolderProbe => ({ exists: (p) => paths.includes(p), list: () => [] });
  test('Linux: /dev/nvidiactl; a Vulkan loader with a render node or GGML_VK_VISIBLE_DEVICES', () => {
    const h = (paths: string[], env: Record<string, string> = {}) => detectGpus(loaderHost({ platform: 'linux', probe: fake(paths), env }));
    assert.deepEqual(h([]), { nvidia: false, vulkan: false });
    assert.deepEqual(h(['/dev/nvidiactl']), { nvidia: true, vulkan: false });
    assert.deepEqual(h(['/usr/lib/x86_64-linux-gnu/libvulkan.so.1']), { nvidia: false, vulkan: false });
    assert.deepEqual(h(['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/dev/dri']), { nvidia: false, vulkan: true });
    assert.deepEqual(h(['/opt/vk/libvulkan.so.1'], { LD_LIBRARY_PATH: '/opt/vk', GGML_VK_VISIBLE_DEVICES: '0' }), { nvidia: false, vulkan: true });
  });
  test('Windows: the driver DLLs in System32', () => {
    const h = (paths: string[]) => detectGpus(loaderHost({ platform: 'win32', probe: fake(paths), env: { SystemRoot: 'C:\\Windows' } }));
    assert.deepEqual(h(['C:\\Windows\\System32\\nvcuda.dll', 'C:\\Windows\\System32\\vulkan-1.dll']), { nvidia: true, vulkan: true });
    assert.deepEqual(h([]), { nvidia: false, vulkan: false });
  });
});

describe('the --device resolver', () => {
  test('--device, else UNLEARNKIT_DEVICE, else auto; invalid values and devices of other platforms are UserErrors', () => {
    const env: Record<string, string | undefined> = {};
    assert.equal(resolveDevice({}, { engine: 'none', env }), 'auto');
    assert.equal(env.UNLEARNKIT_DEVICE, 'auto');
    assert.equal(resolveDevice({}, { engine: 'none', env: { UNLEARNKIT_DEVICE: 'vulkan' }, platform: 'linux', arch: 'x64' }), 'vulkan');
    assert.equal(resolveDevice({}, { engine: 'none', env: { UNLEARNKIT_DEVICE: '' } }), 'auto');
    assert.equal(resolveDevice({ device: 'cpu' }, { engine: 'none', env: { UNLEARNKIT_DEVICE: 'cuda' } }), 'cpu');
    assert.throws(() => resolveDevice({ device: 'gpu' }, { engine: 'none', env: {} }), (e: Error) => e instanceof UserError && e.message === "--device: unknown device 'gpu'; choose one of auto, cpu, cuda, vulkan, metal");
    assert.throws(() => resolveDevice({}, { engine: 'none', env: { UNLEARNKIT_DEVICE: 'CUDA' } }), /^UserError: UNLEARNKIT_DEVICE: unknown device 'CUDA'; choose one of auto, cpu, cuda, vulkan, metal$/);
    assert.throws(() => parseDevice('metal', '--device', 'linux', 'x64'), /^UserError: --device metal: Metal is not available on linux-x64/);
    assert.throws(() => parseDevice('cuda', '--device', 'darwin', 'arm64'), /^UserError: --device cuda: CUDA is not available on darwin-arm64/);
    assert.equal(parseDevice('metal', '--device', 'darwin', 'arm64'), 'metal');
    assert.equal(parseDevice('vulkan', '--device', 'win32', 'x64'), 'vulkan');
  });
});

describe('the installed packages (this machine)', () => {
  test('the real layout matches the names above', (t) => {
    const key = `${process.platform}-${process.arch}`;
    if (key !== 'linux-x64') return skipLoudly(t, `the real-layout check is written for linux-x64 (this is ${key})`);
    const dirs = findBinsDirs();
    if (dirs.length < 3) return skipLoudly(t, 'node-llama-cpp optional packages (linux-x64, -vulkan, -cuda) are not all installed');
    assert.deepEqual(
      dirs.map((d: BinsDir) => [d.kind, d.packageName, path.basename(d.dir), d.files.base, d.files.ggml]),
      [
        ['cpu', '@node-llama-cpp/linux-x64', 'linux-x64', 'libggml-base.so', 'libggml.v0.5.0.so'],
        ['vulkan', '@node-llama-cpp/linux-x64-vulkan', 'linux-x64-vulkan', 'libggml-base.so', 'libggml.vulkan.v0.5.0.so'],
        ['cuda', '@node-llama-cpp/linux-x64-cuda', 'linux-x64-cuda', 'libggml-base.so', 'libggml.cuda.v0.5.0.so'],
      ],
    );
    const cuda = dirs[2]!;
    assert.ok(cuda.fallbackDir && fs.existsSync(path.join(cuda.fallbackDir, 'libggml-cuda.so')), 'the -cuda-ext fallback libggml-cuda.so');
    for (const c of backendCandidates(cuda)) assert.ok(c.module && fs.existsSync(c.module), c.build);
  });

  test('auto where an NVIDIA GPU shows loads the real CUDA build: CUDA 13, then the CUDA 12 fallback, each outcome kept', (t) => {
    if (`${process.platform}-${process.arch}` !== 'linux-x64') return skipLoudly(t, 'written for linux-x64');
    const cuda = findBinsDirs().find((d) => d.kind === 'cuda');
    if (!cuda?.fallbackDir) return skipLoudly(t, 'the @node-llama-cpp/linux-x64-cuda and -cuda-ext packages are not installed');
    // the only engine of this test process: the CUDA build's libraries, loaded as `auto` would on a GPU machine
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    let e: Engine;
    try {
      e = new Engine({ device: 'auto', threads: 1, host: { gpus: () => ({ nvidia: true, vulkan: false }) } });
    } finally {
      process.stderr.write = write;
    }
    assert.equal(e.bins.kind, 'cuda');
    const [c13, c12] = [e.builds.find((b) => b.build === 'cuda')!, e.builds.find((b) => b.build === 'cuda-12')!];
    // CPU variants come from the CUDA build's own folder, whatever happens to its GPU module
    assert.match(e.loadLog.join('\n'), /loaded CPU backend from .*linux-x64-cuda\/libggml-cpu-/);
    assert.ok(e.devices.some((d) => d.type === 'cpu'));
    if (e.gpuBuild !== null) {
      // a machine with a working CUDA runtime: one of the two builds is chosen, and computes
      assert.ok([c13.status, c12.status].includes('chosen'));
      assert.equal(e.device.registry, 'CUDA');
      assert.deepEqual(written, []);
    } else {
      // no NVIDIA runtime here: dlopen's own messages (ggml's release build would drop them) for both builds
      for (const b of [c13, c12]) assert.ok(b.status === 'failed to load' || b.status === 'no device', `${b.build}: ${b.status}`);
      if (c13.status === 'failed to load') assert.match(c13.reason, /^lib(cudart|cublas|cuda)\S*\.so[.\d]*: cannot open shared object file/);
      if (c12.status === 'failed to load') assert.match(c12.reason, /^lib(cudart|cublas|cuda)\S*\.so[.\d]*: cannot open shared object file/);
      assert.equal(e.device.type, 'cpu');
      assert.equal(written.length, 1);
      assert.match(written[0]!, /^unlearnkit: computing on the CPU: no CUDA device could be used:\n {2}CUDA 13 build \(@node-llama-cpp\/linux-x64-cuda\): .*\n {2}CUDA 12 fallback build \(@node-llama-cpp\/linux-x64-cuda-ext\): .*\n\('unlearnkit doctor' shows every build; --device cpu skips the GPU builds, --device vulkan tries the Vulkan build\)\n$/);
    }
  });
});

describe('the CLI (sources through tsx)', () => {
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    spawnSync(process.execPath, cliArgs(...args), { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

  test('finetune --device cuda on a machine without an NVIDIA GPU: exit 2, why each CUDA build was not used, no stack', (t) => {
    if (detectGpus(loaderHost()).nvidia) return skipLoudly(t, 'this machine shows an NVIDIA GPU (/dev/nvidiactl); the check is for machines without one');
    const r = run(['finetune', '--model', path.join(REPO_ROOT, 'models', 'unlearnkit-base.gguf'), '--device', 'cuda', '--epochs', '1', '--quiet']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /^unlearnkit: --device cuda: no CUDA device could be used:\n/);
    assert.match(r.stderr, /\n {2}CUDA 13 build \(@node-llama-cpp\/linux-x64-cuda\): (failed to load|no device|not installed): \S/);
    assert.match(r.stderr, /\n {2}CUDA 12 fallback build \(@node-llama-cpp\/linux-x64-cuda-ext\): (failed to load|no device|not installed): \S/);
    assert.match(r.stderr, /'unlearnkit doctor --device cuda' prints the details\.\n$/);
  });

  test('--device bogus (and UNLEARNKIT_DEVICE=bogus) lists the choices before any work', () => {
    const a = run(['finetune', '--model', 'no-such.gguf', '--device', 'bogus']);
    assert.equal(a.status, 2);
    assert.equal(a.stderr, "unlearnkit: --device: unknown device 'bogus'; choose one of auto, cpu, cuda, vulkan, metal\n");
    const b = run(['generate', '--model', 'no-such.gguf'], { UNLEARNKIT_DEVICE: 'bogus' });
    assert.equal(b.status, 2);
    assert.equal(b.stderr, "unlearnkit: UNLEARNKIT_DEVICE: unknown device 'bogus'; choose one of auto, cpu, cuda, vulkan, metal\n");
    if (process.platform === 'linux') {
      const c = run(['eval', '--model', 'no-such.gguf', '--device', 'metal']);
      assert.equal(c.status, 2);
      assert.match(c.stderr, /^unlearnkit: --device metal: Metal is not available on linux-/);
    }
  });

  test('doctor --json: each build of the platform with its status and reason', () => {
    const r = run(['doctor', '--json', '--device', 'cpu']);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { requested: string; device: { kind: string }; builds: Array<{ build: string; packageName: string; status: string; reason: string; devices: Array<{ ok: boolean }> }> };
    assert.equal(rep.requested, 'cpu');
    assert.equal(rep.device.kind, 'cpu');
    const packages = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`]!;
    const expected = packages.flatMap((p) => (p.kind === 'cuda' ? ['cuda', 'cuda-12'] : [p.kind]));
    assert.deepEqual(rep.builds.map((b) => b.build), expected);
    for (const b of rep.builds) {
      assert.ok(['chosen', 'not installed', 'no device', 'failed to load'].includes(b.status), `${b.build}: ${b.status}`);
      assert.ok(b.reason.length > 0, b.build);
      if (b.status === 'failed to load') assert.match(b.reason, /\.(so|dll|dylib)\b/, `${b.build}: the loader's message names a library`);
      if (b.status === 'chosen') assert.ok(b.devices.length > 0 && b.devices.every((d) => d.ok), b.build);
    }
    const cpu = rep.builds.find((b) => b.build === 'cpu');
    if (cpu) assert.equal(cpu.status, 'chosen');
  });
});
