"""Box constraints as a penalty: ``Box(penalty, lower, upper)``.

``pen(w) + indicator(lower <= w <= upper)``, per coordinate, as glmnet's
``lower.limits`` / ``upper.limits``. ``positive=True`` in the estimators is
``Box(penalty, 0, inf)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ._base import Penalty, is_torch, ops_for
from ._interface import (
    block_conj,
    block_dual_scale,
    block_prox,
    block_rank,
    block_subdiff,
    block_value,
    conj_argmax1,
    dual_scale1,
    implements,
    prox1,
    subgrad1,
    value1,
)


def _bounds(value, name):
    b = np.array(value, dtype=np.float64, copy=True).ravel()
    if b.size == 0 or np.any(np.isnan(b)):
        raise ValueError(f"{name} must be a number or a non-empty array without NaN, "
                         f"got {value!r}")
    b.setflags(write=False)
    return b


class Box(Penalty):
    r"""A penalty restricted to a box: :math:`\mathrm{pen}(w) + \iota(l \le w \le u)`.

    For a convex separable penalty (:class:`L1`, :class:`L1L2`, :class:`L2`,
    :class:`WeightedL1`) the bounds are any per-coordinate ``lower <= 0 <= upper`` (0 must
    be feasible, as in glmnet, so the null model exists); the prox is the penalty's prox
    clipped to the box (exact in one dimension). :class:`TV1D` takes one lower and one upper
    bound (its prox clipped is exact too; FISTA only). A non-convex separable penalty (MCP,
    SCAD, LogSum) and a group penalty (:class:`GroupL1`, :class:`SparseGroupL1`) take sign
    constraints only: ``(0, inf)``, the non-negative coefficients (``positive=True``).

    Parameters
    ----------
    penalty : Penalty
    lower, upper : float or array-like
        Bounds, one per coordinate or one for all; ``-inf`` / ``inf`` for none.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1, Box
    >>> Box(L1(1.0), lower=-0.5, upper=np.inf).prox(np.array([3.0, -4.0]), step=1.0)
    array([ 2. , -0.5])
    """

    def __init__(self, penalty, lower=0.0, upper=np.inf):
        if not isinstance(penalty, Penalty) or isinstance(penalty, Box):
            raise ValueError(f"penalty must be a sparsefit penalty (not a Box), got "
                             f"{penalty!r}")
        self.penalty = penalty
        self.lower = _bounds(lower, "lower")
        self.upper = _bounds(upper, "upper")
        if self.lower.size > 1 and self.upper.size > 1 and self.lower.size != self.upper.size:
            raise ValueError(f"lower has {self.lower.size} entries, upper {self.upper.size}")
        if np.any(self.lower > 0) or np.any(self.upper < 0):
            raise ValueError("the bounds must hold 0 (lower <= 0 <= upper), so that the zero "
                             "model is feasible")
        sign_only = np.all(np.isin(self.lower, (0.0, -np.inf))) and np.all(
            np.isin(self.upper, (0.0, np.inf)))
        if not penalty.is_convex and not sign_only:
            raise ValueError(f"{type(penalty).__name__} is not convex: only sign constraints "
                             "(bounds 0 or infinite) are exact with it")
        self._tv = type(penalty).__name__ == "TV1D"
        if self._tv and (self.lower.size > 1 or self.upper.size > 1):
            raise ValueError("TV1D takes one lower and one upper bound for all coefficients")
        if not penalty.is_separable and not self._tv and not (
                np.all(self.lower == 0.0) and np.all(self.upper == np.inf)):
            raise ValueError(f"{type(penalty).__name__} takes lower=0, upper=inf only "
                             "(non-negative coefficients)")
        self.is_separable = penalty.is_separable
        self.is_convex = penalty.is_convex
        self.strength_name = penalty.strength_name

    @property
    def strength(self):
        return self.penalty.strength

    def with_strength(self, value):
        return Box(self.penalty.with_strength(value), self.lower, self.upper)

    def _box(self, ops, w):
        lo = self.lower if self.lower.size == 1 else self.lower.reshape(w.shape)
        hi = self.upper if self.upper.size == 1 else self.upper.reshape(w.shape)
        return ops.like(lo, w), ops.like(hi, w)

    def _value(self, ops, w):
        return self.penalty._value(ops, w)

    def _prox(self, ops, w, step):
        lo, hi = self._box(ops, w)
        # separable, and 1-D total variation: the prox of the penalty plus the box is the
        # penalty's prox clipped (the TV case checked against a constrained QP in the tests)
        if self.is_separable or self._tv:
            return ops.minimum(ops.maximum(self.penalty._prox(ops, w, step), lo), hi)
        return self.penalty._prox(ops, ops.relu(w), step)

    def _subgradient(self, ops, w):
        return self.penalty._subgradient(ops, w)

    def subdiff_distance(self, w, grad):
        """Distance of ``-grad`` to the subdifferential of the penalty plus the normal cone
        of the box, per coordinate (per group for group penalties): at an active bound the
        part of ``-grad`` pointing out of the box is absorbed."""
        ops, w = ops_for(w)
        g = ops.like(grad, w)
        if self._tv:
            return self.penalty.subdiff_distance(w, g, float(self.lower[0]),
                                                 float(self.upper[0]))
        if not self.is_separable:
            return self.penalty.subdiff_distance(w, ops.where((w == 0) & (g > 0), 0.0 * g, g))
        lo, hi = self._box(ops, w)
        d = self.penalty.subdiff_distance(w, g)
        push = -g - self.penalty._subgradient(ops, w)  # > 0: -grad pushes w up
        blocked = ((w <= lo) & (push < 0)) | ((w >= hi) & (push > 0))
        return ops.where(blocked, 0.0 * d, d)

    def alpha_max(self, grad):
        """``alpha_max`` of the penalty for the gradient entries that can move a coordinate
        off zero inside the box."""
        g = np.asarray(grad.detach().cpu() if is_torch(grad) else grad, dtype=np.float64)
        lo = np.broadcast_to(self.lower, g.shape) if self.lower.size > 1 else self.lower[0]
        hi = np.broadcast_to(self.upper, g.shape) if self.upper.size > 1 else self.upper[0]
        # -g > 0 pushes up (blocked when upper == 0), -g < 0 pushes down (lower == 0)
        g = np.where((g < 0) & (hi == 0), 0.0, g)
        g = np.where((g > 0) & (lo == 0), 0.0, g)
        return self.penalty.alpha_max(g)

    def numba_spec(self):
        if self._tv:
            raise ValueError("Box(TV1D) has no compiled kernels for coordinate descent; use "
                             "FISTA (sparsefit.solvers.fista)")
        inner = self.penalty.numba_spec()
        if not self.is_separable:
            return PositiveGroupSpec(inner, inner.weights, inner.grp_ptr, inner.grp_idx)
        return BoxSpec(inner, np.ascontiguousarray(self.lower), np.ascontiguousarray(self.upper))

    def get_config(self):
        from . import serialize

        return {"penalty": serialize(self.penalty), "lower": _plain(self.lower),
                "upper": _plain(self.upper)}

    @classmethod
    def from_config(cls, config):
        from . import get

        config = dict(config)
        return cls(get(config.pop("penalty")), **config)

    def __eq__(self, other):
        return (type(self) is type(other) and self.penalty == other.penalty
                and np.array_equal(self.lower, other.lower)
                and np.array_equal(self.upper, other.upper))

    __hash__ = None


def _plain(b):
    return float(b[0]) if b.size == 1 else b.tolist()


# -- compiled specs ---------------------------------------------------------------------------
class BoxSpec(NamedTuple):
    """A separable spec ``inner`` restricted to ``[lower[j], upper[j]]`` (one entry: all)."""

    inner: tuple
    lower: np.ndarray
    upper: np.ndarray


class PositiveGroupSpec(NamedTuple):
    """A group spec ``inner`` restricted to non-negative coefficients."""

    inner: tuple
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


@implements(value1, BoxSpec)
def _box_value(spec, x, j):
    return value1(spec.inner, x, j)


@implements(prox1, BoxSpec)
def _box_prox(spec, x, step, j):
    z = prox1(spec.inner, x, step, j)
    lo = spec.lower[0] if spec.lower.shape[0] == 1 else spec.lower[j]
    hi = spec.upper[0] if spec.upper.shape[0] == 1 else spec.upper[j]
    return min(max(z, lo), hi)


@implements(subgrad1, BoxSpec)
def _box_subgrad(spec, x, j):
    a, b = subgrad1(spec.inner, x, j)
    lo = spec.lower[0] if spec.lower.shape[0] == 1 else spec.lower[j]
    hi = spec.upper[0] if spec.upper.shape[0] == 1 else spec.upper[j]
    if x <= lo:
        a = -np.inf
    if x >= hi:
        b = np.inf
    return a, b


@implements(dual_scale1, BoxSpec)
def _box_dual_scale(spec, v, j):
    # a finite bound on the side v pushes to keeps the conjugate finite
    lo = spec.lower[0] if spec.lower.shape[0] == 1 else spec.lower[j]
    hi = spec.upper[0] if spec.upper.shape[0] == 1 else spec.upper[j]
    if (v > 0.0 and hi < np.inf) or (v < 0.0 and lo > -np.inf) or v == 0.0:
        return 1.0
    return dual_scale1(spec.inner, v, j)


@implements(conj_argmax1, BoxSpec)
def _box_conj_argmax(spec, v, j):
    lo = spec.lower[0] if spec.lower.shape[0] == 1 else spec.lower[j]
    hi = spec.upper[0] if spec.upper.shape[0] == 1 else spec.upper[j]
    return min(max(conj_argmax1(spec.inner, v, j), lo), hi)


@njit(cache=True, nogil=True, inline="always")
def _neg_at_zeros(xg, gg):
    # at a zero coordinate the normal cone of x >= 0 absorbs a positive gradient
    out = gg.copy()
    for i in range(xg.shape[0]):
        if xg[i] == 0.0 and out[i] > 0.0:
            out[i] = 0.0
    return out


@implements(block_value, PositiveGroupSpec)
def _pos_value(spec, xg, g):
    return block_value(spec.inner, xg, g)


@implements(block_prox, PositiveGroupSpec)
def _pos_prox(spec, xg, step, g, out):
    block_prox(spec.inner, np.maximum(xg, 0.0), step, g, out)


@implements(block_subdiff, PositiveGroupSpec)
def _pos_subdiff(spec, xg, gg, g):
    return block_subdiff(spec.inner, xg, _neg_at_zeros(xg, gg), g)


@implements(block_rank, PositiveGroupSpec)
def _pos_rank(spec, gg, g):
    return block_rank(spec.inner, np.minimum(gg, 0.0), g)


@implements(block_dual_scale, PositiveGroupSpec)
def _pos_dual_scale(spec, vg, g):
    return block_dual_scale(spec.inner, np.maximum(vg, 0.0), g)


@implements(block_conj, PositiveGroupSpec)
def _pos_conj(spec, vg, g):
    return block_conj(spec.inner, np.maximum(vg, 0.0), g)
