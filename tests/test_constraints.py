"""Box constraints (``bounds``, ``positive``) and penalty factors (``penalty_factor``) in
every linear estimator (issue 14). References: a bounded quasi-Newton solve of the same
problem written another way (scipy's L-BFGS-B), the penalty objects' own optimality
distance, and the weighted-L1 penalty for the factors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone, is_classifier

from sparsefit.datafits import Quadratic
from sparsefit.linear_model import (
    ElasticNet,
    GroupLasso,
    Lasso,
    LassoCV,
    SparseLogisticRegression,
)
from sparsefit.penalties import L1, WeightedL1
from sparsefit.solvers import solve

from .reliability.test_estimators import ESTIMATORS

RNG = np.random.default_rng(7)
N, P = 80, 6
X = RNG.standard_normal((N, P))
Y = X @ np.array([2.0, -1.5, 1.0, 0.0, 0.5, -0.3]) + 0.1 * RNG.standard_normal(N)
LOWER = np.array([-np.inf, -0.5, 0.0, -1.0, 0.0, -0.1])
UPPER = np.array([1.2, np.inf, 0.4, 1.0, np.inf, 0.0])


def _data(est):
    y = (Y > 0).astype(int) if is_classifier(est) else Y
    return X, y


def _with(est, **params):
    """``est`` with ``params``, for the estimators that take them (FusedLasso takes one
    bound for all coefficients)."""
    est = clone(est)
    if type(est).__name__ == "FusedLasso" and "bounds" in params:
        params["bounds"] = (-0.5, 0.4)
    return est.set_params(**params)


BOUNDED = [k for k, e in ESTIMATORS.items() if "bounds" in e.get_params()]
SEPARABLE_BOUNDS = [k for k in BOUNDED if "Group" not in k]


# not offered yet, each with its reason (a new estimator cannot slip in unnoticed)
WITHOUT_BOUNDS = {
    name: "the row-wise L2,1 solver takes neither yet (scikit-learn's MultiTask classes "
          "have neither parameter)"
    for name in ("MultiTaskLasso", "MultiTaskElasticNet", "MultiTaskLassoCV",
                 "MultiTaskElasticNetCV")
}


def test_every_estimator_takes_bounds_and_penalty_factor():
    missing = [k for k, e in ESTIMATORS.items()
               if not {"bounds", "penalty_factor"} <= set(e.get_params())]
    assert sorted(missing) == sorted(WITHOUT_BOUNDS), missing


@pytest.mark.parametrize("name", SEPARABLE_BOUNDS)
def test_bounds_hold_and_the_fit_is_optimal_inside_them(name):
    lo, hi = LOWER, UPPER
    if name in ("MCPRegressor", "SCADRegressor", "LogSumRegressor"):
        # non-convex penalties take sign constraints only: feature 5 (truly -0.3) >= 0
        lo, hi = np.where(LOWER < 0, -np.inf, 0.0), np.full(P, np.inf)
        lo[5] = 0.0
    est = _with(ESTIMATORS[name], bounds=(lo, hi))
    Xd, y = _data(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xd, y)
    coef = np.ravel(est.coef_)
    if name == "FusedLasso":
        lo, hi = -0.5, 0.4
    assert np.all(coef >= lo - 1e-12) and np.all(coef <= hi + 1e-12)
    assert np.any(np.isclose(coef, lo) | np.isclose(coef, hi))  # some bound is active


@pytest.mark.parametrize("alpha", [0.01, 0.1])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_bounded_elastic_net_equals_a_bounded_quasi_newton_solve(alpha, l1_ratio):
    est = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, bounds=(LOWER, UPPER), tol=1e-12).fit(X, Y)
    # reference: w = u - v, u, v >= 0 (the L1 part is then linear), bounds split on u, v
    Xc, yc = X - X.mean(0), Y - Y.mean()

    def f(z):
        u, v = z[:P], z[P:]
        w = u - v
        r = yc - Xc @ w
        val = 0.5 * r @ r / N + alpha * l1_ratio * z.sum() + 0.5 * alpha * (1 - l1_ratio) * w @ w
        grad_w = -Xc.T @ r / N + alpha * (1 - l1_ratio) * w
        return val, np.concatenate([grad_w, -grad_w]) + alpha * l1_ratio

    bnds = [(0, max(h, 0)) for h in UPPER] + [(0, max(-lo, 0)) for lo in LOWER]
    bnds = [(a, None if b == np.inf else b) for a, b in bnds]
    ref = minimize(f, np.zeros(2 * P), jac=True, bounds=bnds, method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 100_000})
    w_ref = ref.x[:P] - ref.x[P:]
    np.testing.assert_allclose(est.coef_, w_ref, atol=1e-6)
    assert f(np.concatenate([np.maximum(est.coef_, 0), np.maximum(-est.coef_, 0)]))[0] <= \
        ref.fun + 1e-10


@pytest.mark.parametrize("name", ["GroupLasso", "SparseGroupLasso", "SparseLogisticRegression"])
def test_positive_now_works_for_group_penalties_and_multinomial(name):
    est = clone(ESTIMATORS[name]).set_params(positive=True) if "positive" in \
        ESTIMATORS[name].get_params() else clone(ESTIMATORS[name]).set_params(
            bounds=(0.0, np.inf))
    y = Y
    if is_classifier(est):
        y = np.digitize(Y, [-1.0, 1.0])  # three classes: multinomial
    est.fit(X, y)
    assert np.all(est.coef_ >= 0) and np.any(est.coef_ > 0)


def test_positive_group_lasso_satisfies_its_optimality_conditions():
    from sparsefit.penalties import Box, GroupL1

    pen = Box(GroupL1(0.05, [2, 2, 2]), 0.0, np.inf)
    res = solve(X, Y, Quadratic(), pen, fit_intercept=True, tol=1e-12)
    assert np.all(res.coef >= 0)
    grad = Quadratic().gradient(X, Y, res.coef, res.intercept)
    assert np.max(pen.subdiff_distance(res.coef, grad)) < 1e-6


@pytest.mark.parametrize("name", BOUNDED)
def test_bad_bounds_are_refused_naming_them(name):
    est = _with(ESTIMATORS[name])
    Xd, y = _data(est)
    for bad in [(0.5, 1.0), (-1.0,), "big", ([0.0] * 3, 1.0)]:
        with pytest.raises(ValueError, match="bounds|lower|upper"):
            clone(est).set_params(bounds=bad).fit(Xd, y)


# -- penalty factors ---------------------------------------------------------------------

FACTORED = [k for k, e in ESTIMATORS.items() if "penalty_factor" in e.get_params()
            and k != "FusedLasso"]


def _factors(est):
    n_units = P if "Group" not in type(est).__name__ else P // 2  # the table's groups=2
    return np.linspace(0.5, 1.5, n_units)


@pytest.mark.parametrize("name", FACTORED)
def test_factors_of_one_change_nothing_and_a_common_factor_scales_alpha(name):
    est = clone(ESTIMATORS[name])
    Xd, y = _data(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = clone(est).fit(Xd, y)
        ones = clone(est).set_params(penalty_factor=np.ones_like(_factors(est))).fit(Xd, y)
    np.testing.assert_allclose(ones.coef_, plain.coef_, rtol=1e-6, atol=1e-8)
    if "alpha" in est.get_params() and not name.startswith(("LogSum", "MCP", "SCAD",
                                                                "Adaptive")):
        # (non-convex penalties are not linear in alpha; AdaptiveLasso reweights)
        doubled = clone(est).set_params(penalty_factor=2 * np.ones_like(_factors(est)))
        ref = clone(est).set_params(alpha=2 * est.alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_allclose(doubled.fit(Xd, y).coef_, ref.fit(Xd, y).coef_,
                                       rtol=1e-5, atol=1e-7)


def test_lasso_factors_equal_the_weighted_l1():
    f = np.array([0.0, 1.0, 2.0, 0.5, 1.0, 3.0])
    est = Lasso(alpha=0.1, penalty_factor=f, tol=1e-12).fit(X, Y)
    ref = solve(X, Y, Quadratic(), WeightedL1(0.1, f), fit_intercept=True, tol=1e-12)
    np.testing.assert_allclose(est.coef_, ref.coef, atol=1e-9)


def test_a_zero_factor_leaves_the_feature_unpenalized_even_at_a_huge_alpha():
    f = np.ones(P)
    f[3] = 0.0  # feature 3 has no effect in Y: unpenalized, it is still fitted (to its OLS)
    est = Lasso(alpha=100.0, penalty_factor=f, tol=1e-12).fit(X, Y)
    assert np.all(est.coef_[[0, 1, 2, 4, 5]] == 0) and est.coef_[3] != 0
    Xc = X[:, 3] - X[:, 3].mean()
    np.testing.assert_allclose(est.coef_[3], Xc @ (Y - Y.mean()) / (Xc @ Xc), rtol=1e-9)


def test_cv_grid_starts_at_the_null_model_of_the_penalized_features():
    # glmnet's lambda_max: with an unpenalized feature, the first alpha zeroes every
    # penalized coefficient while the unpenalized one is fitted
    f = np.ones(P)
    f[0] = 0.0
    est = LassoCV(alphas=5, cv=3, penalty_factor=f).fit(X, Y)
    first = Lasso(alpha=est.alphas_[0], penalty_factor=f, tol=1e-10).fit(X, Y)
    assert first.coef_[0] != 0 and np.all(first.coef_[1:] == 0)
    below = Lasso(alpha=0.95 * est.alphas_[0], penalty_factor=f, tol=1e-10).fit(X, Y)
    assert np.any(below.coef_[1:] != 0)


def test_group_factors_are_per_group():
    est = GroupLasso(alpha=0.05, groups=2, penalty_factor=[0.0, 1.0, 1.0]).fit(X, Y)
    assert np.all(est.coef_[:2] != 0)
    with pytest.raises(ValueError, match="penalty_factor has 6 entries, expected 3"):
        GroupLasso(alpha=0.05, groups=2, penalty_factor=np.ones(6)).fit(X, Y)


def test_multinomial_factors_apply_to_every_class():
    y = np.digitize(Y, [-1.0, 1.0])
    f = np.ones(P)
    f[5] = 0.0
    est = SparseLogisticRegression(alpha=0.5, penalty_factor=f).fit(X, y)
    assert np.all(est.coef_[:, 5] != 0)  # the unpenalized feature, in every class


def test_solve_projects_a_warm_start_into_new_bounds():
    w0 = np.full(P, 5.0)
    res = solve(X, Y, Quadratic(), L1(0.01), w_init=w0, positive=True, tol=1e-10)
    assert np.all(res.coef >= 0) and res.converged


@pytest.mark.parametrize("l1_ratio", [1.0, 0.4])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_penalty_factor_and_bounds_together_equal_a_bounded_qp(l1_ratio, fit_intercept):
    """glmnet's penalty.factor with lower / upper limits, together (it crashed on the
    nested spec): the minimizer of a smooth bounded reformulation (w = u - v, u, v >= 0,
    L-BFGS-B) to 1e-6."""
    from scipy.optimize import minimize

    from sparsefit.linear_model import ElasticNet

    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 5))
    y = X @ [1.5, -1.0, 0.5, 0.0, 2.0] + 0.3 * rng.standard_normal(60) + 1.0
    f = np.array([0.0, 1.0, 2.0, 1.0, 0.5])
    lo, hi = -0.4, 1.2
    alpha = 0.05
    est = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, penalty_factor=f, bounds=(lo, hi),
                     fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    n, p = X.shape

    def obj(z):
        u, v, b = z[:p], z[p:2 * p], (z[-1] if fit_intercept else 0.0)
        w = u - v
        r = y - X @ w - b
        val = 0.5 * r @ r / n + alpha * (l1_ratio * f @ (u + v)
                                         + 0.5 * (1 - l1_ratio) * f @ (w * w))
        gw = -X.T @ r / n + alpha * (1 - l1_ratio) * f * w
        g = np.r_[gw + alpha * l1_ratio * f, -gw + alpha * l1_ratio * f,
                  [-r.sum() / n] if fit_intercept else []]
        return val, g

    bnds = [(0, hi)] * p + [(0, -lo)] * p + ([(None, None)] if fit_intercept else [])
    ref = minimize(obj, np.zeros(2 * p + fit_intercept), jac=True, method="L-BFGS-B",
                   bounds=bnds, options=dict(ftol=1e-15, gtol=1e-12, maxiter=10000))
    w_ref = ref.x[:p] - ref.x[p:2 * p]
    assert np.all(est.coef_ >= lo) and np.all(est.coef_ <= hi)
    np.testing.assert_allclose(est.coef_, w_ref, atol=1e-6)
    assert np.any(est.coef_ == hi) or np.any(est.coef_ == lo)  # a bound is active
