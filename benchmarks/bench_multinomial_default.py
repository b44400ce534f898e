"""Multinomial ``LogisticRegression`` at its defaults, against scikit-learn's, on data with
redundant features: accuracy reached and time (and the binary ridge, the default of a
two-class problem).

``make_classification(20000, 30, n_informative=10, n_classes=3, random_state=seed)`` has 2
redundant features (sums of informative ones): along them only the penalty curves the
objective. Seeds 0, 1, 2, and two scalings of each draw: as generated, and ``X * 10 + 3``
(off-center, larger scale). ``C=1``, intercept, the default ``tol`` of each library;
pure L2 (``l1_ratio=0``: scikit-learn's lbfgs, its default) and L1 (``l1_ratio=1``:
scikit-learn's saga, ``max_iter=10000``). The same with 2 classes, pure L2 only (the
binary L1 is ``bench_logistic.py``'s).

Reported: the best of 3 fits (saga: 1 fit), and each fit's excess objective
``(P - P*) / P*`` over a reference ``P*`` (sparsefit at ``tol=1e-12``) of the objective
``sum_i -log p_{i, y_i} + (1 - l1_ratio) ||W||^2 / (2 C) + l1_ratio ||W||_1 / C``.

Usage::

    python benchmarks/bench_multinomial_default.py           # results/multinomial_default.md
    python benchmarks/bench_multinomial_default.py --quick   # 1 seed, 4000 rows
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import (
    command_line,
    limit_threads,
    load_note,
    machine_load,
    source_fingerprint,
    source_note,
    versions,
    write_report,
)


def objective(X, y, model, l1_ratio, C=1.0):
    Z = X @ model.coef_.T + model.intercept_
    if Z.shape[1] == 1:  # binary: the softmax of (0, z) is the logistic loss
        Z = np.column_stack([np.zeros(Z.shape[0]), Z[:, 0]])
    Z = Z - Z.max(axis=1, keepdims=True)
    nll = float((np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(y.size), y]).sum())
    W = model.coef_
    return nll + (1 - l1_ratio) * float((W ** 2).sum()) / (2 * C) \
        + l1_ratio * float(np.abs(W).sum()) / C


def best_of(fit, X, y, repeats):
    times, model = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        model = fit(X, y)
        times.append(time.perf_counter() - t)
    return min(times), model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    threads = limit_threads(1)
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from sparsefit.linear_model import LogisticRegression

    warnings.filterwarnings("ignore")
    before, src0 = machine_load(), source_fingerprint()
    n, seeds = (4000, [0]) if args.quick else (20000, [0, 1, 2])
    LogisticRegression().fit(*make_classification(500, 30, n_informative=10, n_classes=3,
                                                     random_state=0))
    rows = ["| classes | seed | scaling | penalty | sparsefit time (s) | sparsefit excess | "
            "scikit-learn | its time (s) | its excess | time ratio |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for classes, seed in [(k, s) for k in (3, 2) for s in seeds]:
        X0, y = make_classification(n, 30, n_informative=10, n_classes=classes,
                                    random_state=seed)
        for scaling, X in (("as generated", X0), ("X * 10 + 3", X0 * 10 + 3)):
            for l1 in (0.0, 1.0) if classes > 2 else (0.0,):
                ref = LogisticRegression(C=1.0, l1_ratio=l1, tol=1e-12, max_iter=1000)
                P = objective(X, y, ref.fit(X, y), l1)
                ts, ours = best_of(LogisticRegression(C=1.0, l1_ratio=l1).fit, X, y, 3)
                solver = "lbfgs" if l1 == 0 else "saga"
                tk, theirs = best_of(SkLogisticRegression(
                    C=1.0, l1_ratio=l1, solver=solver, max_iter=10000 if l1 else 100,
                    random_state=0).fit, X, y, 3 if l1 == 0 else 1)
                rows.append(
                    f"| {classes} | {seed} | {scaling} | {'L2' if l1 == 0 else 'L1'} | {ts:.3f} | "
                    f"{(objective(X, y, ours, l1) - P) / P:.1e} | {solver} | {tk:.3f} | "
                    f"{(objective(X, y, theirs, l1) - P) / P:.1e} | {ts / tk:.2f}x |")
                print(rows[-1], flush=True)
    after, src1 = machine_load(), source_fingerprint()
    body = "\n".join([
        f"Command: `{command_line()}`", "",
        *rows, "",
        "Conditions:",
        f"- {threads}",
        f"- {versions()}",
        load_note(before, after),
        source_note(src0, src1),
        "- 'excess': `(P - P*) / P*`, `P*` from sparsefit at `tol=1e-12` (0: equal to it "
        "in float64). Time ratio: sparsefit / scikit-learn (below 1: sparsefit faster).",
    ])
    write_report("multinomial_default", "LogisticRegression at its defaults on redundant "
                 "features (make_classification, 3 and 2 classes, C=1)", body,
                 args.quick)


if __name__ == "__main__":
    main()
