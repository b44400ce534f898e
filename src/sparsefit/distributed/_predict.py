"""Predictions on dask input: the in-memory method on every chunk (``map_blocks``), so the
output is a dask array with the rows of ``X``'s chunks."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._data import as_dask_x


def _on_block(block, est, method, names):
    if block.shape[0] == 0:  # an empty chunk (a filtered DataFrame's): no rows out
        one = np.zeros((1, block.shape[1]), dtype=block.dtype)
        return np.asarray(_on_block(one, est, method, names))[:0]
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
    scikit-learn checks a pandas DataFrame's, its warnings given once (not per chunk)."""
    check_is_fitted(est)
    Xa, names = as_dask_x(X)
    fitted = getattr(est, "feature_names_in_", None)
    label = type(est).__name__
    if names is not None and fitted is not None and not np.array_equal(names, fitted):
        raise ValueError(f"The feature names of X differ from those seen at fit: "
                         f"{list(names)[:5]} vs {list(fitted)[:5]}")
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {label} was fitted without feature names",
                      UserWarning, stacklevel=3)
        names = None
    elif names is None and fitted is not None:
        warnings.warn(f"X does not have valid feature names, but {label} was fitted with "
                      "feature names", UserWarning, stacklevel=3)
        names = fitted
    if Xa.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {Xa.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input")
    ndim, k, dtype = _output(est, method, Xa.dtype, names)
    if ndim == 1:
        return Xa.map_blocks(_on_block, est, method, names, drop_axis=1, dtype=dtype,
                             meta=np.empty((0,), dtype=dtype))
    return Xa.map_blocks(_on_block, est, method, names, chunks=(Xa.chunks[0], (k,)),
                         dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
