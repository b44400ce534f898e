"""100-alpha Lasso path with 5-fold CV: sparsefit.linear_model.LassoCV vs
sklearn.linear_model.LassoCV.

Problem (DESIGN.md): the dense 1000x5000 Toeplitz-0.5 problem of ``bench_lasso.py`` (50
true non-zeros, SNR 3), **with intercept**. Both estimators get the same folds
(``KFold(5)``, unshuffled), the same grid definition (100 alphas, eps=1e-3, from the
data's alpha_max), ``n_jobs=None`` and BLAS on 1 thread. Accuracy is matched: sparsefit
stops each fit at relative duality gap ``tol`` (default 1e-4); scikit-learn stops when its
gap is below ``tol_sk * ||y - mean(y)||^2`` on its unscaled objective, which is the relative
gap ``2 * tol_sk``, so it gets ``tol_sk = tol / 2``. The table also checks that both selected
the same alpha and agree on the CV curve. Target: sparsefit <= 0.2x LassoCV's time.

Usage::

    python benchmarks/bench_cv.py            # writes results/cv.md
    python benchmarks/bench_cv.py --quick    # 200x1000 smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common as C
import numpy as np

TARGET_RATIO = 0.2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200x1000 problem, < 1 minute")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="relative duality gap of every fit (scikit-learn gets tol / 2)")
    ap.add_argument("--n-alphas", type=int, default=100)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=C.N_REPEATS)
    args = ap.parse_args(argv)

    threads = C.limit_threads(1)
    print(threads)
    load_before = C.machine_load()
    src_before = C.source_fingerprint()

    from sklearn.linear_model import LassoCV as SkLassoCV
    from sklearn.model_selection import KFold

    from sparsefit.datafits import Quadratic
    from sparsefit.linear_model import LassoCV as SfLassoCV
    from sparsefit.penalties import L1
    from sparsefit.solvers import dual_gap

    prob = C.dense_regression(*((200, 1000) if args.quick else (1000, 5000)),
                              k=20 if args.quick else 50)
    X, y = prob.X, prob.y
    cv = KFold(5)
    label = f"{args.n_alphas} alphas x 5-fold, eps {args.eps:g}"

    def fit_ours():
        return SfLassoCV(alphas=args.n_alphas, eps=args.eps, cv=cv, tol=args.tol,
                         max_iter=1000, fit_intercept=True).fit(X, y)

    def fit_sklearn():
        return SkLassoCV(alphas=args.n_alphas, eps=args.eps, cv=cv, tol=args.tol / 2,
                         max_iter=100_000, fit_intercept=True).fit(X, y)

    # untimed warm-up of sparsefit's numba kernels on a slice of the same kind of data
    t0 = time.perf_counter()
    SfLassoCV(alphas=5, cv=cv, tol=args.tol).fit(X[:200, :300], y[:200])
    warm = time.perf_counter() - t0

    def gap_of(m):
        return dual_gap(X, y, m.coef_, m.intercept_, Quadratic(), L1(m.alpha_),
                        fit_intercept=True)

    results, models = [], {}
    for name, fit, ours in [("sparsefit LassoCV", fit_ours, True),
                            ("scikit-learn LassoCV", fit_sklearn, False)]:
        print(f"  {name}")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            m = C.quiet(fit)
            times.append(time.perf_counter() - t0)
            print(f"    {times[-1]:.2f} s")
        models[name] = m
        gap = float(gap_of(m))
        results.append(C.Result(prob.name + " + intercept", label, name, ours,
                                tol=args.tol if ours else args.tol / 2,
                                time=statistics.median(times), times=times, gap=gap,
                                nnz=int(np.count_nonzero(m.coef_)),
                                reached=gap <= args.tol))
    C.finish_ratios(results, TARGET_RATIO, target_gap=args.tol)
    load_after = C.machine_load()
    src_after = C.source_fingerprint()

    ours, sk = models["sparsefit LassoCV"], models["scikit-learn LassoCV"]
    a_ours, a_sk = ours.alphas_.ravel(), np.asarray(sk.alphas_).ravel()
    grid_diff = float(np.max(np.abs(a_ours - a_sk) / a_sk)) if a_ours.shape == a_sk.shape \
        else float("nan")
    mse_ours = ours.mse_path_.reshape(len(a_ours), -1)
    mse_sk = np.asarray(sk.mse_path_)
    mse_diff = float(np.max(np.abs(mse_ours - mse_sk) / mse_sk)) \
        if mse_ours.shape == mse_sk.shape else float("nan")
    i_ours = int(np.argmin(np.abs(a_ours - ours.alpha_)))
    i_sk = int(np.argmin(np.abs(a_sk - sk.alpha_)))
    same = np.isclose(ours.alpha_, sk.alpha_, rtol=1e-8)
    r_ours = results[0]

    body = "\n".join([
        f"Command: `{C.command_line()}`", "",
        C.table(results), "",
        (f"**Target**: sparsefit LassoCV <= {TARGET_RATIO}x scikit-learn LassoCV: "
        f"{r_ours.extra['status'].split(' ')[0]} ({r_ours.extra['ratio']:.2f}x)."), "",
        "| check | sparsefit | scikit-learn |",
        "|---|---|---|",
        (f"| selected alpha_ | {ours.alpha_:.6g} (grid index {i_ours}) | {sk.alpha_:.6g} "
        f"(grid index {i_sk}) |"),
        f"| same selected alpha | {'yes' if same else '**no**'} | |",
        f"| alpha grid: max relative difference | {grid_diff:.1e} | |",
        f"| CV mse path: max relative difference | {mse_diff:.1e} | |",
        f"| alpha_1se_ (sparsefit only) | {ours.alpha_1se_:.6g} | n/a |", "",
        "Method:",
        (f"- Problem: {prob.name} ({prob.note}), `fit_intercept=True`; folds `KFold(5)` "
        "(unshuffled, identical for both); grid: "
        f"{args.n_alphas} alphas geometric from alpha_max to {args.eps:g} alpha_max; "
        "`n_jobs=None` for both; the time includes the final refit on all the data."),
        (f"- Accuracy: sparsefit `tol={args.tol:g}` (relative duality gap of every fit); "
        f"scikit-learn `tol={args.tol / 2:g}` (its criterion `gap <= tol ||y - ybar||^2` is "
        f"a relative gap of 2 tol). The 'achieved rel. gap' column is "
        "`sparsefit.solvers.dual_gap` (with intercept) of each final refit model at its "
        "alpha_; `(!)` when above the tol."),
        ("- Threads: BLAS/OpenMP limited to **1 thread** (threadpoolctl); sparsefit's numba "
        "kernels are serial, so NUMBA_NUM_THREADS plays no role."),
        f"- `{threads}`",
        (f"- numba compile time is **excluded**: an untimed warm-up LassoCV on a 200x300 slice "
        f"ran first ({warm:.2f} s, cache load/compile + solve); see `lasso.md` for the cold "
        f"compile time."),
        f"- Versions: {C.versions()}.",
        C.source_note(src_before, src_after),
        C.load_note(load_before, load_after),
    ])
    C.write_report("cv", "LassoCV benchmark: 100-alpha path, 5-fold CV, sparsefit vs "
                   "scikit-learn", body, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
