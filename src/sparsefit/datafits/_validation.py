"""Input checks and conversions shared by datafits and solvers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..penalties._interface import frozen

_EMPTY_IDX = np.zeros(0, dtype=np.int32)


class ColumnStore(NamedTuple):
    """A design matrix as numba kernels see it (see :mod:`sparsefit.datafits._kernels`)."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n: int
    dense: bool
    p: int

    @property
    def args(self):
        return self.data, self.indices, self.indptr, self.n, self.dense


def as_column_store(X, name="X", check_finite=True, densify=True):
    """Validate ``X`` (2-D, finite, non-empty) and return a :class:`ColumnStore` without copying
    when ``X`` already is Fortran-ordered float32/float64 or CSC. A :class:`ColumnStore` is
    returned as is; ``check_finite=False`` skips the finiteness check (for an ``X`` the
    caller has checked already). A small sparse ``X`` that is mostly full is stored dense
    (see :data:`DENSE_FROM`) unless ``densify=False``."""
    if isinstance(X, ColumnStore):
        return X
    if densify and sp.issparse(X) and _densify(X):
        X = X.toarray(order="F")
    if sp.issparse(X):
        X = X.tocsc()
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        if not X.has_canonical_format:
            X = X.copy()  # never sum duplicates in the caller's matrix
            X.sum_duplicates()
        n, p = X.shape
        if n == 0 or p == 0:
            raise ValueError(f"{name} is empty: shape {X.shape}")
        if check_finite and not _all_finite(X.data):
            raise ValueError(f"{name} contains NaN or infinity")
        idx_dtype = np.int32 if max(X.nnz, n) < 2**31 - 1 else np.int64
        indices = np.ascontiguousarray(X.indices, dtype=idx_dtype)
        indptr = np.ascontiguousarray(X.indptr, dtype=idx_dtype)
        return ColumnStore(frozen(X.data), frozen(indices), frozen(indptr), n, False, p)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got an array of shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
            raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float64)
    n, p = X.shape
    if n == 0 or p == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    X = np.asfortranarray(X)
    data = X.ravel(order="F")
    if check_finite and not _all_finite(data):
        raise ValueError(f"{name} contains NaN or infinity")
    idx = _EMPTY_IDX if n * p < 2**31 - 1 else np.zeros(0, dtype=np.int64)
    return ColumnStore(frozen(data), frozen(idx), frozen(idx), n, True, p)


#: A sparse ``X`` of at most this many entries (32 MiB as float64) that is at least
#: ``DENSE_FROM`` full is read as a dense array: a stored entry of a sparse column costs its
#: index and a gather on top of the product, so the dense kernels are faster there, and
#: sparse and dense input then follow the same arithmetic (scikit-learn's tests compare
#: them to 1e-7 on dense matrices stored as CSR).
DENSE_MAX_ENTRIES = 2 ** 22
DENSE_FROM = 0.5


def _densify(X):
    n, p = X.shape
    return 0 < n * p <= DENSE_MAX_ENTRIES and X.nnz >= DENSE_FROM * n * p


def _all_finite(a):
    """``np.all(np.isfinite(a))``, first through the sum (NaN and inf propagate; one read,
    no boolean temporary: on a large X that temporary cost as much as a solver pass), the
    full check only when the sum is not finite (which an overflow can also cause)."""
    if a.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(a.sum()):
            return True
    return bool(np.all(np.isfinite(a)))


def check_vector(v, n, name, dtype=np.float64):
    """1-D finite float64 copy-free view of ``v`` of length ``n``."""
    v = np.asarray(v)
    if v.ndim != 1:
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        else:
            raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
    if v.shape[0] != n:
        raise ValueError(f"{name} has length {v.shape[0]}, expected {n} (the number of rows of X)")
    if not np.issubdtype(v.dtype, np.number) and v.dtype != bool:
        raise ValueError(f"{name} must be numeric, got dtype {v.dtype}")
    v = np.ascontiguousarray(v, dtype=dtype)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or infinity")
    return v


def normalize_sample_weight(sample_weight, n):
    """Return ``sw`` with ``sum(sw) == 1`` (``1/n`` each when ``sample_weight`` is None).

    The datafits are written as ``sum_i sw_i * loss_i``, so the unweighted loss is the mean.
    """
    if sample_weight is None:
        return np.full(n, 1.0 / n)
    s = np.asarray(sample_weight)
    if s.ndim == 0:
        s = np.full(n, float(s))
    s = check_vector(s, n, "sample_weight")
    if np.any(s < 0):
        raise ValueError("sample_weight must be non-negative")
    tot = s.sum()
    if tot <= 0:
        raise ValueError("sample_weight must have a positive sum")
    return s / tot


def check_coef(coef, p, name="coef", n_classes=None):
    coef = np.asarray(coef, dtype=np.float64)
    shape = (p,) if n_classes is None else (p, n_classes)
    if coef.shape != shape:
        raise ValueError(f"{name} has shape {coef.shape}, expected {shape}")
    if not np.all(np.isfinite(coef)):
        raise ValueError(f"{name} contains NaN or infinity")
    return coef


def linear_predictor(store, coef, intercept=0.0):
    """``X @ coef + intercept`` in float64 for a :class:`ColumnStore` (coef 1-D or 2-D)."""
    from ._kernels import x_dot

    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim == 1:
        out = np.empty(store.n)
        x_dot(*store.args, store.p, np.ascontiguousarray(coef), out)
        return out + intercept
    out = np.empty((store.n, coef.shape[1]))
    tmp = np.empty(store.n)
    for k in range(coef.shape[1]):
        x_dot(*store.args, store.p, np.ascontiguousarray(coef[:, k]), tmp)
        out[:, k] = tmp
    return out + np.asarray(intercept, dtype=np.float64)


def xt_times(store, v):
    """``X.T @ v`` in float64 (v 1-D or 2-D)."""
    from ._kernels import xt_dot

    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        out = np.empty(store.p)
        xt_dot(*store.args, store.p, np.ascontiguousarray(v), out)
        return out
    out = np.empty((store.p, v.shape[1]))
    tmp = np.empty(store.p)
    for k in range(v.shape[1]):
        xt_dot(*store.args, store.p, np.ascontiguousarray(v[:, k]), tmp)
        out[:, k] = tmp
    return out
