"""The estimators' answers compared with references written by others (scikit-learn, closed
forms). scikit-learn's common checks are in tests/reliability/test_sklearn_checks.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, make_regression
from sklearn.model_selection import KFold

from sparsefit import linear_model
from sparsefit.linear_model import (
    AdaptiveLasso,
    ElasticNet,
    ElasticNetCV,
    FusedLasso,
    GroupLasso,
    Lasso,
    LassoCV,
    MCPRegressor,
    SparseLogisticRegression,
    SparseLogisticRegressionCV,
    regularization_path,
)

# -- answers against scikit-learn ----------------------------------------------------------

@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=50, n_informative=10, noise=0.5,
                           random_state=0)
    return X, y


def _alpha_max(X, y, fit_intercept=True):
    yc = y - y.mean() if fit_intercept else y
    Xc = X - X.mean(0) if fit_intercept else X
    return np.max(np.abs(Xc.T @ yc)) / len(y)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("ratio", [10, 100])
@pytest.mark.parametrize("ours, theirs, extra", [
    (Lasso, sk.Lasso, {}),
    (ElasticNet, sk.ElasticNet, {"l1_ratio": 0.7}),
])
def test_coefficients_equal_scikit_learn(regression, ours, theirs, extra, ratio, fit_intercept):
    X, y = regression
    alpha = _alpha_max(X, y, fit_intercept) / ratio
    a = ours(alpha=alpha, tol=1e-12, fit_intercept=fit_intercept, **extra).fit(X, y)
    b = theirs(alpha=alpha, tol=1e-14, max_iter=100_000, fit_intercept=fit_intercept,
               **extra).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8 * np.abs(b.coef_).max())
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-6, atol=1e-6)
    yc = y - y.mean() if fit_intercept else y
    P0 = 0.5 * np.mean(yc ** 2)  # dual_gap_ is P - D, as scikit-learn's; tol bounds it / P(0)
    assert a.converged_ and a.dual_gap_ <= 1e-12 * P0


def test_sample_weight_sparse_and_float32_agree_with_scikit_learn(regression):
    X, y = regression
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, size=y.size)
    alpha = _alpha_max(X, y) / 20
    ref = sk.Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y, sample_weight=sw)
    for Xin in (X, sp.csc_matrix(X), sp.csr_matrix(X)):
        ours = Lasso(alpha=alpha, tol=1e-12).fit(Xin, y, sample_weight=sw)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    f32 = Lasso(alpha=alpha, tol=1e-6).fit(X.astype(np.float32), y.astype(np.float32))
    assert f32.coef_.dtype == np.float32
    f64 = Lasso(alpha=alpha, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(f32.coef_, f64.coef_, rtol=1e-3, atol=1e-3)


def test_positive_lasso_equals_scikit_learn(regression):
    X, y = regression
    alpha = _alpha_max(X, y) / 30
    a = Lasso(alpha=alpha, positive=True, tol=1e-12).fit(X, y)
    b = sk.Lasso(alpha=alpha, positive=True, tol=1e-14, max_iter=100_000).fit(X, y)
    assert np.all(a.coef_ >= 0)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)


def test_logistic_l1_equals_scikit_learn():
    X, y01 = make_regression(n_samples=150, n_features=20, n_informative=5, random_state=1)[0], None
    rng = np.random.default_rng(1)
    w = np.zeros(20)
    w[:5] = rng.normal(size=5)
    y = np.where(X @ w + 0.3 * rng.normal(size=150) > 0, "yes", "no")
    n = y.size
    C = 0.5
    ref = sk.LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-12,
                                max_iter=200_000).fit(X, y)
    ours = SparseLogisticRegression(alpha=1.0 / (C * n), tol=1e-12).fit(X, y)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    del y01


def test_multinomial_group_penalty_selects_whole_features():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    clf = SparseLogisticRegression(alpha=0.05, multiclass_penalty="group").fit(X, y)
    assert clf.coef_.shape == (3, 4)
    dropped = np.all(clf.coef_ == 0, axis=0)
    kept = np.all(clf.coef_ != 0, axis=0)
    assert np.all(dropped | kept) and dropped.any()
    assert clf.score(X, y) > 0.85


def test_logistic_single_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        SparseLogisticRegression().fit(np.ones((5, 2)), np.zeros(5))


# -- cross-validation ------------------------------------------------------------------------

def test_lasso_cv_matches_scikit_learn_curve_and_rules():
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5)
    ours = LassoCV(cv=cv, alphas=30, tol=1e-10).fit(X, y)
    ref = sk.LassoCV(cv=cv, alphas=30, tol=1e-12, max_iter=100_000).fit(X, y)
    assert ours.alphas_.shape == ref.alphas_.shape and ours.mse_path_.shape == ref.mse_path_.shape
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-10)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-5)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-10)
    mean, se = ours.cv_mean_, ours.cv_std_error_
    assert mean.shape == se.shape == (30,)
    i = int(np.argmin(mean))
    assert ours.alpha_min_ == ours.alphas_[i]
    # the 1-SE alpha: largest alpha within one standard error of the minimum
    within = ours.alphas_[mean <= mean[i] + se[i]]
    assert ours.alpha_1se_ == within.max() >= ours.alpha_min_
    one_se = LassoCV(cv=cv, alphas=30, tol=1e-10, alpha_rule="1se").fit(X, y)
    assert one_se.alpha_ == ours.alpha_1se_
    assert np.count_nonzero(one_se.coef_) <= np.count_nonzero(ours.coef_)


def test_elastic_net_cv_searches_the_ratio_grid_and_n_jobs_changes_nothing(regression):
    X, y = regression
    a = ElasticNetCV(l1_ratio=[0.3, 0.9], alphas=10, cv=3, tol=1e-10).fit(X, y)
    b = ElasticNetCV(l1_ratio=[0.3, 0.9], alphas=10, cv=3, tol=1e-10, n_jobs=2).fit(X, y)
    assert a.mse_path_.shape == (2, 10, 3)
    assert a.l1_ratio_ in (0.3, 0.9)
    # worker processes run BLAS with other thread counts (other rounding): equal to tol
    np.testing.assert_allclose(a.mse_path_, b.mse_path_, rtol=1e-6)
    assert a.alpha_ == b.alpha_


def test_logistic_cv_rules():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SparseLogisticRegressionCV(alphas=8, cv=3, alpha_rule="1se").fit(X, y)
    assert clf.loss_path_.shape == (8, 3)
    assert clf.alpha_ == clf.alpha_1se_ >= clf.alpha_min_
    assert clf.score(X, y) > 0.9


# -- closed forms and properties -----------------------------------------------------------

def test_group_lasso_orthogonal_design_closed_form():
    # with X^T X / n = I the solution is block soft-thresholding of X^T y / n
    rng = np.random.default_rng(0)
    n, p = 40, 6
    Q, _ = np.linalg.qr(rng.normal(size=(n, p)))
    X = Q * np.sqrt(n)
    y = X @ np.array([2.0, -1.0, 0.1, 0.05, 0.0, 3.0]) + 0.01 * rng.normal(size=n)
    alpha = 0.3
    model = GroupLasso(alpha=alpha, groups=[2, 2, 2], fit_intercept=False, tol=1e-12).fit(X, y)
    z = X.T @ y / n
    expected = np.concatenate([
        g * max(0.0, 1 - alpha * np.sqrt(2) / np.linalg.norm(g)) for g in z.reshape(3, 2)])
    np.testing.assert_allclose(model.coef_, expected, atol=1e-9)
    assert np.all(model.coef_[2:4] == 0)


def test_alpha_at_alpha_max_gives_exact_zeros_and_small_alpha_tends_to_least_squares():
    X, y = make_regression(n_samples=100, n_features=8, noise=1.0, random_state=3)
    amax = _alpha_max(X, y)
    assert np.all(Lasso(alpha=amax).fit(X, y).coef_ == 0)
    assert np.any(Lasso(alpha=amax * 0.99).fit(X, y).coef_ != 0)
    ols = sk.LinearRegression().fit(X, y)
    tiny = Lasso(alpha=1e-9 * amax, tol=1e-14).fit(X, y)
    np.testing.assert_allclose(tiny.coef_, ols.coef_, rtol=1e-5)


def test_fused_lasso_on_an_identity_design_is_the_tv_prox():
    # X = sqrt(n) I: the objective is 0.5 ||y / sqrt(n) - w||^2 + alpha TV(w); reference by
    # the dual bounded least squares (scipy), independent of the Condat prox
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(0)
    n = 12
    v = np.repeat([0.0, 2.0, -1.0], 4) + 0.3 * rng.normal(size=n)
    X = np.sqrt(n) * np.eye(n)
    alpha = 0.4
    model = FusedLasso(alpha=alpha, fit_intercept=False, tol=1e-10).fit(X, v * np.sqrt(n))
    dt = np.zeros((n, n - 1))
    dt[np.arange(n - 1), np.arange(n - 1)] = -1.0
    dt[np.arange(1, n), np.arange(n - 1)] = 1.0
    u = lsq_linear(dt, v, bounds=(-alpha, alpha), method="bvls", tol=1e-14).x
    np.testing.assert_allclose(model.coef_, v - dt @ u, atol=1e-7)
    assert model.converged_ and np.unique(model.coef_.round(8)).size < n


def test_mcp_does_not_shrink_large_coefficients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    X /= np.sqrt((X ** 2).mean(0))
    beta = np.zeros(10)
    beta[:3] = [5.0, -4.0, 3.0]
    y = X @ beta + 0.1 * rng.normal(size=200)
    mcp = MCPRegressor(alpha=0.2, gamma=3.0, fit_intercept=False).fit(X, y)
    lasso = Lasso(alpha=0.2, fit_intercept=False).fit(X, y)
    ols = np.linalg.lstsq(X[:, :3], y, rcond=None)[0]
    assert np.all(mcp.coef_[3:] == 0)
    np.testing.assert_allclose(mcp.coef_[:3], ols, rtol=1e-4)  # the oracle estimate
    assert np.all(np.abs(lasso.coef_[:3]) < np.abs(ols) - 0.1)  # the lasso's bias


def test_adaptive_lasso_keeps_the_support_and_reduces_bias():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 12))
    beta = np.zeros(12)
    beta[[0, 4]] = [3.0, -2.0]
    y = X @ beta + 0.2 * rng.normal(size=150)
    ada = AdaptiveLasso(alpha=0.1).fit(X, y)
    lasso = Lasso(alpha=0.1).fit(X, y)
    assert np.flatnonzero(ada.coef_).tolist() == [0, 4]
    assert np.abs(ada.coef_ - beta).sum() < np.abs(lasso.coef_ - beta).sum()
    assert ada.weights_.shape == (12,)


def test_regularization_path_equals_scikit_learn_lasso_path():
    X, y = load_diabetes(return_X_y=True)
    X = X - X.mean(0)
    y = y - y.mean()
    alphas, coefs, _ = regularization_path(X, y, n_alphas=20, fit_intercept=False, tol=1e-12)
    ref_alphas, ref_coefs, _ = sk.lasso_path(X, y, n_alphas=20, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(alphas, ref_alphas, rtol=1e-10)
    np.testing.assert_allclose(coefs, ref_coefs.T, rtol=1e-5, atol=1e-6)


def test_pandas_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Lasso(alpha=0.5).fit(X, y)
    np.testing.assert_array_equal(model.feature_names_in_, X.columns)
    assert model.predict(X).shape == (len(y),)
    del pd


@pytest.mark.parametrize("make, word", [
    (lambda: Lasso(alpha=-1.0).fit(np.ones((3, 2)), [1, 2, 3]), "alpha"),
    (lambda: Lasso().fit(np.array([[np.nan, 1.0], [1.0, 2.0]]), [1, 2]), "NaN"),
    (lambda: Lasso().fit(np.ones((3, 2)), [1, 2]), "inconsistent"),
    (lambda: Lasso().fit(np.ones((3, 2)), [1, 2, 3], sample_weight=[1, -1, 1]), "(?i)negative"),
    (lambda: Lasso().fit(np.ones((3, 2)), [1, 2, 3], sample_weight=[0, 0, 0]), "non-zero"),
    (lambda: GroupLasso(groups=[[0, 5]]).fit(np.ones((3, 2)), [1, 2, 3]), "groups"),
    (lambda: ElasticNet(l1_ratio=2.0).fit(np.ones((3, 2)), [1, 2, 3]), "l1_ratio"),
])
def test_bad_input_is_refused_with_a_clear_error(make, word):
    with pytest.raises(ValueError, match=word):
        make()


@pytest.mark.parametrize("cls, extra", [("LassoCV", {}), ("ElasticNetCV", {"l1_ratio": 0.5})])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_and_dense_x_give_the_same_cv_path(cls, extra, fit_intercept, weighted):
    """Small sparse X takes the dense one's covariance route, the same algorithm: the refit
    agrees to rounding and the CV curves within 1e-4 relative (rounding differences can
    still flip a working-set choice at a path point). Measured over 48 such fits before,
    when sparse X took the X route: mse_path_ 0.43 relative apart at tol=1e-4 and 4.5e-3
    at tol=1e-7, coef_ 1.7e-2 and 9e-4; after: 3.7e-5 and 1.2e-5, coef_ 9e-15 and 8e-14."""
    import sparsefit.linear_model as lm
    from sparsefit.datafits._validation import as_column_store
    from sparsefit.solvers.cd import takes_gram_route

    rng = np.random.default_rng(1)
    X = sp.random(40, 30, density=0.3, random_state=2, format="csc").toarray()
    y = X[:, :4] @ [2.0, -1.0, 0.5, 1.5] + 0.1 * rng.standard_normal(40)
    sw = rng.uniform(0.5, 2.0, 40) if weighted else None
    est = getattr(lm, cls)(cv=3, tol=1e-7, fit_intercept=fit_intercept, **extra)
    dense = clone_fit(est, X, y, sw)
    sparse = clone_fit(est, sp.csc_matrix(X), y, sw)
    np.testing.assert_allclose(sparse.mse_path_, dense.mse_path_, rtol=1e-4)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    assert takes_gram_route(as_column_store(sp.csc_matrix(X)))
    # a large sparse X keeps the X route: its columns made dense would not fit
    big = sp.csc_matrix((np.ones(3), ([0, 5, 9], [0, 1, 2])), shape=(100_000, 50_000))
    assert not takes_gram_route(as_column_store(big))


def test_a_small_mostly_full_sparse_x_is_read_as_dense():
    """A sparse X of at most DENSE_MAX_ENTRIES entries, DENSE_FROM full or more, takes the
    dense kernels (faster there, and the same arithmetic as the dense X: scikit-learn's
    tests compare sparse and dense paths to 1e-7); sparser or larger ones stay sparse."""
    from sparsefit.datafits._validation import DENSE_FROM, DENSE_MAX_ENTRIES, as_column_store

    X = np.random.default_rng(0).standard_normal((50, 20))
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
        store = as_column_store(fmt(X))
        assert store.dense
        np.testing.assert_array_equal(store.data, X.ravel(order="F"))
        assert not as_column_store(fmt(X), densify=False).dense
    thin = sp.random(50, 20, density=DENSE_FROM / 2, random_state=0, format="csr")
    assert not as_column_store(thin).dense
    side = int(np.sqrt(DENSE_MAX_ENTRIES)) + 1
    big = sp.csc_matrix((np.ones(side), (np.arange(side), np.arange(side))),
                        shape=(side, side))
    big_full = sp.csc_matrix(np.ones((side, 4)))  # small enough: dense
    assert not as_column_store(big).dense and as_column_store(big_full).dense
    # the estimators see the same model either way
    y = X[:, :3] @ [1.0, -2.0, 0.5]
    a = ElasticNet(alpha=0.1, tol=1e-10).fit(sp.csr_matrix(X), y)
    b = ElasticNet(alpha=0.1, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def clone_fit(est, X, y, sw):
    from sklearn.base import clone

    return clone(est).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("y_kind", ["zero", "constant", "noise", "two-targets"])
@pytest.mark.parametrize("sparse_x", [False, True])
def test_path_grid_without_xy_is_scikit_learns(y_kind, sparse_x):
    """lasso_path / enet_path compute alpha_max from X.T @ y when no Xy is given; a zero y
    gives scikit-learn's grid of float64's resolution (it was a grid of zeros)."""
    from sparsefit.linear_model import enet_path

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4))
    y = {"zero": np.zeros(12), "constant": np.ones(12), "noise": rng.standard_normal(12),
         "two-targets": rng.standard_normal((12, 2))}[y_kind]
    Xin = sp.csc_matrix(X) if sparse_x else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = enet_path(Xin, y, l1_ratio=0.7, alphas=4)[0]
        theirs = sk.enet_path(Xin, y, l1_ratio=0.7, alphas=4)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# -- copy_X: True never writes X; False centers a dense X in place (scikit-learn's) ---------

_X_COPY, _Y_COPY = make_regression(n_samples=300, n_features=40, n_informative=6, noise=1.0,
                                   random_state=1)
_X_COPY = _X_COPY + 3.0  # off-center columns: scikit-learn would center them in place
_COPY_STORAGES = {
    "F-float64": lambda X: np.asfortranarray(X),
    "C-float64": lambda X: np.ascontiguousarray(X),
    "F-float32": lambda X: np.asfortranarray(X, dtype=np.float32),
    "csc": lambda X: sp.csc_matrix(X),
    "csr": lambda X: sp.csr_matrix(X),
}


def _in_place(storage, check_input, weighted):
    """Whether ``fit(X, copy_X=False)`` reaches the caller's dense array itself (no
    conversion copy in between)."""
    if storage in ("csc", "csr"):
        return False
    if storage == "C-float64":
        return False  # converted to Fortran order first (check_input=True, or weighted)
    return True


@pytest.mark.parametrize("storage", _COPY_STORAGES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("check_input", [True, False])
def test_copy_x_gives_the_same_model_and_writes_x_only_when_false(storage, fit_intercept,
                                                                   weighted, check_input):
    make = _COPY_STORAGES[storage]
    if not check_input and (storage == "csr" or storage == "C-float64" and not weighted):
        pytest.skip("check_input=False refuses this X (scikit-learn's contract)")
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(_Y_COPY)) if weighted else None
    fits = {}
    for copy_X in (True, False):
        X = make(_X_COPY)
        before = X.copy()
        est = ElasticNet(alpha=0.5, l1_ratio=0.7, fit_intercept=fit_intercept, tol=1e-13,
                         copy_X=copy_X)
        est.fit(X, _Y_COPY.astype(X.dtype), sample_weight=sw, check_input=check_input)
        if copy_X or not fit_intercept or not _in_place(storage, check_input, weighted):
            written = (X != before).nnz if sp.issparse(X) else np.count_nonzero(X != before)
            assert written == 0, f"copy_X={copy_X} wrote {written} entries of X"
        else:
            # centered in place by the (weighted) column means, as scikit-learn does
            xm = np.average(before.astype(np.float64), axis=0, weights=sw)
            tol = 1e-4 if X.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(X, before - xm, rtol=0, atol=tol)
            assert np.abs(np.average(X, axis=0, weights=sw)).max() < tol
        fits[copy_X] = est
    # centered columns change the arithmetic, not the problem: both solved to a gap of
    # 1e-13 (float32: its precision)
    atol = 1e-4 if storage == "F-float32" else 1e-9
    atol *= np.abs(fits[True].coef_).max()
    np.testing.assert_allclose(fits[False].coef_, fits[True].coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(fits[False].intercept_, fits[True].intercept_, rtol=0,
                               atol=atol * 10)
    np.testing.assert_allclose(fits[False].predict(make(_X_COPY)),
                               fits[True].predict(make(_X_COPY)), rtol=0, atol=atol * 100)


def test_copy_x_false_keeps_a_warm_start_on_the_callers_scale():
    """A warm start after X was centered in place starts from the same point: the second
    fit on the (now centered) X returns the model of that X."""
    X = np.asfortranarray(_X_COPY.copy())
    est = ElasticNet(alpha=0.5, copy_X=False, warm_start=True, tol=1e-10).fit(X, _Y_COPY)
    # X is centered now: refitting on it moves only the intercept
    b_before = est.intercept_
    est.fit(X, _Y_COPY)
    ref = ElasticNet(alpha=0.5, tol=1e-10).fit(X, _Y_COPY)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-9)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-9)
    assert abs(est.intercept_ - b_before) > 1e-3  # it did move (the columns' means)
    Y2 = np.column_stack([_Y_COPY, -_Y_COPY])
    X = np.asfortranarray(_X_COPY.copy())
    multi = ElasticNet(alpha=0.5, copy_X=False, warm_start=True, tol=1e-10).fit(X, Y2)
    ref = ElasticNet(alpha=0.5, tol=1e-10).fit(_X_COPY, Y2)
    np.testing.assert_allclose(multi.coef_, ref.coef_, atol=1e-9)
    np.testing.assert_allclose(multi.intercept_, ref.intercept_, atol=1e-8)
    multi.fit(X, Y2)  # warm start on the centered X
    np.testing.assert_allclose(multi.predict(X), ElasticNet(alpha=0.5, tol=1e-10).fit(
        X, Y2).predict(X), atol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_fortran_float64_x_is_fitted_without_a_copy(weighted):
    """What scikit-learn's copy_X=False is for (no X-sized copy) holds with either value:
    the fit allocates a small fraction of X (scikit-learn: 1x X with copy_X=True, 2x with
    sample weights). (X of 1.5 MB: numpy's fancy indexing keeps an 8 KiB buffer, whatever
    the size of its result, and the exact step's blocks are 1/64 of X.)"""
    import tracemalloc

    X = np.asfortranarray(np.tile(_X_COPY, (16, 1)))
    y = np.tile(_Y_COPY, 16)
    sw = np.linspace(0.5, 2.0, len(y)) if weighted else None
    ElasticNet(alpha=0.5).fit(X[:20], y[:20])  # compiled kernels loaded before measuring
    for copy_X in (True, False):
        tracemalloc.start()
        try:
            ElasticNet(alpha=0.5, copy_X=copy_X).fit(X, y, sample_weight=sw,
                                                     check_input=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 0.25 * X.nbytes, (copy_X, peak / X.nbytes)


@pytest.mark.parametrize("name", sorted(
    n for n in linear_model.registry() if hasattr(getattr(__import__(
        "sklearn.linear_model", fromlist=[n]), n, None), "path")))
def test_path_is_the_function_scikit_learns_is(name):
    """``Est.path`` is the path function scikit-learn's ``Est.path`` is (``Lasso.path`` is
    ``enet_path`` there, with its ``l1_ratio=0.5``): the same numbers for the same call."""
    import sklearn.linear_model as skl

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 6))
    y = X @ rng.standard_normal(6)
    if "MultiTask" in name:
        y = np.column_stack([y, X[:, 0]])
    func = getattr(linear_model, getattr(skl, name).path.__name__)
    got = getattr(linear_model, name).path(X, y, n_alphas=5)
    want = func(X, y, n_alphas=5)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_a_gram_array_beside_sparse_x_is_ignored(fmt):
    """scikit-learn fits sparse X with ``precompute=X.T @ X``; so do we, without the Gram
    (a crash on the array's truth value before)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = sp.random(40, 8, density=0.5, format=fmt, random_state=0)
    y = rng.standard_normal(40)
    G = (X.T @ X).toarray()
    for est in (linear_model.Lasso(alpha=0.01, fit_intercept=False),
                linear_model.ElasticNet(alpha=0.01), linear_model.LassoCV(alphas=5)):
        ref = est.fit(X, y).coef_
        np.testing.assert_allclose(est.set_params(precompute=G).fit(X, y).coef_, ref)


@pytest.mark.parametrize("params", [dict(C=np.inf), dict(penalty=None)])
def test_unpenalized_multinomial_coefficients_are_scikit_learns(params):
    """softmax ignores a shift of a feature's coefficients over the classes: unpenalized,
    the one reported sums to zero over the classes, as scikit-learn's (0.37 apart before,
    with the same probabilities)."""
    import warnings

    import sklearn.linear_model as skl

    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    y = np.argmax(X[:, :3] + 1.5 * rng.randn(200, 3), axis=1)
    ours = linear_model.LogisticRegression(tol=1e-12, **params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skl.LogisticRegression(tol=1e-12, max_iter=10_000, **params).fit(X, y)
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)


def test_logistic_cv_routes_the_scorer_metadata_as_scikit_learn():
    """With metadata routing, the scorer gets ``sample_weight`` only when it asks for it
    (and a scorer that says nothing of it is refused, as scikit-learn's); without routing,
    the scorer gets it. Before, the held-out scores were always weighted."""
    import sklearn
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 4))
    y = (X[:, 0] + rng.standard_normal(90) > 0).astype(int)
    sw = rng.uniform(0.2, 3.0, 90)
    cv = StratifiedKFold(3)
    Cs = [0.1, 1.0]

    def held_out(weighted):
        out = np.empty((3, 2))
        for k, (tr, te) in enumerate(cv.split(X, y)):
            for i, C in enumerate(Cs):
                m = linear_model.LogisticRegression(C=C, tol=1e-10).fit(X[tr], y[tr], sw[tr])
                kw = {"sample_weight": sw[te]} if weighted else {}
                out[k, i] = get_scorer("neg_log_loss")(m, X[te], y[te], **kw)
        return out

    def fit(scoring):
        return linear_model.LogisticRegressionCV(
            Cs=Cs, cv=cv, scoring=scoring, tol=1e-10, use_legacy_attributes=False,
            l1_ratios=(0.0,)).fit(
            X, y, sample_weight=sw)

    np.testing.assert_allclose(fit("neg_log_loss").scores_.reshape(3, 2), held_out(True),
                               rtol=1e-6)
    with sklearn.config_context(enable_metadata_routing=True):
        unweighted = get_scorer("neg_log_loss").set_score_request(sample_weight=False)
        np.testing.assert_allclose(fit(unweighted).scores_.reshape(3, 2), held_out(False),
                                   rtol=1e-6)
        weighted = get_scorer("neg_log_loss").set_score_request(sample_weight=True)
        np.testing.assert_allclose(fit(weighted).scores_.reshape(3, 2), held_out(True),
                                   rtol=1e-6)
        with pytest.raises(UnsetMetadataPassedError):
            fit("neg_log_loss")


def test_small_scikit_learn_conventions():
    """Found by a hostile review: a one-column 2-D ``y`` gives ``intercept_`` of shape
    (1,); ``penalty=`` of the logistic classes warns as scikit-learn 1.9 deprecates it; a
    path that does not converge warns with scikit-learn's text first."""
    import sklearn.linear_model as skl
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X[:, 0] + rng.standard_normal(40)
    for name in ("Lasso", "ElasticNet"):
        ours = getattr(linear_model, name)(alpha=0.1).fit(X, y[:, None])
        ref = getattr(skl, name)(alpha=0.1).fit(X, y[:, None])
        assert ours.coef_.shape == ref.coef_.shape
        assert np.shape(ours.intercept_) == np.shape(ref.intercept_) == (1,)
    yb = (y > 0).astype(int)
    with pytest.warns(FutureWarning, match="'penalty' was deprecated in version 1.8"):
        linear_model.LogisticRegression(penalty="l1", l1_ratio=1.0).fit(X, yb)
    with pytest.warns(FutureWarning, match="'penalty' was deprecated in version 1.8"):
        linear_model.LogisticRegressionCV(penalty="l1", Cs=2, l1_ratios=None,
                                          use_legacy_attributes=False,
                                          scoring="accuracy").fit(X, yb)
    with pytest.warns(ConvergenceWarning, match="^Objective did not converge"):
        linear_model.lasso_path(X, y, tol=0.0, max_iter=2, alphas=3)
    for dtype in (np.float32, np.float64):  # dual_gap_: a numpy scalar of X's dtype
        Xd, yd = X.astype(dtype), y.astype(dtype)
        ours = linear_model.Lasso(alpha=0.1).fit(Xd, yd)
        assert type(ours.dual_gap_) is type(skl.Lasso(alpha=0.1).fit(Xd, yd).dual_gap_)


@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_cv_legacy_l1_ratio_is_scikit_learns(refit, n_classes):
    """Without ``l1_ratios``, the legacy layout's ``l1_ratio_`` is scikit-learn's: its
    grid's ``[None]`` when refitting, ``0.0`` for the folds' average ([1.0] before)."""
    import warnings

    import sklearn.linear_model as skl

    rng = np.random.RandomState(0)
    X = rng.randn(80, 4)
    y = np.digitize(X[:, 0] + rng.randn(80), [0.0] if n_classes == 2 else [-1.0, 1.0])
    kw = dict(penalty="l1", Cs=2, refit=refit, use_legacy_attributes=True,
              scoring="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = linear_model.LogisticRegressionCV(**kw).fit(X, y)
        ref = skl.LogisticRegressionCV(solver="saga", max_iter=2000, **kw).fit(X, y)
    assert ours.l1_ratio_.dtype == ref.l1_ratio_.dtype
    assert ours.l1_ratio_.tolist() == ref.l1_ratio_.tolist()


@pytest.mark.parametrize("name", sorted(
    n for n in linear_model.registry() if n.endswith("CV") and hasattr(
        __import__("sklearn.linear_model", fromlist=[n]), n)))
def test_metadata_routing_is_scikit_learns(name):
    """The CV estimators' ``get_metadata_routing`` is scikit-learn's (the estimator's own
    ``sample_weight`` requests were missing, so a meta-estimator with routing could not
    pass ``sample_weight`` to them); ``LogisticRegressionCV.score`` scores by ``scoring``
    (it gave the accuracy)."""
    import sklearn
    import sklearn.linear_model as skl
    from sklearn.metrics import get_scorer

    kw = {"use_legacy_attributes": False} if name == "LogisticRegressionCV" else {}
    with sklearn.config_context(enable_metadata_routing=True):
        ours = getattr(linear_model, name)(**kw).set_fit_request(sample_weight=True)
        ref = getattr(skl, name)(**kw).set_fit_request(sample_weight=True)
        assert ours.get_metadata_routing()._serialize() == \
            ref.get_metadata_routing()._serialize()
    if name == "LogisticRegressionCV":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((60, 3))
        y = (X[:, 0] + rng.standard_normal(60) > 0).astype(int)
        m = getattr(linear_model, name)(Cs=3, cv=3, scoring="neg_log_loss", l1_ratios=(0.0,),
                                        **kw).fit(X, y)
        assert m.score(X, y) == pytest.approx(get_scorer("neg_log_loss")(m, X, y))


def test_positive_paths_use_scikit_learns_grid():
    """With ``positive``, only features that can enter with a positive coefficient set
    ``alpha_max``, as in scikit-learn's grid (the first points were all zero before)."""
    import sklearn.linear_model as skl

    rng = np.random.default_rng(7)
    X = rng.standard_normal((80, 10))
    y = X[:, 0] - 2 * X[:, 4] + rng.standard_normal(80)
    ours = linear_model.lasso_path(X, y, positive=True)[0]
    ref = skl.lasso_path(X, y, positive=True)[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_multinomial_with_infinite_bounds_is_centered_and_no_intercept_is_a_float():
    rng = np.random.RandomState(0)
    X = rng.randn(150, 4)
    y = np.argmax(X[:, :3] + rng.randn(150, 3), axis=1)
    free = linear_model.SparseLogisticRegression(alpha=0.0, tol=1e-12).fit(X, y)
    boxed = linear_model.SparseLogisticRegression(alpha=0.0, tol=1e-12,
                                                  bounds=(-np.inf, np.inf)).fit(X, y)
    np.testing.assert_allclose(boxed.coef_, free.coef_, atol=1e-8)
    y1 = X[:, :1] + rng.randn(150, 1)  # a one-column 2-D y without intercept: 0.0
    est = linear_model.Lasso(alpha=0.01, fit_intercept=False).fit(X, y1)
    assert np.ndim(est.intercept_) == 0 and est.intercept_ == 0.0
