/**
 * Dense linear algebra in TypeScript (Float64Array, row-major) for turning weight changes into
 * low-rank factors: a symmetric eigensolver and a rank-revealing truncated SVD.
 *
 * Truncated SVD of M (rows x cols): with X = M or M^T so that X is p x q with p <= q, form the
 * Gram matrix G = X X^T (p x p); its eigenpairs (lambda_i, u_i) give X's singular values
 * s_i = sqrt(lambda_i), left vectors u_i and right vectors v_i = X^T u_i / s_i.
 *   - small p (or a wanted rank close to p): all eigenpairs by Householder tridiagonalisation +
 *     implicit QL (`tred2`/`tql2`, as in EISPACK / JAMA);
 *   - otherwise: subspace iteration with Rayleigh-Ritz on G (Golub & Van Loan, "Matrix
 *     Computations", 4th ed., sec. 8.2.4) for the top maxRank+1 pairs, iterated until the Ritz
 *     values settle.
 * The numerical rank is the number of s_i > relTol * s_1 (default relTol 1e-6). Forming G squares
 * the condition number, so singular values below ~1e-8 * s_1 are noise; the rank tolerance is far
 * above that. The reconstruction U S V^T equals U U^T X (a projection), so the error reported is
 * the distance from M to its projection on the kept singular subspace.
 */
import { Rng } from '../util/rng.ts';

/** Dot product of a[ao..ao+n) and b[bo..bo+n). */
function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[ao + i]! * b[bo + i]!;
    s1 += a[ao + i + 1]! * b[bo + i + 1]!;
    s2 += a[ao + i + 2]! * b[bo + i + 2]!;
    s3 += a[ao + i + 3]! * b[bo + i + 3]!;
  }
  for (; i < n; i++) s0 += a[ao + i]! * b[bo + i]!;
  return s0 + s1 + s2 + s3;
}

/** Copy a row-major rows x cols matrix to float64, transposed when `transpose`. */
function toFloat64(m: ArrayLike<number>, rows: number, cols: number, transpose = false): Float64Array {
  const out = new Float64Array(rows * cols);
  if (!transpose) {
    for (let i = 0; i < rows * cols; i++) out[i] = m[i]!;
  } else {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  }
  return out;
}

/** G = X X^T for X (p x q, row-major); symmetric p x p. Rows are processed four at a time. */
function gramRows(x: Float64Array, p: number, q: number): Float64Array {
  const g = new Float64Array(p * p);
  for (let i0 = 0; i0 < p; i0 += 4) {
    const nb = Math.min(4, p - i0);
    for (let j = 0; j < i0 + nb; j++) {
      const jo = j * q;
      if (nb === 4) {
        const a0 = i0 * q;
        const a1 = a0 + q;
        const a2 = a1 + q;
        const a3 = a2 + q;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = 0; k < q; k++) {
          const v = x[jo + k]!;
          s0 += x[a0 + k]! * v;
          s1 += x[a1 + k]! * v;
          s2 += x[a2 + k]! * v;
          s3 += x[a3 + k]! * v;
        }
        const s = [s0, s1, s2, s3];
        for (let t = 0; t < 4; t++) {
          const i = i0 + t;
          if (j <= i) {
            g[i * p + j] = s[t]!;
            g[j * p + i] = s[t]!;
          }
        }
      } else {
        for (let t = 0; t < nb; t++) {
          const i = i0 + t;
          if (j > i) continue;
          const s = dot(x, i * q, x, jo, q);
          g[i * p + j] = s;
          g[j * p + i] = s;
        }
      }
    }
  }
  return g;
}

/**
 * All eigenpairs of a symmetric n x n matrix (row-major): Householder reduction to tridiagonal
 * form and the implicit QL algorithm (EISPACK tred2/tql2, JAMA's port). Returns eigenvalues in
 * descending order and eigenvectors as rows of `vectors` (vectors[k*n + i] = i-th entry of the k-th).
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const V = Float64Array.from(a); // V[i*n+j]
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: V };
  // --- tred2 ---
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i]!;
    V[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
        for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;

  // --- tql2, rotating rows of W = V^T (contiguous) ---
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) W[i * n + k] = V[k * n + i]!;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error('symmetricEigen: QL iteration did not converge');
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const ri = i * n;
          const ri1 = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[ri1 + k]!;
            W[ri1 + k] = s * W[ri + k]! + c * hk;
            W[ri + k] = c * W[ri + k]! - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  // sort descending
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    vectors.set(W.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}

/** Orthonormalise the l columns (stored contiguously, column j at j*p) by two passes of modified Gram-Schmidt. */
function orthonormaliseColumns(q: Float64Array, p: number, l: number, rng: Rng): void {
  for (let j = 0; j < l; j++) {
    const jo = j * p;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const c = dot(q, i * p, q, jo, p);
        for (let k = 0; k < p; k++) q[jo + k] = q[jo + k]! - c * q[i * p + k]!;
      }
    }
    const nrm = Math.sqrt(dot(q, jo, q, jo, p));
    if (nrm < 1e-300) {
      // a lost direction (G has lower rank than l): restart it from noise
      for (let k = 0; k < p; k++) q[jo + k] = rng.normal();
      j--;
      continue;
    }
    for (let k = 0; k < p; k++) q[jo + k] = q[jo + k]! / nrm;
  }
}

/** Top eigenpairs of symmetric positive semi-definite G (p x p) by subspace iteration + Rayleigh-Ritz. */
function topEigenSubspace(
  g: Float64Array,
  p: number,
  want: number,
  opts: { oversample: number; maxIter: number; tol: number; seed: number },
): { values: Float64Array; vectors: Float64Array; iterations: number; converged: boolean } {
  const l = Math.min(p, want + opts.oversample);
  const rng = new Rng(opts.seed);
  let q: Float64Array = new Float64Array(p * l);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  orthonormaliseColumns(q, p, l, rng);
  const mulG = (src: Float64Array): Float64Array => {
    const z = new Float64Array(p * l);
    for (let j = 0; j < l; j++) for (let i = 0; i < p; i++) z[j * p + i] = dot(g, i * p, src, j * p, p);
    return z;
  };
  let z = mulG(q);
  let prev: Float64Array | null = null;
  let iterations = 0;
  for (;;) {
    iterations++;
    const h = new Float64Array(l * l);
    for (let a = 0; a < l; a++) for (let b = a; b < l; b++) h[a * l + b] = h[b * l + a] = dot(q, a * p, z, b * p, p);
    const { values: theta, vectors: w } = symmetricEigen(h, l);
    const top = theta[0]! > 0 ? theta[0]! : 1;
    let change = Infinity;
    if (prev) {
      change = 0;
      for (let k = 0; k < want; k++) change = Math.max(change, Math.abs(theta[k]! - prev[k]!) / top);
    }
    prev = theta;
    if (change <= opts.tol || iterations >= opts.maxIter) {
      // Ritz vectors: U = Q W^T (rows of w are eigenvectors of h)
      const vectors = new Float64Array(want * p);
      for (let k = 0; k < want; k++) {
        for (let a = 0; a < l; a++) {
          const c = w[k * l + a]!;
          if (c === 0) continue;
          for (let i = 0; i < p; i++) vectors[k * p + i] = vectors[k * p + i]! + c * q[a * p + i]!;
        }
      }
      return { values: theta.slice(0, want), vectors, iterations, converged: change <= opts.tol };
    }
    q = z;
    orthonormaliseColumns(q, p, l, rng);
    z = mulG(q);
  }
}

export interface TruncatedSvd {
  rows: number;
  cols: number;
  /** Number of singular triplets kept (k). */
  k: number;
  /** Left singular vectors, rows x k, row-major. */
  U: Float64Array;
  /** Singular values, descending. */
  S: Float64Array;
  /** Right singular vectors, cols x k, row-major. */
  V: Float64Array;
  /**
   * Numerical rank: singular values above relTol * largest. When truncated (exact false) with the
   * subspace method only maxRank+1 values are computed, so it is then a lower bound.
   */
  rank: number;
  /** True when rank <= maxRank, so the factorisation reproduces M up to rounding. */
  exact: boolean;
  /** ||M - U S V^T||_F / ||M||_F (0 for a zero matrix). */
  relError: number;
  /** Singular values computed beyond k (for inspection), descending. */
  tail: Float64Array;
  method: 'eig' | 'subspace';
}

export interface TruncatedSvdOptions {
  /** Largest rank to keep (default: min(rows, cols)). */
  maxRank?: number;
  /** Singular values <= relTol * s_1 count as zero (default 1e-6). */
  relTol?: number;
  /** 'eig' (all eigenpairs of the Gram matrix), 'subspace' (top ones), or 'auto' (default). */
  method?: 'auto' | 'eig' | 'subspace';
  /**
   * Subspace iteration: Ritz value tolerance relative to the largest (default 1e-10) and iteration
   * cap (default 500 for 'subspace'; for 'auto', about the cost of a full eigensolve, after which
   * it falls back to 'eig').
   */
  tol?: number;
  maxIter?: number;
  seed?: number;
}

/** Truncated, rank-revealing SVD of a row-major rows x cols matrix (see the file comment). */
export function truncatedSvd(m: ArrayLike<number>, rows: number, cols: number, opts: TruncatedSvdOptions = {}): TruncatedSvd {
  if (m.length !== rows * cols) throw new Error(`truncatedSvd: ${m.length} values for a ${rows} x ${cols} matrix`);
  const relTol = opts.relTol ?? 1e-6;
  const transpose = rows > cols;
  const p = Math.min(rows, cols);
  const qd = Math.max(rows, cols);
  const maxRank = Math.max(0, Math.min(opts.maxRank ?? p, p));
  const x = toFloat64(m, rows, cols, transpose); // p x q
  const g = gramRows(x, p, qd);
  const want = Math.min(p, maxRank + 1); // one more than kept, to see whether the rest vanishes
  let method: 'eig' | 'subspace' = opts.method === 'eig' || want >= p || (opts.method !== 'subspace' && p <= 256) ? 'eig' : 'subspace';
  let lambda: Float64Array | null = null;
  let uvec: Float64Array | null = null; // rows are eigenvectors, length p
  if (method === 'subspace') {
    // 'auto' gives subspace iteration about the cost of a full eigensolve, then falls back to it
    const l = Math.min(p, want + 10);
    const maxIter = opts.maxIter ?? (opts.method === 'subspace' ? 500 : Math.max(20, Math.ceil((2 * p) / l)));
    const r = topEigenSubspace(g, p, want, { oversample: 10, maxIter, tol: opts.tol ?? 1e-10, seed: opts.seed ?? 12345 });
    if (r.converged || opts.method === 'subspace') {
      lambda = r.values;
      uvec = r.vectors;
    } else {
      method = 'eig';
    }
  }
  if (!lambda || !uvec) {
    const r = symmetricEigen(g, p);
    lambda = r.values;
    uvec = r.vectors;
  }
  const s = Array.from(lambda, (v) => Math.sqrt(Math.max(v, 0)));
  const s1 = s[0] ?? 0;
  let rank = 0;
  while (rank < s.length && s1 > 0 && s[rank]! > relTol * s1) rank++;
  // only the top maxRank+1 may have been computed: all of them significant means rank > maxRank
  const exact = rank <= maxRank;
  const k = Math.min(rank, maxRank);
  // X = Uq S Vq^T with Uq (p x k) from the eigenvectors and Vq = X^T Uq / s (q x k)
  const uq = new Float64Array(p * k);
  for (let j = 0; j < k; j++) for (let i = 0; i < p; i++) uq[i * k + j] = uvec[j * p + i]!;
  const vq = new Float64Array(qd * k);
  const ui = new Float64Array(k);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < k; j++) ui[j] = uvec[j * p + i]! / s[j]!;
    const xo = i * qd;
    for (let c = 0; c < qd; c++) {
      const xv = x[xo + c]!;
      if (xv === 0) continue;
      const vo = c * k;
      for (let j = 0; j < k; j++) vq[vo + j] = vq[vo + j]! + xv * ui[j]!;
    }
  }
  const S = Float64Array.from(s.slice(0, k));
  const U = transpose ? vq : uq; // M = X^T when transposed
  const V = transpose ? uq : vq;
  const relError = reconstructionError(m, rows, cols, U, S, V, k);
  return { rows, cols, k, U, S, V, rank, exact, relError, tail: Float64Array.from(s.slice(k)), method };
}

/** ||M - U diag(S) V^T||_F / ||M||_F for row-major U (rows x k) and V (cols x k). */
export function reconstructionError(
  m: ArrayLike<number>,
  rows: number,
  cols: number,
  U: Float64Array,
  S: Float64Array,
  V: Float64Array,
  k: number,
): number {
  let num = 0;
  let den = 0;
  const us = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) us[j] = U[r * k + j]! * S[j]!;
    for (let c = 0; c < cols; c++) {
      const v = m[r * cols + c]!;
      const rec = dot(us, 0, V, c * k, k);
      num += (v - rec) * (v - rec);
      den += v * v;
    }
  }
  return den === 0 ? 0 : Math.sqrt(num / den);
}
