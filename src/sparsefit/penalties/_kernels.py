"""Scalar and block kernels of the penalties, compiled by numba for the solvers.

A penalty describes itself to compiled code by a :class:`NumbaSpec`: an integer ``kind``,
a float64 ``params`` array and a float64 ``weights`` array (per coordinate for separable
penalties, per group for group penalties; empty means all ones). A solver passes the three
to the functions below, which branch on ``kind``. One set of functions for all penalties
keeps numba's on-disk cache (``cache=True``) valid: no closures, no dynamic globals.

Parameter layout per kind::

    L1      params = [alpha]            value alpha * w_j * |x|
    L2      params = [l2]               value l2 * w_j * x**2
    L1L2    params = [l1, l2]           value w_j * (l1 * |x| + l2 * x**2)
    MCP     params = [alpha, gamma]
    SCAD    params = [alpha, a]
    GROUP_L1         params = [alpha]        value alpha * w_g * ||x_g||
    SPARSE_GROUP_L1  params = [alpha, tau]   value alpha*tau*||x_g||_1 + alpha*(1-tau)*w_g*||x_g||
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

L1 = 0
L2 = 1
L1L2 = 2
MCP = 4
SCAD = 5
GROUP_L1 = 10
SPARSE_GROUP_L1 = 11
TV1D = 20

SEPARABLE_KINDS = (L1, L2, L1L2, MCP, SCAD)
GROUP_KINDS = (GROUP_L1, SPARSE_GROUP_L1)


class NumbaSpec(NamedTuple):
    """What compiled solvers need to know about a penalty.

    Attributes
    ----------
    kind : int
        One of the module constants (``L1``, ``GROUP_L1``, ...).
    params : ndarray of float64
        Strengths, in the layout of the module docstring.
    weights : ndarray of float64
        Per-coordinate (separable) or per-group (group) weights; empty means all ones.
    grp_ptr, grp_idx : ndarray of int64
        Groups in compressed form: the coordinates of group ``g`` are
        ``grp_idx[grp_ptr[g]:grp_ptr[g + 1]]``. Empty for separable penalties.
    """

    kind: int
    params: np.ndarray
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)


def make_spec(kind, params, weights=None, grp_ptr=None, grp_idx=None):
    """Build a :class:`NumbaSpec` with contiguous arrays of the right dtypes."""
    return NumbaSpec(
        int(kind),
        np.ascontiguousarray(params, dtype=np.float64),
        _EMPTY_F if weights is None else np.ascontiguousarray(weights, dtype=np.float64),
        _EMPTY_I if grp_ptr is None else np.ascontiguousarray(grp_ptr, dtype=np.int64),
        _EMPTY_I if grp_idx is None else np.ascontiguousarray(grp_idx, dtype=np.int64),
    )


@njit(cache=True, nogil=True, inline="always")
def _weight(weights, j):
    if weights.shape[0] == 0:
        return 1.0
    return weights[j]


@njit(cache=True, nogil=True, inline="always")
def _st(x, t):
    # soft-thresholding of a scalar
    if x > t:
        return x - t
    if x < -t:
        return x + t
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _mcp_value(ax, alpha, gamma):
    if ax <= gamma * alpha:
        return alpha * ax - ax * ax / (2.0 * gamma)
    return 0.5 * gamma * alpha * alpha


@njit(cache=True, nogil=True, inline="always")
def _mcp_prox(x, s, alpha, gamma):
    ax = abs(x)
    sgn = 1.0 if x >= 0 else -1.0
    if s < gamma:
        # convex subproblem: the firm-thresholding closed form
        if ax <= s * alpha:
            return 0.0
        if ax <= gamma * alpha:
            return sgn * (ax - s * alpha) / (1.0 - s / gamma)
        return x
    # s >= gamma: the objective is concave on |z| <= gamma*alpha, so the minimum is at 0
    # or at max(|x|, gamma*alpha); compare the two.
    z = max(ax, gamma * alpha)
    f0 = 0.5 * ax * ax
    f1 = 0.5 * (z - ax) ** 2 + s * 0.5 * gamma * alpha * alpha
    if f1 < f0:
        return sgn * z
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _mcp_deriv(ax, alpha, gamma):
    # derivative of the MCP at |x| = ax > 0
    if ax <= gamma * alpha:
        return alpha - ax / gamma
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _scad_value(ax, alpha, a):
    if ax <= alpha:
        return alpha * ax
    if ax <= a * alpha:
        return (2.0 * a * alpha * ax - ax * ax - alpha * alpha) / (2.0 * (a - 1.0))
    return 0.5 * alpha * alpha * (a + 1.0)


@njit(cache=True, nogil=True, inline="always")
def _scad_prox(x, s, alpha, a):
    ax = abs(x)
    sgn = 1.0 if x >= 0 else -1.0
    if s < a - 1.0:
        # convex subproblem: closed form
        if ax <= alpha * (1.0 + s):
            return sgn * max(ax - s * alpha, 0.0)
        if ax <= a * alpha:
            return sgn * ((a - 1.0) * ax - s * a * alpha) / (a - 1.0 - s)
        return x
    # non-convex subproblem: the middle piece is concave, compare the candidates
    best_z = 0.0
    best_f = 0.5 * ax * ax
    c1 = min(max(ax - s * alpha, 0.0), alpha)
    c3 = max(ax, a * alpha)
    for z in (c1, alpha, a * alpha, c3):
        f = 0.5 * (z - ax) ** 2 + s * _scad_value(z, alpha, a)
        if f < best_f:
            best_f = f
            best_z = z
    return sgn * best_z


@njit(cache=True, nogil=True, inline="always")
def _scad_deriv(ax, alpha, a):
    if ax <= alpha:
        return alpha
    if ax <= a * alpha:
        return (a * alpha - ax) / (a - 1.0)
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def value_1d(kind, x, params, weights, j):
    """Value of a separable penalty at coordinate ``j`` holding ``x``."""
    wj = _weight(weights, j)
    ax = abs(x)
    if kind == L1:
        return params[0] * wj * ax
    if kind == L2:
        return params[0] * wj * x * x
    if kind == L1L2:
        return wj * (params[0] * ax + params[1] * x * x)
    if kind == MCP:
        return _mcp_value(ax, params[0] * wj, params[1])
    if kind == SCAD:
        return _scad_value(ax, params[0] * wj, params[1])
    return np.nan


@njit(cache=True, nogil=True, inline="always")
def prox_1d(kind, x, step, params, weights, j):
    """Proximal operator of ``step * penalty`` at coordinate ``j``.

    Returns ``argmin_z 0.5 * (z - x)**2 + step * pen_j(z)``.
    """
    wj = _weight(weights, j)
    if kind == L1:
        return _st(x, step * params[0] * wj)
    if kind == L2:
        return x / (1.0 + 2.0 * step * params[0] * wj)
    if kind == L1L2:
        return _st(x, step * params[0] * wj) / (1.0 + 2.0 * step * params[1] * wj)
    if kind == MCP:
        return _mcp_prox(x, step, params[0] * wj, params[1])
    if kind == SCAD:
        return _scad_prox(x, step, params[0] * wj, params[1])
    return np.nan


@njit(cache=True, nogil=True, inline="always")
def subdiff_dist_1d(kind, x, grad, params, weights, j):
    """Distance of ``-grad`` to the (limiting) subdifferential of the penalty at ``x``.

    Zero exactly when ``x`` satisfies the coordinate-wise optimality condition.
    """
    wj = _weight(weights, j)
    ax = abs(x)
    sgn = 1.0 if x > 0 else -1.0
    if kind == L2:
        return abs(grad + 2.0 * params[0] * wj * x)
    if kind == L1 or kind == L1L2:
        lam = params[0] * wj
        smooth = 0.0
        if kind == L1L2:
            smooth = 2.0 * params[1] * wj * x
        if x == 0.0:
            return max(abs(grad) - lam, 0.0)
        return abs(grad + smooth + lam * sgn)
    if kind == MCP or kind == SCAD:
        lam = params[0] * wj
        if x == 0.0:
            return max(abs(grad) - lam, 0.0)
        if kind == MCP:
            d = _mcp_deriv(ax, lam, params[1])
        else:
            d = _scad_deriv(ax, lam, params[1])
        return abs(grad + sgn * d)
    return np.nan


@njit(cache=True, nogil=True)
def block_value(kind, x, params, gweight):
    """Value of a group penalty on one group ``x`` (1-D array) with group weight ``gweight``."""
    nrm = np.sqrt(np.sum(x * x))
    if kind == GROUP_L1:
        return params[0] * gweight * nrm
    if kind == SPARSE_GROUP_L1:
        alpha, tau = params[0], params[1]
        return alpha * tau * np.sum(np.abs(x)) + alpha * (1.0 - tau) * gweight * nrm
    return np.nan


@njit(cache=True, nogil=True)
def block_prox(kind, x, step, params, gweight):
    """Proximal operator of ``step * penalty`` on one group; returns a new array."""
    out = np.empty_like(x)
    if kind == SPARSE_GROUP_L1:
        t1 = step * params[0] * params[1]
        for i in range(x.shape[0]):
            out[i] = _st(x[i], t1)
        t2 = step * params[0] * (1.0 - params[1]) * gweight
    else:
        for i in range(x.shape[0]):
            out[i] = x[i]
        t2 = step * params[0] * gweight
    nrm = np.sqrt(np.sum(out * out))
    if nrm <= t2:
        out[:] = 0.0
    else:
        out *= 1.0 - t2 / nrm
    return out


@njit(cache=True, nogil=True)
def block_subdiff_dist(kind, x, grad, params, gweight):
    """Euclidean distance of ``-grad`` to the subdifferential of the group penalty at ``x``."""
    nrm = np.sqrt(np.sum(x * x))
    if kind == GROUP_L1:
        lam = params[0] * gweight
        if nrm == 0.0:
            return max(np.sqrt(np.sum(grad * grad)) - lam, 0.0)
        return np.sqrt(np.sum((grad + lam * x / nrm) ** 2))
    if kind == SPARSE_GROUP_L1:
        l1 = params[0] * params[1]
        lg = params[0] * (1.0 - params[1]) * gweight
        if nrm == 0.0:
            s = 0.0
            for i in range(x.shape[0]):
                r = _st(grad[i], l1)
                s += r * r
            return max(np.sqrt(s) - lg, 0.0)
        s = 0.0
        for i in range(x.shape[0]):
            if x[i] == 0.0:
                r = max(abs(grad[i]) - l1, 0.0)
            else:
                sg = 1.0 if x[i] > 0 else -1.0
                r = grad[i] + l1 * sg + lg * x[i] / nrm
            s += r * r
        return np.sqrt(s)
    return np.nan


@njit(cache=True, nogil=True)
def tv1d_prox(y, lam):
    """Exact prox of ``lam * sum_i |x[i+1] - x[i]|`` (1-D total variation) at ``y``.

    Condat's direct algorithm (L. Condat, "A direct algorithm for 1-D total variation
    denoising", IEEE Signal Processing Letters, 2013): one forward pass that keeps the
    lower and upper bounds of the current segment's value and emits a segment each time
    the taut string must jump. Exact up to rounding; linear time in practice.
    """
    n = y.shape[0]
    x = np.empty(n, dtype=np.float64)
    if n == 0:
        return x
    if n == 1 or lam <= 0.0:
        for i in range(n):
            x[i] = y[i]
        return x
    k = 0
    k0 = 0
    kminus = 0
    kplus = 0
    vmin = y[0] - lam
    vmax = y[0] + lam
    umin = lam
    umax = -lam
    while True:
        while k == n - 1:
            # end of the signal: close the last segment, or restart after a jump
            if umin < 0.0:
                while k0 <= kminus:
                    x[k0] = vmin
                    k0 += 1
                kminus = k0
                k = k0
                vmin = y[k0]
                umin = lam
                umax = vmin + umin - vmax
            elif umax > 0.0:
                while k0 <= kplus:
                    x[k0] = vmax
                    k0 += 1
                kplus = k0
                k = k0
                vmax = y[k0]
                umax = -lam
                umin = vmax + umax - vmin
            else:
                vmin += umin / (k - k0 + 1)
                while k0 <= k:
                    x[k0] = vmin
                    k0 += 1
                return x
        umin += y[k + 1] - vmin
        if umin < -lam:
            # negative jump: emit the segment at its lower bound
            while k0 <= kminus:
                x[k0] = vmin
                k0 += 1
            k = k0
            kminus = k0
            kplus = k0
            vmin = y[k0]
            vmax = vmin + 2.0 * lam
            umin = lam
            umax = -lam
            continue
        umax += y[k + 1] - vmax
        if umax > lam:
            # positive jump: emit the segment at its upper bound
            while k0 <= kplus:
                x[k0] = vmax
                k0 += 1
            k = k0
            kminus = k0
            kplus = k0
            vmax = y[k0]
            vmin = vmax - 2.0 * lam
            umin = lam
            umax = -lam
            continue
        k += 1
        if umin >= lam:
            kminus = k
            vmin += (umin - lam) / (k - k0 + 1)
            umin = lam
        if umax <= -lam:
            kplus = k
            vmax += (umax + lam) / (k - k0 + 1)
            umax = -lam


@njit(cache=True, nogil=True)
def prox_vec(kind, x, step, params, weights):
    """Apply :func:`prox_1d` to every coordinate of a 1-D array (``step`` per coordinate)."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for j in range(x.shape[0]):
        out[j] = prox_1d(kind, x[j], step[j], params, weights, j)
    return out
