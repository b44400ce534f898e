"""The genomics shape on Dask: few rows, many features (issue 16's second user), every
wide estimator on a dask array against the same estimator in memory, on the same folds.

Problem: a dense ``n x p`` standard-normal design (default 400 x 20,000: 64 MB, twice the
covariance route's 10,000 features), 20 true non-zeros of size N(0, 2^2), unit noise, an
intercept of 1; the binary target is ``y > median(y)``. Dask: a ``LocalCluster`` of 2
worker processes with 1 thread each and ``memory_limit`` 2 GB, chunks of 100 rows
(persisted for the fit: the data take less than a quarter of the workers' memory). The CV
estimators get ``HashKFold(5, seed=0)`` both ways (the folds dask can form without the
rows in memory). BLAS on 1 thread in the client; wall time of one fit each, after an
untimed warm-up of the numba kernels.

For every estimator: the time on dask and in memory, the largest relative difference of
the coefficients (``max |w_dask - w_mem| / max |w_mem|``), the selected parameters, and the
passes over the data where the route counts them.

Usage::

    python benchmarks/bench_genomics.py                # writes results/distributed_genomics.md
    python benchmarks/bench_genomics.py --quick        # 150 x 12,000, a few estimators
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common as C
import numpy as np


def estimators(quick):
    """``(label, make)`` of the estimators run, ``make()`` a fresh unfitted estimator."""
    from sparsefit.linear_model import (
        AdaptiveLasso,
        ElasticNetCV,
        HashKFold,
        Lasso,
        LassoCV,
        LogisticRegressionCV,
        RelaxedLasso,
        RelaxedLassoCV,
        SparseLogisticRegression,
        SparseLogisticRegressionCV,
    )

    cv = HashKFold(5, seed=0)
    rows = [
        ("Lasso(alpha=0.1)", lambda: Lasso(alpha=0.1)),
        ("LassoCV(100 alphas, eps 1e-3)", lambda: LassoCV(cv=cv)),
        ("SparseLogisticRegression(alpha=0.02)", lambda: SparseLogisticRegression(alpha=0.02)),
        ("SparseLogisticRegressionCV(50 alphas)", lambda: SparseLogisticRegressionCV(cv=cv)),
    ]
    if not quick:
        rows[2:2] = [
            ("ElasticNetCV(l1_ratio=[0.5, 0.9])", lambda: ElasticNetCV(l1_ratio=[0.5, 0.9],
                                                                       cv=cv)),
            ("RelaxedLasso(alpha=0.1)", lambda: RelaxedLasso(alpha=0.1)),
            ("RelaxedLassoCV(50 alphas, 5 gammas)", lambda: RelaxedLassoCV(alphas=50, cv=cv)),
            ("AdaptiveLasso(alpha=0.1)", lambda: AdaptiveLasso(alpha=0.1)),
        ]
        rows.append(("LogisticRegressionCV(l1, 10 Cs)", lambda: LogisticRegressionCV(
            Cs=10, penalty="l1", solver="saga", cv=cv)))
    return rows


def problem(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, 20, replace=False)] = 2.0 * rng.standard_normal(20)
    y = X @ w + rng.standard_normal(n) + 1.0
    return X, y, (y > np.median(y)).astype(np.int64)


def chosen(m):
    parts = []
    for attr in ("alpha_", "l1_ratio_", "gamma_", "C_"):
        v = getattr(m, attr, None)
        if v is not None:
            v = np.ravel(v)[0]
            parts.append(f"{attr} {v:.4g}")
    return ", ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--p", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.n or (150 if args.quick else 400)
    p = args.p or (12_000 if args.quick else 20_000)
    threads = C.limit_threads(1)
    load_before = C.machine_load()
    src_before = C.source_fingerprint()

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    from sklearn.base import is_classifier

    X, y, yb = problem(n, p)
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit="2GB") as cluster, Client(cluster):
        Xd = da.from_array(X, chunks=(100, p)).persist()
        yd, ybd = (da.from_array(v, chunks=100).persist() for v in (y, yb))
        for label, make in estimators(args.quick):
            clf = is_classifier(make())
            target, target_d = (yb, ybd) if clf else (y, yd)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # untimed warm-up of the numba kernels, in the client and in the workers (a
                # small problem beyond a lowered feature limit: the same wide route)
                make().fit(X[:100, :300], target[:100])
                with dask.config.set({"sparsefit.gram_max_features": 250}):
                    make().fit(da.from_array(X[:100, :300], chunks=(50, 300)),
                               da.from_array(target[:100], chunks=50))
                t0 = time.perf_counter()
                mem = make().fit(X, target)
                t_mem = time.perf_counter() - t0
                t0 = time.perf_counter()
                try:
                    got = make().fit(Xd, target_d)
                    err = None
                except ValueError as e:
                    got, err = None, str(e)
                t_dask = time.perf_counter() - t0
            if got is None:
                rows.append((label, f"refused after {t_dask:.1f} s: {err[:120]}", "", "", "",
                             chosen(mem)))
                continue
            scale = max(float(np.max(np.abs(mem.coef_))), 1e-300)
            diff = float(np.max(np.abs(np.asarray(got.coef_) - mem.coef_))) / scale
            rows.append((label, f"{t_dask:.2f}", f"{t_mem:.2f}", f"{diff:.1e}",
                         str(int(np.count_nonzero(np.any(np.atleast_2d(got.coef_) != 0,
                                                         axis=0)))),
                         f"{chosen(got)}; {chosen(mem)}" if chosen(mem) else "-"))
            print(rows[-1], flush=True)
    load_after = C.machine_load()
    src_after = C.source_fingerprint()
    body = "\n".join([
        f"Command: `{C.command_line()}`", "",
        f"Dense {n} x {p} (20 true non-zeros), a LocalCluster of 2 processes x 1 thread, "
        "2 GB each; chunks of 100 rows; HashKFold(5, seed=0) both ways; wall time of one "
        "fit.", "",
        "| estimator | dask (s) | in memory (s) | max rel. coef. difference | non-zero "
        "features | selected (dask; memory) |",
        "|---|---|---|---|---|---|",
        *[f"| {' | '.join(r)} |" for r in rows], "",
        "Every fit at its default `tol` (a relative duality gap of 1e-4 for least squares; "
        "the logistic fits' Newton stop): a coefficient difference well above 1e-9 means "
        "both fits stopped inside that tolerance at different points, not that one route "
        "solved another problem (where the exact step on the support applies, both end "
        "at the exact solution and agree to rounding).", "",
        "Conditions:",
        f"- {threads}",
        C.load_note(load_before, load_after),
        C.source_note(src_before, src_after),
        f"- Versions: {C.versions()}.",
    ])
    C.write_report("distributed_genomics", "The genomics shape on Dask: few rows, many "
                   "features", body, args.quick)


if __name__ == "__main__":
    main()
