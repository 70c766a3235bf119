/**
 * Standard normal distribution: erfc, CDF, survival function and quantile, accurate to a few
 * ulps in double precision including far tails (needed for small p-values of the asymptotic
 * Mann-Whitney test).
 *
 * erfc is a port of FreeBSD msun `s_erf.c` (Sun Microsystems fdlibm, 1993; "Permission to use,
 * copy, modify, and distribute this software is freely granted, provided that this notice is
 * preserved"), the same rational approximations the C library uses; error < 1 ulp.
 *   Phi(x) = erfc(-x / sqrt 2) / 2,   Q(x) = 1 - Phi(x) = erfc(x / sqrt 2) / 2.
 * The quantile starts from Acklam's rational approximation (relative error 1.15e-9) and applies
 * two Halley steps on Phi(x) - p, which brings it to double precision.
 */
import { UserError } from '../util/errors.ts';

const ERX = 8.45062911510467529297e-1;
// |x| < 0.84375
const PP = [1.28379167095512558561e-1, -3.25042107247001499370e-1, -2.84817495755985104766e-2,
  -5.77027029648944159157e-3, -2.37630166566501626084e-5];
const QQ = [1, 3.97917223959155352819e-1, 6.50222499887672944485e-2, 5.08130628187576562776e-3,
  1.32494738004321644526e-4, -3.96022827877536812320e-6];
// 0.84375 <= |x| < 1.25
const PA = [-2.36211856075265944077e-3, 4.14856118683748331666e-1, -3.72207876035701323847e-1,
  3.18346619901161753674e-1, -1.10894694282396677476e-1, 3.54783043256182359371e-2,
  -2.16637559486879084300e-3];
const QA = [1, 1.06420880400844228286e-1, 5.40397917702171048937e-1, 7.18286544141962662868e-2,
  1.26171219808761642112e-1, 1.36370839120290507362e-2, 1.19844998467991074170e-2];
// 1.25 <= |x| < 1/0.35
const RA = [-9.86494403484714822705e-3, -6.93858572707181764372e-1, -1.05586262253232909814e1,
  -6.23753324503260060396e1, -1.62396669462573470355e2, -1.84605092906711035994e2,
  -8.12874355063065934246e1, -9.81432934416914548592];
const SA = [1, 1.96512716674392571292e1, 1.37657754143519042600e2, 4.34565877475229228821e2,
  6.45387271733267880336e2, 4.29008140027567833386e2, 1.08635005541779435134e2,
  6.57024977031928170135, -6.04244152148580987438e-2];
// 1/0.35 <= |x| < 28
const RB = [-9.86494292470009928597e-3, -7.99283237680523006574e-1, -1.77579549177547519889e1,
  -1.60636384855821916062e2, -6.37566443368389627722e2, -1.02509513161107724954e3,
  -4.83519191608651397019e2];
const SB = [1, 3.03380607434824582924e1, 3.25792512996573918826e2, 1.53672958608443695994e3,
  3.19985821950859553908e3, 2.55305040643316442583e3, 4.74528541206955367215e2,
  -2.24409524465858183362e1];

function poly(c: readonly number[], x: number): number {
  let r = c[c.length - 1]!;
  for (let i = c.length - 2; i >= 0; i--) r = r * x + c[i]!;
  return r;
}

const view = new DataView(new ArrayBuffer(8));
/** x with the low 32 bits of its IEEE representation cleared (fdlibm SET_LOW_WORD(z, 0)). */
function clearLowWord(x: number): number {
  view.setFloat64(0, x);
  view.setUint32(4, 0);
  return view.getFloat64(0);
}

/** Complementary error function erfc(x) = 1 - erf(x) = (2 / sqrt(pi)) int_x^inf exp(-t^2) dt. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 0;
  if (x === -Infinity) return 2;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 1.3877787807814457e-17) return 1 - x;
    const z = x * x;
    const y = poly(PP, z) / poly(QQ, z);
    if (x < 0.25) return 1 - (x + x * y);
    return 0.5 - (x * y + (x - 0.5));
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const pq = poly(PA, s) / poly(QA, s);
    return x < 0 ? 1 + ERX + pq : 1 - ERX - pq;
  }
  if (ax < 28) {
    const s = 1 / (ax * ax);
    let rs: number;
    if (ax < 1 / 0.35) {
      rs = poly(RA, s) / poly(SA, s);
    } else {
      if (x < -6) return 2;
      rs = poly(RB, s) / poly(SB, s);
    }
    const z = clearLowWord(ax);
    const r = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + rs);
    return x < 0 ? 2 - r / ax : r / ax;
  }
  return x < 0 ? 2 : 0;
}

/** Error function erf(x) = 1 - erfc(x) (accurate for |x| >= 0.5; used only for completeness). */
export function erf(x: number): number {
  return 1 - erfc(x);
}

/** Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal survival function Q(x) = 1 - Phi(x) = erfc(x / sqrt 2) / 2 (accurate in the upper tail). */
export function normalSf(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

/** Standard normal density phi(x) = exp(-x^2 / 2) / sqrt(2 pi). */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
  -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
  -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
  4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/**
 * Standard normal quantile Phi^-1(p) for 0 < p < 1 (p = 0 and 1 give -/+Infinity).
 * Acklam's approximation, then Halley steps x <- x - u / (1 + x u / 2), u = (Phi(x) - p) / phi(x),
 * done on the lower tail (p <= 1/2) where Phi(x) is computed without cancellation.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new UserError(`normalQuantile: p must lie in [0, 1], got ${p}`);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p > 0.5) return -normalQuantile(1 - p); // 1 - p is exact for p in (0.5, 1]
  let x: number;
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((C[0]! * q + C[1]!) * q + C[2]!) * q + C[3]!) * q + C[4]!) * q + C[5]!) /
      ((((D[0]! * q + D[1]!) * q + D[2]!) * q + D[3]!) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    x = (((((A[0]! * r + A[1]!) * r + A[2]!) * r + A[3]!) * r + A[4]!) * r + A[5]!) * q /
      (((((B[0]! * r + B[1]!) * r + B[2]!) * r + B[3]!) * r + B[4]!) * r + 1);
  }
  for (let i = 0; i < 2; i++) {
    const pdf = normalPdf(x);
    if (pdf === 0) break;
    const u = (normalCdf(x) - p) / pdf;
    x = x - u / (1 + (x * u) / 2);
  }
  return x;
}
