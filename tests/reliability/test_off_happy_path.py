"""Estimators one step off the happy path (issue 12, items 12 to 17): a zero penalty, a
``coef_`` set by hand, float32 overflow, a bad grid, and the intercept solves behind the
logistic speed cliffs. Each test failed before its fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning

from sparsefit.datafits import Logistic, Multinomial
from sparsefit.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    SparseLogisticRegression,
    SparseLogisticRegressionCV,
)

from .test_estimators import ESTIMATORS, targets

RNG = np.random.default_rng(0)
X_LS = RNG.standard_normal((200, 20))
Y_LS = X_LS @ RNG.standard_normal(20) + 0.1 * RNG.standard_normal(200)

# the estimators whose penalty is alpha times something, so alpha=0 is no penalty at all
# (PriorLasso at alpha=0 is least squares on its combined responses, not on y)
ZERO_ALPHA = [k for k, e in ESTIMATORS.items() if "alpha" in e.get_params()
              and not is_classifier(e) and k not in ("FusedLasso", "PriorLasso")]


def _least_squares(X, y):
    A = np.column_stack([X, np.ones(len(y))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    return sol[:-1], sol[-1]


# 12. the stopping rule when the L1 strength is 0 -------------------------------------------

@pytest.mark.parametrize("name", ZERO_ALPHA)
def test_alpha_zero_is_least_squares_reported_converged(name):
    est = clone(ESTIMATORS[name]).set_params(alpha=0.0)
    y = targets(name, Y_LS)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est.fit(X_LS, y)
    assert not [w for w in rec if issubclass(w.category, ConvergenceWarning)]
    assert any("With alpha=0" in str(w.message) for w in rec)
    coef, intercept = _least_squares(X_LS, y)
    np.testing.assert_allclose(est.coef_, coef.T, atol=1e-6)  # (a multi-task coef_ is W.T)
    assert np.all(np.abs(est.intercept_ - intercept) < 1e-6)
    assert est.converged_
    if name in ("SCADRegressor", "LogSumRegressor"):
        assert np.isnan(est.dual_gap_)  # non-convex: no gap, a stationary point
    elif name != "MCPRegressor":
        # the gap at the optimal dual point: the exact suboptimality, against lstsq's optimum
        def objective(coef, intercept):
            r = y - X_LS @ np.asarray(coef).T - intercept
            return 0.5 * np.mean(np.sum(r.reshape(len(y), -1) ** 2, axis=1))
        sub = objective(est.coef_, est.intercept_) - objective(coef.T, intercept)
        assert 0.0 <= est.dual_gap_ <= 1e-12 and est.dual_gap_ == pytest.approx(sub, abs=1e-14)
    assert est.n_outer_iter_ < 20  # working-set iterations (n_iter_ counts epochs)


def test_ridge_limit_of_elastic_net_converges_at_tight_tol():
    est = ElasticNet(alpha=0.1, l1_ratio=0.0, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X_LS, Y_LS)
    n = len(Y_LS)
    Xc, yc = X_LS - X_LS.mean(0), Y_LS - Y_LS.mean()
    ridge = np.linalg.solve(Xc.T @ Xc / n + 0.1 * np.eye(20), Xc.T @ yc / n)
    np.testing.assert_allclose(est.coef_, ridge, atol=1e-8)
    assert est.converged_ and est.dual_gap_ <= 1e-10


def test_unpenalized_logistic_reaches_a_zero_gradient():
    X = X_LS[:, :3]
    y = (X @ [1.0, -1.0, 0.5] + RNG.standard_normal(200) > 0).astype(int)  # not separable
    clf = SparseLogisticRegression(alpha=0.0, tol=1e-8).fit(X, y)
    assert clf.converged_ and np.isnan(clf.dual_gap_)
    g = Logistic().gradient(X, np.where(y == 1, 1.0, -1.0), clf.coef_.ravel(),
                            clf.intercept_[0])
    assert np.max(np.abs(g)) < 1e-6


# 13. warm_start from a coef_ the user set -------------------------------------------------

WARM = [k for k, e in ESTIMATORS.items() if "warm_start" in e.get_params()]


@pytest.mark.parametrize("name", WARM)
def test_warm_start_from_a_hand_set_coef(name):
    X, y = X_LS[:60, :6], targets(name, Y_LS[:60])
    est = clone(ESTIMATORS[name]).set_params(warm_start=True)
    if is_classifier(est):
        y = (y > 0).astype(int)
        est.coef_ = np.full((1, 6), 0.1)
    else:
        # a list, as users write it, and no intercept_ (one row per task if multi-task)
        est.coef_ = [0.1] * 6 if y.ndim == 1 else [[0.1] * 6] * y.shape[1]
    est.fit(X, y)
    ref = clone(ESTIMATORS[name]).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-4)


def test_sparse_coef_of_a_hand_set_coef():
    est = Lasso()
    est.coef_ = [0.0, 1.5, 0.0]
    assert est.sparse_coef_.shape == (1, 3) and est.sparse_coef_.nnz == 1


# 14. never converged_ with coefficients that do not fit the dtype -------------------------

def test_float32_overflowing_coefficients_are_refused():
    X = (X_LS[:50, :6] * 1e-20).astype(np.float32)
    y = Y_LS[:50] * 1e20
    with pytest.raises(ValueError, match="float32"):
        Lasso(alpha=1e-10).fit(X, y)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_extreme_scales_give_finite_coefficients_or_an_error(name):
    X = (X_LS[:50, :6] * 1e-20).astype(np.float32)
    y = targets(name, Y_LS[:50] * 1e20)
    est = clone(ESTIMATORS[name])
    if is_classifier(est):
        y = (y > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except ValueError as exc:
            assert "float32" in str(exc) or "Rescale" in str(exc) or "rescale" in str(exc)
            return
    assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))


# 15. a grid holding a string -----------------------------------------------------------------

@pytest.mark.parametrize("cls", [LassoCV, ElasticNetCV, SparseLogisticRegressionCV])
@pytest.mark.parametrize("alphas", [(1, 1.0, "1"), ["0.1"], [[0.1, 0.2]], [True, 0.1]])
def test_cv_grid_with_strings_or_nesting_is_refused(cls, alphas):
    X, y = X_LS[:40, :4], Y_LS[:40]
    if cls is SparseLogisticRegressionCV:
        y = (y > 0).astype(int)
    with pytest.raises(ValueError, match="alphas"):
        cls(alphas=alphas, cv=3).fit(X, y)


# 16 and 17. the intercept solves: few loss evaluations, exact optimum -------------------

class _Counting:
    """Counts the loss evaluations of a datafit (the cost of an intercept solve)."""

    def __init__(self, datafit):
        self.datafit = datafit
        self.calls = 0
        self._value = datafit._value_u

    def __enter__(self):
        def value(*args):
            self.calls += 1
            return self._value(*args)
        self.datafit._value_u = value
        return self

    def __exit__(self, *exc):
        del self.datafit._value_u


@pytest.mark.parametrize("shift", [0.0, 3.0, -8.0])
def test_binary_intercept_is_exact_in_few_evaluations(shift):
    n = 50_000
    u = RNG.standard_normal(n) + shift  # far from balanced when shifted
    y = np.where(RNG.random(n) < 0.3, 1.0, -1.0)
    sw = np.full(n, 1.0 / n)
    df = Logistic()
    with _Counting(df) as count:
        b = df._optimal_intercept(y, u, sw)
    assert count.calls <= 12  # was 650 to 850 per call
    assert abs(np.sum(df._raw_grad(y, u + b, sw))) < 1e-13


def test_multinomial_intercept_is_exact():
    n, K = 3000, 6
    U = RNG.standard_normal((n, K)) * 3
    y = RNG.integers(0, K, n).astype(float)
    sw = RNG.random(n)
    sw /= sw.sum()
    b = Multinomial(K)._optimal_intercept(y, U, sw)
    g = Multinomial(K)._raw_grad(y, U + b, sw).sum(axis=0)
    assert np.max(np.abs(g)) < 1e-13


@pytest.mark.parametrize("shift", [0.0, 100.0])
def test_multinomial_l1_equals_scikit_learn(shift):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X) + shift  # off-center features with an intercept
    alpha = 0.01
    ours = SparseLogisticRegression(alpha=alpha, tol=1e-12, max_iter=500).fit(X, y)
    assert ours.converged_ and ours.n_iter_ < 30
    ref = LogisticRegression(C=1.0 / (alpha * len(y)), l1_ratio=1.0, solver="saga",
                             tol=1e-12, max_iter=100_000).fit(X - shift, y)

    def objective(coef, intercept):
        from scipy.special import log_softmax
        U = X @ coef.T + intercept
        return -np.mean(log_softmax(U, axis=1)[np.arange(len(y)), y]) + alpha * np.abs(
            coef).sum()

    ref_intercept = ref.intercept_ - shift * ref.coef_.sum(axis=1)
    f_ours, f_ref = objective(ours.coef_, ours.intercept_), objective(ref.coef_, ref_intercept)
    assert f_ours <= f_ref + 1e-9
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)


@pytest.mark.parametrize("group_size", [1, 3])
def test_multinomial_group_lasso_on_near_separable_classes_needs_few_epochs(group_size):
    # the block CD with the softmax bound 1/2 took 17,000 epochs here (minutes through the
    # CLI); Newton steps with each group's exact curvature need a few hundred
    from sklearn.datasets import make_classification

    from sparsefit.penalties import GroupL1
    from sparsefit.solvers import solve

    X, y = make_classification(200, 15, n_informative=5, n_classes=3, n_clusters_per_class=1,
                               class_sep=3.0, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    K = 3
    pen = GroupL1(1e-3, [K * group_size] * (15 // group_size))
    res = solve(X, y.astype(float), Multinomial(K), pen, fit_intercept=True, tol=1e-8)
    assert res.converged and res.n_epochs < 3000, res.n_epochs
    # and it is the optimum: the duality gap certifies it
    from sparsefit.solvers import dual_gap

    assert dual_gap(X, y.astype(float), res.coef, res.intercept, Multinomial(K), pen,
                    fit_intercept=True) <= 1e-8


# a cross-validation fold whose rows all have weight 0 ----------------------------------

CV_NAMES = [k for k, e in ESTIMATORS.items() if "cv" in e.get_params()]


@pytest.mark.parametrize("name", CV_NAMES)
def test_a_fold_of_zero_weights_is_refused_naming_it(name):
    """Every CV estimator of the registry: a fold whose held-out rows all weigh 0 has no
    score (it raised numpy's ZeroDivisionError from np.average); one line naming the
    fold and the fix, as on dask input."""
    from sklearn.model_selection import KFold

    est = clone(ESTIMATORS[name]).set_params(cv=KFold(4))
    X = X_LS[:120]
    y = targets(name, Y_LS[:120])
    if is_classifier(est):
        y = (X[:, 0] > 0).astype(int)
    sw = np.ones(120)
    sw[:30] = 0.0  # KFold(4)'s first held-out fold
    with pytest.raises(ValueError, match=r"^cross-validation fold 0 of 4 has no held-out "
                       r"rows of positive weight \(sample_weight\): use fewer folds"):
        est.fit(X, y, sample_weight=sw)
