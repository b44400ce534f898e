"""Glue between penalty objects, datafits and the compiled solvers."""

from __future__ import annotations

import numpy as np

from ..datafits import Logistic, Multinomial, Quadratic
from ..penalties import _kernels as pk

_NONCONVEX = (pk.MCP, pk.SCAD)
_KIND_NAMES = {
    pk.L1: "L1", pk.L2: "L2", pk.L1L2: "L1L2", pk.MCP: "MCP", pk.SCAD: "SCAD",
    pk.GROUP_L1: "GroupL1", pk.SPARSE_GROUP_L1: "SparseGroupL1", pk.TV1D: "TV1D",
}


def as_spec(penalty, n_features=None):
    """Return the :class:`~sparsefit.penalties._kernels.NumbaSpec` of ``penalty``.

    Accepts a penalty object (anything with ``numba_spec()``) or a ``NumbaSpec``.
    """
    if isinstance(penalty, pk.NumbaSpec):
        spec = penalty
    elif hasattr(penalty, "numba_spec"):
        spec = penalty.numba_spec()
    else:
        raise ValueError(
            f"penalty must be a sparsefit penalty (with numba_spec()) or a NumbaSpec, "
            f"got {type(penalty).__name__}"
        )
    if spec.kind not in pk.SEPARABLE_KINDS and spec.kind not in pk.GROUP_KINDS:
        raise ValueError(
            f"penalty {_KIND_NAMES.get(spec.kind, spec.kind)} is not supported by coordinate "
            "descent (it needs a separable or group penalty); use the FISTA solver"
        )
    spec = pk.make_spec(spec.kind, spec.params, spec.weights, spec.grp_ptr, spec.grp_idx)
    if np.any(spec.params < 0) or not np.all(np.isfinite(spec.params)):
        raise ValueError(f"penalty parameters must be finite and non-negative, got {spec.params}")
    if np.any(spec.weights < 0):
        raise ValueError("penalty weights must be non-negative")
    if n_features is not None:
        if spec.kind in pk.GROUP_KINDS:
            if spec.grp_ptr.shape[0] < 2:
                raise ValueError("group penalty has no groups")
            if spec.grp_idx.size and (spec.grp_idx.min() < 0 or spec.grp_idx.max() >= n_features):
                raise ValueError(
                    f"groups refer to feature indices outside [0, {n_features}) "
                    f"(X has {n_features} features)"
                )
            if np.unique(spec.grp_idx).size != spec.grp_idx.size:
                raise ValueError("groups overlap: every feature may belong to one group only")
            if spec.grp_idx.size != n_features:
                raise ValueError(
                    f"groups cover {spec.grp_idx.size} features but X has {n_features}: "
                    "the groups must partition the features"
                )
            n_groups = spec.grp_ptr.shape[0] - 1
            if spec.weights.size not in (0, n_groups):
                raise ValueError(
                    f"group weights have length {spec.weights.size}, expected {n_groups}")
        elif spec.weights.size not in (0, n_features):
            raise ValueError(
                f"penalty weights have length {spec.weights.size}, expected {n_features} "
                "(the number of features)"
            )
    return spec


def is_convex(spec):
    return spec.kind not in _NONCONVEX


def is_group(spec):
    return spec.kind in pk.GROUP_KINDS


def n_units(spec, p):
    return spec.grp_ptr.shape[0] - 1 if is_group(spec) else p


def check_datafit(datafit):
    if not isinstance(datafit, (Quadratic, Logistic, Multinomial)):
        raise ValueError(  # noqa: TRY004 - the project reports bad arguments as ValueError
            "datafit must be a sparsefit datafit (Quadratic, Logistic or Multinomial), "
            f"got {type(datafit).__name__}"
        )
    return datafit
