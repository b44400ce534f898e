"""Column kernels shared by the datafits and the solvers, compiled by numba.

A design matrix reaches compiled code as a *column store* ``(data, indices, indptr, n, dense)``:

- dense: ``data`` is the Fortran-ordered matrix raveled in column order (a view, no copy),
  column ``j`` is ``data[j * n:(j + 1) * n]``; ``indices`` and ``indptr`` are unused;
- sparse CSC: the three arrays of :class:`scipy.sparse.csc_matrix`.

One code path for both keeps a single compiled specialization per dtype and lets the branch
on ``dense`` sit outside the inner loops. Columns are taken as slices so that the inner
loops index from zero: numba then drops its negative-index checks and LLVM vectorizes
(about 4x faster than ``data[base + i]`` with ``base`` read from an array).
"""

from __future__ import annotations

from numba import njit

# Reassociation lets LLVM vectorize the reductions; no nnan/ninf so NaN checks stay valid.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def col_dot(data, indices, indptr, n, dense, j, v):
    """``X[:, j] @ v``."""
    s = 0.0
    if dense:
        col = data[j * n:(j + 1) * n]
        for i in range(n):
            s += col[i] * v[i]
    else:
        st = indptr[j]
        en = indptr[j + 1]
        d = data[st:en]
        ix = indices[st:en]
        for k in range(en - st):
            s += d[k] * v[ix[k]]
    return s


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def col_dot_w(data, indices, indptr, n, dense, j, sw, v):
    """``X[:, j] @ (sw * v)``."""
    s = 0.0
    if dense:
        col = data[j * n:(j + 1) * n]
        for i in range(n):
            s += col[i] * (sw[i] * v[i])
    else:
        st = indptr[j]
        en = indptr[j + 1]
        d = data[st:en]
        ix = indices[st:en]
        for k in range(en - st):
            i = ix[k]
            s += d[k] * (sw[i] * v[i])
    return s


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def col_dot_sq_w(data, indices, indptr, n, dense, j, sw):
    """``sum_i sw_i X_ij^2``."""
    s = 0.0
    if dense:
        col = data[j * n:(j + 1) * n]
        for i in range(n):
            s += sw[i] * col[i] * col[i]
    else:
        st = indptr[j]
        en = indptr[j + 1]
        d = data[st:en]
        ix = indices[st:en]
        for k in range(en - st):
            s += sw[ix[k]] * d[k] * d[k]
    return s


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def col_axpy(data, indices, indptr, n, dense, j, a, v):
    """``v += a * X[:, j]`` in place."""
    if dense:
        col = data[j * n:(j + 1) * n]
        for i in range(n):
            v[i] += a * col[i]
    else:
        st = indptr[j]
        en = indptr[j + 1]
        d = data[st:en]
        ix = indices[st:en]
        for k in range(en - st):
            v[ix[k]] += a * d[k]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def xt_dot(data, indices, indptr, n, dense, p, v, out):
    """``out[:] = X.T @ v`` (float64 accumulation whatever the dtype of X)."""
    for j in range(p):
        out[j] = col_dot(data, indices, indptr, n, dense, j, v)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def x_dot(data, indices, indptr, n, dense, p, w, out):
    """``out[:] = X @ w`` (float64)."""
    for i in range(n):
        out[i] = 0.0
    for j in range(p):
        if w[j] != 0.0:
            col_axpy(data, indices, indptr, n, dense, j, w[j], out)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def col_sq_norms_w(data, indices, indptr, n, dense, p, sw, out):
    """``out[j] = sum_i sw[i] * X[i, j] ** 2`` for every column."""
    for j in range(p):
        out[j] = col_dot_sq_w(data, indices, indptr, n, dense, j, sw)
