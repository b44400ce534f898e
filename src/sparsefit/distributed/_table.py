r"""``sparsefit fit DATA --engine dask``: the cross-validated table fit out of core.

The files (a glob of Parquet or CSV files) are never collected: Parquet row groups are
read as the chunks of one dask array (:func:`parquet_array`), CSV files by
``dask.dataframe``; one pass accumulates the per-fold :class:`~sparsefit.solvers.moments.Moments`
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


PARQUET_EXTENSIONS = (".parq", ".parquet", ".pq")


def _row_group(fs, path, index, columns):
    """Row group ``index`` of the Parquet file ``path``: its ``columns`` as float64."""
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as fh:
        table = pq.ParquetFile(fh).read_row_group(index, columns=columns)
    return np.column_stack([table.column(c).to_numpy(zero_copy_only=False)
                            .astype(np.float64) for c in columns])


def parquet_files(pattern):
    """``(filesystem, paths)`` of the Parquet files ``pattern`` names (a glob, a file or a
    folder: in a folder, the files ``dask.dataframe.read_parquet`` takes, its default
    ``parquet_file_extension``), in dask's order; None for CSV; ``paths`` may be empty."""
    import fsspec
    from dask.utils import natural_sort_key

    if pattern.lower().endswith((".csv", ".tsv")):
        return None
    fs, _, paths = fsspec.core.get_fs_token_paths(pattern)
    if len(paths) == 1 and fs.isdir(paths[0]):
        paths = [f for f in fs.find(paths[0]) if f.lower().endswith(PARQUET_EXTENSIONS)]
    return fs, sorted(paths, key=natural_sort_key)


def _schema_message(path, names, first_path, first_names):
    more, fewer = sorted(names - first_names), sorted(first_names - names)
    what = "; ".join(s for s in (f"has {more} that {first_path} lacks" if more else "",
                                 f"lacks {fewer}" if fewer else "") if s)
    return (f"DATA: {path} {what}: every file must have the same columns (a column missing "
            "from some files would be dropped or fail mid-fit)")


def parquet_array(pattern, columns, files=None):
    r"""The ``columns`` of the Parquet files ``pattern`` (a glob, a file or a folder) as
    one float64 dask array, a chunk per row group, the files in dask's order.

    The chunk sizes come from the files' footers, so the array has known chunks without
    reading any data: a dask DataFrame's partition lengths are unknown, and counting them
    (``to_dask_array(lengths=True)``) reads every file once more before the fit's pass.
    ``None`` when ``pattern`` names no Parquet file (CSV, or nothing: the caller's reader
    says so). ``files``: :func:`parquet_files` of ``pattern`` when the caller has it.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> for k in range(2):
    ...     pd.DataFrame({"a": [1.0, 2.0, 3.0][k:], "y": [0, 1, 2][k:]}).to_parquet(
    ...         os.path.join(folder, f"part{k}.parquet"))
    >>> arr = parquet_array(os.path.join(folder, "*.parquet"), ["a", "y"])
    >>> arr.chunks[0], arr.compute().tolist()
    ((3, 2), [[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [2.0, 1.0], [3.0, 2.0]])
    """
    import dask
    import dask.array as da
    import pyarrow.parquet as pq

    found = parquet_files(pattern) if files is None else files
    if not found:
        return None
    fs, paths = found
    blocks, first = [], None
    for path in paths:
        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            meta = pf.metadata
            names = {c for c in pf.schema_arrow.names if not c.startswith("__index_level_")}
        if first is None:
            first = (path, names)
        elif names != first[1]:  # dask takes the first file's columns: another's would go
            raise DataError(_schema_message(path, names, *first))
        for i in range(meta.num_row_groups):
            rows = meta.row_group(i).num_rows
            if rows:
                part = dask.delayed(_row_group, pure=True)(fs, path, i, list(columns))
                blocks.append(da.from_delayed(part, (rows, len(columns)), np.float64))
    return da.concatenate(blocks, axis=0) if blocks else None


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
    found = parquet_files(pattern)
    if found is not None and not found[1]:
        raise DataError(f"DATA {pattern!r} matches no Parquet file "
                        f"({', '.join(PARQUET_EXTENSIONS)})")
    df = read_frame(pattern)
    columns = [str(c) for c in df.columns]
    if target not in columns:
        raise DataError(f"--target {target!r} is not a column of DATA (columns: "
                        f"{', '.join(columns[:10])})")
    feats = [c for c in columns if c != target]
    import pandas as pd

    bad = [c for c in feats + [target] if not (pd.api.types.is_numeric_dtype(df[c].dtype) or
                                               pd.api.types.is_bool_dtype(df[c].dtype))]
    if bad:
        raise DataError(f"column {bad[0]!r} is not numeric ({df[bad[0]].dtype}): --engine "
                        "dask takes numeric columns only (encode it, or use --engine local "
                        "--one-hot)")
    if not feats:
        raise DataError("DATA has no feature column besides the target")
    check_gram_limit(type("fit", (), {})(), len(feats), advice="select columns first")
    # one array of features and target: dask may partition two projections of the same
    # Parquet files differently, one array keeps the rows of X and y together; its chunk
    # sizes from the Parquet footers (CSV: counted, one more read of the files)
    both = parquet_array(pattern, feats + [target], files=found)
    if both is None and found is not None:
        raise DataError(f"DATA {pattern!r}: the Parquet files hold no rows")
    if both is None:
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
