"""Dask input as aligned blocks of rows: ``X`` (a dask array, dense or with scipy.sparse
chunks, or a dask DataFrame), ``y``, the sample weights and CV groups, chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask import is_dask_collection


def _dd():
    """``dask.dataframe`` when it imports (it needs pandas), else None."""
    try:
        import dask.dataframe as dd
    except ImportError:
        return None
    return dd


def _is_frame(obj):
    dd = _dd() if is_dask_collection(obj) else None
    return dd is not None and isinstance(obj, dd.DataFrame)


def _is_series(obj):
    dd = _dd() if is_dask_collection(obj) else None
    return dd is not None and isinstance(obj, dd.Series)


def _numeric_column(dtype):
    """Whether a pandas column dtype holds numbers (numpy's or pandas' nullable ``Int64``,
    ``Float64``, ``boolean``; not categories, strings, dates or complex numbers)."""
    import pandas as pd
    from pandas.api import types

    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return types.is_bool_dtype(dtype) or (types.is_numeric_dtype(dtype)
                                          and getattr(dtype, "kind", "") != "c")


def _frame_to_array(df, name):
    """A dask DataFrame of numeric columns as a dask array (one column chunk); pandas'
    nullable columns become floats (a missing value, NaN, is then refused with its
    chunk)."""
    bad = [c for c, t in df.dtypes.items() if not _numeric_column(t)]
    if bad:
        raise ValueError(f"{name} must have numeric columns only; column {str(bad[0])!r} has "
                         f"dtype {df.dtypes[bad[0]]} (encode it as numbers first, e.g. "
                         "one-hot columns)")
    f32 = all(t == np.float32 for t in df.dtypes)
    if any(not isinstance(t, np.dtype) for t in df.dtypes):  # pandas extension dtypes
        df = df.astype(np.float32 if f32 else np.float64)
    return df.to_dask_array().astype(np.float32 if f32 else np.float64)


def _check_numeric(v, name):
    """Refuse a ``y`` that is not numbers (dates, strings, objects, complex): a regressor's
    target."""
    if np.dtype(v.dtype).kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {v.dtype}")
    return v


def _as_vector(v, name, X, columns=False):
    """``y`` / ``sample_weight`` / ``groups`` as a 1-D dask array row-aligned with ``X``
    (a dask array with ``X.numblocks[0]`` blocks); with ``columns``, a 2-D ``y`` of several
    targets stays 2-D (one chunk of columns)."""
    if v is None:
        return None
    if columns and _is_frame(v) and (len(v.columns) > 1 or columns == "keep"):
        v = _frame_to_array(v, name)
    if columns and not _is_frame(v) and getattr(v, "ndim", 1) == 2 and (
            v.shape[1] != 1 or columns == "keep"):
        if not is_dask_collection(v):
            v = np.asarray(v)
            if v.shape[0] != X.shape[0]:
                raise ValueError(f"{name} must have one row per row of X ({X.shape[0]}), "
                                 f"got shape {v.shape}")
            return da.from_array(v, chunks=(X.chunks[0], -1))
        return _align(v.rechunk({1: -1}), X, name)
    if _is_frame(v):
        if len(v.columns) != 1:
            raise ValueError(f"{name} must be one column, got a DataFrame of "
                             f"{len(v.columns)}")
        v = v[v.columns[0]]
    if _is_series(v):
        if not isinstance(v.dtype, np.dtype) and _numeric_column(v.dtype):
            v = v.astype(np.float64)  # pandas' nullable numbers (a missing one is NaN)
        v = v.to_dask_array()
    elif not is_dask_collection(v):
        arr = np.asarray(v)
        if arr.ndim == 0 and name == "sample_weight":  # one weight for every row
            value = float(arr)
            return X.map_blocks(lambda b: np.full(b.shape[0], value), dtype=np.float64,
                                drop_axis=1)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]  # one column, as a 1-D y (scikit-learn's ravel)
        if not all(np.isfinite(c) for c in X.chunks[0]):
            raise ValueError(f"{name} is in memory but X is a dask collection of unknown "
                             f"chunk sizes: give {name} as a dask array or Series from the "
                             "same DataFrame as X")
        if arr.ndim != 1 or arr.shape[0] != X.shape[0]:
            raise ValueError(f"{name} must be 1-D with one entry per row of X ({X.shape[0]}), "
                             f"got shape {arr.shape}")
        return da.from_array(arr, chunks=(X.chunks[0],))
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {v.ndim} dimensions")
    return _align(v, X, name)


def _align(v, X, name):
    known = all(np.isfinite(c) for c in X.chunks[0]) and all(np.isfinite(c)
                                                              for c in v.chunks[0])
    if known:
        if v.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but {name} has {v.shape[0]}")
        return v if v.chunks[0] == X.chunks[0] else v.rechunk({0: X.chunks[0]})
    if v.numblocks[0] != X.numblocks[0]:
        raise ValueError(f"X has {X.numblocks[0]} partitions but {name} has "
                         f"{v.numblocks[0]}: take both from the same dask DataFrame")
    return v  # row counts are checked chunk by chunk


@dataclass
class DaskData:
    """Row-aligned dask inputs of a fit (see :func:`as_dask_data`)."""

    X: object
    y: object
    sample_weight: object
    groups: object
    feature_names: np.ndarray | None
    frame: object  # the DataFrame X came from, if any (its partition lengths)
    # set by _cache.persisted: None undecided, 0.0 not persisted, else the chunks' bytes
    persisted_bytes: float | None = None
    # the chunks' row offsets once counted (chunk sizes unknown: see row_offsets)
    counted: np.ndarray | None = None

    @property
    def n_features(self):
        return int(self.X.shape[1])

    @property
    def n_targets(self):
        """The number of columns of a 2-D ``y``, or None for a 1-D ``y``."""
        return int(self.y.shape[1]) if self.y.ndim == 2 else None

    @property
    def n_chunks(self):
        return int(self.X.numblocks[0])

    @property
    def dtype(self):
        return np.dtype(np.float32 if self.X.dtype == np.float32 else np.float64)

    def row_offsets(self, need):
        """Global position of every chunk's first row (and the total), or None when the
        chunk sizes are unknown and ``need`` is False; with ``need`` they are computed (a
        dask DataFrame's partition lengths)."""
        sizes = self.X.chunks[0]
        if all(np.isfinite(c) for c in sizes):
            return np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
        if self.counted is None and need:  # counted once: a count reads every chunk
            source = self.frame if self.frame is not None else self.X
            sizes = (source.map_partitions(len) if self.frame is not None else
                     source.map_blocks(lambda b: np.array([b.shape[0]]), dtype=np.int64,
                                       chunks=((1,) * source.numblocks[0],),
                                       drop_axis=1)).compute()
            self.counted = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
        return self.counted

    def blocks(self):
        """One tuple ``(X, y, sample_weight, groups)`` of delayed blocks per chunk of rows
        (None for the inputs not given). The graphs are not optimized one by one: that fuses
        a chunk's read into each input cut from it (``X`` and ``y`` from one array or
        DataFrame), which reads the chunk once per input."""
        Xb = self.X.to_delayed(optimize_graph=False).ravel()
        parts = [Xb] + [None if v is None else v.to_delayed(optimize_graph=False).ravel()
                        for v in (self.y, self.sample_weight, self.groups)]
        return [tuple(None if p is None else p[i] for p in parts) for i in range(len(Xb))]

    def set_feature_attributes(self, est):
        """``n_features_in_`` (and ``feature_names_in_`` for a DataFrame), as scikit-learn's
        validation sets them."""
        est.n_features_in_ = self.n_features
        if self.feature_names is not None:
            est.feature_names_in_ = self.feature_names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_


def feature_names(X, name="X"):
    """A dask DataFrame's column names as scikit-learn keeps them: an array when every
    name is a string, None when none is; names of mixed types, or repeated names, are
    refused (scikit-learn's ``_get_feature_names`` on a pandas DataFrame)."""
    columns = X.columns
    names = np.asarray(list(columns), dtype=object)
    if names.size == 0:
        return None
    repeated = list(columns[columns.duplicated()])
    if repeated:
        raise ValueError(f"{name} has repeated column names {repeated[:5]}: give every "
                         "column its own name")
    types = sorted({type(c).__qualname__ for c in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(f"Feature names are only supported if all input features have string "
                        f"names, but your input has {types} as feature name / column name "
                        "types: convert them all to strings (X.columns = "
                        "X.columns.astype(str)), or none")
    return names if types == ["str"] else None


def as_dask_x(X, name="X"):
    """``X`` as a 2-D dask array with one chunk of columns, and its column names."""
    names = None
    if _is_frame(X):
        names = feature_names(X, name)
        X = _frame_to_array(X, name)
    elif _is_series(X):
        raise ValueError(f"{name} must be 2-D: got a dask Series (use df[[column]])")
    elif not is_dask_collection(X) or not hasattr(X, "chunks"):
        raise ValueError(f"{name} must be a dask array or dask DataFrame when y or the "
                         f"sample weights are dask collections, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got an array of {X.ndim} dimensions")
    if not np.isfinite(X.shape[1]):
        raise ValueError(f"{name} has an unknown number of columns")
    if X.shape[1] == 0 or (np.isfinite(X.shape[0]) and X.shape[0] == 0):
        raise ValueError(f"{name} is empty: shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})  # whole rows per chunk: no shuffle, only concatenations
    return X, names


def as_dask_data(X, y, sample_weight=None, groups=None, multi_output=False,
                 numeric_y=False):
    """Validate and align the inputs of a fit on dask data (shapes and types now; values
    chunk by chunk during the pass, which names the chunk of a bad value). With
    ``multi_output``, ``y`` may be 2-D (several targets; ``"keep"``: a 2-D ``y`` stays 2-D
    even with one column, a multi-task estimator's); with ``numeric_y`` (a regressor's
    target), a ``y`` that is not numbers is refused."""
    frame = X if _is_frame(X) else None
    Xa, names = as_dask_x(X)
    if y is None:
        raise ValueError("y is required")
    y = _as_vector(y, "y", Xa, columns=multi_output)
    if numeric_y:
        y = _check_numeric(y, "y")
    return DaskData(Xa, y,
                    _as_vector(sample_weight, "sample_weight", Xa),
                    _as_vector(groups, "groups", Xa), names, frame)
