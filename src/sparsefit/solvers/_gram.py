"""Coordinate descent on a working set in covariance (Gram) form, as glmnet does.

For a separable penalty and the weighted least-squares datafit ``1/2 sum_i sw_i R_i^2``,
with ``G = X_ws.T diag(sw) X_ws``, ``cvec = X_ws.T sw`` and ``q = X_ws.T (sw * R)`` kept up
to date, a coordinate that stays put costs O(1) and one that moves O(|ws|), instead of
O(n) and O(n) + O(n): cheaper whenever the working set holds many zeros or ``n`` is large.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..datafits._kernels import FASTMATH
from ..penalties._interface import conj1, coord_update, dual_scale1, prox1, value1
from ._anderson import anderson_point, record
from ._columns import gather_block

ACTIVE_SWEEPS = 20


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _move(G, cvec, q, w_loc, k, old, new, f_r, s_r):
    """Move working-set coordinate ``k`` from ``old`` to ``new``: ``q`` in place; returns
    the updated ``(f_r, s_r)`` (see :func:`gram_cd`)."""
    delta = new - old
    w_loc[k] = new
    f_r += delta * (delta * G[k, k] - 2.0 * q[k])
    col = G[:, k]
    for i in range(q.shape[0]):
        q[i] -= delta * col[i]
    return f_r, s_r - delta * cvec[k]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _epoch(spec, G, cvec, q, w_loc, units, f_r, s_r):
    """One pass over the working set; returns ``(viol, f_r, s_r)``."""
    viol = 0.0
    for k in range(units.shape[0]):
        L = G[k, k]
        if L <= 0.0:
            continue
        old = w_loc[k]
        new, d = coord_update(spec, old, -q[k], L, units[k])
        viol = max(viol, d)
        if new != old:
            f_r, s_r = _move(G, cvec, q, w_loc, k, old, new, f_r, s_r)
    return viol, f_r, s_r


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _active_sweeps(spec, G, cvec, q, w_loc, units, f_r, s_r, tol, max_sweeps):
    """Sweeps over the non-zero coordinates only (glmnet's active-set iterations), until
    their largest violation is ``<= tol`` or ``max_sweeps``; ``q`` is then brought up to
    date for the whole working set at once. A moving coordinate costs O(n_active) instead
    of O(|ws|): the working set is about twice the support, so these sweeps cost about half
    a full one. Nothing is done when more than 3/4 of the working set is non-zero. Returns
    ``(n_sweeps, f_r, s_r)``."""
    m = units.shape[0]
    act = np.flatnonzero(w_loc != 0.0)
    na = act.shape[0]
    if na == 0 or 4 * na > 3 * m:
        return 0, f_r, s_r
    # the active block, Fortran-ordered like G (contiguous columns), and its vectors
    GA = gather_block(G, act)
    qa = q[act]
    wa = w_loc[act]
    ca = cvec[act]
    ua = units[act]
    sweeps = 0
    while sweeps < max_sweeps:
        va, f_r, s_r = _epoch(spec, GA, ca, qa, wa, ua, f_r, s_r)
        sweeps += 1
        if va <= tol:
            break
    for t in range(na):
        k = act[t]
        dk = wa[t] - w_loc[k]
        if dk != 0.0:
            w_loc[k] = wa[t]
            col = G[:, k]
            for i in range(m):
                q[i] -= dk * col[i]
    return sweeps, f_r, s_r


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _gap(spec, q, w_loc, units, b, f_r, s_r):
    """The working-set duality gap from the covariance quantities (O(|ws|))."""
    pen = 0.0
    wv = 0.0
    s = 1.0
    for k in range(units.shape[0]):
        if w_loc[k] != 0.0:
            pen += value1(spec, w_loc[k], units[k])
            wv += w_loc[k] * q[k]
        s = min(s, dual_scale1(spec, q[k], units[k]))
    conj = 0.0
    for k in range(units.shape[0]):
        conj += conj1(spec, s * q[k], units[k])
    tz = f_r + wv + b * s_r
    return 0.5 * f_r + pen - (s * tz - 0.5 * s * s * f_r - conj)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _penalty(spec, w_loc, units):
    val = 0.0
    for k in range(units.shape[0]):
        if w_loc[k] != 0.0:
            val += value1(spec, w_loc[k], units[k])
    return val


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _extrapolate(spec, G, cvec, sw_sum, q, w_loc, b_arr, fit_intercept, units, last, f_r,
                 s_r):
    """Anderson step in covariance form: the objective change at the extrapolated point
    costs O(m * moved); it is kept when it lowers the objective. Returns ``(f_r, s_r)``."""
    m = units.shape[0]
    acc = np.empty(m + 1)
    if not anderson_point(last, acc):
        return f_r, s_r
    for k in range(m):
        if prox1(spec, acc[k], 0.0, units[k]) != acc[k]:
            return f_r, s_r  # outside the penalty's domain (a Box)
    dw = acc[:m] - w_loc
    Gd = np.zeros(m)
    for k in range(m):
        if dw[k] != 0.0:
            col = G[:, k]
            for i in range(m):
                Gd[i] += dw[k] * col[i]
    dbb = acc[m] - b_arr[0] if fit_intercept else 0.0
    lin = dbb * s_r
    quad = dbb * dbb * sw_sum
    cd_ = 0.0
    for k in range(m):
        lin += dw[k] * q[k]
        quad += dw[k] * Gd[k]
        cd_ += cvec[k] * dw[k]
    quad += 2.0 * dbb * cd_
    dfit = -lin + 0.5 * quad
    if dfit + _penalty(spec, acc[:m], units) - _penalty(spec, w_loc, units) < 0.0:
        w_loc[:] = acc[:m]
        for i in range(m):
            q[i] -= Gd[i] + dbb * cvec[i]
        s_r -= cd_ + dbb * sw_sum
        f_r += 2.0 * dfit
        b_arr[0] += dbb
    return f_r, s_r


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def gram_cd(spec, G, cvec, sw_sum, q, w_loc, b_arr, fit_intercept, s_r, f_r, units, max_epochs,
            tol, anderson_k, gap_tol):
    """Coordinate descent on the working set in covariance form (see the module docstring).

    ``w_loc`` (the working-set coefficients), ``q``, ``b_arr`` are updated in place;
    ``s_r = sum_i sw_i R_i`` and ``f_r = sum_i sw_i R_i^2`` are tracked. Stops as
    :func:`~._epochs.wls_cd` does (largest violation ``<= tol``, working-set gap
    ``<= gap_tol``, checked every 5 epochs at O(|ws|)). Returns ``(n_epochs,
    last_violation)``.
    """
    m = units.shape[0]
    use_acc = anderson_k > 0 and m > 0
    last = np.zeros((anderson_k + 1, m + 1))
    values = np.empty(m + 1)
    viol = np.inf
    epoch = 0
    n_active = 0  # sweeps over the non-zero coordinates only (see _active_sweeps)
    while epoch + n_active < max_epochs:
        viol, f_r, s_r = _epoch(spec, G, cvec, q, w_loc, units, f_r, s_r)
        if fit_intercept and sw_sum > 0.0:
            viol = max(viol, abs(s_r))
            db = s_r / sw_sum
            b_arr[0] += db
            f_r += db * (db * sw_sum - 2.0 * s_r)
            for i in range(m):
                q[i] -= db * cvec[i]
            s_r = 0.0
        epoch += 1
        if viol <= tol:
            break
        if gap_tol > 0.0 and epoch % 5 == 0:
            if _gap(spec, q, w_loc, units, b_arr[0], f_r, s_r) <= gap_tol:
                break
        if epoch + n_active < max_epochs:
            ns, f_r, s_r = _active_sweeps(spec, G, cvec, q, w_loc, units, f_r, s_r,
                                          max(tol, 0.3 * viol),
                                          min(ACTIVE_SWEEPS, max_epochs - epoch - n_active))
            n_active += ns
        if use_acc:
            values[:m] = w_loc
            values[m] = b_arr[0]
            if record(last, epoch, values):
                f_r, s_r = _extrapolate(spec, G, cvec, sw_sum, q, w_loc, b_arr, fit_intercept,
                                        units, last, f_r, s_r)
    return epoch + n_active, viol
