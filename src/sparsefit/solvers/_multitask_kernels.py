"""Compiled block coordinate descent for multi-output least squares (the inner solver of
:class:`~.multitask.MultiTaskCD`).

The working-set subproblem is

    min_W  1/2 sum_t sum_i sw_i R_ti^2 + sum_{units u in ws} pen_u(W_u),
    R_t = Y_t - X W_t - b_t,

with coefficient ``(j, t)`` at penalty coordinate ``j * T + t`` of the flat ``w`` (a view of
the C-ordered ``(n_features, T)`` matrix ``W``) and the residual stored task by task,
``R`` of shape ``(T, n)``, so each task's residual is contiguous. A *unit* is a group of a
group penalty (``GroupL1`` on ``[T] * n_features`` makes it the ``T`` coefficients of one
feature: block coordinate descent over features) or a feature of a separable penalty
(its ``T`` coordinates are then updated one after the other). The penalty answers through
its spec (:mod:`sparsefit.penalties._interface`).

With an intercept, the epochs run in the centered mode of :func:`~._epochs.wls_cd`, task by
task: every step on feature ``j`` moves the task's intercept by ``-delta * xm_j``, which
keeps it optimal, the curvatures are those of the centered columns, and the intercepts'
share of the steps is kept as one offset per task, folded into ``R`` once per epoch.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from ..datafits._kernels import FASTMATH, col_axpy, col_dot, col_dot_w
from ..penalties._interface import (
    block_conj,
    block_dual_scale,
    block_prox,
    block_subdiff,
    block_value,
    conj1,
    coord_update,
    dual_scale1,
    implemented_for_type,
    prox1,
    value1,
)
from ._anderson import anderson_point, record
from ._epochs import wsq, wsum
from ._units import is_group_spec, max_group_size


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def xt_tasks(data, indices, indptr, n, dense, p, Theta, out):
    """``out[j, t] = X[:, j] @ Theta[t]`` for every feature (``Theta`` of shape ``(T, n)``,
    ``out`` ``(p, T)``): each column is read once for all tasks."""
    T = Theta.shape[0]
    for j in range(p):
        for t in range(T):
            out[j, t] = col_dot(data, indices, indptr, n, dense, j, Theta[t])


@njit(cache=True, nogil=True)
def group_curvatures(spec, T, lcol, units, out):
    """``out[g]`` for ``g`` in ``units``: a bound on the curvature of group ``g``, the
    largest over the tasks of the summed column curvatures ``lcol`` of its features in that
    task (coefficients of different tasks do not interact; exact for one feature's
    ``T`` coefficients)."""
    acc = np.zeros(T)
    for g in units:
        acc[:] = 0.0
        for k in range(spec.grp_ptr[g], spec.grp_ptr[g + 1]):
            c = spec.grp_idx[k]
            acc[c % T] += lcol[c // T]
        out[g] = acc.max()


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _task_grad(data, indices, indptr, n, dense, sw, uniform, R, j, t, off, sw_sum, xm,
               centered):
    """Gradient of coefficient ``(j, t)``: ``-X_j . (sw R_t)``, at the true residual
    ``R_t - off_t`` in centered mode."""
    if uniform:
        g = -sw[0] * col_dot(data, indices, indptr, n, dense, j, R[t])
    else:
        g = -col_dot_w(data, indices, indptr, n, dense, j, sw, R[t])
    if centered:
        g += off[t] * sw_sum * xm[j]
    return g


# -- one epoch over the working set ------------------------------------------------------
def mt_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum, units,
             off, xg, gg, new):
    """One epoch over ``units``; returns the largest violation seen. ``off`` (one entry per
    task, zero on entry) collects the centered mode's intercept moves."""


def _group_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum,
                 units, off, xg, gg, new):
    T = R.shape[0]
    centered = xm.shape[0] > 0
    viol = 0.0
    for u in units:
        L = lc[u]
        if L <= 0.0:
            continue
        s = spec.grp_ptr[u]
        ln = spec.grp_ptr[u + 1] - s
        for k in range(ln):
            c = spec.grp_idx[s + k]
            j = c // T
            gg[k] = _task_grad(data, indices, indptr, n, dense, sw, uniform, R, j, c - j * T,
                               off, sw_sum, xm, centered)
            xg[k] = w[c]
        viol = max(viol, block_subdiff(spec, xg[:ln], gg[:ln], u))
        for k in range(ln):
            gg[k] = xg[k] - gg[k] / L
        block_prox(spec, gg[:ln], 1.0 / L, u, new[:ln])
        for k in range(ln):
            delta = new[k] - xg[k]
            if delta != 0.0:
                c = spec.grp_idx[s + k]
                j = c // T
                t = c - j * T
                w[c] = new[k]
                col_axpy(data, indices, indptr, n, dense, j, -delta, R[t])
                if centered:
                    off[t] -= delta * xm[j]
    return viol


def _sep_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum, units,
               off, xg, gg, new):
    T = R.shape[0]
    centered = xm.shape[0] > 0
    viol = 0.0
    for j in units:
        L = lc[j]
        if L <= 0.0:
            continue
        for t in range(T):
            c = j * T + t
            g = _task_grad(data, indices, indptr, n, dense, sw, uniform, R, j, t, off, sw_sum,
                           xm, centered)
            old = w[c]
            val, d = coord_update(spec, old, g, L, c)
            viol = max(viol, d)
            if val != old:
                w[c] = val
                col_axpy(data, indices, indptr, n, dense, j, old - val, R[t])
                if centered:
                    off[t] += (old - val) * xm[j]
    return viol


@overload(mt_epoch)
def _ol_mt_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm, sw_sum,
                 units, off, xg, gg, new):
    return _group_epoch if is_group_spec(spec) else _sep_epoch


# -- the working set's coordinates, penalty, feasibility and dual terms --------------------
def mt_coords(spec, units, T):
    """The flat coordinates the units hold (a group's together, in the order of
    ``units``)."""


def _group_coords(spec, units, T):
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


def _sep_coords(spec, units, T):
    out = np.empty(units.shape[0] * T, dtype=np.int64)
    for a in range(units.shape[0]):
        for t in range(T):
            out[a * T + t] = units[a] * T + t
    return out


@overload(mt_coords)
def _ol_mt_coords(spec, units, T):
    return _group_coords if is_group_spec(spec) else _sep_coords


def ws_penalty(spec, w, units, coords, buf):
    """The penalty of the working set's coefficients."""


def _group_penalty(spec, w, units, coords, buf):
    val = 0.0
    for g in units:
        s = spec.grp_ptr[g]
        m = spec.grp_ptr[g + 1] - s
        for k in range(m):
            buf[k] = w[spec.grp_idx[s + k]]
        val += block_value(spec, buf[:m], g)
    return val


def _sep_penalty(spec, w, units, coords, buf):
    val = 0.0
    for c in coords:
        if w[c] != 0.0:
            val += value1(spec, w[c], c)
    return val


@overload(ws_penalty)
def _ol_ws_penalty(spec, w, units, coords, buf):
    return _group_penalty if is_group_spec(spec) else _sep_penalty


def ws_feasible(spec, w, units, coords, buf):
    """True when the working set's coefficients lie in the penalty's domain (a Box
    restricts it): the prox with a zero step leaves a feasible point where it is."""


def _group_feasible(spec, w, units, coords, buf):
    out = np.empty(buf.shape[0])
    for g in units:
        s = spec.grp_ptr[g]
        m = spec.grp_ptr[g + 1] - s
        for k in range(m):
            buf[k] = w[spec.grp_idx[s + k]]
        block_prox(spec, buf[:m], 0.0, g, out[:m])
        for k in range(m):
            if out[k] != buf[k]:
                return False
    return True


def _sep_feasible(spec, w, units, coords, buf):
    for c in coords:
        if prox1(spec, w[c], 0.0, c) != w[c]:
            return False
    return True


@overload(ws_feasible)
def _ol_ws_feasible(spec, w, units, coords, buf):
    return _group_feasible if is_group_spec(spec) else _sep_feasible


def ws_dual(spec, v, units, coords):
    """``(s, conj)`` of the duality gap over the working set, ``v[k] = X_j . theta_t`` for
    coordinate ``coords[k]``: the scale keeping every unit's conjugate finite and the
    conjugate at ``s v`` (see :func:`~._units.dual_terms`)."""


def _group_dual(spec, v, units, coords):
    s = 1.0
    pos = 0
    for g in units:
        m = spec.grp_ptr[g + 1] - spec.grp_ptr[g]
        s = min(s, block_dual_scale(spec, v[pos:pos + m], g))
        pos += m
    conj = 0.0
    pos = 0
    for g in units:
        m = spec.grp_ptr[g + 1] - spec.grp_ptr[g]
        conj += block_conj(spec, s * v[pos:pos + m], g)
        pos += m
    return s, conj


def _sep_dual(spec, v, units, coords):
    s = 1.0
    for k in range(coords.shape[0]):
        s = min(s, dual_scale1(spec, v[k], coords[k]))
    conj = 0.0
    for k in range(coords.shape[0]):
        conj += conj1(spec, s * v[k], coords[k])
    return s, conj


@overload(ws_dual)
def _ol_ws_dual(spec, v, units, coords):
    return _group_dual if is_group_spec(spec) else _sep_dual


def has_gap(spec):
    """Whether the penalty gives a duality gap (convex: its dual terms are implemented)."""


@overload(has_gap)
def _ol_has_gap(spec):
    gen = block_dual_scale if is_group_spec(spec) else dual_scale1
    ok = implemented_for_type(gen, spec)
    return lambda spec: ok


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units, coords, buf):
    """Duality gap of the working-set subproblem, ``P(W) - D(s theta)`` with ``theta_t =
    sw * R_t`` rescaled as the full-problem gap does, in the units of the objective (the
    intercepts optimal, so ``sum_i theta_ti = 0``). It equals the full gap when no unit
    outside the working set violates its optimality condition; it costs one epoch."""
    T = R.shape[0]
    tR = 0.0
    tb = 0.0
    for t in range(T):
        tR += 2.0 * wsq(sw, uniform, R[t])
        tb += b[t] * wsum(sw, uniform, R[t])
    m = coords.shape[0]
    v = np.empty(m)
    wv = 0.0
    for k in range(m):
        c = coords[k]
        j = c // T
        t = c - j * T
        if uniform:
            v[k] = sw[0] * col_dot(data, indices, indptr, n, dense, j, R[t])
        else:
            v[k] = col_dot_w(data, indices, indptr, n, dense, j, sw, R[t])
        wv += w[c] * v[k]
    s, conj = ws_dual(spec, v, units, coords)
    pen = ws_penalty(spec, w, units, coords, buf)
    # theta . Y = theta . (R + X W + b)
    tz = tR + wv + tb
    return 0.5 * tR + pen - (s * tz - 0.5 * s * s * tR - conj)


def buffer_size(spec):
    """Scratch length for one unit (the largest group; 1 for separable penalties)."""


@overload(buffer_size)
def _ol_buffer_size(spec):
    if is_group_spec(spec):
        return lambda spec: max_group_size(spec)
    return lambda spec: 1


# -- the driver -------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _shift(R, b, t, delta):
    b[t] += delta
    r = R[t]
    for i in range(r.shape[0]):
        r[i] -= delta


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _objective(spec, sw, uniform, R, w, units, coords, buf):
    f = 0.0
    for t in range(R.shape[0]):
        f += wsq(sw, uniform, R[t])
    return f + ws_penalty(spec, w, units, coords, buf)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def multitask_cd(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, fit_intercept,
                 lc, xm, units, max_epochs, tol, anderson_k, gap_tol):
    """Block coordinate descent on the working set ``units`` until the largest violation
    seen during an epoch is ``<= tol``, the working-set duality gap (:func:`ws_gap`,
    checked every few epochs when ``gap_tol > 0``) is ``<= gap_tol``, or ``max_epochs``.

    ``R`` (T, n), ``w`` (flat ``W``) and ``b`` (T,) are updated in place. ``lc`` holds the
    curvature of each unit (a group bound from :func:`group_curvatures`, or the column
    curvature of a feature for a separable penalty); ``xm`` (centered mode, with an
    intercept) the weighted column means, ``lc`` then being the centered curvatures. Every
    ``anderson_k + 1`` epochs the last iterates are extrapolated (:mod:`._anderson`) and the
    extrapolation kept when it lowers the objective. Returns ``(n_epochs, violation)``.
    """
    T = R.shape[0]
    sw_sum = 0.0
    for i in range(n):
        sw_sum += sw[i]
    centered = fit_intercept and xm.shape[0] > 0 and sw_sum > 0.0
    if not centered:
        xm = xm[:0]
    else:  # start from the optimal intercepts; the centered steps keep them optimal
        for t in range(T):
            _shift(R, b, t, wsum(sw, uniform, R[t]) / sw_sum)
    size = buffer_size(spec)
    xg, gg, new = np.empty(size), np.empty(size), np.empty(size)
    off = np.zeros(T)
    coords = mt_coords(spec, units, T)
    m = coords.shape[0]
    use_gap = gap_tol > 0.0 and has_gap(spec)
    use_acc = anderson_k > 0 and m > 0
    last = np.zeros((anderson_k + 1, m + T))
    values = np.empty(m + T)
    viol = np.inf
    epoch = 0
    while epoch < max_epochs:
        off[:] = 0.0
        viol = mt_epoch(spec, data, indices, indptr, n, dense, sw, uniform, R, w, lc, xm,
                        sw_sum, units, off, xg, gg, new)
        for t in range(T):
            if off[t] != 0.0:
                _shift(R, b, t, off[t])
        if fit_intercept and sw_sum > 0.0:
            for t in range(T):
                gb = wsum(sw, uniform, R[t])
                viol = max(viol, abs(gb))
                _shift(R, b, t, gb / sw_sum)
        epoch += 1
        if viol <= tol:
            break
        if use_gap and epoch % (5 if epoch < 50 else 10) == 0:
            if ws_gap(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, units, coords,
                      xg) <= gap_tol:
                break
        if use_acc:
            for k in range(m):
                values[k] = w[coords[k]]
            for t in range(T):
                values[m + t] = b[t]
            if record(last, epoch, values):
                _extrapolate(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b,
                             fit_intercept, units, coords, last, xg)
    return epoch, viol


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _extrapolate(spec, data, indices, indptr, n, dense, sw, uniform, R, w, b, fit_intercept,
                 units, coords, last, buf):
    """Anderson step of :func:`multitask_cd`: move to the extrapolated point when it is
    feasible and lowers the objective (residuals recomputed for the moved coefficients)."""
    T = R.shape[0]
    m = coords.shape[0]
    acc = np.empty(m + T)
    if not anderson_point(last, acc):
        return
    R_acc = R.copy()
    for k in range(m):
        c = coords[k]
        d = w[c] - acc[k]
        if d != 0.0:
            j = c // T
            col_axpy(data, indices, indptr, n, dense, j, d, R_acc[c - j * T])
    if fit_intercept:
        for t in range(T):
            db = b[t] - acc[m + t]
            r = R_acc[t]
            for i in range(n):
                r[i] += db
    obj = _objective(spec, sw, uniform, R, w, units, coords, buf)
    w_old = np.empty(m)
    for k in range(m):
        w_old[k] = w[coords[k]]
        w[coords[k]] = acc[k]
    if not ws_feasible(spec, w, units, coords, buf):
        obj_acc = np.inf
    else:
        obj_acc = _objective(spec, sw, uniform, R_acc, w, units, coords, buf)
    if obj_acc < obj:
        R[:, :] = R_acc
        if fit_intercept:
            for t in range(T):
                b[t] = acc[m + t]
    else:
        for k in range(m):
            w[coords[k]] = w_old[k]
