"""The prior lasso, the relaxed lasso and glmnet's dfmax / pmax caps (issue 14), against
references written another way: the lasso on hand-built responses, least squares on the
support, counting the non-zeros; and the known behaviour of each in simulations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Lasso as SkLasso

from sparsefit.linear_model import (
    ElasticNetCV,
    Lasso,
    LassoCV,
    PriorLasso,
    PriorLassoCV,
    RelaxedLasso,
    RelaxedLassoCV,
    SparseLogisticRegressionCV,
    regularization_path,
)


def _sparse_problem(n, p, k, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:k] = rng.uniform(1.0, 2.0, k) * rng.choice([-1, 1], k)
    return X, X @ w + noise * rng.standard_normal(n), w


# -- prior lasso --------------------------------------------------------------------------

def test_prior_lasso_is_the_lasso_on_the_combined_responses():
    X, y, _ = _sparse_problem(60, 15, 4, 1.0, 0)
    eta, alpha = 1.5, 0.05
    A = np.column_stack([X[:, [0, 2]], np.ones(60)])
    y_prior = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    ref = SkLasso(alpha=alpha / (1 + eta), tol=1e-12, max_iter=100_000).fit(
        X, (y + eta * y_prior) / (1 + eta))
    ours = PriorLasso([0, 2], eta=eta, alpha=alpha, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    assert ours.prior_index_.tolist() == [0, 2]


def test_prior_lasso_with_eta_zero_is_the_lasso():
    X, y, _ = _sparse_problem(60, 15, 4, 1.0, 1)
    np.testing.assert_allclose(PriorLasso([3], eta=0.0, alpha=0.1, tol=1e-12).fit(X, y).coef_,
                               Lasso(alpha=0.1, tol=1e-12).fit(X, y).coef_, atol=1e-10)


@pytest.mark.parametrize("bad, match", [([], "empty"), ([99], "index"), ("age", "names"),
                                        ([0.5], "integer")])
def test_bad_prior_features_are_refused_naming_them(bad, match):
    X, y, _ = _sparse_problem(30, 5, 2, 1.0, 2)
    with pytest.raises(ValueError, match=match):
        PriorLasso(bad).fit(X, y)


def _test_error(est, X, y, w, rng):
    Xt = rng.standard_normal((2000, X.shape[1]))
    return float(np.mean((est.predict(Xt) - Xt @ w) ** 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_prior_lasso_cv_gains_from_an_informative_prior_and_loses_nothing_otherwise(seed):
    # Jiang, He and Zhang's result, in the small-n regime where it matters: a prior naming
    # the true features lowers the prediction error several-fold (measured over 4 seeds:
    # 0.08x to 0.35x the lasso's); a prior naming only noise features is given eta = 0 by
    # cross-validation and costs nothing (0.97x to 1.01x)
    X, y, w = _sparse_problem(50, 120, 8, 2.0, seed)
    rng = np.random.default_rng(100 + seed)
    lasso = LassoCV(alphas=30, cv=5).fit(X, y)
    good = PriorLassoCV(prior_features=np.arange(8), alphas=30, cv=5).fit(X, y)
    bad = PriorLassoCV(prior_features=np.arange(112, 120), alphas=30, cv=5).fit(X, y)
    e_lasso, e_good, e_bad = (_test_error(m, X, y, w, rng) for m in (lasso, good, bad))
    assert e_good < 0.5 * e_lasso, (e_good, e_lasso)
    assert e_bad < 1.1 * e_lasso, (e_bad, e_lasso)
    assert good.eta_ > 0 and bad.eta_ <= 0.5


# -- relaxed lasso ------------------------------------------------------------------------

def test_relaxed_lasso_at_gamma_one_is_the_lasso_and_at_zero_least_squares_on_the_support():
    X, y, _ = _sparse_problem(80, 20, 5, 0.5, 3)
    lasso = Lasso(alpha=0.2, tol=1e-12).fit(X, y)
    one = RelaxedLasso(alpha=0.2, gamma=1.0, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(one.coef_, lasso.coef_, atol=1e-12)
    zero = RelaxedLasso(alpha=0.2, gamma=0.0, tol=1e-12).fit(X, y)
    S = np.flatnonzero(lasso.coef_)
    A = np.column_stack([X[:, S], np.ones(80)])
    ls = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(zero.coef_[S], ls[:-1], atol=1e-9)
    assert np.all(zero.coef_[np.setdiff1d(np.arange(20), S)] == 0)
    np.testing.assert_allclose(zero.intercept_, ls[-1], atol=1e-9)


def test_relaxed_lasso_cv_beats_the_lasso_on_a_sparse_high_snr_problem():
    # Meinshausen's case: with strong signals the lasso's shrinkage costs accuracy that the
    # relaxed fit recovers, at the same selection
    X, y, w = _sparse_problem(100, 60, 5, 0.5, 4)
    rng = np.random.default_rng(7)
    relaxed = RelaxedLassoCV(alphas=30, cv=5).fit(X, y)
    lasso = LassoCV(alphas=30, cv=5).fit(X, y)
    assert relaxed.gamma_ < 1.0
    assert _test_error(relaxed, X, y, w, rng) < 0.7 * _test_error(lasso, X, y, w, rng)
    assert relaxed.mse_path_.shape == (5, 30, 5)


# -- dfmax / pmax -------------------------------------------------------------------------

@pytest.mark.parametrize("cap", [{"dfmax": 3}, {"pmax": 4}])
def test_the_path_stops_before_passing_a_cap(cap):
    X, y, _ = _sparse_problem(80, 20, 8, 0.5, 5)
    full = regularization_path(X, y, n_alphas=30)
    alphas, coefs, _ = regularization_path(X, y, n_alphas=30, **cap)
    nnz = (coefs != 0).sum(1)
    ever = np.cumsum(np.any(np.abs(coefs) > 0, axis=0)[None, :], axis=0)
    assert len(alphas) < 30
    if "dfmax" in cap:
        assert nnz.max() <= 3
        assert (full[1][len(alphas)] != 0).sum() > 3  # the next point breaks the cap
    else:
        assert np.any(coefs != 0, axis=0).sum() <= 4 and ever.max() <= 4
    np.testing.assert_allclose(coefs, full[1][:len(alphas)], atol=1e-10)


@pytest.mark.parametrize("cls", [LassoCV, ElasticNetCV, SparseLogisticRegressionCV,
                                 RelaxedLassoCV])
def test_cv_estimators_cap_the_selected_features(cls):
    X, y, _ = _sparse_problem(80, 20, 8, 0.5, 6)
    if cls is SparseLogisticRegressionCV:
        y = (y > 0).astype(int)
    m = cls(alphas=20, cv=3, dfmax=3).fit(X, y)
    assert np.count_nonzero(np.atleast_2d(m.coef_).any(axis=0)) <= 3
    assert np.asarray(m.alphas_).shape[-1] < 20


def test_a_cap_with_several_l1_ratios_pads_the_shorter_grids():
    """Each l1_ratio's grid stops where its own path reaches the cap: the CV arrays are
    NaN after the shorter ones' end (it crashed on the ragged arrays)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 30))
    y = X[:, :8] @ rng.standard_normal(8) + rng.standard_normal(80)
    m = ElasticNetCV(l1_ratio=[0.2, 1.0], alphas=20, cv=3, dfmax=5).fit(X, y)
    lengths = (~np.isnan(m.alphas_)).sum(axis=1)
    assert m.alphas_.shape == (2, lengths.max()) and lengths.min() < lengths.max()
    assert m.mse_path_.shape == (2, lengths.max(), 3)
    for k, n in enumerate(lengths):
        assert not np.isnan(m.mse_path_[k, :n]).any() and np.isnan(m.mse_path_[k, n:]).all()
    assert np.count_nonzero(m.coef_) <= 5 and m.alpha_ in m.alphas_[list(
        (0.2, 1.0)).index(m.l1_ratio_)]


def test_caps_are_validated():
    X, y, _ = _sparse_problem(30, 5, 2, 1.0, 7)
    with pytest.raises(ValueError, match="dfmax"):
        regularization_path(X, y, dfmax=-1)
    with pytest.raises(ValueError, match="dfmax"):
        LassoCV(dfmax=1.5).fit(X, y)
