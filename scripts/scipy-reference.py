#!/usr/bin/python3
"""Prints the scipy reference values that test/stats/*.test.ts assert against.

Run with Debian's python (scipy 1.10.1 there):  /usr/bin/python3 scripts/scipy-reference.py
The printed numbers were pasted into the tests together with the calls that made them, so the
tests need no Python. Re-run this after changing a vector in a test and paste the new values.
"""
import json
import math

import numpy as np
import scipy
from scipy import stats
from scipy.stats import kstwo


def r(x):
    """repr with full precision (17 significant digits) for pasting into TypeScript."""
    return float(f"{float(x):.17g}")


def show(label, value):
    print(f"{label}: {json.dumps(value)}")


print("scipy", scipy.__version__, "numpy", np.__version__)

# ---------------------------------------------------------------- t-tests
A3 = [5.1, 4.9, 6.2]
B3 = [4.8, 5.0, 5.5]
A6 = [1.2, 3.4, 2.2, 2.2, 5.0, 4.1]
B6 = [1.0, 2.9, 2.5, 2.0, 4.0, 4.1]
X4 = [2.1, 3.3, 4.8, 5.0]
Y6 = [1.0, 1.9, 2.5, 2.4, 3.6, 1.1]
GEN_A = [round(2 * math.sin(1.7 * i) + 0.05 * i, 6) for i in range(25)]
GEN_B = [round(2 * math.cos(0.9 * i) + 0.3, 6) for i in range(31)]
show("GEN_A", GEN_A)
show("GEN_B", GEN_B)

for name, a, b in [("A3B3", A3, B3), ("A6B6", A6, B6), ("GEN_A/GEN_B[:25]", GEN_A, GEN_B[:25])]:
    res = stats.ttest_rel(a, b)
    ci = res.confidence_interval(0.95)
    show(f"ttest_rel({name})", [r(res.statistic), r(res.df), r(res.pvalue), r(ci.low), r(ci.high)])

for name, a, b in [("X4Y6", X4, Y6), ("A3B3", A3, B3), ("GEN_A/GEN_B", GEN_A, GEN_B)]:
    # scipy 1.10's ttest_ind has no .df nor .confidence_interval(): df (Welch-Satterthwaite) and the
    # interval diff -+ t.ppf(0.975, df) * se are formed here from numpy moments and scipy's t.ppf.
    a_, b_ = np.asarray(a), np.asarray(b)
    v1, v2 = a_.var(ddof=1) / len(a_), b_.var(ddof=1) / len(b_)
    diff = a_.mean() - b_.mean()
    res = stats.ttest_ind(a, b, equal_var=False)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (len(a_) - 1) + v2 ** 2 / (len(b_) - 1))
    se = math.sqrt(v1 + v2)
    q = stats.t.ppf(0.975, df)
    show(f"ttest_ind({name}, equal_var=False)", [r(res.statistic), r(df), r(res.pvalue), r(diff - q * se), r(diff + q * se)])
    res = stats.ttest_ind(a, b, equal_var=True)
    df = len(a_) + len(b_) - 2
    sp2 = ((len(a_) - 1) * a_.var(ddof=1) + (len(b_) - 1) * b_.var(ddof=1)) / df
    se = math.sqrt(sp2 * (1 / len(a_) + 1 / len(b_)))
    q = stats.t.ppf(0.975, df)
    show(f"ttest_ind({name}, equal_var=True)", [r(res.statistic), r(df), r(res.pvalue), r(diff - q * se), r(diff + q * se)])

for name, a, mu in [("A3", A3, 5.0), ("Y6", Y6, 0.0), ("GEN_B", GEN_B, 0.1)]:
    res = stats.ttest_1samp(a, mu)
    ci = res.confidence_interval(0.95)
    show(f"ttest_1samp({name}, {mu})", [r(res.statistic), r(res.df), r(res.pvalue), r(ci.low), r(ci.high)])
    ci90 = res.confidence_interval(0.90)
    show(f"ttest_1samp({name}, {mu}).confidence_interval(0.90)", [r(ci90.low), r(ci90.high)])

# t distribution and normal distribution spot values
show("t.cdf(-2.5, 3), t.ppf(0.975, 7.3), t.sf(8, 40)",
     [r(stats.t.cdf(-2.5, 3)), r(stats.t.ppf(0.975, 7.3)), r(stats.t.sf(8, 40))])
zs = [-38.0, -12.0, -5.5, -1.3, -0.2, 0.0, 0.4, 0.9, 1.7, 3.2, 8.0]
show("norm.cdf(zs)", [r(stats.norm.cdf(z)) for z in zs])
show("norm.sf(zs)", [r(stats.norm.sf(z)) for z in zs])
ps = [1e-300, 1e-20, 1e-8, 0.001, 0.02425, 0.1, 0.5, 0.7, 0.975, 0.999999]
show("norm.ppf(ps)", [r(stats.norm.ppf(p)) for p in ps])

# ---------------------------------------------------------------- descriptive
show("median/quantile GEN_A", [r(np.median(GEN_A)), r(np.quantile(GEN_A, 0.1)), r(np.quantile(GEN_A, 0.975)),
                              r(np.std(GEN_A, ddof=1)), r(np.mean(GEN_A))])

# ---------------------------------------------------------------- Mann-Whitney U
MW = {
    "exact3x5": ([1.1, 2.3, 3.9], [4.0, 4.4, 5.1, 5.5, 0.5]),
    "exact8x20": ([3.1, 4.5, 0.2, 7.7, 5.5, 6.1, 2.8, 9.4],
                  [round(0.37 * i + 0.011 * i * i, 4) for i in range(20)]),
    "ties5x6": ([1, 2, 2, 3, 5], [2, 3, 3, 4, 6, 7]),
    "asym12x15": (GEN_A[:12], GEN_B[:15]),
    "allLess4x4": ([1, 2, 3, 4], [5, 6, 7, 8]),
}
for name, (x, y) in MW.items():
    res = stats.mannwhitneyu(x, y)
    show(f"mannwhitneyu({name}) {x} {y}", [r(res.statistic), r(res.pvalue)])
    if name == "exact3x5":
        res = stats.mannwhitneyu(x, y, method="asymptotic")
        show(f"mannwhitneyu({name}, method='asymptotic')", [r(res.statistic), r(res.pvalue)])

# ---------------------------------------------------------------- KS 2-sample
KS = {
    "eq5": ([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]),
    "ties6x9": ([0.1, 0.5, 0.5, 1.2, 2.0, 3.3], [0.4, 0.5, 0.9, 1.0, 1.1, 2.5, 2.5, 4.0, 5.0]),
    "gen25x31": (GEN_A, GEN_B),
    "identical": ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    "disjoint7x3": ([1, 2, 3, 4, 5, 6, 7], [10, 11, 12]),
}
for name, (x, y) in KS.items():
    res = stats.ks_2samp(x, y)
    show(f"ks_2samp({name})", [r(res.statistic), r(res.pvalue), r(res.statistic_location), int(res.statistic_sign)])

# asymptotic branch (max(n1, n2) > 10000): data made by formulas the test repeats
BIG = [((i * 0.6180339887498949) % 1.0) for i in range(10001)]
SMALL30 = [((i * 0.7548776662466927) % 1.0) * 1.1 for i in range(30)]
SMALL500 = [((i * 0.7548776662466927) % 1.0) ** 1.15 for i in range(500)]
for name, y in [("BIG/SMALL30", SMALL30), ("BIG/SMALL500", SMALL500)]:
    res = stats.ks_2samp(BIG, y)
    show(f"ks_2samp({name})", [r(res.statistic), r(res.pvalue)])

# kstwo.sf(x, n): Kolmogorov distribution used by the asymptotic branch, every code path
KSTWO = [(5, 0.15), (5, 0.85), (20, 0.6), (20, 0.15), (20, 0.3), (20, 0.48), (100, 0.05), (100, 0.18),
         (1000, 0.02), (1000, 0.01), (1000, 0.05), (200000, 0.001), (300, 0.2), (2000000, 0.002),
         (150, 0.004), (476, 0.03), (30, 0.2)]
show("kstwo.sf", [[n, x, r(kstwo.sf(x, n))] for n, x in KSTWO])
show("kstwo.cdf", [[n, x, r(kstwo.cdf(x, n))] for n, x in KSTWO + [(150, 0.006)]])

# ---------------------------------------------------------------- correlation
C1 = ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0])
C2 = ([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0], [2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0])
C3 = (GEN_A[:20], GEN_B[:20])
for name, (x, y) in [("C1", C1), ("C2", C2), ("C3", C3)]:
    s = stats.spearmanr(x, y)
    p = stats.pearsonr(x, y)
    show(f"spearmanr({name}), pearsonr({name})", [r(s.correlation), r(s.pvalue), r(p.statistic), r(p.pvalue)])

# ---------------------------------------------------------------- rankdata, AUC as U / (n1 n2)
show("rankdata([3,1,4,1,5,9,2,6,5,3])", [r(v) for v in stats.rankdata([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])])
pos = [0.9, 0.8, 0.8, 0.55, 0.3]
neg = [0.8, 0.4, 0.3, 0.3, 0.1, 0.05]
res = stats.mannwhitneyu(pos, neg)
show("AUC = mannwhitneyu(pos, neg).statistic / 30", r(res.statistic / (len(pos) * len(neg))))

# ---------------------------------------------------------------- TOFU forget quality (test/eval/truthRatio.test.ts)
res = stats.ks_2samp([0.5, 0.7, 0.9, 1.1, 0.2, 0.3], [0.6, 0.65, 0.8, 1.3, 1.5, 1.7, 2.0])
show("forget quality ks_2samp", [r(res.statistic), r(res.pvalue)])
