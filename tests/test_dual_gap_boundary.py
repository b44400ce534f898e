"""The L1 conjugate on the boundary of its domain: the dual point is scaled by
``s = lam / max|X^T theta|`` and ``s |v|`` can round to one ulp above ``lam``; that point is
inside the domain, and the duality gap must stay finite (it was NaN: inf - inf)."""

import numpy as np

from sparsefit.penalties import L1, L1L2
from sparsefit.solvers._common import describe
from sparsefit.solvers._units import compiled_dual_terms


def _rounds_above(lam, rng):
    """A ``v`` with ``(lam / v) * v > lam`` in floating point."""
    for v in rng.uniform(2 * lam, 50 * lam, 100_000):
        if (lam / v) * v > lam:
            return v
    raise AssertionError("no v rounds above lam: the test needs another lam")


def test_l1_conjugate_at_the_rounded_boundary_is_zero():
    rng = np.random.default_rng(0)
    for pen in (L1(0.030168781850106274), L1L2(l1=0.03, l2=0.0)):
        lam = pen.l1
        v = _rounds_above(lam, rng)
        info = describe(pen, 2)
        for sign in (1.0, -1.0):
            s, conj = compiled_dual_terms(info.spec, np.array([sign * v, 0.1 * lam]),
                                          info.free_or_empty)
            assert s == lam / v
            assert conj == 0.0  # not NaN
