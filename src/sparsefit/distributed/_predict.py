"""Predictions on dask input: the in-memory method on every chunk (``map_blocks``), so the
output is a dask array with the rows of ``X``'s chunks."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._data import as_dask_x


def _on_block(block, est, method, names):
    if names is not None:
        import pandas as pd

        block = pd.DataFrame(block, columns=names)
    return getattr(est, method)(block)


def _output(est, method, dtype, names):
    """``(ndim, n_columns, dtype)`` of the method's output on rows of ``dtype``: those of
    its output on one row of zeros (float32 rows give float32 predictions, as in memory)."""
    out = np.asarray(_on_block(np.zeros((1, est.n_features_in_), dtype=dtype), est, method,
                               names))
    return out.ndim, (out.shape[1] if out.ndim == 2 else None), out.dtype


def predict_dask(est, method, X):
    """``getattr(est, method)(X)`` for a dask ``X``: a dask array, chunked by rows as ``X``.

    A dask DataFrame's column names are checked against ``feature_names_in_`` as
    scikit-learn checks a pandas DataFrame's."""
    check_is_fitted(est)
    names = None
    if hasattr(X, "columns"):
        names = np.asarray([str(c) for c in X.columns], dtype=object)
        fitted = getattr(est, "feature_names_in_", None)
        if fitted is not None and not np.array_equal(names, fitted):
            raise ValueError(f"The feature names of X differ from those seen at fit: "
                             f"{list(names)[:5]} vs {list(fitted)[:5]}")
    Xa, _ = as_dask_x(X)
    if Xa.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {Xa.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input")
    ndim, k, dtype = _output(est, method, Xa.dtype, names)
    if ndim == 1:
        return Xa.map_blocks(_on_block, est, method, names, drop_axis=1, dtype=dtype,
                             meta=np.empty((0,), dtype=dtype))
    return Xa.map_blocks(_on_block, est, method, names, chunks=(Xa.chunks[0], (k,)),
                         dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
