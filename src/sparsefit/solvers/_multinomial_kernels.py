"""Compiled proximal Newton for the Multinomial datafit with a separable penalty.

On a working set of features, taken as a dense block ``A`` (n, m) of their columns, one
Newton step minimizes the quadratic model of the softmax loss in the linear predictor,

.. math::

    \\sum_{i,k} G_{ki} d_{ik} + \\frac12 \\sum_i s_i\\, d_i^\\top (\\mathrm{diag}(p_i)
    - p_i p_i^\\top)\\, d_i + \\mathrm{pen}(W + \\Delta), \\qquad d_{ik} = A_i \\Delta_{\\cdot k}
    + \\Delta b_k,

with the exact Hessian of every sample (all classes coupled, not class by class), by
coordinate descent: with ``q_i = p_i . d_i`` kept up to date, the model gradient of
coefficient ``(j, k)`` is ``A_j . (G_k + s p_k (d_k - q))``, O(n) per coordinate. A
backtracking line search on the true objective follows. The caller centers the block's
columns when fitting an intercept, so the intercept steps do not crawl when a column's
mean dwarfs its spread.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..datafits._kernels import FASTMATH, col_dot, multinomial_value, softmax_rows
from ..penalties._interface import block_prox, block_subdiff, coord_update, subdiff1, value1


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _value_moved(U, yi, sw, D, t):
    """:func:`multinomial_value` at ``U + t D.T`` (without forming it)."""
    n, K = U.shape
    f = 0.0
    for i in range(n):
        if sw[i] == 0.0:
            continue
        m = U[i, 0] + t * D[0, i]
        for k in range(1, K):
            m = max(m, U[i, k] + t * D[k, i])
        s = 0.0
        for k in range(K):
            s += np.exp(U[i, k] + t * D[k, i] - m)
        c = yi[i]
        f += sw[i] * (m + np.log(s) - U[i, c] - t * D[c, i])
    return f


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _block_penalty(spec, V, cols):
    """Penalty of the block's coefficients ``V`` (m, K): coefficient ``(j, k)`` is penalty
    coordinate ``cols[j] * K + k``."""
    m, K = V.shape
    total = 0.0
    for j in range(m):
        for k in range(K):
            if V[j, k] != 0.0:
                total += value1(spec, V[j, k], cols[j] * K + k)
    return total


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _gradients(spec, A, G, V, cols, fit_intercept, grad):
    """``grad = A.T G.T`` (m, K); returns the largest violation (with the intercepts')."""
    n, m = A.shape
    K = G.shape[0]
    viol = 0.0
    for j in range(m):
        a = A[:, j]
        for k in range(K):
            s = 0.0
            g = G[k]
            for i in range(n):
                s += a[i] * g[i]
            grad[j, k] = s
            viol = max(viol, subdiff1(spec, V[j, k], s, cols[j] * K + k))
    if fit_intercept:
        for k in range(K):
            viol = max(viol, abs(G[k].sum()))
    return viol


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _model_cd(spec, A, G, SP, P, V, cols, db, D, q, L, Lb, fit_intercept, max_epochs, tol):
    """Coordinate descent on the Newton model (see the module docstring); ``V``, ``db``,
    ``D`` (K, n, the model's change of the linear predictor) and ``q`` are updated in
    place. Returns the number of epochs."""
    n, m = A.shape
    K = G.shape[0]
    epoch = 0
    while epoch < max_epochs:
        viol = 0.0
        for j in range(m):
            a = A[:, j]
            for k in range(K):
                if L[j, k] <= 0.0:
                    continue
                g_k = G[k]
                sp_k = SP[k]
                d_k = D[k]
                s = 0.0
                for i in range(n):
                    s += a[i] * (g_k[i] + sp_k[i] * (d_k[i] - q[i]))
                old = V[j, k]
                new, dist = coord_update(spec, old, s, L[j, k], cols[j] * K + k)
                viol = max(viol, dist)
                if new != old:
                    delta = new - old
                    V[j, k] = new
                    for i in range(n):
                        step = delta * a[i]
                        d_k[i] += step
                        q[i] += step * P[i, k]
        if fit_intercept:
            for k in range(K):
                if Lb[k] <= 0.0:
                    continue
                g_k = G[k]
                sp_k = SP[k]
                d_k = D[k]
                s = 0.0
                for i in range(n):
                    s += g_k[i] + sp_k[i] * (d_k[i] - q[i])
                viol = max(viol, abs(s))
                delta = -s / Lb[k]
                db[k] += delta
                for i in range(n):
                    d_k[i] += delta
                    q[i] += delta * P[i, k]
        epoch += 1
        if viol <= tol:
            break
    return epoch


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def multinomial_newton(spec, A, sw, yi, U, V, cols, b, fit_intercept, max_newton, max_cd, tol):
    """Proximal Newton on the block ``A`` (n, m), the columns ``cols`` of X, with
    coefficients ``V`` (m, K) until the block's largest violation is ``<= tol`` (or
    ``max_newton`` steps). ``U`` (n, K, the full linear predictor), ``V`` and ``b`` are
    updated in place; coefficient ``(j, k)`` is penalty coordinate ``cols[j] * K + k``.
    Returns ``(n_epochs, violation)``."""
    n, m = A.shape
    K = U.shape[1]
    P = np.empty((n, K))
    G = np.empty((K, n))
    SP = np.empty((K, n))
    D = np.empty((K, n))
    q = np.empty(n)
    grad = np.empty((m, K))
    L = np.empty((m, K))
    Lb = np.empty(K)
    V0 = np.empty((m, K))
    Vt = np.empty((m, K))
    db = np.empty(K)
    epochs = 0
    viol = np.inf
    for _ in range(max_newton):
        softmax_rows(U, P)
        for k in range(K):
            for i in range(n):
                G[k, i] = sw[i] * (P[i, k] - (1.0 if yi[i] == k else 0.0))
                SP[k, i] = sw[i] * P[i, k]
        viol = _gradients(spec, A, G, V, cols, fit_intercept, grad)
        if viol <= tol:
            break
        for k in range(K):
            lb = 0.0
            for i in range(n):
                lb += SP[k, i] * (1.0 - P[i, k])
            Lb[k] = lb
            for j in range(m):
                s = 0.0
                for i in range(n):
                    s += SP[k, i] * (1.0 - P[i, k]) * A[i, j] * A[i, j]
                L[j, k] = s
        D[:, :] = 0.0
        q[:] = 0.0
        db[:] = 0.0
        V0[:, :] = V
        epochs += _model_cd(spec, A, G, SP, P, V, cols, db, D, q, L, Lb, fit_intercept, max_cd,
                            0.3 * viol)
        pen0 = _block_penalty(spec, V0, cols)
        delta = _block_penalty(spec, V, cols) - pen0
        for k in range(K):
            for i in range(n):
                delta += G[k, i] * D[k, i]
        F0 = multinomial_value(U, yi, sw) + pen0
        if delta > 1e-13 * abs(F0):
            V[:, :] = V0
            break  # the model predicts an increase: nothing left to gain
        t = 1.0
        if -delta > 1e-13 * abs(F0):
            # backtracking (below float64's resolution of F the full step is right, and a
            # line search would stall on rounding)
            for _ls in range(40):
                for j in range(m):
                    for k in range(K):
                        Vt[j, k] = V0[j, k] + t * (V[j, k] - V0[j, k])
                Ft = _value_moved(U, yi, sw, D, t) + _block_penalty(spec, Vt, cols)
                if Ft <= F0 + 1e-4 * t * delta:
                    break
                t *= 0.5
            else:
                V[:, :] = V0
                break
            V[:, :] = Vt
        for k in range(K):
            b[k] += t * db[k]
            for i in range(n):
                U[i, k] += t * D[k, i]
    return epochs, viol


@njit(cache=True, nogil=True)
def _softmax_row(U, P, i, K):
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
def multinomial_block_cd(spec, data, indices, indptr, n, dense, sw, Y, U, P, W, b,
                         fit_intercept, lc, units, K, max_epochs, tol):
    """Block coordinate descent on the multinomial loss with a group penalty whose groups
    hold flattened coefficients ``c = j * K + k`` (feature ``j``, class ``k``).

    Each group takes a proximal gradient step with step ``1 / lc[g]``, where ``lc[g]``
    bounds the curvature of the loss on the group (the softmax Hessian is at most I / 2),
    so every step decreases the objective (majorization-minimization). ``U = XW + b`` and
    ``P = softmax(U)`` are kept up to date. ``W`` is the flattened (p * K) coefficient
    vector. Returns ``(n_epochs, last_violation)``.
    """
    gmax = 1
    for u in units:
        gmax = max(gmax, spec.grp_ptr[u + 1] - spec.grp_ptr[u])
    xg = np.empty(gmax)
    gg = np.empty(gmax)
    new = np.empty(gmax)
    resid = np.empty(n)
    viol = np.inf
    epoch = 0
    while epoch < max_epochs:
        viol = 0.0
        for u in units:
            L = lc[u]
            if L <= 0.0:
                continue
            s = spec.grp_ptr[u]
            e = spec.grp_ptr[u + 1]
            ln = e - s
            for t in range(ln):
                c = spec.grp_idx[s + t]
                j = c // K
                k = c - j * K
                for i in range(n):
                    resid[i] = sw[i] * (P[i, k] - Y[i, k])
                gg[t] = col_dot(data, indices, indptr, n, dense, j, resid)
                xg[t] = W[c]
            d = block_subdiff(spec, xg[:ln], gg[:ln], u)
            viol = max(viol, d)
            for t in range(ln):
                gg[t] = xg[t] - gg[t] / L
            block_prox(spec, gg[:ln], 1.0 / L, u, new[:ln])
            changed = False
            for t in range(ln):
                delta = new[t] - xg[t]
                if delta != 0.0:
                    changed = True
                    c = spec.grp_idx[s + t]
                    W[c] = new[t]
                    j = c // K
                    k = c - j * K
                    if dense:
                        base = j * n
                        col = data[base:base + n]
                        for i in range(n):
                            U[i, k] += delta * col[i]
                    else:
                        st = indptr[j]
                        en = indptr[j + 1]
                        dd = data[st:en]
                        ix = indices[st:en]
                        for q in range(en - st):
                            U[ix[q], k] += delta * dd[q]
            if changed:
                # refresh the probabilities of the rows that moved
                if dense:
                    for i in range(n):
                        _softmax_row(U, P, i, K)
                else:
                    for t in range(ln):
                        j = spec.grp_idx[s + t] // K
                        for q in range(indptr[j], indptr[j + 1]):
                            _softmax_row(U, P, indices[q], K)
        if fit_intercept:
            # the intercept's curvature is at most sum(sw) / 2 = 1 / 2
            for k in range(K):
                gb = 0.0
                for i in range(n):
                    gb += sw[i] * (P[i, k] - Y[i, k])
                viol = max(viol, abs(gb))
                delta = -2.0 * gb
                b[k] += delta
                for i in range(n):
                    U[i, k] += delta
                for i in range(n):
                    _softmax_row(U, P, i, K)
        epoch += 1
        if viol <= tol:
            break
    return epoch, viol
