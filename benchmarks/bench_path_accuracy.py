"""Accuracy against time on a CV path: sparsefit.linear_model.ElasticNetCV at several
``tol`` vs sklearn.linear_model.ElasticNetCV at its default and a tight ``tol``.

The two libraries' ``tol`` mean different things. sparsefit stops every fit at a certified
relative duality gap ``gap / P(0) <= tol``; scikit-learn stops when the largest coordinate
update of an epoch is below ``tol`` times the largest coefficient and then checks its gap.
At one nominal ``tol`` scikit-learn therefore usually ends closer to the optimum (and
later). This benchmark puts both on one accuracy-vs-time table, so "match it at equal
time" can be read off: for each run, the CPU time, the largest relative error of
``mse_path_`` against a tight reference, and how far the final refit's objective is above
the optimum (relative to ``P(0)``).

Problems (two conditions): a noisy one (Toeplitz-0.5 design, 200x1000, 20 true non-zeros,
SNR 3) and a noiseless one (scikit-learn's ``make_sparse_data`` layout: 50% zeros,
100x40, ``y = X w``, no noise), both with intercept. ``l1_ratio=0.5``, 50 alphas,
``KFold(5)``, BLAS on 1 thread, CPU time (``process_time``), best of ``--repeats``.
Reference: scikit-learn at ``tol=1e-13`` on the same grid and folds.

Usage::

    python benchmarks/bench_path_accuracy.py            # writes results/path_accuracy.md
    python benchmarks/bench_path_accuracy.py --quick    # one repeat, smaller problems
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common as C
import numpy as np

OUR_TOLS = (1e-4, 1e-5, 1e-6, 1e-7)
SK_TOLS = (1e-4, 1e-7)


def noiseless(n, p, seed=42):
    rng = np.random.RandomState(seed)
    w = rng.randn(p)
    X = rng.randn(n, p)
    X[rng.uniform(size=(n, p)) > 0.5] = 0.0
    return X, X @ w


def objective(X, y, coef, intercept, alpha, l1_ratio):
    r = y - X @ coef - intercept
    return (0.5 * np.mean(r * r) + alpha * l1_ratio * np.abs(coef).sum()
            + 0.5 * alpha * (1 - l1_ratio) * coef @ coef)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    threads = C.limit_threads(1)
    load_before = C.machine_load()

    from sklearn.linear_model import ElasticNet as SkEN
    from sklearn.linear_model import ElasticNetCV as SkCV
    from sklearn.model_selection import KFold

    from sparsefit.linear_model import ElasticNetCV

    repeats = 1 if args.quick else args.repeats
    noisy = C.dense_regression(*((100, 300) if args.quick else (200, 1000)), k=20)
    problems = [("noisy " + noisy.name, noisy.X, noisy.y),
                ("noiseless 100x40", *noiseless(100, 40))]
    cv, l1r, n_alphas = KFold(5), 0.5, 50
    ElasticNetCV(l1_ratio=l1r, alphas=5, cv=cv).fit(*noiseless(40, 10))  # numba warm-up
    rows = []
    for pname, X, y in problems:
        grid = ElasticNetCV(l1_ratio=l1r, alphas=n_alphas, cv=cv).fit(X, y).alphas_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = SkCV(l1_ratio=l1r, alphas=grid, cv=cv, tol=1e-13, max_iter=10**6).fit(X, y)
        P0 = 0.5 * np.var(y)
        runs = [("sparsefit", t, lambda t=t: ElasticNetCV(l1_ratio=l1r, alphas=n_alphas,
                                                           cv=cv, tol=t)) for t in OUR_TOLS]
        runs += [("scikit-learn", t, lambda t=t: SkCV(l1_ratio=l1r, alphas=n_alphas, cv=cv,
                                                      tol=t)) for t in SK_TOLS]
        for lib, tol, make in runs:
            best = np.inf
            for _ in range(repeats):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.process_time()
                    m = make().fit(X, y)
                    best = min(best, time.process_time() - t0)
            mse = np.asarray(m.mse_path_).reshape(ref.mse_path_.shape)
            err = float(np.max(np.abs(mse - ref.mse_path_) / ref.mse_path_))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt = SkEN(alpha=m.alpha_, l1_ratio=l1r, tol=1e-14, max_iter=10**6).fit(X, y)
            sub = (objective(X, y, m.coef_, m.intercept_, m.alpha_, l1r)
                   - objective(X, y, opt.coef_, opt.intercept_, m.alpha_, l1r)) / P0
            rows.append((pname, lib, tol, best, err, sub))
            print(rows[-1], flush=True)
    load_after = C.machine_load()
    lines = ["| problem | library | tol | CPU time | max rel. error of mse_path_ | "
             "final objective above optimum / P(0) |", "|---|---|---|---|---|---|"]
    lines += [f"| {p} | {lib} | {tol:g} | {C.fmt_time(t)} | {e:.1e} | {s:.1e} |"
              for p, lib, tol, t, e, s in rows]
    body = "\n".join([
        f"Command: `{C.command_line()}`", "", *lines, "",
        "Method:",
        ("- ElasticNetCV, l1_ratio 0.5, 50 alphas (eps 1e-3), KFold(5) unshuffled, "
         "fit_intercept=True; the time includes the final refit."),
        ("- mse_path_ error: max over (alpha, fold) of |mse - ref| / ref, the reference "
         "being scikit-learn at tol=1e-13 on sparsefit's grid and the same folds."),
        ("- Objective gap: the final model's objective minus scikit-learn's ElasticNet at "
         "tol=1e-14 at the same alpha_, divided by P(0) = var(y)/2 (negative values are "
         "float noise at the optimum)."),
        f"- `{threads}`; CPU time (process_time), best of {repeats}.",
        f"- Versions: {C.versions()}.",
        C.load_note(load_before, load_after),
    ])
    C.write_report("path_accuracy", "Accuracy against time on an ElasticNetCV path", body,
                   args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
