/*
 * unlearnkit native kernels: a packed, register-tiled f32 GEMM that runs as a ggml custom op.
 *
 * Why: ggml's f32 mul_mat on CPU (llamafile tinyBLAS, no packing) reaches ~55 GFLOP/s per core on
 * the Zen 4/5 machines we train on, where a packed GEMM (BLIS / OpenBLAS style) reaches 150+. Training
 * a small LLaMA spends ~80% of its step in matrix products, so the step is only as fast as this
 * kernel. The op has exactly ggml_mul_mat's semantics, so graphs can use either:
 *
 *   dst[m, n, i2, i3] = sum_k a[k, m, i2 / (ne2/ne_a2), i3 / (ne3/ne_a3)] * b[k, n, i2, i3]
 *
 * but a and b may be any strided views (transposes included): packing reads them through their
 * strides, so the backward pass needs no ggml_cont(ggml_transpose(...)) copies.
 *
 * Layout (row-major view): C (N rows x M cols, row n = dst column n, contiguous over m)
 *   = Bt (N x K, Bt[n][k] = b[k, n]) * At (K x M, At[k][m] = a[k, m]).
 * The micro-kernel holds an MR x NR tile of C in registers: NR = 2 vectors along m, MR rows of n,
 * fed by an At micro-panel (kc x NR, packed) and a Bt micro-panel (kc x MR, packed, broadcast).
 * Accumulation order along k is fixed, so results are deterministic for a given thread count
 * (and independent of it: threads split C, never k).
 *
 * Built by src/engine/native.ts with the machine's C compiler (-O3 -march=native); written with GCC
 * vector extensions so it compiles for AVX-512, AVX2 or anything else without intrinsics.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Mirror of struct ggml_tensor of the pinned ggml (checked from TypeScript via uk_abi_*). */
struct uk_tensor {
  int type;
  void *buffer;
  int64_t ne[4];
  size_t nb[4];
  int op;
  int32_t op_params[16];
  int32_t flags;
  struct uk_tensor *src[10];
  struct uk_tensor *view_src;
  size_t view_offs;
  void *data;
  char name[64];
  void *extra;
  char padding[8];
};

size_t uk_abi_tensor_size(void) { return sizeof(struct uk_tensor); }
size_t uk_abi_data_offset(void) { return offsetof(struct uk_tensor, data); }
size_t uk_abi_src_offset(void) { return offsetof(struct uk_tensor, src); }

#if defined(__AVX512F__)
#define VW 16 /* 32 zmm registers: 24 accumulators */
#define MR 12
#elif defined(__AVX2__)
#define VW 8 /* 16 ymm registers: 12 accumulators */
#define MR 6
#else
#define VW 4 /* SSE / NEON: 12 accumulators of 4 lanes */
#define MR 6
#endif
#define NR (2 * VW)
#define KC 256
#define MC 96 /* rows of C (n) per packed Bt block: multiple of MR */

typedef float vf __attribute__((vector_size(VW * 4), aligned(VW * 4)));
typedef float vfu __attribute__((vector_size(VW * 4), aligned(4)));

const char *uk_kernel_info(void) {
#if defined(__AVX512F__)
  return "f32 gemm 12x32 avx512";
#elif defined(__AVX2__)
  return "f32 gemm 6x16 avx2";
#else
  return "f32 gemm 6x8 generic";
#endif
}

/*
 * x in every lane, as one broadcast load from memory. Not (vf){0} + x: 0 + x is not x for x = -0,
 * so the compiler has to add, then broadcast from a register, a shuffle on the port that one of the
 * two FMA units sits on: the micro-kernel ran at ~40% of its peak that way.
 */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline __attribute__((always_inline)) vf splat(float x) { return (vf)_mm512_set1_ps(x); }
#elif defined(__AVX2__)
#include <immintrin.h>
static inline __attribute__((always_inline)) vf splat(float x) { return (vf)_mm256_set1_ps(x); }
#else
static inline __attribute__((always_inline)) vf splat(float x) { return (vf){x, x, x, x}; }
#endif

/* C[0..MR)[0..NR) (+)= Bp (kc x MR) * Ap (kc x NR). mr/nr < MR/NR: partial tile (edges). */
static void micro_kernel(int kc, const float *restrict bp, const float *restrict ap, float *restrict c,
                         int64_t ldc, int mr, int nr, int accumulate) {
  vf acc[MR][2];
  for (int i = 0; i < MR; i++) {
    acc[i][0] = (vf){0};
    acc[i][1] = (vf){0};
  }
  for (int k = 0; k < kc; k++) {
    const vf a0 = *(const vf *)(ap + (size_t)k * NR);
    const vf a1 = *(const vf *)(ap + (size_t)k * NR + VW);
    const float *bk = bp + (size_t)k * MR;
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const vf bi = splat(bk[i]);
      acc[i][0] += bi * a0;
      acc[i][1] += bi * a1;
    }
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      vfu *row = (vfu *)(c + (size_t)i * ldc);
      if (accumulate) {
        row[0] += acc[i][0];
        row[1] += acc[i][1];
      } else {
        row[0] = acc[i][0];
        row[1] = acc[i][1];
      }
    }
    return;
  }
  float tile[MR * NR] __attribute__((aligned(64)));
  for (int i = 0; i < MR; i++) {
    *(vf *)(tile + i * NR) = acc[i][0];
    *(vf *)(tile + i * NR + VW) = acc[i][1];
  }
  for (int i = 0; i < mr; i++) {
    float *row = c + (size_t)i * ldc;
    if (accumulate)
      for (int j = 0; j < nr; j++) row[j] += tile[i * NR + j];
    else
      for (int j = 0; j < nr; j++) row[j] = tile[i * NR + j];
  }
}

/* Per-thread packing buffers (ggml's thread pool keeps its threads, so these are reused). */
static __thread float *pack_a, *pack_b;
static __thread size_t pack_a_cap, pack_b_cap;

static float *grow(float **buf, size_t *cap, size_t n) {
  if (*cap < n) {
    free(*buf);
    *buf = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    *cap = *buf ? n : 0;
  }
  return *buf;
}

/*
 * Pack x-range [x0, x1) of a strided matrix over k-range [k0, k0+kc) into panels W wide: panel p
 * holds, for each k, W values (zeros past x1). Element (k, x) is at src[k * sk + x * sx]. Used for
 * At (x = m, W = NR) and Bt (x = n, W = MR); inlined, so W is a constant in each copy.
 */
static inline __attribute__((always_inline)) void pack_panels(const float *src, int64_t sk, int64_t sx, int64_t k0, int kc,
                                                               int64_t x0, int64_t x1, const int W, float *dst) {
  for (int64_t xp = x0; xp < x1; xp += W) {
    const int w = (int)(x1 - xp < W ? x1 - xp : W);
    if (sx == 1 && w == W) {
      for (int k = 0; k < kc; k++) memcpy(dst + (size_t)k * W, src + (k0 + k) * sk + xp, (size_t)W * 4);
    } else if (sk == 1) {
      /* contiguous along k (weights, activations): read each row's run of k at once */
      for (int j = 0; j < w; j++) {
        const float *run = src + (xp + j) * sx + k0;
        for (int k = 0; k < kc; k++) dst[(size_t)k * W + j] = run[k];
      }
      for (int j = w; j < W; j++)
        for (int k = 0; k < kc; k++) dst[(size_t)k * W + j] = 0.0f;
    } else {
      for (int k = 0; k < kc; k++) {
        float *d = dst + (size_t)k * W;
        for (int j = 0; j < w; j++) d[j] = src[(k0 + k) * sk + (xp + j) * sx];
        for (int j = w; j < W; j++) d[j] = 0.0f;
      }
    }
    dst += (size_t)kc * W;
  }
}

/*
 * C[n0..n1)[m0..m1) = Bt * At for one 2-D product.
 * a: At[k][m] = a[k*ask + m*asm]; b: Bt[n][k] = b[k*bsk + n*bsn]; c row n at c + n*ldc.
 * Blocking: per KC slice of k, a block of NCB rows of Bt and a block of MCB columns of At are
 * packed (NCB * KC and MCB * KC floats, 512 KiB each: both kept in L2); then for each MR-row panel
 * of the Bt block (12 KiB: kept in L1) the micro-kernel runs along every NR-wide panel of the At
 * block, so that consecutive tiles of C continue along its rows (the same few pages and cache lines)
 * instead of jumping a row stride each, and a large At (the 49152-row output projection of SmolLM2)
 * is no longer streamed from memory once per Bt block: that product ran ~25% faster than with all
 * of At packed per k slice and the tiles going down C's columns.
 */
#define NCB ((512 / MR) * MR)
#define MCB 512 /* a multiple of NR */
static void gemm_block(int64_t K, const float *a, int64_t ask, int64_t asm_, const float *b, int64_t bsk,
                       int64_t bsn, float *c, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  float *pa = grow(&pack_a, &pack_a_cap, (size_t)MCB * KC);
  float *pb = grow(&pack_b, &pack_b_cap, (size_t)NCB * KC);
  if (!pa || !pb) abort();
  if (K == 0) {
    for (int64_t n = n0; n < n1; n++) memset(c + n * ldc + m0, 0, (size_t)(m1 - m0) * 4);
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int kc = (int)(K - k0 < KC ? K - k0 : KC);
    for (int64_t nb = n0; nb < n1; nb += NCB) {
      const int64_t ne = nb + NCB < n1 ? nb + NCB : n1;
      pack_panels(b, bsk, bsn, k0, kc, nb, ne, MR, pb);
      for (int64_t mb = m0; mb < m1; mb += MCB) {
        const int64_t me = mb + MCB < m1 ? mb + MCB : m1;
        pack_panels(a, ask, asm_, k0, kc, mb, me, NR, pa);
        for (int64_t n = nb; n < ne; n += MR) {
          const int mr = (int)(ne - n < MR ? ne - n : MR);
          const float *bp = pb + (size_t)((n - nb) / MR) * MR * kc;
          for (int64_t m = mb; m < me; m += NR) {
            const int nr = (int)(me - m < NR ? me - m : NR);
            micro_kernel(kc, bp, pa + (size_t)((m - mb) / NR) * NR * kc, c + n * ldc + m, ldc, mr, nr, k0 > 0);
          }
        }
      }
    }
  }
}

/* Per-thread scratch for gemm_narrow's transposed result. */
static __thread float *narrow_c;
static __thread size_t narrow_c_cap;

/*
 * C[n0..n1)[0..M) for a C only a few columns wide (M <= NR / 2, e.g. a LoRA factor's rank r:
 * u = A x, dA): run as the transposed product C^T = At^T Bt^T, n along the vector lanes and m
 * along the broadcast rows, into scratch, then copy transposed into C. In C's own layout most of
 * every NR-wide tile would be padding (rank 16 used half of each 32-wide tile and ran at ~20
 * GFLOP/s).
 */
static void gemm_narrow(int64_t K, const float *a, int64_t ask, int64_t asm_, const float *b, int64_t bsk,
                        int64_t bsn, float *c, int64_t ldc, int64_t M, int64_t n0, int64_t n1) {
  const int64_t w = n1 - n0;
  float *t = grow(&narrow_c, &narrow_c_cap, (size_t)M * w);
  if (!t) abort();
  /* t[m][j] = sum_k b[k, n0 + j] a[k, m]: "At" is b (columns n), "Bt" is a (rows m) */
  gemm_block(K, b + n0 * bsn, bsk, bsn, a, ask, asm_, t, w, 0, w, 0, M);
  for (int64_t n = n0; n < n1; n++)
    for (int64_t m = 0; m < M; m++) c[n * ldc + m] = t[m * w + (n - n0)];
}

/*
 * The ggml custom op (ggml_custom_op_t) for thread ith of nth. userdata selects the semantics:
 *   NULL:        dst = mul_mat(src[0], src[1])   a [K, M], b [K, N] -> [M, N]
 *   (void *) 1:  dst = out_prod(src[0], src[1])  a [M, K], b [N, K] -> [M, N]
 *                (the same product with a and b read transposed; graph.ts rewrites ggml's
 *                OUT_PROD nodes, which its automatic backward makes for every matmul, into this)
 * Threads split the batch when there are at least as many 2-D products as threads, else the
 * larger of C's two dimensions (in whole tiles), so no two threads write the same element.
 */
void uk_matmul_op(struct uk_tensor *dst, int ith, int nth, void *userdata) {
  const int outer = userdata == (void *)1;
  const struct uk_tensor *A = dst->src[0], *B = dst->src[1];
  const int ka = outer ? 1 : 0, kb = outer ? 1 : 0; /* which dimension of a and b is K */
  const int64_t K = A->ne[ka], M = A->ne[1 - ka], N = B->ne[1 - kb];
  const int64_t ne2 = dst->ne[2], ne3 = dst->ne[3];
  const int64_t r2 = ne2 / A->ne[2], r3 = ne3 / A->ne[3];
  const int64_t ask = A->nb[ka] / 4, asm_ = A->nb[1 - ka] / 4, bsk = B->nb[kb] / 4, bsn = B->nb[1 - kb] / 4;
  const int64_t ldc = dst->nb[1] / 4;
  const int64_t batches = ne2 * ne3;
  const int split_batch = batches >= nth;
  for (int64_t bi = split_batch ? ith : 0; bi < batches; bi += split_batch ? nth : 1) {
    const int64_t i2 = bi % ne2, i3 = bi / ne2;
    const float *a = (const float *)((const char *)A->data + (i2 / r2) * A->nb[2] + (i3 / r3) * A->nb[3]);
    const float *b = (const float *)((const char *)B->data + i2 * B->nb[2] + i3 * B->nb[3]);
    float *c = (float *)((char *)dst->data + i2 * dst->nb[2] + i3 * dst->nb[3]);
    int64_t m0 = 0, m1 = M, n0 = 0, n1 = N;
    if (!split_batch && nth > 1) {
      if (N >= M) {
        const int64_t tiles = (N + MR - 1) / MR;
        n0 = tiles * ith / nth * MR;
        n1 = tiles * (ith + 1) / nth * MR;
        if (n1 > N) n1 = N;
      } else {
        const int64_t tiles = (M + NR - 1) / NR;
        m0 = tiles * ith / nth * NR;
        m1 = tiles * (ith + 1) / nth * NR;
        if (m1 > M) m1 = M;
      }
    }
    if (2 * M <= NR && n1 - n0 >= NR) gemm_narrow(K, a, ask, asm_, b, bsk, bsn, c, ldc, M, n0, n1);
    else gemm_block(K, a, ask, asm_, b, bsk, bsn, c, ldc, m0, m1, n0, n1);
  }
}

/*
 * Products with the transpose of a weight stored in another ggml type (block-quantised, f16, bf16):
 *
 *   dst[m, n, i2, i3] = sum_k W[k][m] * b(k, n, i2, i3)       W ne [M, K] (K rows of M values), 2-D
 *
 * i.e. dst = W^T b, what a backward pass needs for dX = W^T dY through a frozen weight y = W x
 * (ggml's mul_mat cannot take a transposed block-quantised operand; ggml's out_prod for block
 * types dequantises one row of W per (row, token) pair, N times the whole matrix). Here each
 * thread owns a range of m (whole blocks of the type), dequantises KC rows of W at a time over
 * its range with the type's own to_float (ggml's type traits, registered by uk_register_type)
 * into a scratch panel, packs it and runs the register-tiled micro-kernel: every weight is
 * dequantised once per product, and the products run at the f32 GEMM's speed.
 *   userdata NULL: b = src[1] in mul_mat layout [K, N] (b(k, n) = src1[k, n])
 *   userdata 1:    b = src[1] in out_prod layout [N, K] (b(k, n) = src1[n, k]; ggml's autodiff
 *                  writes dX as out_prod(W, transpose(dY)), which graph.ts rewrites into this op)
 * Threads split m, never k, so results do not depend on the thread count.
 */
typedef void (*uk_to_float_t)(const void *x, float *y, int64_t k);
#define UK_MAX_TYPES 64
static uk_to_float_t uk_to_float[UK_MAX_TYPES];
static int64_t uk_blck[UK_MAX_TYPES];
static size_t uk_tsize[UK_MAX_TYPES];

/* Register a ggml type's row decoder (type_traits.to_float), block size and block bytes; 0 on success. */
int uk_register_type(int type, void *to_float, int64_t blck, size_t type_size) {
  if (type < 0 || type >= UK_MAX_TYPES || !to_float || blck < 1 || type_size < 1) return -1;
  uk_to_float[type] = (uk_to_float_t)to_float;
  uk_blck[type] = blck;
  uk_tsize[type] = type_size;
  return 0;
}

/* Whether a type has a registered decoder (the op aborts on one without). */
int uk_type_registered(int type) { return type >= 0 && type < UK_MAX_TYPES && uk_to_float[type] != NULL; }

static __thread float *deq_buf;
static __thread size_t deq_cap;

/*
 * The inner loops the two weight ops share: C[n][m0..m1) (+)= sum over k0..k0+kc of the packed rows
 * of A (pa: mpan panels of NR rows x kc, from the decoded weight) times B's columns [0, N), packed MC
 * columns at a time into pb; accumulates into C when k0 > 0.
 */
static void gemm_packed_a(const float *b, int64_t bsk, int64_t bsn, int64_t k0, int kc, int64_t N, const float *pa,
                          int64_t m0, int64_t m1, int64_t mpan, float *pb, float *c, int64_t ldc) {
  for (int64_t nb = 0; nb < N; nb += MC) {
    const int64_t ne = nb + MC < N ? nb + MC : N;
    pack_panels(b, bsk, bsn, k0, kc, nb, ne, MR, pb);
    for (int64_t mp = 0; mp < mpan; mp++) {
      const int64_t m = m0 + mp * NR;
      const int nr = (int)(m1 - m < NR ? m1 - m : NR);
      const float *ap = pa + (size_t)mp * NR * kc;
      for (int64_t n = nb; n < ne; n += MR) {
        const int mr = (int)(ne - n < MR ? ne - n : MR);
        micro_kernel(kc, pb + (size_t)((n - nb) / MR) * MR * kc, ap, c + n * ldc + m, ldc, mr, nr, k0 > 0);
      }
    }
  }
}

void uk_wtmatmul_op(struct uk_tensor *dst, int ith, int nth, void *userdata) {
  const int outer = userdata == (void *)1;
  const struct uk_tensor *W = dst->src[0], *B = dst->src[1];
  const int type = W->type;
  if (type < 0 || type >= UK_MAX_TYPES || !uk_to_float[type]) abort();
  const uk_to_float_t to_float = uk_to_float[type];
  const int64_t blck = uk_blck[type];
  const size_t tsize = uk_tsize[type];
  const int64_t M = W->ne[0], K = W->ne[1], N = dst->ne[1];
  const int64_t bsk = (outer ? B->nb[1] : B->nb[0]) / 4, bsn = (outer ? B->nb[0] : B->nb[1]) / 4;
  const int64_t ldc = dst->nb[1] / 4;
  /* m is split in units of whole blocks (and whole tiles) */
  const int64_t unit = blck >= NR ? blck : ((NR + blck - 1) / blck) * blck;
  const int64_t units = (M + unit - 1) / unit;
  const int64_t u0 = units * ith / nth, u1 = units * (ith + 1) / nth;
  const int64_t m0 = u0 * unit, m1 = u1 * unit < M ? u1 * unit : M;
  if (m1 <= m0) return;
  const int64_t width = m1 - m0; /* whole blocks: m0 and M are multiples of blck */
  const int64_t mpan = (width + NR - 1) / NR;
  float *deq = grow(&deq_buf, &deq_cap, (size_t)KC * width);
  float *pa = grow(&pack_a, &pack_a_cap, (size_t)mpan * NR * KC);
  float *pb = grow(&pack_b, &pack_b_cap, (size_t)MC * KC);
  if (!deq || !pa || !pb) abort();
  const size_t off0 = (size_t)(m0 / blck) * tsize;
  for (int64_t i3 = 0; i3 < dst->ne[3]; i3++) {
    for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
      const float *b = (const float *)((const char *)B->data + i2 * B->nb[2] + i3 * B->nb[3]);
      float *c = (float *)((char *)dst->data + i2 * dst->nb[2] + i3 * dst->nb[3]);
      if (K == 0) {
        for (int64_t n = 0; n < N; n++) memset(c + n * ldc + m0, 0, (size_t)width * 4);
        continue;
      }
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int kc = (int)(K - k0 < KC ? K - k0 : KC);
        for (int k = 0; k < kc; k++) to_float((const char *)W->data + (k0 + k) * W->nb[1] + off0, deq + (size_t)k * width, width);
        pack_panels(deq, width, 1, 0, kc, 0, width, NR, pa);
        gemm_packed_a(b, bsk, bsn, k0, kc, N, pa, m0, m1, mpan, pb, c, ldc);
      }
    }
  }
}

void *uk_wtmatmul_op_ptr(void) { return (void *)uk_wtmatmul_op; }

/*
 * The forward product through a weight stored in another type, dst = W x (ggml_mul_mat(W, x)'s
 * semantics: W ne [K, M] (M rows of K values), x [K, N, ...] f32 -> dst [M, N, ...]) computed on the
 * decoded weights in f32: unlike ggml's mul_mat for block types, which rounds x to a quantised
 * activation type (q8_0 / q8_K) first, this is the smooth function of x and of the dequantised
 * weights that a training graph differentiates (its backward multiplies by W^T with uk_wtmatmul_op).
 * Each thread owns a range of rows m and decodes, KC columns at a time, only those rows' blocks.
 */
void uk_wmatmul_op(struct uk_tensor *dst, int ith, int nth, void *userdata) {
  (void)userdata;
  const struct uk_tensor *W = dst->src[0], *X = dst->src[1];
  const int type = W->type;
  if (type < 0 || type >= UK_MAX_TYPES || !uk_to_float[type]) abort();
  const uk_to_float_t to_float = uk_to_float[type];
  const int64_t blck = uk_blck[type];
  const size_t tsize = uk_tsize[type];
  const int64_t K = W->ne[0], M = W->ne[1], N = dst->ne[1];
  if (KC % blck != 0) abort();
  const int64_t bsk = X->nb[0] / 4, bsn = X->nb[1] / 4;
  const int64_t ldc = dst->nb[1] / 4;
  const int64_t tiles = (M + NR - 1) / NR;
  const int64_t m0 = tiles * ith / nth * NR, m1 = tiles * (ith + 1) / nth * NR < M ? tiles * (ith + 1) / nth * NR : M;
  if (m1 <= m0) return;
  const int64_t rows = m1 - m0;
  const int64_t mpan = (rows + NR - 1) / NR;
  float *deq = grow(&deq_buf, &deq_cap, (size_t)KC * rows);
  float *pa = grow(&pack_a, &pack_a_cap, (size_t)mpan * NR * KC);
  float *pb = grow(&pack_b, &pack_b_cap, (size_t)MC * KC);
  if (!deq || !pa || !pb) abort();
  for (int64_t i3 = 0; i3 < dst->ne[3]; i3++) {
    for (int64_t i2 = 0; i2 < dst->ne[2]; i2++) {
      const float *b = (const float *)((const char *)X->data + i2 * X->nb[2] + i3 * X->nb[3]);
      float *c = (float *)((char *)dst->data + i2 * dst->nb[2] + i3 * dst->nb[3]);
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int kc = (int)(K - k0 < KC ? K - k0 : KC); /* K is whole blocks, KC a multiple of the block */
        for (int64_t r = 0; r < rows; r++) to_float((const char *)W->data + (m0 + r) * W->nb[1] + (size_t)(k0 / blck) * tsize, deq + (size_t)r * kc, kc);
        pack_panels(deq, 1, kc, 0, kc, 0, rows, NR, pa);
        gemm_packed_a(b, bsk, bsn, k0, kc, N, pa, m0, m1, mpan, pb, c, ldc);
      }
    }
  }
}

void *uk_wmatmul_op_ptr(void) { return (void *)uk_wmatmul_op; }

/* The op's address, for ggml_custom_4d (koffi returns it as a plain pointer). */
void *uk_matmul_op_ptr(void) { return (void *)uk_matmul_op; }
