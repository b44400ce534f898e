"""Per-unit penalty factors: ``Scaled(penalty, factors)``, glmnet's ``penalty.factor``.

``sum_u f_u pen_u(w_u)``: each coordinate (separable penalties) or group (group
penalties) has its own multiplier; a factor of 0 leaves the unit unpenalized.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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


class Scaled(Penalty):
    r"""A penalty with one multiplier per unit, :math:`\sum_u f_u\,\mathrm{pen}_u(w_u)`.

    For a separable penalty the units are the coordinates (``factors`` has one entry per
    coefficient); for a group penalty, the groups. ``f_u = 0`` leaves unit ``u``
    unpenalized (glmnet's ``penalty.factor``); the prox of unit ``u`` is the penalty's
    prox with step ``f_u * step``.

    Parameters
    ----------
    penalty : Penalty
        A separable or group penalty (with explicit groups).
    factors : array-like
        Non-negative and finite.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1, Scaled
    >>> Scaled(L1(1.0), [0.0, 1.0, 2.0]).prox(np.array([1.5, 1.5, 1.5]), step=1.0)
    array([1.5, 0.5, 0. ])
    """

    def __init__(self, penalty, factors):
        if not isinstance(penalty, Penalty) or not hasattr(penalty, "numba_spec"):
            raise ValueError(f"penalty must be a separable or group sparsefit penalty, got "
                             f"{penalty!r}")
        f = np.array(factors, dtype=np.float64, copy=True).ravel()
        if f.size == 0 or not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError(f"factors must be a non-empty array of finite numbers >= 0, "
                             f"got {factors!r}")
        f.setflags(write=False)
        self.penalty = penalty
        self.factors = f
        self.is_separable = penalty.is_separable
        self.is_convex = penalty.is_convex
        self.strength_name = penalty.strength_name

    @property
    def strength(self):
        return self.penalty.strength

    def with_strength(self, value):
        return Scaled(self.penalty.with_strength(value), self.factors)

    def _per_coord(self, ops, w):
        """The factors broadcast to ``w``'s coordinates."""
        f = self.factors
        if not self.is_separable:
            groups = self.penalty.groups
            if groups is None:
                raise ValueError("Scaled needs explicit groups for a group penalty")
            f = f[groups.seg_for(np.empty(w.shape))]
        if f.size != int(np.prod(tuple(w.shape))):
            raise ValueError(f"factors has {self.factors.size} entries for a weight of shape "
                             f"{tuple(w.shape)}")
        return ops.like(f.reshape(tuple(w.shape)), w)

    def _value(self, ops, w):
        f = self._per_coord(ops, w) if self.is_separable else ops.like(self.factors, w)
        return ops.total(f * self.penalty._values(ops, w))

    def _prox(self, ops, w, step):
        if self.is_separable:
            return self.penalty._prox(ops, w, step * self._per_coord(ops, w))
        return self.penalty._prox(ops, w, step * ops.like(self.factors, w))

    def _subgradient(self, ops, w):
        return self._per_coord(ops, w) * self.penalty._subgradient(ops, w)

    def subdiff_distance(self, w, grad):
        """Distance of ``-grad`` to the subdifferential of the scaled penalty, per unit; a
        unit with factor 0 is held to ``|grad|``."""
        ops, w = ops_for(w)
        g = ops.like(grad, w)
        if self.is_separable:
            f = self._per_coord(ops, w)
            safe = ops.where(f > 0, f, ops.like(1.0, f))
            d = f * self.penalty.subdiff_distance(w, g / safe)
            return ops.where(f > 0, d, ops.abs(g))
        f = ops.like(self.factors, w)
        fc = self._per_coord(ops, w)
        d = f * self.penalty.subdiff_distance(w, g / ops.where(fc > 0, fc, ops.like(1.0, fc)))
        return ops.where(f > 0, d, self.penalty._norms(ops, g))

    def alpha_max(self, grad):
        """``alpha_max`` of the penalty on ``grad / f`` over the penalized units. Units with
        ``f = 0`` are left out: ``grad`` is taken where they are optimal (the null model
        of :func:`sparsefit.solvers.null_gradient`)."""
        g = np.asarray(grad.detach().cpu() if is_torch(grad) else grad, dtype=np.float64)
        f = self._per_coord(ops_for(g)[0], g)
        return self.penalty.alpha_max(np.where(f > 0, g / np.where(f > 0, f, 1.0), 0.0))

    def numba_spec(self):
        inner = self.penalty.numba_spec()
        f = np.ascontiguousarray(self.factors)
        if self.is_separable:
            return ScaledSpec(inner, f)
        return ScaledGroupSpec(inner, f, inner.weights, inner.grp_ptr, inner.grp_idx)

    def get_config(self):
        from . import serialize

        return {"penalty": serialize(self.penalty), "factors": self.factors.tolist()}

    @classmethod
    def from_config(cls, config):
        from . import get

        config = dict(config)
        return cls(get(config.pop("penalty")), **config)

    def __eq__(self, other):
        return (type(self) is type(other) and self.penalty == other.penalty
                and np.array_equal(self.factors, other.factors))

    __hash__ = None


# -- compiled spec ------------------------------------------------------------------------
class ScaledSpec(NamedTuple):
    """``factors[j] * pen_j`` for the separable spec ``inner``."""

    inner: tuple
    factors: np.ndarray


class ScaledGroupSpec(NamedTuple):
    """``factors[g] * pen_g`` for the group spec ``inner`` (its groups repeated here, as
    every group spec carries them)."""

    inner: tuple
    factors: np.ndarray
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


@implements(value1, ScaledSpec)
def _sc_value(spec, x, j):
    return spec.factors[j] * value1(spec.inner, x, j)


@implements(prox1, ScaledSpec)
def _sc_prox(spec, x, step, j):
    return prox1(spec.inner, x, step * spec.factors[j], j)


@implements(subgrad1, ScaledSpec)
def _sc_subgrad(spec, x, j):
    a, b = subgrad1(spec.inner, x, j)
    f = spec.factors[j]
    return f * a, f * b


@implements(dual_scale1, ScaledSpec)
def _sc_dual_scale(spec, v, j):
    # (f pen)*(v) = f pen*(v / f)
    f = spec.factors[j]
    if f == 0.0:
        return 1.0 if v == 0.0 else 0.0
    return dual_scale1(spec.inner, v / f, j)


@implements(conj_argmax1, ScaledSpec)
def _sc_conj_argmax(spec, v, j):
    f = spec.factors[j]
    if f == 0.0:
        # sup_x v x with no penalty: at infinity on v's side (a box clips it to its bound,
        # whose support function is then the conjugate; returned 0, a Box of a factor 0
        # had a zero conjugate and the dual objective passed the optimum)
        return np.inf if v > 0.0 else (-np.inf if v < 0.0 else 0.0)
    return conj_argmax1(spec.inner, v / f, j)


@implements(block_value, ScaledGroupSpec)
def _scb_value(spec, xg, g):
    return spec.factors[g] * block_value(spec.inner, xg, g)


@implements(block_prox, ScaledGroupSpec)
def _scb_prox(spec, xg, step, g, out):
    block_prox(spec.inner, xg, step * spec.factors[g], g, out)


@implements(block_subdiff, ScaledGroupSpec)
def _scb_subdiff(spec, xg, gg, g):
    f = spec.factors[g]
    if f == 0.0:
        return np.sqrt(np.sum(gg * gg))
    return f * block_subdiff(spec.inner, xg, gg / f, g)


@implements(block_rank, ScaledGroupSpec)
def _scb_rank(spec, gg, g):
    f = spec.factors[g]
    if f == 0.0:
        return np.sqrt(np.sum(gg * gg))
    return f * block_rank(spec.inner, gg / f, g)


@implements(block_dual_scale, ScaledGroupSpec)
def _scb_dual_scale(spec, vg, g):
    f = spec.factors[g]
    if f == 0.0:
        return 1.0
    return block_dual_scale(spec.inner, vg / f, g)


@implements(block_conj, ScaledGroupSpec)
def _scb_conj(spec, vg, g):
    f = spec.factors[g]
    if f == 0.0:
        return 0.0
    return f * block_conj(spec.inner, vg / f, g)
