"""LARS / homotopy: the exact Lasso path equals scikit-learn's lars_path(method="lasso")."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso
from sklearn.linear_model import lars_path as sk_lars_path

from sparsefit.solvers.lars import LassoPath, lars_path, lasso_path_at


def make_problem(n, p, correlated, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if correlated:
        # near-duplicate columns make coefficients cross zero along the path
        X[:, 1] = X[:, 0] + 0.3 * X[:, 1]
        X[:, 3] = -X[:, 2] + 0.5 * X[:, 3]
    y = X[:, :3] @ np.array([2.0, -1.0, 0.5]) + rng.standard_normal(n)
    return X, y


# (id, n, p, correlated, seed); those marked "drops" have a coefficient crossing zero
PROBLEMS = [
    ("n>p", 50, 10, False, 0),
    ("n<p_drops", 20, 40, True, 1),
    ("n=p_drops", 30, 30, True, 3),
    ("n<p_plain", 20, 40, False, 2),
    ("tall_drops", 100, 8, True, 7),
    ("diabetes_drops", None, None, None, None),
]


def get_problem(case):
    _, n, p, corr, seed = case
    if n is None:
        return load_diabetes(return_X_y=True)
    return make_problem(n, p, corr, seed)


def _n_drops(path):
    return sum(kind == "drop" for kind, _ in path.events)


@pytest.mark.parametrize("precompute", [False, True])
@pytest.mark.parametrize("case", PROBLEMS, ids=[c[0] for c in PROBLEMS])
def test_equals_sklearn_lars_path(case, precompute):
    X, y = get_problem(case)
    alphas, active, coefs = sk_lars_path(X, y, method="lasso", Gram=None if not precompute
                                         else X.T @ X)
    path = lars_path(X, y, precompute=precompute)
    assert path.alphas.shape == alphas.shape
    np.testing.assert_allclose(path.alphas, alphas, rtol=0, atol=1e-8)
    np.testing.assert_allclose(path.coefs, coefs, rtol=0, atol=1e-8)
    assert path.active == [int(j) for j in active]
    if case[0].endswith("drops"):
        assert _n_drops(path) > 0, "this case must exercise the Lasso modification"
    # the kinks are strictly decreasing, and the path ends at alpha = 0
    assert np.all(np.diff(path.alphas) < 0) and path.alphas[-1] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("case", PROBLEMS[:3], ids=[c[0] for c in PROBLEMS[:3]])
@pytest.mark.parametrize("kw", [{"alpha_min": 0.05}, {"max_iter": 4}], ids=["alpha_min",
                                                                          "max_iter"])
def test_truncated_path_equals_sklearn(case, kw):
    X, y = get_problem(case)
    alphas, _, coefs = sk_lars_path(X, y, method="lasso", **kw)
    path = lars_path(X, y, **kw)
    np.testing.assert_allclose(path.alphas, alphas, rtol=0, atol=1e-8)
    np.testing.assert_allclose(path.coefs, coefs, rtol=0, atol=1e-8)
    if "alpha_min" in kw:
        assert path.alphas[-1] == kw["alpha_min"]
    else:
        assert path.n_iter == kw["max_iter"]


def test_given_gram_equals_no_gram():
    X, y = make_problem(60, 15, True, 5)
    a = lars_path(X, y, precompute=False)
    b = lars_path(X, y, precompute=X.T @ X)
    np.testing.assert_allclose(a.alphas, b.alphas, atol=1e-12)
    np.testing.assert_allclose(a.coefs, b.coefs, atol=1e-10)


def _kkt(X, y, w, alpha):
    n = X.shape[0]
    g = X.T @ (y - X @ w) / n
    return np.max(np.where(w != 0, np.abs(g - alpha * np.sign(w)),
                           np.maximum(np.abs(g) - alpha, 0)))


@pytest.mark.parametrize("case", PROBLEMS, ids=[c[0] for c in PROBLEMS])
def test_interpolation_is_exact(case):
    X, y = get_problem(case)
    path = lars_path(X, y)
    assert isinstance(path, LassoPath)
    # between kinks, at the kinks, above alpha_max
    mids = 0.5 * (path.alphas[1:] + path.alphas[:-1])
    query = np.r_[2 * path.alphas[0], path.alphas[0], mids[:12], path.alphas[5]]
    W = lasso_path_at(path, query)
    assert W.shape == (X.shape[1], query.size)
    assert np.all(W[:, 0] == 0) and np.all(W[:, 1] == 0)
    np.testing.assert_allclose(W[:, -1], path.coefs[:, 5], atol=1e-14)
    scale = np.abs(X.T @ y).max() / X.shape[0]
    for k, a in enumerate(query):
        assert _kkt(X, y, W[:, k], a) <= 1e-9 * scale, f"KKT fails at alpha={a}"
    np.testing.assert_allclose(path.coef_at(float(query[3])), W[:, 3])


def test_interpolation_equals_sklearn_lasso():
    X, y = make_problem(50, 10, True, 4)
    path = lars_path(X, y)
    alpha = 0.37 * path.alphas[0]
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(path.coef_at(alpha), sk.coef_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("extra", ["sum", "duplicate", "combination"])
def test_rank_deficient_design(extra):
    # a dependent column never makes the active set singular on the Lasso path (the path
    # ends at alpha = 0 once the active columns span the column space): the path is valid
    X, y = make_problem(30, 6, False, 0)
    col = {"sum": X[:, 0] + X[:, 1], "duplicate": X[:, 0],
           "combination": 2 * X[:, 2] + X[:, 3] - X[:, 0]}[extra]
    X = np.c_[X, col]
    path = lars_path(X, y)
    alphas, _, coefs = sk_lars_path(X, y, method="lasso")
    np.testing.assert_allclose(path.alphas, alphas, atol=1e-8)
    np.testing.assert_allclose(path.coefs, coefs, atol=1e-8)
    for k, a in enumerate(path.alphas):
        assert _kkt(X, y, path.coefs[:, k], a) <= 1e-10


def _bad_cases():
    X, y = make_problem(20, 5, False, 0)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    return [
        ("X_nan", (Xn, y), {}, "X contains NaN"),
        ("y_nan", (X, np.r_[np.nan, y[1:]]), {}, "y contains NaN"),
        ("y_length", (X, y[:5]), {}, "y has 5 entries"),
        ("X_1d", (X[:, 0], y), {}, "X must be 2-D"),
        ("X_sparse", (__import__("scipy.sparse").sparse.csr_matrix(X), y), {},
         "X must be a dense"),
        ("alpha_min_negative", (X, y), {"alpha_min": -1.0}, "alpha_min must be"),
        ("max_iter_negative", (X, y), {"max_iter": -1}, "max_iter must be"),
        ("gram_shape", (X, y), {"precompute": np.eye(3)}, "precompute .* must have shape"),
        ("precompute_str", (X, y), {"precompute": "yes"}, "precompute must be"),
        ("blas_threads", (X, y), {"blas_threads": 0}, "blas_threads must be"),
    ]


@pytest.mark.parametrize("name,args,kw,match", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_raises(name, args, kw, match):
    with pytest.raises(ValueError, match=match):
        lars_path(*args, **kw)


def test_interpolation_bad_input():
    X, y = make_problem(20, 5, False, 0)
    path = lars_path(X, y, alpha_min=0.1)
    with pytest.raises(ValueError, match="alphas must be >= the end of the path"):
        lasso_path_at(path, 0.01)
    with pytest.raises(ValueError, match="alphas must be finite"):
        lasso_path_at(path, [np.nan])
    with pytest.raises(ValueError, match="alphas must be finite and >= 0"):
        lasso_path_at(path, [0.5, -1.0])
    with pytest.raises(ValueError, match="path must be a LassoPath"):
        lasso_path_at((1, 2), 0.5)
