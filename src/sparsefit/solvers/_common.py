"""What a solver knows about its penalty and datafit, and the checks it runs first.

Solvers ask, penalties answer: everything here comes from the penalty object (convexity,
separability) or its compiled spec (:mod:`sparsefit.penalties._interface`). A solver
declares what it needs (:data:`NEEDS`) and fails early, naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datafits import BaseDatafit
from ..penalties import Box, Penalty
from ..penalties import _interface as pi

# What the working-set solvers call, per kind of penalty; the duality gap needs more.
NEEDS = {
    "separable": (pi.value1, pi.prox1, pi.subgrad1),
    "group": (pi.block_value, pi.block_prox, pi.block_subdiff, pi.block_rank),
    "separable gap": (pi.dual_scale1, pi.conj_argmax1),
    "group gap": (pi.block_dual_scale, pi.block_conj),
}


@dataclass
class PenaltyInfo:
    """A penalty as the solvers see it: the object, its compiled spec and its facts."""

    penalty: Penalty
    spec: tuple
    is_group: bool
    is_convex: bool
    n_units: int
    #: units the penalty leaves free (zero strength or weight), or None
    free: np.ndarray | None

    @property
    def free_or_empty(self):
        return self.free if self.free is not None else np.zeros(0, dtype=np.bool_)


def _require(spec, kind, penalty):
    missing = [f.__name__ for f in NEEDS[kind] if not pi.implemented(f, type(spec))]
    if missing:
        raise ValueError(
            f"penalty {type(penalty).__name__} does not implement {', '.join(missing)} for "
            f"its spec {type(spec).__name__}, which the {kind.split()[0]} solvers need (see "
            "sparsefit.penalties._interface)")


def describe(penalty, n_coords, positive=False):
    """Validate ``penalty`` for a problem with ``n_coords`` coefficients and return its
    :class:`PenaltyInfo`. ``positive`` wraps it in ``Box(penalty, 0, inf)``.

    Raises
    ------
    ValueError
        For an object that is not a sparsefit penalty, a penalty without compiled kernels
        (TV1D: use FISTA), groups that do not partition the coefficients, weights of the
        wrong length, or a missing implementation the solver needs.
    """
    if not isinstance(penalty, Penalty):
        raise ValueError(f"penalty must be a sparsefit penalty, got {type(penalty).__name__}")
    if positive and not isinstance(penalty, Box):
        penalty = Box(penalty, 0.0, np.inf)
    if not hasattr(penalty, "numba_spec"):
        raise ValueError(f"penalty {type(penalty).__name__} has no compiled kernels for "
                         "coordinate descent; use FISTA (sparsefit.solvers.fista)")
    spec = pi.canonical_spec(penalty.numba_spec())
    is_group = not penalty.is_separable
    _check_shapes(spec, is_group, n_coords, penalty)
    _require(spec, "group" if is_group else "separable", penalty)
    if penalty.is_convex:
        _require(spec, "group gap" if is_group else "separable gap", penalty)
    n_units = spec.grp_ptr.shape[0] - 1 if is_group else n_coords
    free = np.zeros(n_units, dtype=np.bool_)
    if is_group:
        pi.free_groups(spec, free)
    else:
        pi.free_units(spec, n_coords, free)
    _bounded_not_free(spec, free)
    return PenaltyInfo(penalty, spec, is_group, penalty.is_convex, n_units,
                       free if free.any() else None)


def _bounded_not_free(spec, free):
    """Unmark the units a box bounds: a zero penalty inside a box is not free, its
    conjugate is the box's support function (left out as free, the dual objective of a
    multinomial fit with bounds and ``penalty_factor`` 0 passed the optimum: a reported
    gap of 3e-16 at 4.4e-7 above it)."""
    from ..penalties.box import BoxSpec, PositiveGroupSpec

    if isinstance(spec, PositiveGroupSpec):
        free[:] = False
    elif isinstance(spec, BoxSpec):
        lower = np.broadcast_to(np.asarray(spec.lower, dtype=np.float64), free.shape)
        upper = np.broadcast_to(np.asarray(spec.upper, dtype=np.float64), free.shape)
        free &= np.isinf(lower) & np.isinf(upper)


def _check_shapes(spec, is_group, n_coords, penalty):
    name = type(penalty).__name__
    if is_group:
        idx = spec.grp_idx
        if spec.grp_ptr.shape[0] < 2:
            raise ValueError("group penalty has no groups")
        if idx.size and (idx.min() < 0 or idx.max() >= n_coords):
            raise ValueError(f"groups refer to feature indices outside [0, {n_coords}) "
                             f"(X has {n_coords} features)")
        if np.unique(idx).size != idx.size:
            raise ValueError("groups overlap: every feature may belong to one group only")
        if idx.size != n_coords:
            raise ValueError(f"groups cover {idx.size} features but X has {n_coords}: the "
                             "groups must partition the features")
        if spec.weights.size != spec.grp_ptr.shape[0] - 1:
            raise ValueError(f"group weights have length {spec.weights.size}, expected "
                             f"{spec.grp_ptr.shape[0] - 1}")
        return
    inner = spec  # a Box of a Scaled of a penalty: every layer's per-coordinate arrays
    while hasattr(inner, "inner"):
        factors = getattr(inner, "factors", None)
        if factors is not None and factors.size != n_coords:
            raise ValueError(f"{name} factors have length {factors.size}, expected "
                             f"{n_coords} (the number of features)")
        inner = inner.inner
    weights = getattr(inner, "weights", None)
    if weights is not None and weights.size not in (0, n_coords):
        raise ValueError(f"{name} weights have length {weights.size}, expected "
                         f"{n_coords} (the number of features)")
    for field in ("lower", "upper"):
        b = getattr(spec, field, None)
        if b is not None and b.size not in (1, n_coords):
            raise ValueError(f"{name} {field} has {b.size} entries, expected 1 or {n_coords}")


# What the working-set solvers ask of a datafit (the per-sample pieces on u = X w + b);
# the proximal Newton state of a one-output datafit also needs its Hessian weights (the
# multinomial one computes the softmax Hessian itself).
DATAFIT_NEEDS = ("check_y", "_value_u", "_raw_grad", "_optimal_intercept", "_dual_value")


def check_datafit(datafit):
    """A :class:`~sparsefit.datafits.BaseDatafit` with every piece the solvers call, or a
    ValueError naming what is missing. Quadratic is solved by coordinate descent, every
    other datafit by proximal Newton (Multinomial: its class-coupled variant)."""
    if not isinstance(datafit, BaseDatafit):
        raise ValueError(  # noqa: TRY004 - the project reports bad arguments as ValueError
            "datafit must be a sparsefit datafit (a sparsefit.datafits.BaseDatafit such as "
            f"Quadratic, Logistic or Multinomial), got {type(datafit).__name__}")
    needs = DATAFIT_NEEDS + (("_hessian_weights",) if datafit.n_classes is None else ())
    missing = [m for m in needs
               if getattr(type(datafit), m, None) is getattr(BaseDatafit, m, None)]
    if missing:
        raise ValueError(f"datafit {type(datafit).__name__} does not define "
                         f"{', '.join(missing)}, which the solvers need")
    return datafit
