"""``dual_gap_`` means what scikit-learn's means: the duality gap ``P - D`` of the objective
at return, equal to the public :func:`sparsefit.solvers.dual_gap` with ``relative=False``
on every route (dense, sparse, sample weights, the moments of dask input), and the exact
suboptimality when nothing is penalized."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsefit.datafits import Quadratic
from sparsefit.linear_model import ElasticNet, Lasso, MultiTaskLasso
from sparsefit.penalties import L1, L1L2
from sparsefit.solvers import dual_gap

RNG = np.random.default_rng(3)
X = RNG.standard_normal((60, 25))
X[:, 3] += 4.0  # a column far from zero mean
Y = X[:, :4] @ [1.0, -2.0, 0.5, 0.3] + 0.3 * RNG.standard_normal(60) + 2.0
SW = RNG.uniform(0.2, 3.0, 60)

CASES = {
    "lasso": (lambda: Lasso(alpha=0.05, tol=1e-6), lambda: L1(0.05)),
    "lasso-no-intercept": (lambda: Lasso(alpha=0.05, tol=1e-6, fit_intercept=False),
                           lambda: L1(0.05)),
    "enet": (lambda: ElasticNet(alpha=0.08, l1_ratio=0.3, tol=1e-6),
             lambda: L1L2(0.08 * 0.3, 0.5 * 0.08 * 0.7)),
}


def _p0(y, sw, fit_intercept):
    w = sw / sw.sum()
    yc = y - w @ y if fit_intercept else y
    return 0.5 * float(w @ yc ** 2)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("storage", ["dense", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dual_gap_is_the_absolute_gap_of_the_objective(name, storage, weighted):
    make, pen = CASES[name]
    Xs = X if storage == "dense" else sp.csc_matrix(X)
    sw = SW if weighted else np.ones(len(Y))
    est = make().fit(Xs, Y, sample_weight=sw if weighted else None)
    ref = dual_gap(Xs, Y, est.coef_, est.intercept_, Quadratic(), pen(), sample_weight=sw,
                   fit_intercept=est.fit_intercept, relative=False)
    assert est.converged_ and 0.0 <= est.dual_gap_
    np.testing.assert_allclose(est.dual_gap_, ref, rtol=1e-5, atol=1e-15)
    # the stopping rule bounds it by tol * P(0)
    assert est.dual_gap_ <= est.tol * _p0(Y, sw, est.fit_intercept) * (1 + 1e-9)


def test_unpenalized_fit_reports_its_exact_suboptimality():
    """alpha=0: the gap at the optimal dual point (the optimal residual), against lstsq."""
    A = np.column_stack([X, np.ones(len(Y))])
    best = np.linalg.lstsq(A, Y, rcond=None)[0]
    opt = 0.5 * np.mean((Y - A @ best) ** 2)
    for max_iter in (1, 100):  # stopped early, and converged
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Lasso(alpha=0.0, max_iter=max_iter).fit(X, Y)
        sub = 0.5 * np.mean((Y - X @ est.coef_ - est.intercept_) ** 2) - opt
        assert est.dual_gap_ == pytest.approx(sub, rel=1e-6, abs=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = MultiTaskLasso(alpha=0.0, tol=1e-10).fit(X, np.column_stack([Y, -Y]))
    assert 0.0 <= mt.dual_gap_ <= 1e-12


def test_dual_gap_from_dask_moments_is_the_same_quantity():
    da = pytest.importorskip("dask.array")
    est = Lasso(alpha=0.05, tol=1e-6)
    got = est.fit(da.from_array(X, chunks=(20, 25)), da.from_array(Y, chunks=20))
    ref = dual_gap(X, Y, got.coef_, got.intercept_, Quadratic(), L1(0.05),
                   fit_intercept=True, relative=False)
    assert 0.0 <= got.dual_gap_ <= est.tol * _p0(Y, np.ones(len(Y)), True)
    # the moments' dual point is the same rescaled residual, up to the rounding of X^T X
    np.testing.assert_allclose(got.dual_gap_, ref, rtol=1e-3, atol=1e-13)
