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

import numpy as np
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


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def multinomial_value(U, yi, sw):
    """``sum_i s_i (log sum_k exp(U_ik) - U_{i, y_i})``."""
    n, K = U.shape
    f = 0.0
    for i in range(n):
        if sw[i] == 0.0:
            continue
        m = U[i, 0]
        for k in range(1, K):
            m = max(m, U[i, k])
        s = 0.0
        for k in range(K):
            s += np.exp(U[i, k] - m)
        f += sw[i] * (m + np.log(s) - U[i, yi[i]])
    return f


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def softmax_rows(U, P):
    """``P = softmax(U)`` row by row (shifted by the row maximum)."""
    n, K = U.shape
    for i in range(n):
        m = U[i, 0]
        for k in range(1, K):
            m = max(m, U[i, k])
        s = 0.0
        for k in range(K):
            e = np.exp(U[i, k] - m)
            P[i, k] = e
            s += e
        for k in range(K):
            P[i, k] /= s


@njit(cache=True, nogil=True)
def multinomial_intercept(U, yi, sw, max_iter):
    """The intercepts ``b`` (K,) minimizing the softmax loss at ``U + b``: Newton with the
    K x K Hessian ``sum_i s_i (diag(p_i) - p_i p_i^T)``, singular along the all-ones
    direction (which does not change the loss), solved on its complement. Damped by
    Armijo halving far from the optimum; full steps once the Newton decrement is below
    ``1e-8 F``, until it stops falling (the rounding floor)."""
    n, K = U.shape
    b = np.zeros(K)
    Ub = np.empty((n, K))
    P = np.empty((n, K))
    f = -1.0
    prev = np.inf
    for _ in range(max_iter):
        for i in range(n):
            for k in range(K):
                Ub[i, k] = U[i, k] + b[k]
        softmax_rows(Ub, P)
        g = np.zeros(K)
        H = np.zeros((K, K))
        for i in range(n):
            s = sw[i]
            if s == 0.0:
                continue
            g[yi[i]] -= s
            for k in range(K):
                pk = s * P[i, k]
                g[k] += pk
                H[k, k] += pk
                for c in range(K):
                    H[k, c] -= pk * P[i, c]
        shift = 0.0
        for k in range(K):
            shift += H[k, k]
        shift = max(shift / K, 1e-300)
        for k in range(K):
            for c in range(K):
                H[k, c] += shift / K
        step = np.linalg.solve(H, g)
        step -= step.mean()
        decrement = 0.0
        for k in range(K):
            decrement += g[k] * step[k]
        if not decrement > 0.0 or decrement >= 0.5 * prev:
            break
        if f < 0.0:
            f = multinomial_value(Ub, yi, sw)
        if decrement <= 1e-8 * f:
            b -= step
            prev = decrement
            continue
        t = 1.0
        accepted = False
        while t >= 1e-10:
            for i in range(n):
                for k in range(K):
                    Ub[i, k] = U[i, k] + b[k] - t * step[k]
            fn = multinomial_value(Ub, yi, sw)
            if fn <= f - 1e-4 * t * decrement:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        b -= t * step
        f = fn
    return b
