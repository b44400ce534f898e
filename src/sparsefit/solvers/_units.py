"""What the solvers compute over the units of a penalty (coordinates of a separable
penalty, groups of a group penalty), written once for both: the penalty value, the
optimality violations and working-set ranks, and the dual terms of the duality gap.

Each function is a numba-compiled generic dispatched on the spec's structure (a group
spec has ``grp_ptr`` / ``grp_idx`` fields); the penalty's own math comes from
:mod:`sparsefit.penalties._interface`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..penalties._interface import (
    block_conj,
    block_dual_scale,
    block_rank,
    block_subdiff,
    block_value,
    conj1,
    dual_scale1,
    rank1,
    subdiff1,
    value1,
)


def is_group_spec(spec):
    """Whether the numba type ``spec`` is a group spec (compile time)."""
    return isinstance(spec, types.BaseNamedTuple) and "grp_ptr" in spec.fields


@njit(cache=True, nogil=True, inline="always")
def gather(w, spec, g, out):
    """``out[:size] = w[group g]``; returns the size."""
    s = spec.grp_ptr[g]
    e = spec.grp_ptr[g + 1]
    for k in range(e - s):
        out[k] = w[spec.grp_idx[s + k]]
    return e - s


@njit(cache=True, nogil=True)
def max_group_size(spec):
    m = 1
    for g in range(spec.grp_ptr.shape[0] - 1):
        m = max(m, spec.grp_ptr[g + 1] - spec.grp_ptr[g])
    return m


# -- penalty value on all units / on a working set -------------------------------------
def penalty_value(spec, w):
    """The penalty at ``w`` (all units)."""


def _sep_value(spec, w):
    val = 0.0
    for j in range(w.shape[0]):
        if w[j] != 0.0:
            val += value1(spec, w[j], j)
    return val


def _group_value(spec, w):
    buf = np.empty(max_group_size(spec))
    val = 0.0
    for g in range(spec.grp_ptr.shape[0] - 1):
        m = gather(w, spec, g, buf)
        val += block_value(spec, buf[:m], g)
    return val


@overload(penalty_value)
def _ol_penalty_value(spec, w):
    return _group_value if is_group_spec(spec) else _sep_value


def units_value(spec, w, units, buf):
    """The penalty on the units ``units`` (``buf``: scratch of the largest group size)."""


def _sep_units_value(spec, w, units, buf):
    val = 0.0
    for j in units:
        if w[j] != 0.0:
            val += value1(spec, w[j], j)
    return val


def _group_units_value(spec, w, units, buf):
    val = 0.0
    for g in units:
        m = gather(w, spec, g, buf)
        val += block_value(spec, buf[:m], g)
    return val


@overload(units_value)
def _ol_units_value(spec, w, units, buf):
    return _group_units_value if is_group_spec(spec) else _sep_units_value


# -- violations and ranks ---------------------------------------------------------------
def unit_scores(spec, w, grad, scores, rank):
    """Every unit's optimality violation (``scores``) and, for the zero units, how close
    it is to entering the model (``rank``, positive exactly for a violator; ``inf`` for
    the non-zero units). Returns the largest violation."""


def _sep_scores(spec, w, grad, scores, rank):
    mx = 0.0
    for j in range(w.shape[0]):
        d = subdiff1(spec, w[j], grad[j], j)
        scores[j] = d
        mx = max(mx, d)
        rank[j] = np.inf if w[j] != 0.0 else rank1(spec, 0.0, grad[j], j)
    return mx


@njit(cache=True, nogil=True, inline="always")
def _score_group(spec, xg, gg, m, g, scores, rank):
    """Group ``g``'s violation (stored in ``scores``, returned) and rank, from its
    coefficients ``xg[:m]`` and gradient ``gg[:m]``."""
    d = block_subdiff(spec, xg[:m], gg[:m], g)
    scores[g] = d
    nz = False
    for k in range(m):
        nz = nz or xg[k] != 0.0
    rank[g] = np.inf if nz else block_rank(spec, gg[:m], g)
    return d


def _group_scores(spec, w, grad, scores, rank):
    size = max_group_size(spec)
    xg = np.empty(size)
    gg = np.empty(size)
    mx = 0.0
    for g in range(spec.grp_ptr.shape[0] - 1):
        m = gather(w, spec, g, xg)
        gather(grad, spec, g, gg)
        mx = max(mx, _score_group(spec, xg, gg, m, g, scores, rank))
    return mx


@overload(unit_scores)
def _ol_unit_scores(spec, w, grad, scores, rank):
    return _group_scores if is_group_spec(spec) else _sep_scores


# -- dual terms of the duality gap --------------------------------------------------------
def dual_terms(spec, v, free):
    """``(s, conj)`` for the dual point ``s theta`` given ``v = X.T theta``: ``s`` in
    [0, 1] is the largest scale keeping every unit's conjugate finite, ``conj`` the
    penalty's conjugate at ``s v``. Units with ``free[u]`` (unpenalized) are left out
    (an empty ``free``: none); their optimality is checked by the violation."""


def dual_conj(spec, v, free, s):
    """The penalty's conjugate at ``s v`` (units with ``free[u]`` left out)."""


def _sep_conj(spec, v, free, s):
    check = free.shape[0] > 0
    conj = 0.0
    for j in range(v.shape[0]):
        if check and free[j]:
            continue
        conj += conj1(spec, s * v[j], j)
    return conj


def _group_conj(spec, v, free, s):
    buf = np.empty(max_group_size(spec))
    check = free.shape[0] > 0
    conj = 0.0
    for g in range(spec.grp_ptr.shape[0] - 1):
        if check and free[g]:
            continue
        m = gather(v, spec, g, buf)
        conj += block_conj(spec, s * buf[:m], g)
    return conj


@overload(dual_conj)
def _ol_dual_conj(spec, v, free, s):
    return _group_conj if is_group_spec(spec) else _sep_conj


def _sep_dual(spec, v, free):
    s = 1.0
    check = free.shape[0] > 0
    for j in range(v.shape[0]):
        if check and free[j]:
            continue
        s = min(s, dual_scale1(spec, v[j], j))
    return s, dual_conj(spec, v, free, s)


def _group_dual(spec, v, free):
    buf = np.empty(max_group_size(spec))
    check = free.shape[0] > 0
    s = 1.0
    for g in range(spec.grp_ptr.shape[0] - 1):
        if check and free[g]:
            continue
        m = gather(v, spec, g, buf)
        s = min(s, block_dual_scale(spec, buf[:m], g))
    return s, dual_conj(spec, v, free, s)


@overload(dual_terms)
def _ol_dual_terms(spec, v, free):
    return _group_dual if is_group_spec(spec) else _sep_dual


# -- the outer pass: violations, ranks and the dual scale together ---------------------------
def outer_scores(spec, w, v, scores, rank, free):
    """:func:`unit_scores` at the gradient ``-v`` and the dual scale ``s`` of
    :func:`dual_terms` at ``v``, in one pass over the units: ``(largest violation, s)``.
    The outer iteration of the solvers then needs only :func:`dual_conj` for the gap."""


def _sep_outer(spec, w, v, scores, rank, free):
    mx = 0.0
    s = 1.0
    check = free.shape[0] > 0
    for j in range(w.shape[0]):
        g = -v[j]
        d = subdiff1(spec, w[j], g, j)
        scores[j] = d
        mx = max(mx, d)
        rank[j] = np.inf if w[j] != 0.0 else rank1(spec, 0.0, g, j)
        if not (check and free[j]):
            s = min(s, dual_scale1(spec, v[j], j))
    return mx, s


def _group_outer(spec, w, v, scores, rank, free):
    size = max_group_size(spec)
    xg = np.empty(size)
    gg = np.empty(size)
    check = free.shape[0] > 0
    mx = 0.0
    s = 1.0
    for g in range(spec.grp_ptr.shape[0] - 1):
        m = gather(w, spec, g, xg)
        gather(v, spec, g, gg)
        if not (check and free[g]):
            s = min(s, block_dual_scale(spec, gg[:m], g))
        for k in range(m):
            gg[k] = -gg[k]
        mx = max(mx, _score_group(spec, xg, gg, m, g, scores, rank))
    return mx, s


@overload(outer_scores)
def _ol_outer_scores(spec, w, v, scores, rank, free):
    return _group_outer if is_group_spec(spec) else _sep_outer


@njit(cache=True, nogil=True)
def compiled_penalty_value(spec, w):
    """:func:`penalty_value` callable from Python."""
    return penalty_value(spec, w)


@njit(cache=True, nogil=True)
def compiled_unit_scores(spec, w, grad, scores, rank):
    """:func:`unit_scores` callable from Python."""
    return unit_scores(spec, w, grad, scores, rank)


@njit(cache=True, nogil=True)
def compiled_dual_terms(spec, v, free):
    """:func:`dual_terms` callable from Python."""
    return dual_terms(spec, v, free)


@njit(cache=True, nogil=True)
def compiled_outer_scores(spec, w, v, scores, rank, free):
    """:func:`outer_scores` callable from Python."""
    return outer_scores(spec, w, v, scores, rank, free)


@njit(cache=True, nogil=True)
def compiled_dual_conj(spec, v, free, s):
    """:func:`dual_conj` callable from Python."""
    return dual_conj(spec, v, free, s)


def outer_pass(info, w, v, scores, rank):
    """The outer iteration's pass over the units at ``v = X.T theta`` (the gradient is
    ``-v``): ``(largest violation, dual scale s)``, ``scores`` and ``rank`` filled. A
    non-convex penalty has no dual point: ``s`` is NaN (its solvers stop on the
    violation)."""
    if info.is_convex:
        return compiled_outer_scores(info.spec, w, v, scores, rank, info.free_or_empty)
    return compiled_unit_scores(info.spec, w, -v, scores, rank), np.nan
