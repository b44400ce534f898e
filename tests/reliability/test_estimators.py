"""Reliability checklist for every public estimator (issue 8): one table, every check.

Items: 1 NaN/inf, 2 parameter validation, 4 convergence warnings, 5 KKT and gap,
7 degenerate data, 8 sparse and float32, 9 sample weights, 10 inputs never modified.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_param_validation

from sparsefit.datafits import Quadratic
from sparsefit.linear_model import (
    AdaptiveLasso,
    ElasticNet,
    ElasticNetCV,
    FusedLasso,
    GroupLasso,
    Lasso,
    LassoCV,
    LogisticRegression,
    LogSumRegressor,
    MCPRegressor,
    PriorLasso,
    PriorLassoCV,
    RelaxedLasso,
    RelaxedLassoCV,
    SCADRegressor,
    SparseGroupLasso,
    SparseLogisticRegression,
    SparseLogisticRegressionCV,
)
from sparsefit.penalties import L1L2
from sparsefit.solvers import dual_gap

ESTIMATORS = {
    "Lasso": Lasso(alpha=0.05),
    "ElasticNet": ElasticNet(alpha=0.05, l1_ratio=0.7),
    "LassoCV": LassoCV(alphas=5, cv=3),
    "ElasticNetCV": ElasticNetCV(alphas=5, cv=3),
    "GroupLasso": GroupLasso(alpha=0.05, groups=2),
    "SparseGroupLasso": SparseGroupLasso(alpha=0.05, groups=2),
    "AdaptiveLasso": AdaptiveLasso(alpha=0.05),
    "MCPRegressor": MCPRegressor(alpha=0.05),
    "SCADRegressor": SCADRegressor(alpha=0.05),
    "LogSumRegressor": LogSumRegressor(alpha=0.02, eps=0.5),
    "RelaxedLasso": RelaxedLasso(alpha=0.05, gamma=0.5),
    "RelaxedLassoCV": RelaxedLassoCV(alphas=5, cv=3),
    "PriorLasso": PriorLasso(prior_features=[0], alpha=0.05),
    "PriorLassoCV": PriorLassoCV(prior_features=[0], etas=(0.0, 1.0), alphas=5, cv=3),
    "FusedLasso": FusedLasso(alpha=0.05),
    "SparseLogisticRegression": SparseLogisticRegression(alpha=0.01),
    "SparseLogisticRegressionCV": SparseLogisticRegressionCV(alphas=5, cv=3),
    "LogisticRegression": LogisticRegression(penalty="l1", C=2.0),
}
REGRESSORS = [k for k, e in ESTIMATORS.items() if not is_classifier(e)]


def test_the_table_covers_every_registered_estimator():
    # every table of tests/reliability is this one: a new estimator without a row fails
    from sparsefit import linear_model

    covered = {type(e).__name__ for e in ESTIMATORS.values()}
    missing = set(linear_model.registry()) - covered
    assert not missing, f"add rows for {sorted(missing)} to ESTIMATORS"


def _data(name, n=40, p=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=n)
    if is_classifier(ESTIMATORS[name]):
        y = (y > 0).astype(int)
    return X, y


# 1. NaN or inf in X, y or sample_weight, at fit or predict -------------------------------

@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("where", ["X", "y", "sample_weight", "predict"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused_naming_it(name, where, bad):
    X, y = _data(name)
    est = clone(ESTIMATORS[name])
    sw = np.ones(len(y))
    if where == "predict":
        est.fit(X, y)
        Xb = X.copy()
        Xb[2, 1] = bad
        with pytest.raises(ValueError, match="NaN|infinity|inf"):
            est.predict(Xb)
        return
    if where == "X":
        X = X.copy()
        X[3, 2] = bad
    elif where == "y":
        if is_classifier(est):
            y = y.astype(float)
        y = y.copy()
        y[5] = bad
    else:
        sw[4] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity|inf|[Ii]nput.*contains"):
        est.fit(X, y, sample_weight=sw)


# 2. out-of-range hyperparameters: InvalidParameterError, through sklearn's own check ----

@pytest.mark.parametrize("name", ESTIMATORS)
def test_sklearn_parameter_validation(name):
    check_param_validation(name, clone(ESTIMATORS[name]))


@pytest.mark.parametrize("name", [k for k in ESTIMATORS if "alpha" in ESTIMATORS[k].get_params()])
@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_bad_alpha_is_invalid(name, value):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data(name)
    with pytest.raises(InvalidParameterError, match="alpha"):
        clone(ESTIMATORS[name]).set_params(alpha=value).fit(X, y)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("param, value", [("tol", -1e-3), ("max_iter", 0)])
def test_bad_tol_and_max_iter_are_invalid(name, param, value):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data(name)
    with pytest.raises(InvalidParameterError, match=param):
        clone(ESTIMATORS[name]).set_params(**{param: value}).fit(X, y)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_tol_zero_runs_to_max_iter_or_float_precision(name):
    # scikit-learn accepts tol=0 (run until max_iter): the fit ends, with a finite model,
    # a ConvergenceWarning, or converged with a gap at rounding level
    X, y = _data(name)
    est = clone(ESTIMATORS[name]).set_params(tol=0.0, max_iter=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert np.all(np.isfinite(est.coef_))
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    gap = np.ravel(getattr(est, "dual_gap_", np.nan))
    assert warned or getattr(est, "converged_", False) or np.all(gap <= 1e-12), (
        f"tol=0 stopped after {est.n_iter_} iterations without a warning")


# 4. max_iter reached: a ConvergenceWarning with the gap and tol, and the attributes -----

@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "GroupLasso", "SparseGroupLasso",
                                  "MCPRegressor", "SparseLogisticRegression", "FusedLasso"])
def test_max_iter_one_on_p_greater_than_n_warns(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 200))
    y = X[:, :10] @ rng.normal(size=10)
    if is_classifier(ESTIMATORS[name]):
        y = (y > 0).astype(int)
    est = clone(ESTIMATORS[name]).set_params(max_iter=1, tol=1e-12)
    if name == "FusedLasso":
        est.set_params(check_every=1)
    with pytest.warns(ConvergenceWarning, match=r"tol"):
        est.fit(X, y)
    assert est.converged_ is False and est.n_iter_ >= 1
    assert hasattr(est, "dual_gap_")


# 5. reported convergence passes an independent KKT and duality-gap check ---------------

@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["Lasso", "ElasticNet"])
def test_converged_fit_passes_kkt_and_gap(name, fit_intercept, sparse, dtype, weighted):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 30)).astype(dtype)
    X[X < 0.3] = 0.0
    y = (X[:, :4] @ np.array([1.0, -2.0, 3.0, 0.5]) + 0.05 * rng.normal(size=60)).astype(dtype)
    sw = rng.uniform(0.5, 2, size=60) if weighted else None
    tol = 1e-5 if dtype == np.float32 else 1e-10
    est = clone(ESTIMATORS[name]).set_params(fit_intercept=fit_intercept, tol=tol)
    Xin = sp.csc_matrix(X) if sparse else X
    est.fit(Xin, y, sample_weight=sw)
    assert est.converged_
    alpha, r = est.alpha, getattr(est, "l1_ratio", 1.0)
    pen = L1L2(alpha * r, 0.5 * alpha * (1 - r))
    coef = est.coef_.astype(np.float64)
    # independent KKT: gradient of the weighted least squares at the solution
    s = np.ones(60) if sw is None else sw
    s = s / s.sum()
    resid = y.astype(np.float64) - X.astype(np.float64) @ coef - float(est.intercept_)
    grad = -(X.astype(np.float64).T @ (s * resid))
    viol = np.max(pen.subdiff_distance(coef, grad))
    assert viol <= (1e-3 if dtype == np.float32 else 1e-5) * max(1.0, np.abs(grad).max())
    if fit_intercept:
        assert abs(np.sum(s * resid)) <= 1e-4 * max(1.0, np.abs(y).max())
    gap = dual_gap(X.astype(np.float64), y.astype(np.float64), coef, float(est.intercept_),
                   Quadratic(), pen, sample_weight=sw, fit_intercept=fit_intercept)
    assert gap <= 10 * tol


# 7. degenerate data --------------------------------------------------------------------

@pytest.mark.parametrize("name", REGRESSORS)
@pytest.mark.parametrize("case", ["zero_column", "constant_column", "all_zero_X", "n_equals_1"])
def test_degenerate_data_gives_zero_coefficients_and_finite_intercept(name, case):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    y = rng.normal(size=30) + 5.0
    if case == "zero_column":
        X[:, 2] = 0.0
    elif case == "constant_column":
        X[:, 2] = 3.0
    elif case == "all_zero_X":
        X[:] = 0.0
    else:
        X, y = X[:1], y[:1]
    est = clone(ESTIMATORS[name])
    if name.endswith("CV") and case == "n_equals_1":
        with pytest.raises(ValueError):
            est.fit(X, y)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and np.isfinite(est.intercept_)
    if case in ("zero_column", "constant_column"):
        assert est.coef_[2] == 0 or name == "FusedLasso"
    if case in ("all_zero_X", "n_equals_1"):
        assert np.all(est.coef_ == 0)
        assert est.intercept_ == pytest.approx(y.mean())


@pytest.mark.parametrize("name", ["SparseLogisticRegression", "SparseLogisticRegressionCV"])
def test_classifier_with_one_class_says_so(name):
    with pytest.raises(ValueError, match="class"):
        clone(ESTIMATORS[name]).fit(np.ones((10, 2)), np.zeros(10))


# 8. sparse inputs and float32 ------------------------------------------------------------

@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "GroupLasso", "SparseGroupLasso",
                                  "SparseLogisticRegression", "MCPRegressor"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "csc_explicit_zeros"])
def test_sparse_equals_dense(name, fmt):
    X, y = _data(name, n=50, p=8)
    X[np.abs(X) < 0.5] = 0.0
    est = clone(ESTIMATORS[name]).set_params(tol=1e-12)
    dense = clone(est).fit(X, y).coef_
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    if fmt == "csc_explicit_zeros":
        # stored entries whose value is 0: where X is zero, plus zeroed stored entries
        rows, cols = np.nonzero(X == 0)
        coo = sp.coo_matrix(X)
        Xs = sp.csc_matrix((np.r_[coo.data, np.zeros(5)], (np.r_[coo.row, rows[:5]],
                                                           np.r_[coo.col, cols[:5]])),
                           shape=X.shape)
        assert Xs.nnz == np.count_nonzero(X) + 5
    np.testing.assert_allclose(clone(est).fit(Xs, y).coef_, dense, atol=1e-8)


@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "GroupLasso", "SparseGroupLasso",
                                  "SparseLogisticRegression"])
def test_float32_gives_float32_close_to_float64(name):
    X, y = _data(name, n=60, p=8)
    est = clone(ESTIMATORS[name]).set_params(tol=1e-8)
    c64 = clone(est).fit(X, y).coef_
    y32 = y.astype(np.float32) if not is_classifier(est) else y
    c32 = clone(est).fit(X.astype(np.float32), y32).coef_
    assert c32.dtype == np.float32
    np.testing.assert_allclose(c32, c64, atol=1e-4)


# 9. sample weights -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("weights, word", [([-1.0], "(?i)negative"),
                                           ([0.0], "non-zero|positive")])
def test_negative_or_all_zero_weights_raise(name, weights, word):
    X, y = _data(name)
    sw = np.full(len(y), weights[0]) if weights[0] == 0 else np.r_[weights, np.ones(len(y) - 1)]
    with pytest.raises(ValueError, match=word):
        clone(ESTIMATORS[name]).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "GroupLasso", "SparseGroupLasso",
                                  "MCPRegressor", "SparseLogisticRegression"])
@pytest.mark.parametrize("sparse", [False, True])
def test_integer_weights_equal_repeated_rows(name, sparse):
    X, y = _data(name, n=30, p=6, seed=4)
    sw = np.random.default_rng(4).integers(1, 4, size=len(y))
    est = clone(ESTIMATORS[name]).set_params(tol=1e-12)
    to = sp.csc_matrix if sparse else np.asarray
    a = clone(est).fit(to(X), y, sample_weight=sw)
    b = clone(est).fit(to(np.repeat(X, sw, axis=0)), np.repeat(y, sw))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)


# 10. the caller's arrays are never modified; read-only memmaps work ----------------------

@pytest.mark.parametrize("name", ESTIMATORS)
def test_inputs_are_never_modified_and_read_only_memmaps_work(name, tmp_path):
    X, y = _data(name)
    sw = np.linspace(0.5, 2, len(y))
    copies = X.copy(), y.copy(), sw.copy()
    est = clone(ESTIMATORS[name]).fit(X, y, sample_weight=sw)
    est.predict(X)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(sw, copies[2])
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    assert not Xm.flags.writeable
    clone(ESTIMATORS[name]).fit(Xm, y).predict(Xm)
