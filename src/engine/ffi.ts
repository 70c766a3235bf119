/**
 * The one file that talks to koffi: declarations of the ggml, ggml-backend, ggml-alloc, ggml-opt
 * and gguf C functions unlearnkit calls, loaded from the shared libraries node-llama-cpp ships.
 *
 * Why ggml through koffi: node-llama-cpp already ships ggml built for every CPU family (and CUDA /
 * Vulkan builds in sibling packages), ggml has automatic differentiation and optimiser ops, and it
 * runs 20x faster than plain TypeScript here (docs/architecture.md#why-ggml). The C ABI changes between llama.cpp
 * releases, so node-llama-cpp is pinned to exactly 3.22.1 and every symbol declared below is
 * checked when the libraries load: a missing one fails with one message naming all missing symbols.
 *
 * Pointers come back from koffi as bigint (0n or null for NULL). Nothing outside this file imports
 * koffi; the rest of the engine uses the typed wrappers in tensor.ts / graph.ts.
 */
import koffi from 'koffi';
import path from 'node:path';
import fs from 'node:fs';
import { ggmlLibraryFiles, libraryNaming } from './loader.ts';

/** An opaque C pointer as koffi returns it. */
export type Ptr = bigint;

/** The node-llama-cpp version whose ggml ABI these declarations match. */
export const EXPECTED_NODE_LLAMA_CPP = '3.22.1';
/** The ggml version string of that build (ggml_version()). */
export const EXPECTED_GGML_VERSION = '0.25.1';

koffi.struct('ggml_init_params', { mem_size: 'size_t', mem_buffer: 'void*', no_alloc: 'bool' });

/**
 * struct ggml_tensor, as in ggml.h of the pinned build (GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64,
 * GGML_MAX_SRC 10, GGML_MAX_NAME 64). Its size (336) plus ggml_object (32) must equal
 * ggml_tensor_overhead(); checked at load.
 */
const TensorStruct = koffi.struct('ggml_tensor', {
  type: 'int',
  buffer: 'void*',
  ne: koffi.array('int64_t', 4),
  nb: koffi.array('size_t', 4),
  op: 'int',
  op_params: koffi.array('int32_t', 16),
  flags: 'int32_t',
  src: koffi.array('void*', 10),
  view_src: 'void*',
  view_offs: 'size_t',
  data: 'void*',
  name: koffi.array('char', 64, 'String'),
  extra: 'void*',
  padding: koffi.array('char', 8),
});
const GGML_OBJECT_SIZE = 32;

/** Which library a symbol lives in: ggml-base (core, alloc, backend, gguf) or ggml (registry). */
type LibName = 'base' | 'ggml';

/** C declarations: [library, prototype]. Keep in the order of the headers they come from. */
const DECLS: Array<[LibName, string]> = [
  // ggml.h: context, tensors, metadata
  ['base', 'const char* ggml_version()'],
  ['base', 'const char* ggml_commit()'],
  ['base', 'void ggml_log_set(void* log_callback, void* user_data)'],
  ['base', 'void ggml_log_get(_Out_ void** log_callback, _Out_ void** user_data)'],
  ['base', 'void ggml_threadpool_params_init(void* params, int n_threads)'],
  ['base', 'void* ggml_init(ggml_init_params params)'],
  ['base', 'void ggml_free(void* ctx)'],
  ['base', 'size_t ggml_used_mem(void* ctx)'],
  ['base', 'size_t ggml_tensor_overhead()'],
  ['base', 'size_t ggml_graph_overhead_custom(size_t size, bool grads)'],
  ['base', 'void* ggml_new_tensor_1d(void* ctx, int type, int64_t ne0)'],
  ['base', 'void* ggml_new_tensor_2d(void* ctx, int type, int64_t ne0, int64_t ne1)'],
  ['base', 'void* ggml_new_tensor_3d(void* ctx, int type, int64_t ne0, int64_t ne1, int64_t ne2)'],
  ['base', 'void* ggml_new_tensor_4d(void* ctx, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)'],
  ['base', 'void* ggml_dup_tensor(void* ctx, void* src)'],
  ['base', 'void* ggml_set_name(void* t, const char* name)'],
  ['base', 'const char* ggml_get_name(void* t)'],
  ['base', 'void ggml_set_param(void* t)'],
  ['base', 'void ggml_set_loss(void* t)'],
  ['base', 'void ggml_set_input(void* t)'],
  ['base', 'void ggml_set_output(void* t)'],
  ['base', 'int64_t ggml_nelements(void* t)'],
  ['base', 'size_t ggml_nbytes(void* t)'],
  ['base', 'size_t ggml_type_size(int type)'],
  ['base', 'int64_t ggml_blck_size(int type)'],
  ['base', 'const char* ggml_type_name(int type)'],
  ['base', 'const char* ggml_op_name(int op)'],
  ['base', 'const char* ggml_op_desc(void* t)'],
  ['base', 'bool ggml_is_contiguous(void* t)'],
  ['base', 'size_t ggml_row_size(int type, int64_t ne)'],
  // ggml.h: type traits and quantisation (ggmlToFloat / ggmlQuantizeRows below: every block type is decoded and encoded by ggml itself)
  ['base', 'const void* ggml_get_type_traits(int type)'],
  ['base', 'bool ggml_quantize_requires_imatrix(int type)'],
  ['base', 'size_t ggml_quantize_chunk(int type, const float* src, void* dst, int64_t start, int64_t nrows, int64_t n_per_row, const float* imatrix)'],
  // ggml.h: operations
  ['base', 'void* ggml_dup(void* ctx, void* a)'],
  ['base', 'void* ggml_add(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_add1(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_sub(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_mul(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_div(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_sqr(void* ctx, void* a)'],
  ['base', 'void* ggml_sqrt(void* ctx, void* a)'],
  ['base', 'void* ggml_log(void* ctx, void* a)'],
  ['base', 'void* ggml_sin(void* ctx, void* a)'],
  ['base', 'void* ggml_cos(void* ctx, void* a)'],
  ['base', 'void* ggml_sum(void* ctx, void* a)'],
  ['base', 'void* ggml_sum_rows(void* ctx, void* a)'],
  ['base', 'void* ggml_mean(void* ctx, void* a)'],
  ['base', 'void* ggml_argmax(void* ctx, void* a)'],
  ['base', 'void* ggml_repeat(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_repeat_back(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_concat(void* ctx, void* a, void* b, int dim)'],
  ['base', 'void* ggml_abs(void* ctx, void* a)'],
  ['base', 'void* ggml_sgn(void* ctx, void* a)'],
  ['base', 'void* ggml_neg(void* ctx, void* a)'],
  ['base', 'void* ggml_step(void* ctx, void* a)'],
  ['base', 'void* ggml_tanh(void* ctx, void* a)'],
  ['base', 'void* ggml_relu(void* ctx, void* a)'],
  ['base', 'void* ggml_sigmoid(void* ctx, void* a)'],
  ['base', 'void* ggml_gelu(void* ctx, void* a)'],
  ['base', 'void* ggml_silu(void* ctx, void* a)'],
  ['base', 'void* ggml_silu_back(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_exp(void* ctx, void* a)'],
  ['base', 'void* ggml_softplus(void* ctx, void* a)'],
  ['base', 'void* ggml_swiglu_split(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_norm(void* ctx, void* a, float eps)'],
  ['base', 'void* ggml_rms_norm(void* ctx, void* a, float eps)'],
  ['base', 'void* ggml_rms_norm_back(void* ctx, void* a, void* b, float eps)'],
  ['base', 'void* ggml_mul_mat(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_out_prod(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_custom_4d(void* ctx, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, void* args, int n_args, void* fun, int n_tasks, void* userdata)'],
  ['base', 'void* ggml_scale(void* ctx, void* a, float s)'],
  ['base', 'void* ggml_scale_bias(void* ctx, void* a, float s, float b)'],
  ['base', 'void* ggml_add_inplace(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_sub_inplace(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_mul_inplace(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_cpy(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_cast(void* ctx, void* a, int type)'],
  ['base', 'void* ggml_cont(void* ctx, void* a)'],
  ['base', 'void* ggml_reshape_1d(void* ctx, void* a, int64_t ne0)'],
  ['base', 'void* ggml_reshape_2d(void* ctx, void* a, int64_t ne0, int64_t ne1)'],
  ['base', 'void* ggml_reshape_3d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2)'],
  ['base', 'void* ggml_reshape_4d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)'],
  ['base', 'void* ggml_view_1d(void* ctx, void* a, int64_t ne0, size_t offset)'],
  ['base', 'void* ggml_view_2d(void* ctx, void* a, int64_t ne0, int64_t ne1, size_t nb1, size_t offset)'],
  ['base', 'void* ggml_view_3d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1, size_t nb2, size_t offset)'],
  ['base', 'void* ggml_view_4d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset)'],
  ['base', 'void* ggml_permute(void* ctx, void* a, int axis0, int axis1, int axis2, int axis3)'],
  ['base', 'void* ggml_transpose(void* ctx, void* a)'],
  ['base', 'void* ggml_get_rows(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_set_rows(void* ctx, void* a, void* b, void* c)'],
  ['base', 'void* ggml_get_rows_back(void* ctx, void* a, void* b, void* c)'],
  ['base', 'void* ggml_diag_mask_inf(void* ctx, void* a, int n_past)'],
  ['base', 'void* ggml_soft_max(void* ctx, void* a)'],
  ['base', 'void* ggml_soft_max_ext(void* ctx, void* a, void* mask, float scale, float max_bias)'],
  ['base', 'void* ggml_soft_max_ext_back(void* ctx, void* a, void* b, float scale, float max_bias)'],
  ['base', 'void* ggml_soft_max_ext_back_inplace(void* ctx, void* a, void* b, float scale, float max_bias)'],
  ['base', 'void* ggml_rope_ext(void* ctx, void* a, void* b, void* c, int n_dims, int mode, int n_ctx_orig, float freq_base, float freq_scale, float ext_factor, float attn_factor, float beta_fast, float beta_slow)'],
  ['base', 'void* ggml_rope_ext_back(void* ctx, void* a, void* b, void* c, int n_dims, int mode, int n_ctx_orig, float freq_base, float freq_scale, float ext_factor, float attn_factor, float beta_fast, float beta_slow)'],
  ['base', 'void* ggml_im2col(void* ctx, void* a, void* b, int s0, int s1, int p0, int p1, int d0, int d1, bool is_2D, int dst_type)'],
  ['base', 'void* ggml_conv_2d(void* ctx, void* a, void* b, int s0, int s1, int p0, int p1, int d0, int d1)'],
  ['base', 'void* ggml_pool_2d(void* ctx, void* a, int op, int k0, int k1, int s0, int s1, float p0, float p1)'],
  ['base', 'void* ggml_pad(void* ctx, void* a, int p0, int p1, int p2, int p3)'],
  ['base', 'void* ggml_flash_attn_ext(void* ctx, void* q, void* k, void* v, void* mask, float scale, float max_bias, float logit_softcap)'],
  ['base', 'bool ggml_prec_set_acc(void* a, int prec)'],
  ['base', 'void* ggml_cross_entropy_loss(void* ctx, void* a, void* b)'],
  ['base', 'void* ggml_cross_entropy_loss_back(void* ctx, void* a, void* b, void* c)'],
  ['base', 'void* ggml_opt_step_adamw(void* ctx, void* a, void* grad, void* m, void* v, void* adamw_params)'],
  ['base', 'void* ggml_opt_step_sgd(void* ctx, void* a, void* grad, void* sgd_params)'],
  // ggml.h: graphs and automatic differentiation
  ['base', 'void* ggml_new_graph_custom(void* ctx, size_t size, bool grads)'],
  ['base', 'void* ggml_graph_dup(void* ctx, void* cgraph, bool force_grads)'],
  ['base', 'void ggml_build_forward_expand(void* cgraph, void* tensor)'],
  ['base', 'void ggml_build_backward_expand(void* ctx, void* cgraph, void* grad_accs)'],
  ['base', 'void* ggml_graph_get_grad(void* cgraph, void* node)'],
  ['base', 'void* ggml_graph_get_grad_acc(void* cgraph, void* node)'],
  ['base', 'void ggml_graph_reset(void* cgraph)'],
  ['base', 'int ggml_graph_n_nodes(void* cgraph)'],
  ['base', 'void* ggml_graph_node(void* cgraph, int i)'],
  ['base', 'int ggml_graph_size(void* cgraph)'],
  ['base', 'void ggml_graph_add_node(void* cgraph, void* tensor)'],
  // ggml-alloc.h
  ['base', 'void* ggml_backend_alloc_ctx_tensors(void* ctx, void* backend)'],
  ['base', 'void* ggml_gallocr_new(void* buft)'],
  ['base', 'void ggml_gallocr_free(void* galloc)'],
  ['base', 'bool ggml_gallocr_alloc_graph(void* galloc, void* cgraph)'],
  ['base', 'size_t ggml_gallocr_get_buffer_size(void* galloc, int buffer_id)'],
  ['base', 'void* ggml_backend_get_default_buffer_type(void* backend)'],
  // ggml-backend.h: buffer types (weights placed in the CPU's extra buffer types, as llama.cpp places them)
  ['base', 'const char* ggml_backend_buft_name(void* buft)'],
  ['base', 'void* ggml_backend_buft_alloc_buffer(void* buft, size_t size)'],
  ['base', 'size_t ggml_backend_buft_get_alignment(void* buft)'],
  ['base', 'size_t ggml_backend_buft_get_alloc_size(void* buft, void* tensor)'],
  ['base', 'bool ggml_backend_buft_is_host(void* buft)'],
  ['base', 'void* ggml_backend_buffer_get_base(void* buffer)'],
  ['base', 'void* ggml_backend_buffer_get_type(void* buffer)'],
  ['base', 'int ggml_backend_tensor_alloc(void* buffer, void* tensor, void* addr)'],
  ['base', 'void* ggml_backend_dev_buffer_type(void* device)'],
  ['base', 'bool ggml_backend_dev_supports_op(void* device, void* op)'],
  // ggml-backend.h: buffers, tensors, backends, devices
  ['base', 'void ggml_backend_buffer_free(void* buffer)'],
  ['base', 'size_t ggml_backend_buffer_get_size(void* buffer)'],
  ['base', 'void ggml_backend_buffer_clear(void* buffer, uint8_t value)'],
  ['base', 'bool ggml_backend_buffer_is_host(void* buffer)'],
  ['base', 'void ggml_backend_tensor_set(void* tensor, const void* data, size_t offset, size_t size)'],
  ['base', 'void ggml_backend_tensor_get(void* tensor, void* data, size_t offset, size_t size)'],
  ['base', 'void ggml_backend_tensor_memset(void* tensor, uint8_t value, size_t offset, size_t size)'],
  ['base', 'const char* ggml_backend_name(void* backend)'],
  ['base', 'void ggml_backend_free(void* backend)'],
  ['base', 'void ggml_backend_synchronize(void* backend)'],
  ['base', 'int ggml_backend_graph_compute(void* backend, void* cgraph)'],
  ['base', 'bool ggml_backend_supports_op(void* backend, void* op)'],
  ['base', 'void* ggml_backend_get_device(void* backend)'],
  ['base', 'const char* ggml_backend_dev_name(void* device)'],
  ['base', 'const char* ggml_backend_dev_description(void* device)'],
  ['base', 'void ggml_backend_dev_memory(void* device, _Out_ size_t* free, _Out_ size_t* total)'],
  ['base', 'int ggml_backend_dev_type(void* device)'],
  ['base', 'void* ggml_backend_dev_backend_reg(void* device)'],
  ['base', 'void* ggml_backend_dev_init(void* device, const char* params)'],
  ['base', 'const char* ggml_backend_reg_name(void* reg)'],
  ['base', 'void* ggml_backend_reg_get_proc_address(void* reg, const char* name)'],
  // ggml-backend.h: the registry lives in libggml
  ['ggml', 'void ggml_backend_load_all_from_path(const char* dir_path)'],
  ['ggml', 'size_t ggml_backend_dev_count()'],
  ['ggml', 'void* ggml_backend_dev_get(size_t index)'],
  ['ggml', 'size_t ggml_backend_reg_count()'],
  ['ggml', 'void* ggml_backend_reg_get(size_t index)'],
  // gguf.h
  ['base', 'void* gguf_init_from_file(const char* fname, gguf_init_params params)'],
  ['base', 'void gguf_free(void* ctx)'],
  ['base', 'int64_t gguf_get_n_tensors(void* ctx)'],
];

koffi.struct('gguf_init_params', { no_alloc: 'bool', ctx: 'void*' });

const LogCallbackProto = koffi.proto('void ggml_log_callback(int level, const char* text, void* user_data)');

/** ggml_log_level: 1 debug, 2 info, 3 warn, 4 error (5, continuation, is joined to its line). */
export interface GgmlLogLine {
  level: number;
  text: string;
}

/**
 * Run `fn` (synchronous, on the main thread) with ggml's log captured line by line instead of
 * printed. The backend registry says there which module it loaded ("load_backend: loaded CPU
 * backend from .../libggml-cpu-zen4.so") and a GPU backend why it found no device
 * ("ggml_cuda_init: failed to initialize CUDA: ..."); the engine keeps these for `doctor`. ggml's
 * default logger is restored afterwards, since a JS callback must not be called from ggml's
 * worker threads.
 */
export function captureGgmlLog<T>(lib: LoadedGgml, fn: () => T): { result: T; log: GgmlLogLine[] } {
  const log: GgmlLogLine[] = [];
  let open: GgmlLogLine | null = null;
  const cb = koffi.register((level: number, text: string) => {
    if (level === 5 && open) open.text += text;
    else {
      open = { level, text };
      log.push(open);
    }
    if (open.text.endsWith('\n')) {
      open.text = open.text.slice(0, -1);
      open = null;
    }
  }, koffi.pointer(LogCallbackProto));
  lib.fn.ggml_log_set!(cb, null);
  try {
    return { result: fn(), log };
  } finally {
    lib.fn.ggml_log_set!(null, null);
    koffi.unregister(cb);
  }
}

/**
 * dlopen `file` (LoadLibrary on Windows) to learn whether it can load: null when it does (it then
 * stays loaded, as ggml will load it too), else the system loader's message, e.g.
 * "libcudart.so.13: cannot open shared object file: No such file or directory". ggml's own loader
 * does not report this message in release builds.
 */
export function probeLibrary(file: string): string | null {
  try {
    keptLibraries.push(koffi.load(file));
    return null;
  } catch (e) {
    return String((e as Error).message ?? e).replace(/^Failed to load shared library:\s*/i, '').trim();
  }
}

/** A prototype for the CPU backend's thread setter, reached through the registry's proc address. */
const SetNThreadsProto = koffi.proto('void ggml_backend_set_n_threads_t(void* backend, int n_threads)');

export interface LoadedGgml {
  /** Every declared C function by its C name. */
  fn: Record<string, (...args: any[]) => any>;
  /** The bins directory the libraries came from. */
  dir: string;
  version: string;
  commit: string;
}

/** Load one of ggml's libraries, naming the file when the system loader refuses it. */
function loadLibraryFile(file: string): ReturnType<typeof koffi.load> {
  try {
    return koffi.load(file);
  } catch (e) {
    throw new Error(`cannot load ${file}: ${String((e as Error).message).replace(/^Failed to load shared library:\s*/i, '')}`);
  }
}

/**
 * Load libggml-base and libggml from `dir` and bind every declared symbol. The files are named as
 * node-llama-cpp names them on `platform` (loader.ts ggmlLibraryFiles: libggml-base.so +
 * libggml.v0.5.0.so, libggml-base.dylib + libggml.metal.v0.5.0.dylib, ggml-base.dll +
 * ggml.cuda.v0.5.0.dll); libggml-base is loaded first, so that libggml and the backend modules
 * bind to this copy. Throws one Error naming all missing symbols and the expected node-llama-cpp
 * version when the ABI does not match.
 */
export function loadGgmlLibraries(dir: string, platform: string = process.platform): LoadedGgml {
  const files = ggmlLibraryFiles(fs.readdirSync(dir), platform);
  if (!files) {
    const n = libraryNaming(platform);
    throw new Error(
      `cannot find ggml's libraries (${n.prefixes[0]}ggml-base${n.sharedExt} and ${n.prefixes[0]}ggml*${n.sharedExt}) in ${dir} ` +
        `(found: ${fs.readdirSync(dir).join(', ')})`,
    );
  }
  const libs: Record<LibName, ReturnType<typeof koffi.load>> = {
    base: loadLibraryFile(path.join(dir, files.base)),
    ggml: loadLibraryFile(path.join(dir, files.ggml)),
  };
  const fn: Record<string, (...args: any[]) => any> = {};
  const missing: string[] = [];
  for (const [lib, proto] of DECLS) {
    const name = /([A-Za-z_0-9]+)\s*\(/.exec(proto)![1]!;
    try {
      fn[name] = libs[lib].func(proto) as (...args: any[]) => any;
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `the ggml libraries in ${dir} lack ${missing.length} symbol(s) unlearnkit needs: ${missing.join(', ')}. ` +
        `unlearnkit is built against node-llama-cpp ${EXPECTED_NODE_LLAMA_CPP} (ggml ${EXPECTED_GGML_VERSION}); ` +
        `reinstall with 'npm ci' so that exactly that version is used.`,
    );
  }
  const overhead = Number(fn.ggml_tensor_overhead!());
  const expected = koffi.sizeof(TensorStruct) + GGML_OBJECT_SIZE;
  if (overhead !== expected) {
    throw new Error(
      `ggml ABI mismatch in ${dir}: ggml_tensor_overhead() is ${overhead}, expected ${expected} for ggml ${EXPECTED_GGML_VERSION} ` +
        `(node-llama-cpp ${EXPECTED_NODE_LLAMA_CPP}). Reinstall with 'npm ci'.`,
    );
  }
  const traitsProblem = checkTypeTraitsLayout(fn);
  if (traitsProblem) {
    throw new Error(
      `ggml ABI mismatch in ${dir}: ${traitsProblem} (struct ggml_type_traits of ggml ${EXPECTED_GGML_VERSION}, ` +
        `node-llama-cpp ${EXPECTED_NODE_LLAMA_CPP}). Reinstall with 'npm ci'.`,
    );
  }
  return { fn, dir, version: String(fn.ggml_version!()), commit: String(fn.ggml_commit!()) };
}

/**
 * struct ggml_type_traits, as in ggml.h of the pinned build: the name, block geometry and the
 * reference row codecs of each tensor type (to_float: dequantise a row; from_float_ref: the
 * reference quantiser that ggml_quantize_chunk calls for types without an importance matrix).
 */
const TypeTraitsStruct = koffi.struct('ggml_type_traits', {
  type_name: 'const char*',
  blck_size: 'int64_t',
  blck_size_interleave: 'int64_t',
  type_size: 'size_t',
  is_quantized: 'bool',
  to_float: 'void*',
  from_float_ref: 'void*',
});

/** One type's ggml_type_traits (ggml_get_type_traits). */
export interface GgmlTypeTraits {
  /** ggml's lower-case name, e.g. "q4_K". */
  name: string;
  blockSize: number;
  blockSizeInterleave: number;
  /** Bytes per block. */
  typeSize: number;
  isQuantized: boolean;
  /** ggml_to_float_t of the type, null where ggml has none. */
  toFloat: Ptr | null;
  fromFloatRef: Ptr | null;
}

/** GGML_TYPE_COUNT of the pinned build: ggml_get_type_traits reads past its table for larger numbers. */
export const GGML_TYPE_COUNT = 43;

/** Decode ggml_get_type_traits(type); null for a type number ggml does not know or has removed. */
export function readTypeTraits(fn: LoadedGgml['fn'], type: number): GgmlTypeTraits | null {
  if (!Number.isInteger(type) || type < 0 || type >= GGML_TYPE_COUNT) return null;
  const p = asPtr(fn.ggml_get_type_traits!(type));
  if (p === null) return null;
  const s = koffi.decode(p, TypeTraitsStruct) as any;
  if (s.type_name === null || s.type_name === undefined || Number(s.blck_size) === 0) return null;
  return {
    name: String(s.type_name),
    blockSize: Number(s.blck_size),
    blockSizeInterleave: Number(s.blck_size_interleave),
    typeSize: Number(s.type_size),
    isQuantized: !!s.is_quantized,
    toFloat: asPtr(s.to_float),
    fromFloatRef: asPtr(s.from_float_ref),
  };
}

/** The load-time check of struct ggml_type_traits' layout: known facts of f32 and q8_0; null when they hold. */
function checkTypeTraitsLayout(fn: LoadedGgml['fn']): string | null {
  const f32 = readTypeTraits(fn, 0);
  const q8 = readTypeTraits(fn, 8);
  const ok =
    f32 !== null && f32.name === 'f32' && f32.blockSize === 1 && f32.typeSize === 4 && !f32.isQuantized &&
    q8 !== null && q8.name === 'q8_0' && q8.blockSize === 32 && q8.typeSize === 34 && q8.isQuantized && q8.toFloat !== null;
  return ok ? null : `ggml_get_type_traits gave ${JSON.stringify({ f32, q8_0: q8 }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`;
}

const ToFloatProto = koffi.proto('void ggml_to_float_t(const void* x, float* y, int64_t k)');

/** Run a type's to_float row codec on `k` values (k a multiple of the block size). */
function callToFloat(toFloat: Ptr, src: Uint8Array, dst: Float32Array, k: number): void {
  koffi.call(toFloat, ToFloatProto, src, dst, k);
}

/**
 * Dequantise `n` values stored as ggml type `type` with ggml's own row codec (type_traits.to_float):
 * the values every ggml kernel and llama.cpp's quantiser see. Throws for a type without one.
 */
export function ggmlToFloat(fn: LoadedGgml['fn'], type: number, bytes: Uint8Array, n: number): Float32Array {
  const tr = readTypeTraits(fn, type);
  if (!tr || !tr.toFloat) throw new Error(`ggml has no to_float for type ${tr?.name ?? type}`);
  if (n % tr.blockSize !== 0) throw new Error(`${tr.name}: ${n} values are not whole blocks of ${tr.blockSize}`);
  const need = (n / tr.blockSize) * tr.typeSize;
  if (bytes.byteLength < need) throw new Error(`${tr.name}: ${n} values need ${need} bytes, got ${bytes.byteLength}`);
  const out = new Float32Array(n);
  if (n > 0) callToFloat(tr.toFloat, bytes, out, n);
  return out;
}

/**
 * Quantise `nrows` rows of `nPerRow` float32 values to ggml type `type` with ggml_quantize_chunk
 * (the function llama.cpp's quantiser calls), optionally with an importance matrix of nPerRow
 * weights. Throws (instead of ggml aborting) for a type that needs an importance matrix and got
 * none, or whose rows are not whole blocks.
 */
export function ggmlQuantizeRows(fn: LoadedGgml['fn'], type: number, src: Float32Array, nrows: number, nPerRow: number, imatrix?: Float32Array): Uint8Array {
  const tr = readTypeTraits(fn, type);
  if (!tr) throw new Error(`ggml type ${type} is unknown`);
  if (nPerRow % tr.blockSize !== 0) throw new Error(`${tr.name}: rows of ${nPerRow} values are not whole blocks of ${tr.blockSize}`);
  if (src.length !== nrows * nPerRow) throw new Error(`${tr.name}: ${nrows} rows of ${nPerRow} need ${nrows * nPerRow} values, got ${src.length}`);
  if (!imatrix && fn.ggml_quantize_requires_imatrix!(type)) throw new Error(`${tr.name} needs an importance matrix to quantise`);
  if (imatrix && imatrix.length !== nPerRow) throw new Error(`${tr.name}: the importance matrix has ${imatrix.length} values, rows ${nPerRow}`);
  const rowSize = Number(fn.ggml_row_size!(type, nPerRow));
  const out = new Uint8Array(rowSize * nrows);
  if (nrows === 0) return out;
  const written = Number(fn.ggml_quantize_chunk!(type, src, out, 0, nrows, nPerRow, imatrix ?? null));
  if (written !== out.byteLength) throw new Error(`ggml_quantize_chunk(${tr.name}) wrote ${written} bytes, expected ${out.byteLength}`);
  return out;
}

/**
 * Run `fn` (synchronous, on the main thread) with ggml's debug and info lines dropped (warnings and
 * errors still go to stderr), then reinstall whichever logger was there before: the engine's
 * default or the one node-llama-cpp installed in the same process (which resetting to ggml's
 * default would clobber). For per-call noise such as the AMX / CPU_REPACK weight conversions.
 */
export function withGgmlDebugMuted<T>(lib: LoadedGgml, fn: () => T): T {
  const prev: unknown[] = [null];
  const prevData: unknown[] = [null];
  lib.fn.ggml_log_get!(prev, prevData);
  const cb = koffi.register((level: number, text: string) => {
    if (level === 3 || level === 4) process.stderr.write(`ggml: ${text}`);
  }, koffi.pointer(LogCallbackProto));
  lib.fn.ggml_log_set!(cb, null);
  try {
    return fn();
  } finally {
    lib.fn.ggml_log_set!(prev[0] ?? null, prevData[0] ?? null);
    koffi.unregister(cb);
  }
}

const GetExtraBuftsProto = koffi.proto('void* ggml_backend_dev_get_extra_bufts_t(void* device)');

/**
 * The extra buffer types of a device (AMX, CPU_REPACK, ... on the CPU), in the order its
 * `ggml_backend_dev_get_extra_bufts` proc returns them (the NULL-terminated array llama.cpp walks
 * in make_cpu_buft_list); empty when the registry exports no such proc.
 */
export function deviceExtraBufferTypes(fn: LoadedGgml['fn'], reg: Ptr, device: Ptr): Ptr[] {
  const proc = asPtr(fn.ggml_backend_reg_get_proc_address!(reg, 'ggml_backend_dev_get_extra_bufts'));
  if (proc === null) return [];
  const arr = asPtr(koffi.call(proc, GetExtraBuftsProto, device));
  const out: Ptr[] = [];
  if (arr === null) return out;
  for (let i = 0; i < 64; i++) {
    const b = asPtr(koffi.decode(arr, 8 * i, 'void*'));
    if (b === null) break;
    out.push(b);
  }
  return out;
}

/** Write a tensor's `buffer` field (llama.cpp's weight_buft_supported sets a dummy buffer this way). */
export function setTensorBuffer(t: Ptr, buffer: Ptr | null): void {
  koffi.encode(t, koffi.offsetof(TensorStruct, 'buffer'), 'void*', buffer);
}

/** Forget where a tensor was allocated (`buffer` and `data` NULL), so that ggml's graph allocator places it again. */
export function clearTensorAllocation(t: Ptr): void {
  koffi.encode(t, koffi.offsetof(TensorStruct, 'buffer'), 'void*', null);
  koffi.encode(t, koffi.offsetof(TensorStruct, 'data'), 'void*', null);
}

/** Point source slot `slot` of graph node `node` at tensor `src` (e.g. a weight's copy in another buffer). */
export function setTensorSrc(node: Ptr, slot: number, src: Ptr): void {
  koffi.encode(node, koffi.offsetof(TensorStruct, 'src') + 8 * slot, 'void*', src);
}

/** Fields of struct ggml_tensor that the engine reads (shape checks, graph inspection). */
export interface TensorHeader {
  type: number;
  ne: [number, number, number, number];
  nb: [number, number, number, number];
  op: number;
  opParams: number[];
  flags: number;
  /** Source slots 0..9, null where empty. */
  src: Array<Ptr | null>;
  viewSrc: Ptr | null;
  name: string;
  buffer: Ptr | null;
}

const asPtr = (p: unknown): Ptr | null => (p === null || p === 0n || p === undefined ? null : (p as Ptr));

/** Decode the header of a tensor (a copy; cheap enough for validation and graph walks). */
export function readTensorHeader(t: Ptr): TensorHeader {
  const s = koffi.decode(t, TensorStruct) as any;
  return {
    type: s.type,
    ne: Array.from(s.ne as ArrayLike<bigint | number>, Number) as TensorHeader["ne"],
    nb: Array.from(s.nb as ArrayLike<bigint | number>, Number) as TensorHeader["nb"],
    op: s.op,
    opParams: Array.from(s.op_params as ArrayLike<number>),
    flags: s.flags,
    src: (s.src as unknown[]).map(asPtr),
    viewSrc: asPtr(s.view_src),
    name: s.name,
    buffer: asPtr(s.buffer),
  };
}

const ThreadpoolNewProto = koffi.proto('void* ggml_threadpool_new_t(void* params)');
const SetThreadpoolProto = koffi.proto('void ggml_backend_cpu_set_threadpool_t(void* backend, void* threadpool)');
/** sizeof(struct ggml_threadpool_params) is 528 in the pinned build; offset of `poll` (after cpumask[512], n_threads, prio). */
const THREADPOOL_PARAMS_BYTES = 1024;
const THREADPOOL_POLL_OFFSET = 512 + 4 + 4;

/**
 * Create a persistent CPU threadpool with `nThreads` workers and the given polling level (0 = workers
 * sleep between graph nodes instead of spinning) and attach it to a CPU backend, through the
 * function pointers the CPU registry exports. Returns the threadpool pointer, or null when the
 * registry does not export them.
 */
export function attachCpuThreadpool(lib: LoadedGgml, reg: Ptr, backend: Ptr, nThreads: number, poll: number): Ptr | null {
  const newFn = ptrOrNull(lib.fn.ggml_backend_reg_get_proc_address!(reg, 'ggml_threadpool_new'));
  const setFn = ptrOrNull(lib.fn.ggml_backend_reg_get_proc_address!(reg, 'ggml_backend_cpu_set_threadpool'));
  if (newFn === null || setFn === null) return null;
  const params = Buffer.alloc(THREADPOOL_PARAMS_BYTES);
  lib.fn.ggml_threadpool_params_init!(params, nThreads);
  params.writeUInt32LE(poll, THREADPOOL_POLL_OFFSET);
  const tp = ptrOrNull(koffi.call(newFn, ThreadpoolNewProto, params));
  if (tp === null) return null;
  koffi.call(setFn, SetThreadpoolProto, backend, tp);
  return tp;
}

/** Call the CPU backend's ggml_backend_set_n_threads through the function pointer the registry returns. */
export function callSetNThreads(fnPtr: Ptr, backend: Ptr, nThreads: number): void {
  koffi.call(fnPtr, SetNThreadsProto, backend, nThreads);
}

/** Libraries that must stay loaded for the life of the process (their code is called from ggml). */
const keptLibraries: unknown[] = [];

/** unlearnkit's own kernel library (native/matmul.c), as loaded by native.ts. */
export interface LoadedNativeKernels {
  /** Address of `uk_matmul_op`, a ggml_custom_op_t with ggml_mul_mat's semantics. */
  matmulOp: Ptr;
  /**
   * Address of `uk_wtmatmul_op`: dst = W^T b for a 2-D weight W stored in any type whose row decoder
   * was registered (block-quantised, f16, bf16), b f32 (see native/matmul.c).
   */
  wtMatmulOp: Ptr;
  /** Address of `uk_wmatmul_op`: dst = W x (mul_mat's semantics) for such a weight, on its decoded values in f32. */
  wMatmulOp: Ptr;
  /** Register a ggml type's to_float row decoder, block size and block bytes with the kernel library. */
  registerType(type: number, toFloat: Ptr, blockSize: number, typeSize: number): boolean;
  /** Whether a type's decoder is registered. */
  typeRegistered(type: number): boolean;
  /** What the compiler built (tile size and instruction set). */
  info: string;
}

/**
 * Load the kernel library at `file` and check that its mirror of struct ggml_tensor has the layout
 * koffi's declaration (and so ggml) has; throws naming the mismatch.
 */
export function loadNativeKernelLibrary(file: string): LoadedNativeKernels {
  const lib = koffi.load(file);
  // koffi unloads a library whose handle is garbage-collected; ggml graphs keep calling into this one
  keptLibraries.push(lib);
  const size = Number(lib.func('size_t uk_abi_tensor_size()')());
  const data = Number(lib.func('size_t uk_abi_data_offset()')());
  const src = Number(lib.func('size_t uk_abi_src_offset()')());
  const want = { size: koffi.sizeof(TensorStruct), data: koffi.offsetof(TensorStruct, 'data'), src: koffi.offsetof(TensorStruct, 'src') };
  if (size !== want.size || data !== want.data || src !== want.src) {
    throw new Error(
      `native kernels in ${file} were built for another struct ggml_tensor layout ` +
        `(size ${size}, data at ${data}, src at ${src}; ggml ${EXPECTED_GGML_VERSION} has ${want.size}, ${want.data}, ${want.src})`,
    );
  }
  const matmulOp = asPtr(lib.func('void* uk_matmul_op_ptr()')());
  if (matmulOp === null) throw new Error(`native kernels in ${file}: uk_matmul_op_ptr() returned NULL`);
  const wtMatmulOp = asPtr(lib.func('void* uk_wtmatmul_op_ptr()')());
  if (wtMatmulOp === null) throw new Error(`native kernels in ${file}: uk_wtmatmul_op_ptr() returned NULL`);
  const wMatmulOp = asPtr(lib.func('void* uk_wmatmul_op_ptr()')());
  if (wMatmulOp === null) throw new Error(`native kernels in ${file}: uk_wmatmul_op_ptr() returned NULL`);
  const register = lib.func('int uk_register_type(int type, void* to_float, int64_t blck, size_t type_size)');
  const registered = lib.func('int uk_type_registered(int type)');
  return {
    matmulOp,
    wtMatmulOp,
    wMatmulOp,
    registerType: (type, toFloat, blockSize, typeSize) => Number(register(type, toFloat, blockSize, typeSize)) === 0,
    typeRegistered: (type) => Number(registered(type)) !== 0,
    info: String(lib.func('const char* uk_kernel_info()')()),
  };
}

/**
 * Turn graph node `t` into a GGML_OP_CUSTOM node running `fun` (a ggml_custom_op_t) on all threads
 * with `userdata`, keeping its sources, shape and buffer: writes the op field and the op_params
 * (struct ggml_custom_op_params { fun; int n_tasks; void *userdata }). Only for nodes whose
 * backward has been built already: ggml's autodiff cannot differentiate a CUSTOM node.
 */
export function rewriteAsCustomOp(t: Ptr, customOp: number, fun: Ptr, userdata: bigint): void {
  const params = koffi.offsetof(TensorStruct, 'op_params');
  koffi.encode(t, params, 'uint64_t', fun);
  koffi.encode(t, params + 8, 'int32_t', -1);
  koffi.encode(t, params + 12, 'int32_t', 0);
  koffi.encode(t, params + 16, 'uint64_t', userdata);
  koffi.encode(t, koffi.offsetof(TensorStruct, 'op'), 'int', customOp);
}

/** Pack tensor pointers into a C array (struct ggml_tensor **) for calls such as ggml_custom_4d. */
export function pointerArray(ptrs: Ptr[]): Buffer {
  const b = Buffer.alloc(8 * ptrs.length);
  ptrs.forEach((p, i) => b.writeBigUInt64LE(p, 8 * i));
  return b;
}

/** Normalise a pointer returned by koffi: null for NULL. */
export function ptrOrNull(p: unknown): Ptr | null {
  return asPtr(p);
}
