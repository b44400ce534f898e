"""Lasso to relative duality gap 1e-6: sparsefit vs scikit-learn, skglm and celer.

Problems (DESIGN.md): dense 1000x5000 with Toeplitz correlation 0.5 (AR(1) columns), 50
true non-zeros, SNR 3, no intercept; sparse CSC 2000x20000 at 1% density (normal values),
the same kind of signal; each at alpha_max/10 and alpha_max/100. Objective (all four):
``1/(2n) ||y - Xw||^2 + alpha ||w||_1``, ``fit_intercept=False``.

Every solver's own ``tol`` is tuned (outside the timed runs) until the common relative gap
``sparsefit.solvers.dual_gap(...) = gap / P(0)`` on its output is <= 1e-6; then the median
of 3 fits is timed. BLAS runs on 1 thread (threadpoolctl) for every solver. Target:
sparsefit <= 0.5x the fastest peer on every problem.

Usage::

    python benchmarks/bench_lasso.py            # full size, writes results/lasso.md
    python benchmarks/bench_lasso.py --quick    # 200x1000 and 400x4000 smoke run
"""

from __future__ import annotations

import argparse
import time

import _common as C

TARGET_RATIO = 0.5

COMPILE_SNIPPET = r"""
import time, numpy as np, scipy.sparse as sp
from sparsefit.linear_model import Lasso
rng = np.random.default_rng(0)
X = np.asfortranarray(rng.standard_normal((30, 60))); y = rng.standard_normal(30)
t0 = time.perf_counter()
Lasso(alpha=0.05, fit_intercept=False).fit(X, y)
Lasso(alpha=0.05, fit_intercept=False).fit(sp.csc_matrix(X), y)
print(time.perf_counter() - t0)
"""


def solvers(selected=None):
    from celer import Lasso as CelerLasso
    from skglm import Lasso as SkglmLasso
    from sklearn.linear_model import Lasso as SkLasso

    from sparsefit.linear_model import Lasso as SfLasso

    def sparsefit(X, y, alpha):
        def fit(tol):
            m = SfLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def sklearn(X, y, alpha):
        def fit(tol):
            m = SkLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=100_000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def skglm(X, y, alpha):
        def fit(tol):
            m = SkglmLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    def celer(X, y, alpha):
        def fit(tol):
            m = CelerLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y)
            return m.coef_, 0.0
        return fit

    all_ = [C.Solver("sparsefit", sparsefit, is_ours=True),
            C.Solver("scikit-learn Lasso", sklearn),
            C.Solver("skglm Lasso", skglm),
            C.Solver("celer Lasso", celer)]
    return [s for s in all_ if not selected or any(k in s.name for k in selected)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small problems (dense 200x1000, sparse 400x4000), < 1 minute")
    ap.add_argument("--solvers", nargs="*", default=None,
                    help="substrings of solver names to run (default: all)")
    ap.add_argument("--problems", nargs="*", default=["dense", "sparse"],
                    choices=["dense", "sparse"])
    ap.add_argument("--repeats", type=int, default=C.N_REPEATS)
    ap.add_argument("--no-compile-time", action="store_true",
                    help="skip the cold numba compile measurement")
    args = ap.parse_args(argv)

    threads = C.limit_threads(1)
    print(threads)
    load_before = C.machine_load()
    src_before = C.source_fingerprint()

    from sparsefit.datafits import Quadratic
    from sparsefit.linear_model import Lasso
    from sparsefit.penalties import L1
    from sparsefit.solvers import alpha_max, dual_gap

    k = 20 if args.quick else 50
    probs = []
    if "dense" in args.problems:
        probs.append(C.dense_regression(*((200, 1000) if args.quick else (1000, 5000)), k=k))
    if "sparse" in args.problems:
        probs.append(C.sparse_regression(*((400, 4000) if args.quick else (2000, 20000)), k=k))

    # numba: cold compile (fresh interpreter, empty cache) measured once, apart; then an
    # untimed warm-up in this process (the tol tuning fits are also untimed)
    cold = None if (args.quick or args.no_compile_time) else C.numba_compile_time(COMPILE_SNIPPET)
    t0 = time.perf_counter()
    for p in probs:
        Lasso(alpha=alpha_max(p.X, p.y, Quadratic(), L1(1.0)) / 10, fit_intercept=False,
              tol=1e-4).fit(p.X, p.y)
    warm = time.perf_counter() - t0

    def amax_of(p):
        return alpha_max(p.X, p.y, Quadratic(), L1(1.0))

    def make_gap(p, alpha):
        pen, df = L1(alpha), Quadratic()
        return lambda coef, b: dual_gap(p.X, p.y, coef, b, df, pen, fit_intercept=False)

    results = C.run_grid(probs, [10, 100], solvers(args.solvers), make_gap, amax_of,
                         repeats=args.repeats)
    C.finish_ratios(results, TARGET_RATIO)
    load_after = C.machine_load()
    src_after = C.source_fingerprint()

    ours = [r for r in results if r.is_ours]
    n_pass = sum(r.extra["status"].startswith("PASS") for r in ours)
    body = "\n".join([
        f"Command: `{C.command_line()}`", "",
        C.table(results), "",
        (f"**Target**: sparsefit <= {TARGET_RATIO}x the fastest peer (that reached the gap) on "
        f"every single-alpha problem: {n_pass}/{len(ours)} PASS."), "",
        "Method:",
        ("- Objective `1/(2n)||y - Xw||^2 + alpha||w||_1`, no intercept; alpha = alpha_max/10 "
        "and alpha_max/100, `alpha_max = ||X^T y||_inf / n`."),
        ("- Achieved rel. gap = `sparsefit.solvers.dual_gap` (gap / P(0)) on each solver's "
        "output; each solver's own `tol` was divided by 10 from 1e-5 until that gap was "
        "<= 1e-6 (untimed), then the median of "
        f"{args.repeats} fits at that tol was timed. `(!)`: the gap was not reached."),
        "- Problems: " + "; ".join(f"{p.name} ({p.note})" for p in probs) + ".",
        ("- Threads: BLAS/OpenMP limited to **1 thread** for every solver (threadpoolctl); "
        "sparsefit's numba kernels are serial, so NUMBA_NUM_THREADS plays no role."),
        f"- `{threads}`",
        "- numba compile time is **excluded** from the timings (untimed warm-up fit first). "
        + (f"Cold compile of the Lasso kernels (fresh interpreter, empty NUMBA_CACHE_DIR, "
           f"dense + sparse): {cold:.1f} s. " if cold is not None else "")
        + f"First in-process fits (cache load/compile + solve): {warm:.2f} s.",
        f"- Versions: {C.versions()}.",
        C.source_note(src_before, src_after),
        C.load_note(load_before, load_after),
    ])
    C.write_report("lasso", "Lasso benchmark: sparsefit vs scikit-learn, skglm, celer",
                   body, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
