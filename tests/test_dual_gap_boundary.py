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


def test_an_unpenalized_coordinate_in_a_box_has_the_box_as_its_conjugate():
    """``penalty_factor`` 0 inside ``bounds``: the conjugate of the zero penalty on
    ``[l, u]`` is the box's support function ``max(l v, u v)``, and such a coordinate is
    not free (it was 0 and free: the dual objective passed the optimum)."""
    from sparsefit.penalties import Box, Scaled

    pen = Box(Scaled(L1L2(l1=0.1, l2=0.01), np.array([0.0, 1.0])), -0.3, 0.5)
    info = describe(pen, 2)
    assert info.free is None
    v = np.array([2.0, 0.0])
    s, conj = compiled_dual_terms(info.spec, v, info.free_or_empty)
    assert s == 1.0 and conj == np.float64(0.5 * 2.0)
    s, conj = compiled_dual_terms(info.spec, -v, info.free_or_empty)
    assert s == 1.0 and conj == np.float64(0.3 * 2.0)


def test_the_dual_gap_bounds_the_excess_with_bounds_and_unpenalized_features():
    """The fit's ``dual_gap_`` is a certificate: the objective is at most that far above
    the optimum (multinomial, elastic net, bounds, ``penalty_factor`` 0 on duplicated
    columns: it reported 3e-16 at 4.4e-7 above the optimum; the least-squares and binary
    fits too)."""
    import warnings

    from sparsefit.linear_model import ElasticNet, SparseLogisticRegression

    rng = np.random.default_rng(0)
    n, p = 600, 40
    Z = rng.standard_normal((n, p))
    X = np.c_[Z, Z[:, :6], Z[:, :10] @ rng.standard_normal((10, 12))]
    pf = np.ones(X.shape[1])
    pf[[0, 40, 1, 41, 5]] = 0
    B = np.zeros((p, 4))
    B[:8] = 2 * rng.standard_normal((8, 4))
    y4 = np.argmax(Z @ B + rng.gumbel(size=(n, 4)), axis=1)
    kw = dict(l1_ratio=0.9, bounds=(-0.3, 0.5), penalty_factor=pf)
    cases = [(SparseLogisticRegression(alpha=1e-4, **kw), y4),
             (SparseLogisticRegression(alpha=1e-3, **kw), (y4 > 1).astype(int)),
             (ElasticNet(alpha=1e-3, **kw), Z @ B[:, 0] + rng.standard_normal(n))]
    for est, y in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loose = est.set_params(tol=1e-4).fit(X, y)
            P = _objective(loose, X, y)
            gap = float(np.max(loose.dual_gap_))
            P_star = _objective(est.set_params(tol=1e-13, max_iter=10_000).fit(X, y), X, y)
        assert P - P_star <= gap + 1e-12 * abs(P_star), (type(est).__name__, P - P_star, gap)


def _objective(est, X, y):
    """The estimator's objective at its fit (the mean loss and the penalty)."""
    from sparsefit.datafits import Logistic, Multinomial, Quadratic

    W = np.atleast_2d(est.coef_)
    if hasattr(est, "classes_") and len(est.classes_) > 2:
        datafit, w, yy = Multinomial(len(est.classes_)), W.T, np.searchsorted(est.classes_, y)
    elif hasattr(est, "classes_"):
        datafit, w, yy = Logistic(), W.ravel(), np.where(y == est.classes_[1], 1.0, -1.0)
    else:
        datafit, w, yy = Quadratic(), W.ravel(), y
    U = X @ w + est.intercept_
    info = describe(est._penalty(X.shape[1]) if not hasattr(est, "classes_") else
                    est._make_penalty(X.shape[1], max(len(est.classes_), 2),
                                      est.l1_ratio)(est.alpha), np.size(w))
    from sparsefit.solvers._units import compiled_penalty_value

    return float(datafit._value_u(yy, U, np.full(len(y), 1.0 / len(y)))) + float(
        compiled_penalty_value(info.spec, np.ascontiguousarray(w.ravel())))
