"""L1-logistic regression to relative duality gap 1e-6: sparsefit vs scikit-learn
(liblinear), skglm and celer.

Problem (DESIGN.md): simulated correlated design 500x5000 (Toeplitz 0.5, AR(1) columns),
labels ``sign(X w + noise)`` with 50 true non-zeros (SNR 3); alpha_max/10 and
alpha_max/100. Objective: ``1/n sum log(1 + exp(-y_i x_i^T w)) + alpha ||w||_1`` with
**no intercept** for every solver (liblinear penalizes its intercept, celer cannot fit one).
Scalings: scikit-learn's and celer's ``C * sum(loss) + ||w||_1`` is the same problem with
``C = 1 / (alpha n)`` (celer's docstring: ``sum log(1 + e^{-y x^T w}) + 1/C ||w||_1``);
skglm's ``SparseLogisticRegression(alpha)`` is ours.

Same rule as the Lasso benchmark: each solver's tol tuned until ``sparsefit.solvers.dual_gap``
with the Logistic datafit (labels -1/+1) is <= 1e-6, then median of 3 timed fits, BLAS on 1
thread. Target: sparsefit <= 0.5x the fastest peer.

Usage::

    python benchmarks/bench_logistic.py            # writes results/logistic.md
    python benchmarks/bench_logistic.py --quick    # 200x1000 smoke run
"""

from __future__ import annotations

import argparse
import time

import _common as C
import numpy as np

TARGET_RATIO = 0.5

COMPILE_SNIPPET = r"""
import time, numpy as np
from sparsefit.linear_model import SparseLogisticRegression
rng = np.random.default_rng(0)
X = np.asfortranarray(rng.standard_normal((40, 60))); y = np.where(X[:, 0] > 0, 1, -1)
t0 = time.perf_counter()
SparseLogisticRegression(alpha=0.01, fit_intercept=False).fit(X, y)
print(time.perf_counter() - t0)
"""


def solvers(selected=None):
    from celer import LogisticRegression as CelerLogReg
    from skglm import SparseLogisticRegression as SkglmLogReg
    from sklearn.linear_model import LogisticRegression as SkLogReg

    from sparsefit.linear_model import SparseLogisticRegression as SfLogReg

    def sparsefit(X, y, alpha):
        def fit(tol):
            m = SfLogReg(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def liblinear(X, y, alpha):
        c = 1.0 / (alpha * X.shape[0])

        def fit(tol):
            # penalty="l1" is spelled l1_ratio=1 since scikit-learn 1.8
            m = SkLogReg(C=c, l1_ratio=1.0, solver="liblinear", fit_intercept=False, tol=tol,
                         max_iter=100_000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def skglm(X, y, alpha):
        def fit(tol):
            m = SkglmLogReg(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def celer(X, y, alpha):
        c = 1.0 / (alpha * X.shape[0])

        def fit(tol):
            m = CelerLogReg(C=c, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    all_ = [C.Solver("sparsefit", sparsefit, is_ours=True),
            C.Solver("scikit-learn liblinear", liblinear),
            C.Solver("skglm SparseLogisticRegression", skglm),
            C.Solver("celer LogisticRegression", celer)]
    return [s for s in all_ if not selected or any(k in s.name for k in selected)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200x1000 problem, < 1 minute")
    ap.add_argument("--solvers", nargs="*", default=None,
                    help="substrings of solver names to run (default: all)")
    ap.add_argument("--repeats", type=int, default=C.N_REPEATS)
    ap.add_argument("--no-compile-time", action="store_true",
                    help="skip the cold numba compile measurement")
    args = ap.parse_args(argv)

    threads = C.limit_threads(1)
    print(threads)
    load_before = C.machine_load()
    src_before = C.source_fingerprint()

    from sparsefit.datafits import Logistic
    from sparsefit.linear_model import SparseLogisticRegression
    from sparsefit.penalties import L1
    from sparsefit.solvers import alpha_max, dual_gap

    prob = C.logistic_problem(*((200, 1000) if args.quick else (500, 5000)),
                              k=20 if args.quick else 50)

    def amax_of(p):
        return alpha_max(p.X, p.y, Logistic(), L1(1.0))

    cold = None if (args.quick or args.no_compile_time) else C.numba_compile_time(COMPILE_SNIPPET)
    t0 = time.perf_counter()
    SparseLogisticRegression(alpha=amax_of(prob) / 10, fit_intercept=False).fit(prob.X, prob.y)
    warm = time.perf_counter() - t0

    def make_gap(p, alpha):
        pen, df = L1(alpha), Logistic()
        return lambda coef, b: dual_gap(p.X, p.y, np.ravel(coef), b, df, pen,
                                        fit_intercept=False)

    results = C.run_grid([prob], [10, 100], solvers(args.solvers), make_gap, amax_of,
                         repeats=args.repeats)
    C.finish_ratios(results, TARGET_RATIO)
    load_after = C.machine_load()
    src_after = C.source_fingerprint()

    ours = [r for r in results if r.is_ours]
    n_pass = sum(r.extra["status"].startswith("PASS") for r in ours)
    body = "\n".join([
        f"Command: `{C.command_line()}`", "",
        C.table(results), "",
        (f"**Target**: sparsefit <= {TARGET_RATIO}x the fastest peer (that reached the gap): "
        f"{n_pass}/{len(ours)} PASS."), "",
        "Method:",
        ("- Objective `1/n sum_i log(1 + exp(-y_i x_i^T w)) + alpha ||w||_1`, labels -1/+1, "
        "**fit_intercept=False for every solver** (liblinear would penalize its intercept; "
        "celer cannot fit one). scikit-learn (liblinear, `l1_ratio=1`) and celer take "
        "`C = 1/(alpha n)`; skglm's `alpha` is ours. `alpha_max = ||X^T y||_inf / (2n)`."),
        ("- Achieved rel. gap = `sparsefit.solvers.dual_gap` with the Logistic datafit "
        "(gap / P(0), P(0) = log 2) on each solver's output; each solver's own `tol` was "
        "divided by 10 from 1e-5 until that gap was <= 1e-6 (untimed), then the median of "
        f"{args.repeats} fits at that tol was timed. `(!)`: the gap was not reached."),
        f"- Problem: {prob.name} ({prob.note}).",
        ("- Threads: BLAS/OpenMP limited to **1 thread** for every solver (threadpoolctl); "
        "sparsefit's numba kernels are serial, so NUMBA_NUM_THREADS plays no role."),
        f"- `{threads}`",
        "- numba compile time is **excluded** from the timings (untimed warm-up fit first). "
        + (f"Cold compile of the logistic kernels (fresh interpreter, empty NUMBA_CACHE_DIR): "
           f"{cold:.1f} s. " if cold is not None else "")
        + f"First in-process fit (cache load/compile + solve): {warm:.2f} s.",
        f"- Versions: {C.versions()}.",
        C.source_note(src_before, src_after),
        C.load_note(load_before, load_after),
    ])
    C.write_report("logistic", "L1-logistic benchmark: sparsefit vs scikit-learn (liblinear), "
                   "skglm, celer", body, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
