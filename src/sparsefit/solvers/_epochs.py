"""Coordinate descent on a working set: the inner solver of every working-set method.

The inner problem is always a weighted least-squares one,

    min_w  1/2 sum_i sw_i R_i^2 + sum_{units u in ws} pen_u(w_u),   R = z - X w - b,

which is the Quadratic datafit itself (``z = y``) or the Newton model of a smooth datafit
(``sw`` = Hessian weights, ``z`` = working response), so one kernel serves both solvers.
A *unit* is a coordinate (separable penalties) or a group (group penalties); the penalty
answers through its spec (:mod:`sparsefit.penalties._interface`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from ..datafits._kernels import FASTMATH, col_axpy, col_dot, col_dot_w
from ..penalties._interface import (
    block_prox,
    block_subdiff,
    conj1,
    coord_update,
    dual_scale1,
    implemented_for_type,
    prox1,
    value1,
)
from ._anderson import anderson_point, record
from ._units import gather, is_group_spec, max_group_size, units_value


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def wsq(sw, uniform, R):
    """``1/2 sum_i sw_i R_i^2``."""
    s = 0.0
    if uniform:
        for i in range(R.shape[0]):
            s += R[i] * R[i]
        return 0.5 * sw[0] * s
    for i in range(R.shape[0]):
        s += sw[i] * R[i] * R[i]
    return 0.5 * s


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def wsum(sw, uniform, R):
    """``sum_i sw_i R_i``."""
    s = 0.0
    if uniform:
        for i in range(R.shape[0]):
            s += R[i]
        return sw[0] * s
    for i in range(R.shape[0]):
        s += sw[i] * R[i]
    return s


# -- one epoch over the working set --------------------------------------------------------
# The separable epoch is compiled once per storage (not inlined, no storage branch in the
# loop): LLVM compiles the sparse gather/scatter loop about 1.7x faster that way (measured
# on the sparse benchmark problem, 2000x20000 at 1%). With ``xm`` non-empty they run in
# wls_cd's centered mode and return the offset ``c`` with their violation.
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _sep_epoch_dense(spec, data, n, sw, uniform, R, w, lc, xm, sw_sum, units):
    centered = xm.shape[0] > 0
    sw0 = sw[0]
    viol = 0.0
    c = 0.0  # centered mode: the true residual is R - c (see wls_cd)
    for j in units:
        L = lc[j]
        if L <= 0.0:
            continue
        col = data[j * n:(j + 1) * n]
        s = 0.0
        if uniform:
            for i in range(n):
                s += col[i] * R[i]
            s *= sw0
        else:
            for i in range(n):
                s += col[i] * (sw[i] * R[i])
        if centered:
            s -= c * sw_sum * xm[j]
        old = w[j]
        new, d = coord_update(spec, old, -s, L, j)
        viol = max(viol, d)
        if new != old:
            a = old - new
            w[j] = new
            for i in range(n):
                R[i] += a * col[i]
            if centered:
                c += a * xm[j]
    return viol, c


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _sep_epoch_sparse(spec, data, indices, indptr, sw, uniform, R, w, lc, xm, sw_sum, units):
    centered = xm.shape[0] > 0
    sw0 = sw[0]
    viol = 0.0
    c = 0.0
    for j in units:
        L = lc[j]
        if L <= 0.0:
            continue
        st = indptr[j]
        en = indptr[j + 1]
        d = data[st:en]
        ix = indices[st:en]
        s = 0.0
        if uniform:
            for k in range(en - st):
                s += d[k] * R[ix[k]]
            s *= sw0
        else:
            for k in range(en - st):
                i = ix[k]
                s += d[k] * (sw[i] * R[i])
        if centered:
            s -= c * sw_sum * xm[j]
        old = w[j]
        new, dv = coord_update(spec, old, -s, L, j)
        viol = max(viol, dv)
        if new != old:
            a = old - new
            w[j] = new
            for k in range(en - st):
                R[ix[k]] += a * d[k]
            if centered:
                c += a * xm[j]
    return viol, c


def cd_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum, units,
             xg, gg):
    """One epoch over ``units``: ``(largest violation seen, centered offset)``."""


def _sep_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum, units,
               xg, gg):
    if dense:
        return _sep_epoch_dense(spec, data, n, sw, uniform, R, w, lc, xm, sw_sum, units)
    return _sep_epoch_sparse(spec, data, indices, indptr, sw, uniform, R, w, lc, xm, sw_sum,
                             units)


def _group_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum,
                 units, xg, gg):
    centered = xm.shape[0] > 0
    sw0 = sw[0]
    viol = 0.0
    off = 0.0
    new = np.empty(xg.shape[0])
    for u in units:
        L = lc[u]
        if L <= 0.0:
            continue
        s = spec.grp_ptr[u]
        ln = spec.grp_ptr[u + 1] - s
        for k in range(ln):
            j = spec.grp_idx[s + k]
            if uniform:
                gk = -sw0 * col_dot(data, indices, indptr, n, dense, j, R)
            else:
                gk = -col_dot_w(data, indices, indptr, n, dense, j, sw, R)
            if centered:
                gk += off * sw_sum * xm[j]
            gg[k] = gk
            xg[k] = w[j]
        viol = max(viol, block_subdiff(spec, xg[:ln], gg[:ln], u))
        for k in range(ln):
            gg[k] = xg[k] - gg[k] / L
        block_prox(spec, gg[:ln], 1.0 / L, u, new[:ln])
        for k in range(ln):
            delta = new[k] - xg[k]
            if delta != 0.0:
                j = spec.grp_idx[s + k]
                w[j] = new[k]
                col_axpy(data, indices, indptr, n, dense, j, -delta, R)
                if centered:
                    off -= delta * xm[j]
    return viol, off


@overload(cd_epoch)
def _ol_cd_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum,
                 units, xg, gg):
    return _group_epoch if is_group_spec(spec) else _sep_epoch


# -- the working-set duality gap (separable penalties) -------------------------------------
def ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units):
    """Duality gap of the working-set subproblem, ``P(w) - D(s theta)`` with ``theta =
    sw * R`` rescaled as the full-problem gap does, in the units of the objective (``inf``
    for group penalties: not used). ``units`` must hold every non-zero coefficient. It
    equals the full gap when no feature outside ``units`` violates its optimality
    condition; it costs one epoch (``X_ws.T theta``)."""


def _sep_ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units):
    tR = 2.0 * wsq(sw, uniform, R)
    st = wsum(sw, uniform, R)
    v = np.empty(units.shape[0])
    wv = 0.0
    sub = np.empty(units.shape[0])
    for k in range(units.shape[0]):
        j = units[k]
        if uniform:
            v[k] = sw[0] * col_dot(data, indices, indptr, n, dense, j, R)
        else:
            v[k] = col_dot_w(data, indices, indptr, n, dense, j, sw, R)
        wv += w[j] * v[k]
        sub[k] = w[j]
    s, conj = _ws_dual(spec, v, units)
    pen = 0.0
    for k in range(units.shape[0]):
        if sub[k] != 0.0:
            pen += value1(spec, sub[k], units[k])
    # theta . z = theta . (R + X w + b)
    tz = tR + wv + b * st
    return 0.5 * tR + pen - (s * tz - 0.5 * s * s * tR - conj)


def _no_ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units):
    return np.inf


@overload(ws_gap)
def _ol_ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units):
    # non-convex penalties have no duality gap: never stop on it
    if is_group_spec(spec) or not implemented_for_type(dual_scale1, spec):
        return _no_ws_gap
    return _sep_ws_gap


@njit(cache=True, nogil=True, inline="always")
def _ws_dual(spec, v, units):
    # dual terms over the working-set coordinates (v[k] belongs to coordinate units[k])
    s = 1.0
    for k in range(units.shape[0]):
        s = min(s, dual_scale1(spec, v[k], units[k]))
    conj = 0.0
    for k in range(units.shape[0]):
        conj += conj1(spec, s * v[k], units[k])
    return s, conj


# -- the driver ------------------------------------------------------------------------------
def unit_coords(spec, units):
    """The coordinates the units ``units`` hold."""


def _sep_coords(spec, units):
    return units.copy()


def _group_coords(spec, units):
    m = 0
    for u in units:
        m += spec.grp_ptr[u + 1] - spec.grp_ptr[u]
    out = np.empty(m, dtype=np.int64)
    c = 0
    for u in units:
        for k in range(spec.grp_ptr[u], spec.grp_ptr[u + 1]):
            out[c] = spec.grp_idx[k]
            c += 1
    return out


@overload(unit_coords)
def _ol_unit_coords(spec, units):
    return _group_coords if is_group_spec(spec) else _sep_coords


def buffer_size(spec):
    """Scratch length for one unit (the largest group; 1 for separable penalties)."""


@overload(buffer_size)
def _ol_buffer_size(spec):
    if is_group_spec(spec):
        return lambda spec: max_group_size(spec)
    return lambda spec: 1


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _shift(R, b_arr, delta):
    b_arr[0] += delta
    for i in range(R.shape[0]):
        R[i] -= delta


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def wls_cd(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b_arr, fit_intercept,
           lc, xm, units, max_epochs, tol, anderson_k, gap_tol):
    """Coordinate descent on the working set ``units`` until the largest violation seen
    during an epoch is ``<= tol``, the working-set duality gap (:func:`ws_gap`, checked
    every few epochs when ``gap_tol > 0``, separable penalties only) is ``<= gap_tol``, or
    ``max_epochs`` epochs.

    ``R``, ``w`` and ``b_arr`` (length 1) are updated in place. ``lc`` holds the
    Lipschitz constant of each unit (indexed by unit id). Every ``anderson_k + 1`` epochs
    the last iterates are extrapolated (:mod:`._anderson`) and the extrapolation is kept
    when it lowers the objective. Returns ``(n_epochs, last_violation)``.

    Centered mode (``fit_intercept`` and ``xm`` non-empty, holding the weighted means
    ``xm_j = sum_i sw_i X_ij / sum_i sw_i`` of the working-set columns, with ``lc`` the
    curvatures of the centered columns ``X_j - xm_j``, per unit): every coordinate step
    moves the intercept with it, by ``-delta * xm_j``, which keeps the intercept optimal.
    That is coordinate descent on the centered columns (as scikit-learn runs it after
    centering X), without forming them: alternating between a coordinate and the intercept
    converges like ``1 - var_j / (var_j + xm_j^2)`` per epoch, 50,000 epochs where features
    have mean 100 and unit variance. The intercept's share of each step is kept as one
    offset ``c`` (the true residual is ``R - c``) and folded into ``R`` once per epoch, so a
    sparse column still costs its non-zeros only.
    """
    sw_sum = 0.0
    for i in range(n):
        sw_sum += sw[i]
    centered = fit_intercept and xm.shape[0] > 0 and sw_sum > 0.0
    if not centered:
        xm = xm[:0]
    else:  # start from the optimal intercept; the centered steps keep it optimal
        _shift(R, b_arr, wsum(sw, uniform, R) / sw_sum)
    size = buffer_size(spec)
    xg = np.empty(size)
    gg = np.empty(size)
    coords = unit_coords(spec, units)
    m = coords.shape[0]
    use_acc = anderson_k > 0 and m > 0
    last = np.zeros((anderson_k + 1, m + 1))
    values = np.empty(m + 1)
    viol = np.inf
    epoch = 0
    while epoch < max_epochs:
        viol, off = cd_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm,
                             sw_sum, units, xg, gg)
        if off != 0.0:
            _shift(R, b_arr, off)
        if fit_intercept and sw_sum > 0.0:
            gb = wsum(sw, uniform, R)
            viol = max(viol, abs(gb))
            _shift(R, b_arr, gb / sw_sum)
        epoch += 1
        if viol <= tol:
            break
        if gap_tol > 0.0 and epoch % (5 if epoch < 50 else 10) == 0:
            if ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b_arr[0],
                      units) <= gap_tol:
                break
        if use_acc:
            for c in range(m):
                values[c] = w[coords[c]]
            values[m] = b_arr[0]
            if record(last, epoch, values):
                _extrapolate(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b_arr,
                             fit_intercept, units, coords, last, xg)
    return epoch, viol


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _extrapolate(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b_arr,
                 fit_intercept, units, coords, last, buf):
    """Anderson step of :func:`wls_cd`: move to the extrapolated point when it lowers the
    objective (residual recomputed for the moved coordinates)."""
    m = coords.shape[0]
    acc = np.empty(m + 1)
    if not anderson_point(last, acc):
        return
    R_acc = R.copy()
    for c in range(m):
        dj = w[coords[c]] - acc[c]
        if dj != 0.0:
            col_axpy(data, indices, indptr, n, dense, coords[c], dj, R_acc)
    if fit_intercept:
        db = b_arr[0] - acc[m]
        for i in range(n):
            R_acc[i] += db
    obj = wsq(sw, uniform, R) + units_value(spec, w, units, buf)
    w_old = np.empty(m)
    for c in range(m):
        w_old[c] = w[coords[c]]
        w[coords[c]] = acc[c]
    if not feasible(spec, w, units, buf):
        obj_acc = np.inf
    else:
        obj_acc = wsq(sw, uniform, R_acc) + units_value(spec, w, units, buf)
    if obj_acc < obj:
        R[:] = R_acc
        if fit_intercept:
            b_arr[0] = acc[m]
    else:
        for c in range(m):
            w[coords[c]] = w_old[c]


def feasible(spec, w, units, buf):
    """True when the units ``units`` of ``w`` lie in the penalty's domain (a :class:`Box`
    restricts it): the prox with a zero step leaves a feasible point where it is."""


def _sep_feasible(spec, w, units, buf):
    for j in units:
        if prox1(spec, w[j], 0.0, j) != w[j]:
            return False
    return True


def _group_feasible(spec, w, units, buf):
    out = np.empty(buf.shape[0])
    for g in units:
        m = gather(w, spec, g, buf)
        block_prox(spec, buf[:m], 0.0, g, out[:m])
        for k in range(m):
            if out[k] != buf[k]:
                return False
    return True


@overload(feasible)
def _ol_feasible(spec, w, units, buf):
    return _group_feasible if is_group_spec(spec) else _sep_feasible
