"""Coordinate descent with working sets (and proximal Newton): shared problems, one table
of penalties and datafits, every entry checked against an independent reference.

References: scikit-learn's Lasso / ElasticNet / LogisticRegression at tight tolerance,
closed forms for orthogonal designs, the penalty objects' own ``subdiff_distance`` (KKT).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

from sparsefit.datafits import Logistic, Multinomial, Quadratic
from sparsefit.penalties import L1, L1L2, MCP, SCAD, TV1D, GroupL1, SparseGroupL1, WeightedL1
from sparsefit.solvers import alpha_grid, alpha_max, dual_gap, solve, solve_path

TIGHT = 1e-12


def _regression(name):
    if name == "make_regression":
        return make_regression(n_samples=200, n_features=50, n_informative=10, noise=0.5,
                               random_state=0)
    rng = np.random.default_rng(1)
    if name == "wide_correlated":  # p > n, correlated columns
        n, p = 40, 120
        Z = rng.standard_normal((n, p))
        X = Z + 0.7 * np.roll(Z, 1, axis=1)
        w = np.zeros(p)
        w[:6] = [3, -2, 1.5, 0, 1, -1]
        return X, X @ w + 0.1 * rng.standard_normal(n)
    if name == "sparse_design":
        X = sp.random(80, 60, density=0.15, format="csc", random_state=2,
                      data_rvs=rng.standard_normal).toarray()
        return X, X[:, :5] @ np.arange(1, 6) + 0.2 * rng.standard_normal(80)
    raise KeyError(name)


REG_PROBLEMS = ["make_regression", "wide_correlated", "sparse_design"]


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _kkt(penalty, X, y, datafit, res, sample_weight=None):
    grad = datafit.gradient(X, y, res.coef, res.intercept, sample_weight)
    return np.max(penalty.subdiff_distance(res.coef, grad))


def _amax(X, y, fit_intercept, datafit=None, sample_weight=None):
    return alpha_max(X, y, datafit or Quadratic(), L1(1.0), fit_intercept=fit_intercept,
                     sample_weight=sample_weight)


# ---------------------------------------------------------------------------------------
# scikit-learn references
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", REG_PROBLEMS)
@pytest.mark.parametrize("ratio", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lasso_equals_sklearn(problem, ratio, fit_intercept):
    X, y = _regression(problem)
    alpha = ratio * _amax(X, y, fit_intercept)
    res = solve(X, y, Quadratic(), L1(alpha), fit_intercept=fit_intercept, tol=TIGHT)
    ref = Lasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-14, max_iter=200_000).fit(X, y)
    assert res.converged and res.dual_gap <= TIGHT
    assert _rel(res.coef, ref.coef_) < 1e-6
    assert res.intercept == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-9)
    assert _kkt(L1(alpha), X, y, Quadratic(), res) < 1e-6 * alpha


@pytest.mark.parametrize("l1_ratio", [0.9, 0.5, 0.1])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_elastic_net_equals_sklearn(l1_ratio, fit_intercept):
    X, y = _regression("make_regression")
    alpha = 0.05 * _amax(X, y, fit_intercept) / l1_ratio
    pen = L1L2(l1=alpha * l1_ratio, l2=0.5 * alpha * (1 - l1_ratio))
    res = solve(X, y, Quadratic(), pen, fit_intercept=fit_intercept, tol=1e-14)
    ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-15,
                     max_iter=500_000).fit(X, y)
    assert res.converged
    assert _rel(res.coef, ref.coef_) < 1e-6
    assert _kkt(pen, X, y, Quadratic(), res) < 1e-6 * alpha


def test_sample_weight_equals_sklearn_and_duplicated_rows():
    X, y = _regression("make_regression")
    reps = np.random.default_rng(3).integers(1, 4, X.shape[0])
    s = reps.astype(float)
    alpha = 0.1 * _amax(X, y, True, sample_weight=s)
    res = solve(X, y, Quadratic(), L1(alpha), fit_intercept=True, sample_weight=s, tol=TIGHT)
    dup = solve(np.repeat(X, reps, 0), np.repeat(y, reps), Quadratic(), L1(alpha),
                fit_intercept=True, tol=TIGHT)
    # scikit-learn's Lasso weights the loss as sum_i s_i r_i^2 / (2 sum_i s_i) too
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=200_000).fit(X, y, sample_weight=s)
    assert _rel(res.coef, dup.coef) < 1e-6
    assert _rel(res.coef, ref.coef_) < 1e-6
    assert res.intercept == pytest.approx(ref.intercept_, rel=1e-6)


def test_positive_equals_sklearn():
    X, y = _regression("make_regression")
    alpha = 0.05 * _amax(X, y, True)
    res = solve(X, y, Quadratic(), L1(alpha), fit_intercept=True, positive=True, tol=TIGHT)
    ref = Lasso(alpha=alpha, positive=True, tol=1e-14, max_iter=200_000).fit(X, y)
    assert np.all(res.coef >= 0) and np.any(res.coef == 0)
    assert _rel(res.coef, ref.coef_) < 1e-6
    assert res.dual_gap <= TIGHT


def _sk_logistic_l1(C, fit_intercept, solver):
    kw = {"C": C, "solver": solver, "fit_intercept": fit_intercept, "tol": 1e-12,
          "max_iter": 100_000}
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, **kw)
    return LogisticRegression(penalty="l1", **kw)


@pytest.mark.parametrize("ratio", [0.3, 0.05])
@pytest.mark.parametrize("fit_intercept, solver", [(False, "liblinear"), (True, "saga")])
def test_l1_logistic_equals_sklearn(ratio, fit_intercept, solver):
    X, y01 = make_classification(n_samples=200, n_features=30, n_informative=8, random_state=0)
    y = 2.0 * y01 - 1.0
    n = X.shape[0]
    alpha = ratio * _amax(X, y, fit_intercept, Logistic())
    res = solve(X, y, Logistic(), L1(alpha), fit_intercept=fit_intercept, tol=TIGHT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _sk_logistic_l1(1.0 / (n * alpha), fit_intercept, solver).fit(X, y)
    assert res.converged and res.dual_gap <= TIGHT
    assert _rel(res.coef, ref.coef_.ravel()) < 1e-6
    if fit_intercept:
        assert res.intercept == pytest.approx(ref.intercept_[0], rel=1e-6)
    assert _kkt(L1(alpha), X, y, Logistic(), res) < 1e-6 * alpha


# ---------------------------------------------------------------------------------------
# the shared table: every (datafit, penalty) runs every generic check
# ---------------------------------------------------------------------------------------
def _groups(p, size=5):
    return [size] * (p // size) + ([p % size] if p % size else [])


CASES = {
    # name: (datafit, penalty factory(alpha_max, p), fit_intercept, convex)
    "lasso": (Quadratic(), lambda a, p: L1(0.1 * a), False, True),
    "lasso_intercept": (Quadratic(), lambda a, p: L1(0.1 * a), True, True),
    "enet": (Quadratic(), lambda a, p: L1L2(0.1 * a, 0.05 * a), True, True),
    "weighted_l1": (Quadratic(), lambda a, p: WeightedL1(
        0.1 * a, np.r_[0.0, np.linspace(0.5, 2.0, p - 1)]), True, True),
    "group_lasso": (Quadratic(), lambda a, p: GroupL1(0.2 * a, _groups(p)), True, True),
    "sparse_group_lasso": (Quadratic(), lambda a, p: SparseGroupL1(0.2 * a, 0.5, _groups(p)),
                           False, True),
    "mcp": (Quadratic(), lambda a, p: MCP(0.1 * a, 3.0), False, False),
    "scad": (Quadratic(), lambda a, p: SCAD(0.1 * a, 3.7), True, False),
    "logistic_l1": (Logistic(), lambda a, p: L1(0.1 * a), True, True),
    "logistic_enet": (Logistic(), lambda a, p: L1L2(0.1 * a, 0.01), False, True),
    "logistic_group": (Logistic(), lambda a, p: GroupL1(0.3 * a, _groups(p)), True, True),
}


def _case_problem(name, kind="dense", dtype=np.float64):
    datafit, make_pen, fit_intercept, convex = CASES[name]
    if isinstance(datafit, Logistic):
        X, y01 = make_classification(n_samples=120, n_features=40, n_informative=6,
                                     random_state=4)
        y = 2.0 * y01 - 1.0
    else:
        X, y = _regression("make_regression")
    X = X.astype(dtype)
    a = _amax(X, y, fit_intercept, datafit)
    pen = make_pen(a, X.shape[1])
    if kind == "sparse":
        X = sp.csc_matrix(X)
    return X, y, datafit, pen, fit_intercept, convex


@pytest.mark.parametrize("name", list(CASES))
def test_converges_with_gap_and_kkt(name):
    X, y, datafit, pen, fit_intercept, convex = _case_problem(name)
    tol = 1e-10
    res = solve(X, y, datafit, pen, fit_intercept=fit_intercept, tol=tol)
    assert res.converged
    assert res.stop_crit <= tol
    nnz = np.count_nonzero(res.coef)
    assert 0 < nnz < res.coef.size  # a sparse, non-trivial solution
    kkt = _kkt(pen, X, y, datafit, res)
    if convex:
        assert res.dual_gap <= tol
        # the shared gap function agrees with what the solver reports
        g = dual_gap(X, y, res.coef, res.intercept, datafit, pen, fit_intercept=fit_intercept)
        assert g <= tol * 1.01 + 1e-15
        assert kkt < 1e-4 * np.max(np.abs(datafit.gradient(X, y, 0 * res.coef, 0.0)))
    else:
        assert np.isnan(res.dual_gap)
        assert kkt <= tol * 10


@pytest.mark.parametrize("name", list(CASES))
def test_dense_sparse_float32_agree(name):
    X, y, datafit, pen, fit_intercept, _convex = _case_problem(name)
    ref = solve(X, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-12)
    Xs, *_ = _case_problem(name, "sparse")
    res_s = solve(Xs, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-12)
    assert _rel(res_s.coef, ref.coef) < 1e-8
    X32, *_ = _case_problem(name, dtype=np.float32)
    res_32 = solve(X32, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-10)
    assert res_32.converged and res_32.stop_crit <= 1e-10  # float64 accumulation
    assert res_32.coef.dtype == np.float64
    # float32 data is a slightly different problem (X rounded to 1e-7 relative)
    assert _rel(res_32.coef, ref.coef) < 1e-4
    assert res_s.stop_crit <= 1e-12


@pytest.mark.parametrize("name", ["lasso", "enet", "group_lasso", "sparse_group_lasso",
                                  "logistic_l1", "logistic_group"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_alpha_max_gives_exact_zeros(name, kind):
    X, y, datafit, _, fit_intercept, _ = _case_problem(name, kind)
    factory = CASES[name][1]
    a = _amax(X, y, fit_intercept, datafit)
    pen1 = factory(a, X.shape[1])
    crit = alpha_max(X, y, datafit, pen1, fit_intercept=fit_intercept)
    scale = pen1.strength / a  # the factory's multiplier of alpha
    for factor in (1.0, 1.5):
        pen = factory(factor * crit / scale, X.shape[1])
        res = solve(X, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-10)
        assert res.converged
        assert np.all(res.coef == 0.0)
    # ... and just below, something enters: the threshold is tight
    pen = factory(0.98 * crit / scale, X.shape[1])
    res = solve(X, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-10)
    assert np.any(res.coef != 0.0)


def test_group_lasso_orthogonal_design_closed_form():
    """With X.T X / n = I the problem separates by group: w_g = BST(X_g.T y / n, alpha c_g)."""
    rng = np.random.default_rng(5)
    n, p = 60, 12
    Q, _ = np.linalg.qr(rng.standard_normal((n, p)))
    X = np.sqrt(n) * Q
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    groups = [3, 4, 2, 3]
    c = np.array([1.0, 2.0, 0.5, 1.5])
    z = X.T @ y / n
    for alpha in (0.05, 0.3, 1.0):
        pen = GroupL1(alpha, groups, weights=c)
        res = solve(X, y, Quadratic(), pen, tol=1e-14)
        expected = np.zeros(p)
        start = 0
        for g, size in enumerate(groups):
            zg = z[start:start + size]
            nrm = np.linalg.norm(zg)
            expected[start:start + size] = max(0.0, 1 - alpha * c[g] / nrm) * zg
            start += size
        np.testing.assert_allclose(res.coef, expected, rtol=1e-9, atol=1e-12)
        # sparse group lasso: soft-thresholding then block soft-thresholding
        tau = 0.4
        pen = SparseGroupL1(alpha, tau, groups, weights=c)
        res = solve(X, y, Quadratic(), pen, tol=1e-14)
        st = np.sign(z) * np.maximum(np.abs(z) - alpha * tau, 0)
        start = 0
        for g, size in enumerate(groups):
            sg = st[start:start + size]
            nrm = np.linalg.norm(sg)
            thr = alpha * (1 - tau) * c[g]
            expected[start:start + size] = 0.0 if nrm <= thr else (1 - thr / nrm) * sg
            start += size
        np.testing.assert_allclose(res.coef, expected, rtol=1e-9, atol=1e-12)


def test_multinomial_l1_kkt_and_gap():
    X, y = make_classification(n_samples=150, n_features=20, n_informative=6, n_classes=3,
                               random_state=0)
    df = Multinomial(3)
    g0 = np.abs(df.gradient(X, y, np.zeros((20, 3)), df._optimal_intercept(
        y.astype(float), np.zeros((150, 3)), np.full(150, 1 / 150))))
    alpha = 0.1 * g0.max()
    res = solve(X, y, df, L1(alpha), fit_intercept=True, tol=1e-9)
    assert res.converged and res.dual_gap <= 1e-9
    assert res.coef.shape == (20, 3) and res.intercept.shape == (3,)
    assert 0 < np.count_nonzero(res.coef) < 60
    grad = df.gradient(X, y, res.coef, res.intercept)
    assert np.max(L1(alpha).subdiff_distance(res.coef, grad)) < 1e-4 * alpha
    assert np.max(np.abs(df._raw_grad(y.astype(float), X @ res.coef + res.intercept,
                                      np.full(150, 1 / 150)).sum(0))) < 1e-6


def test_convergence_warning_at_max_iter():
    X, y = _regression("wide_correlated")
    alpha = 0.01 * _amax(X, y, False)
    with pytest.warns(ConvergenceWarning, match=r"gap .* > tol=1\.0e-10"):
        res = solve(X, y, Quadratic(), L1(alpha), max_iter=1, p0=5, tol=1e-10)
    assert not res.converged and res.n_iter == 1
    assert res.dual_gap > 1e-10


def test_warm_start_and_inputs_untouched():
    X, y = _regression("make_regression")
    X_c = np.ascontiguousarray(X)
    X0, y0 = X_c.copy(), y.copy()
    alpha = 0.05 * _amax(X, y, True)
    s = np.ones_like(y)
    cold = solve(X_c, y, Quadratic(), L1(alpha), fit_intercept=True, sample_weight=s, tol=1e-12)
    w_init = cold.coef.copy()
    w_keep = w_init.copy()
    warm = solve(X_c, y, Quadratic(), L1(alpha), fit_intercept=True, w_init=w_init,
                 intercept_init=cold.intercept, sample_weight=s, tol=1e-12)
    assert warm.n_iter == 0 and warm.converged
    np.testing.assert_array_equal(w_init, w_keep)
    np.testing.assert_array_equal(X_c, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(s, np.ones_like(y))
    assert warm.coef is not w_init


def test_path_warm_starts_and_screening():
    X, y = _regression("make_regression")
    path = solve_path(X, y, Quadratic(), lambda a: L1(a), n_alphas=20, eps=1e-2,
                      fit_intercept=True, tol=1e-10)
    amax = _amax(X, y, True)
    np.testing.assert_allclose(path.alphas, alpha_grid(amax, 20, 1e-2))
    assert np.all(path.coefs[0] == 0) and np.all(path.converged)
    assert np.all(np.diff([np.count_nonzero(c) for c in path.coefs[:8]]) >= 0)
    plain = solve_path(X, y, Quadratic(), lambda a: L1(a), alphas=path.alphas,
                       fit_intercept=True, tol=1e-10, screening=None)
    np.testing.assert_allclose(path.coefs, plain.coefs, rtol=1e-6, atol=1e-9)
    k = 12
    single = solve(X, y, Quadratic(), L1(path.alphas[k]), fit_intercept=True, tol=1e-12)
    assert _rel(path.coefs[k], single.coef) < 1e-5
    # elastic net grid: alpha_max / l1_ratio
    r = 0.5
    ep = solve_path(X, y, Quadratic(), lambda a: L1L2(a * r, 0.5 * a * (1 - r)), n_alphas=3,
                    fit_intercept=True)
    assert ep.alphas[0] == pytest.approx(amax / r)


def test_alpha_to_zero_tends_to_least_squares():
    X, y = _regression("make_regression")
    ls = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]
    res = solve(X, y, Quadratic(), L1(1e-9 * _amax(X, y, True)), fit_intercept=True, tol=1e-14)
    assert _rel(res.coef, ls[:-1]) < 1e-6


@pytest.mark.parametrize(
    "args, match",
    [
        ({"X": np.full((5, 3), np.nan)}, "X contains NaN"),
        ({"y": np.ones(6)}, "y has length 6"),
        ({"penalty": TV1D(0.1)}, "TV1D .* FISTA"),
        ({"penalty": GroupL1(0.1, [4, 4])}, "outside"),
        ({"penalty": GroupL1(0.1, [1, 1])}, "groups cover 2 features"),
        ({"penalty": WeightedL1(0.1, [1.0, 2.0])}, "weights have length"),
        ({"tol": -1.0}, "tol must be a number >= 0"),
        ({"max_iter": 0}, "max_iter"),
        ({"sample_weight": -np.ones(5)}, "sample_weight"),
        ({"w_init": np.ones(4)}, "w_init has shape"),
        ({"penalty": "l1"}, "penalty must be"),
        ({"datafit": object()}, "datafit must be"),
        ({"datafit": Logistic()}, "-1 and \\+1"),
    ],
)
def test_bad_input(args, match):
    kw = {"X": np.ones((5, 3)), "y": np.arange(5.0), "datafit": Quadratic(), "penalty": L1(0.1)}
    extra = {k: args.pop(k) for k in list(args) if k not in kw}
    kw.update(args)
    with pytest.raises(ValueError, match=match):
        solve(kw["X"], kw["y"], kw["datafit"], kw["penalty"], **extra)


def test_dual_gap_function_certifies_sklearn_and_rejects_perturbations():
    X, y = _regression("make_regression")
    alpha = 0.1 * _amax(X, y, True)
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=200_000).fit(X, y)
    g = dual_gap(X, y, ref.coef_, ref.intercept_, Quadratic(), L1(alpha), fit_intercept=True)
    assert 0 <= g < 1e-10
    bad = ref.coef_ + 1e-3 * np.sign(ref.coef_)
    assert dual_gap(X, y, bad, ref.intercept_, Quadratic(), L1(alpha), fit_intercept=True) > 1e-8
    with pytest.raises(ValueError, match="convex"):
        dual_gap(X, y, ref.coef_, 0.0, Quadratic(), MCP(alpha))


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_multinomial_group_across_classes(fit_intercept, kind):
    """GroupL1 with one group per feature (its n_classes coefficients): whole features
    leave the model; gap and KKT certify the solution, dense and sparse agree."""
    X, y = make_classification(n_samples=150, n_features=20, n_informative=6, n_classes=3,
                               random_state=0)
    df = Multinomial(3)
    groups = [3] * 20
    pen1 = GroupL1(1.0, groups, weights=np.ones(20))
    amax = alpha_max(X, y, df, pen1, fit_intercept=fit_intercept)
    pen = GroupL1(0.2 * amax, groups, weights=np.ones(20))
    Xk = sp.csc_matrix(X) if kind == "sparse" else X
    res = solve(Xk, y, df, pen, fit_intercept=fit_intercept, tol=1e-9)
    assert res.converged and res.dual_gap <= 1e-9
    rows = np.linalg.norm(res.coef, axis=1)
    assert 0 < np.count_nonzero(rows) < 20
    assert np.all((rows == 0) == np.all(res.coef == 0, axis=1))
    grad = df.gradient(X, y, res.coef, res.intercept)
    assert np.max(pen.subdiff_distance(res.coef.ravel(), grad.ravel())) < 1e-4 * 0.2 * amax
    # at alpha_max: all zeros
    res0 = solve(Xk, y, df, GroupL1(amax, groups, weights=np.ones(20)),
                 fit_intercept=fit_intercept, tol=1e-9)
    assert np.all(res0.coef == 0)


@pytest.mark.parametrize("name", ["lasso_intercept", "group_lasso", "logistic_l1"])
def test_result_gradient_is_the_datafit_gradient(name):
    X, y, datafit, pen, fit_intercept, _ = _case_problem(name)
    res = solve(X, y, datafit, pen, fit_intercept=fit_intercept, tol=1e-10)
    np.testing.assert_allclose(res.gradient, datafit.gradient(X, y, res.coef, res.intercept),
                               rtol=1e-6, atol=1e-10)


def test_a_solver_names_what_a_datafit_lacks():
    from sparsefit.datafits import BaseDatafit

    class Half(BaseDatafit):  # no _dual_value, no _optimal_intercept
        def check_y(self, y, n):
            return np.asarray(y, dtype=float)

        def _value_u(self, y, u, sw):
            return 0.5 * float(sw @ (y - u) ** 2)

        def _raw_grad(self, y, u, sw):
            return sw * (u - y)

        def _hessian_weights(self, y, u, sw):
            return sw

    X = np.eye(3)
    with pytest.raises(ValueError, match="_optimal_intercept, _dual_value"):
        solve(X, np.ones(3), Half(), L1(0.1))


@pytest.mark.parametrize("eps", [0.1, 1.0, 5.0])
def test_log_sum_is_ranked_by_its_own_threshold(eps):
    # with eps = 5 the zero threshold is alpha / 5: a working set ranked by the L1
    # threshold (alpha) missed violators and returned a wrong answer (violation 27)
    from sparsefit.penalties import LogSum

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 300))
    y = X[:, :10] @ rng.uniform(1, 2, 10) + 0.1 * rng.standard_normal(80)
    pen = LogSum(0.5, eps)
    res = solve(X, y, Quadratic(), pen, fit_intercept=True, tol=1e-8)
    grad = Quadratic().gradient(X, y, res.coef, res.intercept)
    assert res.converged
    assert np.max(pen.subdiff_distance(res.coef, grad)) <= 1e-8


@pytest.mark.parametrize("case", ["quadratic", "quadratic sparse", "quadratic gram",
                                  "elastic net", "elastic net, X * 1e-8", "multitask",
                                  "logistic", "multinomial"])
def test_tol_zero_runs_max_iter_outer_iterations_not_max_epochs(case):
    """``tol=0`` runs ``max_iter`` outer iterations, each inner solve asked for no less
    than float64 resolves (1e-13 of the gradients' scale): 10 iterations ran 250,015
    epochs (4 s) on this 300 x 200 lasso before, every inner solve to max_epochs, and 100
    proximal Newton iterations 17 s on the multinomial one."""
    from sparsefit.datafits import MultiTaskQuadratic
    from sparsefit.linear_model._multitask import RowPenalty
    from sparsefit.penalties import L1, L1L2
    from sparsefit.solvers import solve

    rng = np.random.RandomState(0)
    X = rng.randn(300, 200)
    y = X[:, :10] @ rng.randn(10) + rng.randn(300)
    data, target, penalty, kw = X, y, L1(0.01), {}
    if case == "quadratic sparse":
        data = sp.csr_matrix(X)
    elif case == "quadratic gram":
        kw = {"precompute": True}
    elif case == "elastic net":
        penalty = L1L2(0.01, 0.5)
    elif case == "elastic net, X * 1e-8":  # the intercept's gradient, in y's units, is
        data, penalty = X * 1e-8, L1L2(1e-10, 0.5)  # resolved 1e8 times more coarsely
    datafit = Quadratic()
    if case == "multitask":
        datafit, target = MultiTaskQuadratic(2), np.column_stack([y, X[:, 5]])
        penalty = RowPenalty(1.0, 200, 2)(0.01)
    elif case == "logistic":
        datafit, target = Logistic(), np.where(y > 0, 1.0, -1.0)
    elif case == "multinomial":
        datafit, target = Multinomial(3), np.digitize(y, [-1.0, 1.0]).astype(np.float64)
        penalty = L1(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve(data, target, datafit, penalty, fit_intercept=True, tol=0.0,
                    max_iter=10, **kw)
    assert not res.converged and res.n_iter == 10
    assert res.n_epochs <= 2_000, res.n_epochs
