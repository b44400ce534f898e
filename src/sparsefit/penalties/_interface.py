"""The compiled contract between penalties and solvers: solvers ask, penalties answer.

A penalty describes itself to compiled code by its *spec*: an instance of a
``typing.NamedTuple`` class of its family (``L1Spec(l1, weights)``, ...), returned by
``penalty.numba_spec()``. Solver kernels take the spec as an argument and call the
generic functions below; numba compiles one specialization of each kernel per spec
class, with the family's implementation inlined, and caches it on disk
(``cache=True``). A solver never branches on which penalty it holds.

A family implements, for its spec class, with :func:`implements`:

Separable penalties (``pen(w) = sum_j pen_j(w_j)``; the spec has a ``weights`` field):

``value1(spec, x, j)``
    ``pen_j(x)``.
``prox1(spec, x, step, j)``
    ``argmin_z 0.5 (z - x)^2 + step pen_j(z)`` (the global minimizer when non-convex).
``subgrad1(spec, x, j) -> (lo, hi)``
    The (limiting) subdifferential of ``pen_j`` at ``x``, an interval (``lo == hi`` where
    ``pen_j`` is differentiable). Optimality violations, working-set ranks and the
    screening scores are derived from it.
``dual_scale1(spec, v, j)`` (convex only)
    The largest ``s >= 0`` for which the conjugate ``pen_j*(s v)`` is finite (``inf``
    when it is finite everywhere): the dual point is rescaled by the smallest one.
``conj_argmax1(spec, v, j)`` (convex only)
    ``argmax_x v x - pen_j(x)`` (the gradient of the conjugate), for ``v`` in the domain;
    the conjugate value is derived from it.

Group penalties (``pen(w) = sum_g pen_g(w_g)``; the spec has ``weights`` (one per group),
``grp_ptr`` and ``grp_idx`` fields: the coordinates of group ``g`` are
``grp_idx[grp_ptr[g]:grp_ptr[g + 1]]``):

``block_value(spec, xg, g)``, ``block_prox(spec, xg, step, g, out)``,
``block_subdiff(spec, xg, gg, g)`` (distance of ``-gg`` to the subdifferential),
``block_rank(spec, gg, g)`` (at ``w_g = 0``: positive exactly when the group violates,
larger when further from optimal), ``block_dual_scale(spec, vg, g)`` and
``block_conj(spec, vg, g)`` (convex only, as above; ``block_conj`` at a point of the
domain).

Python-level facts (convexity, ``alpha_max``, the strength) are attributes and methods of
the penalty object itself; see :class:`sparsefit.penalties.Penalty`.

Editing a family's implementation does not invalidate numba's cache of the solver
kernels that inline it (numba only checks the kernel's own file): clear the
``__pycache__`` folders of ``sparsefit/solvers`` after such an edit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

_IMPLS: dict = {}


def frozen(a):
    """A read-only, C-contiguous view of ``a`` (a copy only when ``a`` is not contiguous).

    Every array a compiled kernel only reads goes through here: numba types a read-only
    array apart from a writable one, so a caller's read-only ``X`` or weights compiled each
    kernel a second time (the test suite's cached specializations went from 389 to 332).
    """
    v = np.ascontiguousarray(a).view()
    v.flags.writeable = False
    return v


def canonical_spec(spec):
    """``spec`` with every array field :func:`frozen`, nested specs included: one numba
    type per spec class, whatever the penalty's arrays were."""
    fields = [canonical_spec(f) if isinstance(f, tuple) and hasattr(f, "_fields")
              else frozen(f) if isinstance(f, np.ndarray) else f for f in spec]
    return type(spec)(*fields)


def implements(generic, spec_class):
    """Register the decorated function as ``generic``'s implementation for specs of
    ``spec_class`` (a ``typing.NamedTuple`` class). The function takes the same arguments
    as ``generic`` and must be numba-compilable (it is inlined into the solvers)."""
    name = generic.__name__

    def deco(impl):
        _IMPLS.setdefault(name, {})[spec_class] = impl
        return impl
    return deco


def _lookup(name, spec):
    if isinstance(spec, types.BaseNamedTuple):
        return _IMPLS.get(name, {}).get(spec.instance_class)
    return None


def implemented(generic, spec_class):
    """Whether ``spec_class`` has an implementation of ``generic`` (solvers declare what
    they need and check it before compiling)."""
    return spec_class in _IMPLS.get(generic.__name__, {})


def implemented_for_type(generic, spec_type):
    """:func:`implemented` at compile time, for the numba type of a spec; a spec wrapping
    another (an ``inner`` field, as :class:`~sparsefit.penalties.Box`) needs it too."""
    if not isinstance(spec_type, types.BaseNamedTuple):
        return False
    if not implemented(generic, spec_type.instance_class):
        return False
    if "inner" in spec_type.fields:
        return implemented_for_type(generic, spec_type.types[spec_type.fields.index("inner")])
    return True


def _missing(name):
    raise NotImplementedError(f"{name} is compiled for penalty specs only")


# -- separable ---------------------------------------------------------------------------
def value1(spec, x, j):
    _missing("value1")


def prox1(spec, x, step, j):
    _missing("prox1")


def subgrad1(spec, x, j):
    _missing("subgrad1")


def dual_scale1(spec, v, j):
    _missing("dual_scale1")


def conj_argmax1(spec, v, j):
    _missing("conj_argmax1")


@overload(value1)
def _ol_value1(spec, x, j):
    return _lookup("value1", spec)


@overload(prox1)
def _ol_prox1(spec, x, step, j):
    return _lookup("prox1", spec)


@overload(subgrad1)
def _ol_subgrad1(spec, x, j):
    return _lookup("subgrad1", spec)


@overload(dual_scale1)
def _ol_dual_scale1(spec, v, j):
    return _lookup("dual_scale1", spec)


@overload(conj_argmax1)
def _ol_conj_argmax1(spec, v, j):
    return _lookup("conj_argmax1", spec)


# -- group -------------------------------------------------------------------------------
def block_value(spec, xg, g):
    _missing("block_value")


def block_prox(spec, xg, step, g, out):
    _missing("block_prox")


def block_subdiff(spec, xg, gg, g):
    _missing("block_subdiff")


def block_rank(spec, gg, g):
    _missing("block_rank")


def block_dual_scale(spec, vg, g):
    _missing("block_dual_scale")


def block_conj(spec, vg, g):
    _missing("block_conj")


@overload(block_value)
def _ol_block_value(spec, xg, g):
    return _lookup("block_value", spec)


@overload(block_prox)
def _ol_block_prox(spec, xg, step, g, out):
    return _lookup("block_prox", spec)


@overload(block_subdiff)
def _ol_block_subdiff(spec, xg, gg, g):
    return _lookup("block_subdiff", spec)


@overload(block_rank)
def _ol_block_rank(spec, gg, g):
    return _lookup("block_rank", spec)


@overload(block_dual_scale)
def _ol_block_dual_scale(spec, vg, g):
    return _lookup("block_dual_scale", spec)


@overload(block_conj)
def _ol_block_conj(spec, vg, g):
    return _lookup("block_conj", spec)


# -- derived, written once for every separable penalty -------------------------------------
@njit(cache=True, nogil=True, inline="always")
def weight(weights, j):
    """``weights[j]``, or 1 when ``weights`` is empty (all ones)."""
    if weights.shape[0] == 0:
        return 1.0
    return weights[j]


@njit(cache=True, nogil=True, inline="always")
def soft_threshold(x, t):
    if x > t:
        return x - t
    if x < -t:
        return x + t
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def subdiff1(spec, x, g, j):
    """Distance of ``-g`` to the subdifferential of ``pen_j`` at ``x``: the coordinate's
    optimality violation (0 exactly at a stationary point)."""
    lo, hi = subgrad1(spec, x, j)
    if -g < lo:
        return lo + g
    if -g > hi:
        return -g - hi
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def rank1(spec, x, g, j):
    """Signed distance of ``-g`` to the subdifferential at ``x``: positive exactly for a
    violator, and at a zero coordinate larger the closer it is to entering the model
    (below the threshold it is minus the margin). Ranks the working-set candidates."""
    lo, hi = subgrad1(spec, x, j)
    return max(lo + g, -g - hi)


def coord_update(spec, old, g, L, j):
    """Coordinate step with curvature ``L`` and gradient ``g``: ``(new value, the old
    value's violation)``. Derived from ``prox1`` and ``subdiff1``; a family may register
    a fused version of its own (``implements(coord_update, Spec)``) for its hot loop."""
    _missing("coord_update")


@njit(cache=True, nogil=True, inline="always")
def _coord_update(spec, old, g, L, j):
    return prox1(spec, old - g / L, 1.0 / L, j), subdiff1(spec, old, g, j)


@overload(coord_update)
def _ol_coord_update(spec, old, g, L, j):
    own = _lookup("coord_update", spec)
    if own is not None:
        return own
    if isinstance(spec, types.BaseNamedTuple):
        return lambda spec, old, g, L, j: _coord_update(spec, old, g, L, j)
    return None


@njit(cache=True, nogil=True, inline="always")
def conj1(spec, v, j):
    """``pen_j*(v) = sup_x v x - pen_j(x)`` for ``v`` in the domain."""
    x = conj_argmax1(spec, v, j)
    if x == 0.0:
        return 0.0
    if np.isinf(x):  # (no penalty and no bound on v's side: the supremum is infinite)
        return np.inf
    return v * x - value1(spec, x, j)


@njit(cache=True, nogil=True)
def free_units(spec, n, out):
    """``out[j]`` (``n`` entries) is True where the penalty is identically zero (zero
    strength or zero weight): no dual point certifies such a coordinate."""
    for j in range(n):
        out[j] = value1(spec, 1.0, j) == 0.0 and value1(spec, -1.0, j) == 0.0


@njit(cache=True, nogil=True)
def free_groups(spec, out):
    """:func:`free_units` for group penalties (one entry per group)."""
    for g in range(spec.grp_ptr.shape[0] - 1):
        size = spec.grp_ptr[g + 1] - spec.grp_ptr[g]
        out[g] = size == 0 or block_value(spec, np.ones(size), g) == 0.0
