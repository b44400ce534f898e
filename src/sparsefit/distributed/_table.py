r"""``sparsefit fit DATA --engine dask``: the cross-validated table fit out of core.

The files are read by ``dask.dataframe`` (a glob of Parquet or CSV files) and never
collected: one pass accumulates the per-fold :class:`~sparsefit.solvers.moments.Moments`
(a row's fold from a seeded hash of its position, see
:class:`~sparsefit.linear_model.HashKFold`); the standardization, every fold's path, the
CV curve, the path plot and the final model are computations on ``p x p`` matrices. The
model dict is the one :func:`sparsefit.tabular.fit_table` returns (same saved format).
Standardizing the moments: with :math:`D = \mathrm{diag}(\sigma)`, the centered
co-moments become :math:`D^{-1} C D^{-1}` and :math:`D^{-1} c_{xy}`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._table_read import DataError


def _standardized(m, mean, scale):
    """The moments of ``(X - mean) / scale``."""
    return replace(m, x_mean=(m.x_mean - mean) / scale, xx=m.xx / np.outer(scale, scale),
                   xy=m.xy / scale, x_min=(m.x_min - mean) / scale,
                   x_max=(m.x_max - mean) / scale)


def read_frame(pattern):
    """A dask DataFrame of the Parquet (or CSV) files matching ``pattern``."""
    import dask.dataframe as dd

    low = pattern.lower()
    try:
        if low.endswith((".csv", ".tsv")):
            return dd.read_csv(pattern, sep="\t" if low.endswith(".tsv") else ",")
        return dd.read_parquet(pattern)
    except (OSError, ValueError) as exc:
        raise DataError(f"DATA {pattern!r}: cannot be read as Parquet/CSV files ({exc})") \
            from None


def fit_table_dask(pattern, target, *, task=None, penalty="l1", l1_ratio=None, cv=5,
                   n_alphas=50, selection="1se", seed=0, tol=1e-6):
    """The model dict of :func:`sparsefit.tabular.fit_table` from the files ``pattern``,
    on the active dask scheduler (regression with ``l1`` or ``elastic_net``)."""
    from ..datafits import Quadratic
    from ..linear_model._regression import _elastic_net_penalty
    from ..solvers import solve
    from ._estimators import moments
    from ._pass import check_gram_limit
    from ._paths import cv_path_from_moments, fold_mse, moments_path

    if task not in (None, "regression"):
        raise DataError(f"--task {task}: --engine dask fits regression targets; use "
                        "--engine local for classification")
    if penalty not in ("l1", "elastic_net"):
        raise DataError(f"--penalty {penalty}: --engine dask takes l1 or elastic_net")
    df = read_frame(pattern)
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise DataError(f"--target {target!r} is not a column of DATA (columns: "
                        f"{', '.join(columns[:10])})")
    feats = [c for c in columns if c != target]
    bad = [c for c in feats + [target] if not (np.issubdtype(df[c].dtype, np.number) or
                                               np.issubdtype(df[c].dtype, np.bool_))]
    if bad:
        raise DataError(f"column {bad[0]!r} is not numeric: --engine dask takes numeric "
                        "columns only (encode it, or use --engine local --one-hot)")
    if not feats:
        raise DataError("DATA has no feature column besides the target")
    check_gram_limit(type("fit", (), {})(), len(feats), advice="select columns first")
    # one array of features and target: dask may partition two projections of the same
    # Parquet files differently, one array keeps the rows of X and y together
    both = df[feats + [target]].to_dask_array(lengths=True).astype(np.float64)
    folds = moments(both[:, :-1], both[:, -1], n_splits=cv, seed=seed)
    total = folds[0]
    for f in folds[1:]:
        total = total.combine(f)
    if total.count < max(10, 2 * cv):
        raise DataError(f"too few rows: {total.count}, at least {max(10, 2 * cv)} needed for "
                        f"{cv}-fold cross-validation")
    mean = total.x_mean.copy()
    scale = np.sqrt(np.diag(total.xx) / total.weight)
    constant = total.x_max <= total.x_min
    scale[constant | (scale == 0)] = 1.0
    folds = [_standardized(f, mean, scale) for f in folds]
    total = _standardized(total, mean, scale)
    ratio = 1.0 if penalty == "l1" else (0.5 if l1_ratio is None else float(l1_ratio))

    def make(alpha):
        return _elastic_net_penalty(alpha, ratio)

    opts = dict(fit_intercept=True, tol=tol, max_iter=200)
    res = cv_path_from_moments(folds, total, make, fold_mse, alphas=None, eps=1e-3,
                               n_alphas=n_alphas, **opts)
    alpha = res.alpha_min if selection == "min" else res.alpha_1se
    at = int(np.argmin(np.abs(np.asarray(res.alphas) - alpha)))
    _, path, _ = moments_path(total, make, res.alphas, **opts)
    final = solve(total, None, Quadratic(), make(alpha), **opts)
    return {
        "task": "regression", "task_reason": "--engine dask fits regression targets",
        "target": str(target), "feature_names": feats, "columns": feats, "categories": {},
        "coef": np.asarray(final.coef).reshape(1, -1),
        "intercept": np.atleast_1d(float(final.intercept)), "classes": None,
        "alphas": res.alphas, "cv_mean": res.mean, "cv_se": res.std_error, "alpha": alpha,
        "alpha_min": res.alpha_min, "alpha_1se": res.alpha_1se, "path": path,
        "mean": mean, "scale": scale, "penalty": penalty, "selection": selection,
        "one_hot": False, "groups": None, "n_rows": int(total.count), "n_dropped": 0,
        "converged": bool(final.converged),
        "cv_at_alpha": (float(res.mean[at]), float(res.std_error[at])),
        "feature_groups": None, "held_out": None, "test_size": None, "cv": cv,
    }
