/**
 * unlearnkit's native kernels: native/matmul.c, a packed, register-tiled f32 GEMM that graphs run as
 * a ggml custom op (ops.ts fastMatMul) in place of ggml_mul_mat on the CPU.
 *
 * Why: training a small LLaMA spends ~80% of its step in matrix products, and ggml's f32 mul_mat
 * (llamafile tinyBLAS, which does not pack its operands) runs at ~55 GFLOP/s per core on the Zen 4/5
 * machines here, where a packed GEMM runs at 130-175 (measured by `bench engine`). The kernel also
 * reads its operands through their strides, so a backward pass needs no transposed copies.
 *
 * How it is built: on first use, with the machine's C compiler (`$CC`, else cc, gcc or clang),
 * `-O3 -march=native`, into a cache folder (UNLEARNKIT_NATIVE_CACHE, else ~/.cache/unlearnkit,
 * else the system temp folder). The file name hashes the source, the compiler's version and the CPU's
 * model and flags, so a copy of the folder on another machine rebuilds instead of running code for
 * the wrong CPU. The build writes a temporary file and renames it, so concurrent processes never see
 * half a library. Without a compiler (or with UNLEARNKIT_MATMUL=ggml) every graph uses ggml_mul_mat,
 * and `unlearnkit doctor` says why.
 *
 * The decision to compile here rather than ship binaries: npm installs nothing else native for us,
 * the machines we support have a C toolchain (node-gyp's), and -march=native is what makes the kernel
 * fast; the fallback keeps every command working without it.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNativeKernelLibrary, type LoadedNativeKernels, type TensorHeader } from './ffi.ts';

/** The kernel source, shipped with the package. */
const NATIVE_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../native/matmul.c');

export interface NativeKernelStatus {
  /** The loaded kernels, or null when graphs use ggml's mul_mat. */
  kernels: LoadedNativeKernels | null;
  /** One line: what was loaded, or why nothing was. */
  reason: string;
  /** The built library, when there is one. */
  file?: string;
  /** The compiler used or tried. */
  compiler?: string;
  /** Whether this process compiled it (false: taken from the cache). */
  built?: boolean;
}

let status: NativeKernelStatus | null = null;

/** The CPU's identity for the cache key: -march=native code must not run on another CPU. */
function cpuSignature(): string {
  let info = `${os.arch()} ${os.cpus()[0]?.model ?? ''}`;
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    info += ' ' + (/^flags\s*:(.*)$/m.exec(text)?.[1] ?? '') + (/^Features\s*:(.*)$/m.exec(text)?.[1] ?? '');
  } catch {
    // not Linux: the model name and architecture are what we have
  }
  return info;
}

function compilerCandidates(): string[][] {
  const env = process.env.CC?.trim();
  if (env) return [env.split(/\s+/)];
  return [['cc'], ['gcc'], ['clang']];
}

function compilerVersion(cc: string[]): string | null {
  try {
    return execFileSync(cc[0]!, [...cc.slice(1), '--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20000 }).split('\n')[0]!;
  } catch {
    return null;
  }
}

/**
 * Where built kernels are kept: UNLEARNKIT_NATIVE_CACHE, else the user's cache folder
 * ($XDG_CACHE_HOME or ~/.cache, /unlearnkit), else the system temp folder. Never the package's own
 * folder: once installed it sits in a consumer's node_modules, which is not ours to write.
 */
function cacheDirs(): string[] {
  if (process.env.UNLEARNKIT_NATIVE_CACHE) return [process.env.UNLEARNKIT_NATIVE_CACHE];
  const userCache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return [path.join(userCache, 'unlearnkit'), path.join(os.tmpdir(), `unlearnkit-native-${os.userInfo().uid}`)];
}

function writableDir(dirs: string[]): string | null {
  for (const d of dirs) {
    try {
      fs.mkdirSync(d, { recursive: true });
      fs.accessSync(d, fs.constants.W_OK);
      return d;
    } catch {
      // try the next one
    }
  }
  return null;
}

/** Build (or find in the cache) and load the kernel library; never throws. */
function buildAndLoad(): NativeKernelStatus {
  const choice = process.env.UNLEARNKIT_MATMUL ?? 'native';
  if (choice === 'ggml') return { kernels: null, reason: 'UNLEARNKIT_MATMUL=ggml: graphs use ggml_mul_mat' };
  if (choice !== 'native') return { kernels: null, reason: `UNLEARNKIT_MATMUL=${choice} is not one of native, ggml: graphs use ggml_mul_mat` };
  if (!fs.existsSync(NATIVE_SOURCE)) return { kernels: null, reason: `kernel source ${NATIVE_SOURCE} is missing: graphs use ggml_mul_mat` };
  const source = fs.readFileSync(NATIVE_SOURCE);
  let cc: string[] | null = null;
  let version: string | null = null;
  for (const cand of compilerCandidates()) {
    version = compilerVersion(cand);
    if (version) {
      cc = cand;
      break;
    }
  }
  if (!cc || !version) return { kernels: null, reason: `no C compiler (tried ${compilerCandidates().map((c) => c.join(' ')).join(', ')}; set CC): graphs use ggml_mul_mat, ~3x slower training` };
  const dir = writableDir(cacheDirs());
  if (!dir) return { kernels: null, reason: `no writable cache folder (${cacheDirs().join(', ')}): graphs use ggml_mul_mat`, compiler: cc.join(' ') };
  const key = crypto.createHash('sha256').update(source).update('\0').update(version).update('\0').update(cpuSignature()).digest('hex').slice(0, 16);
  const file = path.join(dir, `unlearnkit-kernels-${key}.so`);
  let built = false;
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    const base = ['-O3', '-fPIC', '-shared', '-std=gnu11', '-o', tmp, NATIVE_SOURCE];
    let lastError = '';
    for (const flags of [['-march=native', ...base], base]) {
      try {
        execFileSync(cc[0]!, [...cc.slice(1), ...flags], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120000 });
        fs.renameSync(tmp, file);
        built = true;
        break;
      } catch (e) {
        lastError = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim().split('\n').slice(0, 3).join(' | ');
        fs.rmSync(tmp, { force: true });
      }
    }
    if (!built) return { kernels: null, reason: `${cc.join(' ')} could not build ${NATIVE_SOURCE}: ${lastError}; graphs use ggml_mul_mat`, compiler: cc.join(' ') };
  }
  try {
    const kernels = loadNativeKernelLibrary(file);
    return { kernels, reason: `${kernels.info} (${built ? 'built' : 'cached'} ${file})`, file, compiler: cc.join(' '), built };
  } catch (e) {
    return { kernels: null, reason: `${(e as Error).message}; graphs use ggml_mul_mat`, file, compiler: cc.join(' ') };
  }
}

/** The native kernels of this process (built or loaded once). */
export function nativeKernels(): NativeKernelStatus {
  status ??= buildAndLoad();
  return status;
}

/**
 * Whether a graph node (its header and ggml_op_desc name) is the native matmul: a CUSTOM op whose
 * op_params start with the kernel's address (struct ggml_custom_op_params { fun, n_tasks, userdata }).
 */
export function isNativeMatMulNode(h: TensorHeader, opName: string): boolean {
  const k = status?.kernels;
  if (!k || opName !== 'CUSTOM') return false;
  const fun = (BigInt(h.opParams[1]! >>> 0) << 32n) | BigInt(h.opParams[0]! >>> 0);
  return fun === k.matmulOp;
}
