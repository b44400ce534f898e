"""FISTA with restart: closed forms, scikit-learn, brute force, torch, sparse, bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

from sparsefit.penalties import L1, L1L2, MCP, SCAD, TV1D, GroupL1, SparseGroupL1, WeightedL1
from sparsefit.solvers.fista import (
    LeastSquares,
    LogisticLoss,
    bind_datafit,
    fista,
    quadratic_l1_dual_gap,
)


# --------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------
def regression(seed=0):
    X, y = make_regression(n_samples=200, n_features=50, n_informative=10, noise=0.5,
                           random_state=seed)
    return X, y


def orthogonal_design(n=40, p=12, seed=0):
    """X with X.T X / n = I, so the problem is 0.5 ||w - z||^2 + pen(w), z = X.T y / n."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, p)))
    X = np.sqrt(n) * q
    y = X @ np.r_[3.0, -2.0, 0.3, 0.0, 1.5, 1.2, 0.05, -0.1, 2.5, -0.2, 0.0, 0.4] + \
        0.3 * rng.standard_normal(n)
    return X, y, X.T @ y / n


def _st(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def _block(z, t, sizes):
    out, o = np.empty_like(z), 0
    for s, tg in zip(sizes, t):
        g = z[o:o + s]
        nrm = np.linalg.norm(g)
        out[o:o + s] = 0.0 if nrm <= tg else g * (1 - tg / nrm)
        o += s
    return out


SIZES = [3, 4, 2, 3]
# (name, penalty, closed form of argmin 0.5 ||w - z||^2 + pen(w)) written out by hand
CLOSED_FORMS = [
    ("l1", L1(0.5), lambda z: _st(z, 0.5)),
    ("elastic_net", L1L2(0.4, 0.3), lambda z: _st(z, 0.4) / (1 + 0.6)),
    ("weighted_l1", WeightedL1(0.5, weights=np.linspace(0, 2, 12)),
     lambda z: _st(z, 0.5 * np.linspace(0, 2, 12))),
    ("group_l1", GroupL1(0.6, groups=SIZES),
     lambda z: _block(z, 0.6 * np.sqrt(SIZES), SIZES)),
    ("sparse_group_l1", SparseGroupL1(0.6, tau=0.4, groups=SIZES),
     lambda z: _block(_st(z, 0.6 * 0.4), 0.6 * 0.6 * np.sqrt(SIZES), SIZES)),
]


@pytest.mark.parametrize("restart", ["function", "gradient", None])
@pytest.mark.parametrize("name,pen,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_closed_form_orthogonal_design(name, pen, closed, restart):
    X, y, z = orthogonal_design()
    expected = closed(z)
    assert np.any(expected == 0) and np.any(expected != 0), "the case must mix zeros"
    res = fista(X=X, y=y, penalty=pen, tol=1e-10, restart=restart)
    assert res.converged
    np.testing.assert_allclose(res.coef, expected, rtol=1e-8, atol=1e-9)
    # exact zeros, exactly where the closed form has them
    np.testing.assert_array_equal(res.coef == 0, expected == 0)


@pytest.mark.parametrize("ratio", [10, 100])
def test_lasso_equals_sklearn(ratio):
    X, y = regression()
    n = X.shape[0]
    alpha = np.abs(X.T @ y).max() / n / ratio
    res = fista(X=X, y=y, penalty=L1(alpha), tol=1e-10, max_iter=20000)
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y)
    assert res.converged
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-6, atol=1e-8)
    assert res.violation <= 1e-10


def test_elastic_net_equals_sklearn():
    X, y = regression(1)
    a, l1_ratio = 0.5, 0.7
    res = fista(X=X, y=y, penalty=L1L2(a * l1_ratio, a * (1 - l1_ratio) / 2), tol=1e-10)
    sk = ElasticNet(alpha=a, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14,
                    max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-6, atol=1e-8)


def test_stops_on_duality_gap():
    X, y = regression()
    alpha = np.abs(X.T @ y).max() / X.shape[0] / 20
    gap = quadratic_l1_dual_gap(X, y, alpha)
    res = fista(X=X, y=y, penalty=L1(alpha), tol=1e-9, dual_gap=gap)
    assert res.converged and res.dual_gap <= 1e-9
    assert gap(res.coef) == pytest.approx(res.dual_gap)
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-4, atol=1e-6)


def test_logistic_l1_equals_sklearn():
    rng = np.random.default_rng(0)
    n, p = 100, 20
    X = rng.standard_normal((n, p))
    y = np.sign(X[:, :3] @ np.array([1.0, -2.0, 1.0]) + 0.5 * rng.standard_normal(n))
    alpha = np.abs(X.T @ y).max() / (2 * n) / 5
    res = fista(X=X, y=y, loss="logistic", penalty=L1(alpha), tol=1e-10, max_iter=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(l1_ratio=1.0, C=1.0 / (n * alpha), fit_intercept=False,
                                solver="liblinear", tol=1e-12, max_iter=100_000).fit(X, y)
    assert res.converged and np.sum(res.coef == 0) > 0
    np.testing.assert_allclose(res.coef, sk.coef_.ravel(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("pen", [L1(100.0), GroupL1(100.0, groups=[25, 25]),
                                 SparseGroupL1(100.0, 0.5, groups=[25, 25])],
                         ids=["l1", "group_l1", "sparse_group_l1"])
def test_above_alpha_max_gives_all_zeros(pen):
    X, y = regression()
    g0 = -X.T @ y / X.shape[0]
    strength = pen.alpha_max(g0) * 1.001
    pen = type(pen).from_config({**pen.get_config(), pen.strength_name: strength})
    res = fista(X=X, y=y, penalty=pen, tol=1e-10)
    assert res.converged and np.all(res.coef == 0)


# --------------------------------------------------------------------------------------
# fused lasso against a brute-force exact reference
# --------------------------------------------------------------------------------------
def fused_lasso_brute_force(X, y, alpha):
    """Exact minimizer of 1/(2n)||y - Xw||^2 + alpha * sum|w_{i+1} - w_i|.

    The minimizer is piecewise constant. For each partition of 0..p-1 into contiguous
    blocks and each sign pattern of the jumps between blocks the objective is a smooth
    quadratic of the block values; its stationary point is a candidate when the jumps
    have the assumed (strict) signs. The optimum is such a candidate for its own pattern,
    and every candidate is a feasible point, so the best candidate is the optimum.
    """
    n, p = X.shape
    best, best_w = np.inf, None
    for cuts in itertools.product([0, 1], repeat=p - 1):
        block = np.concatenate([[0], np.cumsum(cuts)])
        nb = block[-1] + 1
        M = np.zeros((p, nb))
        M[np.arange(p), block] = 1.0
        Z = X @ M
        H = Z.T @ Z / n
        for signs in itertools.product([-1.0, 1.0], repeat=nb - 1):
            # d/dv of alpha * sum_b s_b (v_{b+1} - v_b) = alpha * D^T s
            dts = np.zeros(nb)
            for b, s in enumerate(signs):
                dts[b] -= s
                dts[b + 1] += s
            v = np.linalg.solve(H, Z.T @ y / n - alpha * dts)
            if nb > 1 and np.any(np.sign(np.diff(v)) != np.asarray(signs)):
                continue
            w = M @ v
            obj = 0.5 * np.sum((y - X @ w) ** 2) / n + alpha * np.abs(np.diff(w)).sum()
            if obj < best:
                best, best_w = obj, w
    return best_w, best


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_fused_lasso_equals_brute_force(alpha):
    rng = np.random.default_rng(3)
    n, p = 30, 7
    X = rng.standard_normal((n, p))
    w_true = np.array([1.0, 1.0, 1.0, -0.5, -0.5, 2.0, 2.0])
    y = X @ w_true + 0.3 * rng.standard_normal(n)
    expected, best = fused_lasso_brute_force(X, y, alpha)
    res = fista(X=X, y=y, penalty=TV1D(alpha), tol=1e-10, max_iter=20000)
    assert res.converged
    np.testing.assert_allclose(res.coef, expected, atol=1e-7)
    assert res.objective[-1] == pytest.approx(best, rel=1e-10)
    # fused neighbours are exactly equal where the reference fuses them
    np.testing.assert_array_equal(np.diff(res.coef) == 0, np.abs(np.diff(expected)) < 1e-9)


# --------------------------------------------------------------------------------------
# non-convex: stationarity
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("pen", [MCP(alpha=2.0, gamma=3.0), SCAD(alpha=2.0, a=3.7)],
                         ids=["mcp", "scad"])
def test_nonconvex_reaches_stationary_point(pen):
    X, y = regression()
    res = fista(X=X, y=y, penalty=pen, tol=1e-9, max_iter=20000)
    assert res.converged
    g = LeastSquares(X, y).gradient(res.coef)
    assert np.max(np.abs(pen.subdiff_distance(res.coef, g))) <= 1e-9
    assert np.any(res.coef == 0) and np.any(res.coef != 0)
    # function restart rejects increasing steps: the history never increases
    assert np.all(np.diff(res.objective) <= 1e-12 * np.abs(res.objective[:-1]))


# --------------------------------------------------------------------------------------
# array kinds: torch, scipy sparse; backtracking; the datafits' protocol
# --------------------------------------------------------------------------------------
KIND_PENALTIES = [
    ("l1", L1(1.0), "quadratic"),
    ("group_l1", GroupL1(2.0, groups=[10] * 5), "quadratic"),
    ("tv1d", TV1D(0.5), "quadratic"),
    ("l1_logistic", L1(0.02), "logistic"),
]


def _data(loss):
    X, y = regression()
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
        X = X / 3.0
    return X, y


@pytest.mark.parametrize("name,pen,loss", KIND_PENALTIES, ids=[k[0] for k in KIND_PENALTIES])
def test_torch_equals_numpy(name, pen, loss):
    torch = pytest.importorskip("torch")
    X, y = _data(loss)
    ref = fista(X=X, y=y, penalty=pen, loss=loss, tol=1e-9, max_iter=5000)
    res = fista(X=torch.from_numpy(X), y=torch.from_numpy(y), penalty=pen, loss=loss,
                tol=1e-9, max_iter=5000)
    assert isinstance(res.coef, torch.Tensor) and res.coef.dtype == torch.float64
    assert ref.converged and res.converged
    np.testing.assert_allclose(res.coef.numpy(), ref.coef, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(res.coef.numpy() == 0, ref.coef == 0)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name,pen,loss", KIND_PENALTIES, ids=[k[0] for k in KIND_PENALTIES])
def test_sparse_equals_dense(name, pen, loss, fmt):
    X, y = _data(loss)
    X[np.abs(X) < 0.8] = 0.0  # a genuinely sparse design
    ref = fista(X=X, y=y, penalty=pen, loss=loss, tol=1e-9, max_iter=5000)
    res = fista(X=sp.csr_matrix(X).asformat(fmt), y=y, penalty=pen, loss=loss, tol=1e-9,
                max_iter=5000)
    assert ref.converged and res.converged
    np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-7, atol=1e-9)


class _NoLipschitz:
    """The protocol without a Lipschitz constant: FISTA must backtrack."""

    lipschitz = None

    def __init__(self, X, y):
        self.f = LeastSquares(X, y)
        self.n_features = X.shape[1]

    def value(self, w):
        return self.f.value(w)

    def gradient(self, w):
        return self.f.gradient(w)

    def zeros(self):
        return np.zeros(self.n_features)


def test_backtracking_without_lipschitz():
    X, y = regression()
    alpha = np.abs(X.T @ y).max() / X.shape[0] / 10
    ref = fista(X=X, y=y, penalty=L1(alpha), tol=1e-10)
    res = fista(_NoLipschitz(X, y), L1(alpha), tol=1e-10, max_iter=5000)
    assert res.converged
    np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-7, atol=1e-9)
    # the constant found is at most eta times the true one (it only grows by eta)
    assert res.lipschitz <= 2.0 * LeastSquares(X, y).lipschitz * (1 + 1e-9)


def test_bind_datafit_from_datafits_package():
    datafits = pytest.importorskip("sparsefit.datafits")
    X, y = regression()
    alpha = np.abs(X.T @ y).max() / X.shape[0] / 10
    f = bind_datafit(datafits.Quadratic(), X, y)
    w = np.linspace(-1, 1, X.shape[1])
    own = LeastSquares(X, y)
    assert f.value(w) == pytest.approx(own.value(w), rel=1e-12)
    res = fista(f, L1(alpha), w0=np.zeros(X.shape[1]), tol=1e-9)
    np.testing.assert_allclose(res.coef, fista(own, L1(alpha), tol=1e-9).coef, atol=1e-8)


def test_convergence_warning_names_violation_and_tol():
    X, y = regression()
    with pytest.warns(ConvergenceWarning, match=r"violation .* > tol=1\.000e-12"):
        res = fista(X=X, y=y, penalty=L1(1.0), tol=1e-12, max_iter=3)
    assert not res.converged and res.n_iter == 3 and res.objective.shape == (4,)


def test_input_not_modified_and_history():
    X, y = regression()
    X0, y0 = X.copy(), y.copy()
    w0 = np.ones(X.shape[1])
    res = fista(X=X, y=y, penalty=L1(1.0), w0=w0, tol=1e-8)
    assert np.array_equal(X, X0) and np.array_equal(y, y0) and np.all(w0 == 1.0)
    assert res.objective.shape == (res.n_iter + 1,)
    assert res.objective[-1] < res.objective[0]


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def _bad_cases():
    X, y = regression()
    Xnan = X.copy()
    Xnan[3, 4] = np.nan
    ynan = y.copy()
    ynan[0] = np.inf
    ok = {"X": X, "y": y, "penalty": L1(1.0)}
    return [
        ("X_nan", {**ok, "X": Xnan}, "X contains NaN"),
        ("y_inf", {**ok, "y": ynan}, "y contains NaN"),
        ("y_length", {**ok, "y": y[:-1]}, "y has 199 entries"),
        ("X_1d", {**ok, "X": X[:, 0]}, "X must be 2-D"),
        ("tol_negative", {**ok, "tol": -1.0}, "tol must be"),
        ("max_iter_zero", {**ok, "max_iter": 0}, "max_iter must be"),
        ("lipschitz_negative", {**ok, "lipschitz": -2.0}, "lipschitz must be"),
        ("restart_unknown", {**ok, "restart": "sometimes"}, "restart must be"),
        ("loss_unknown", {**ok, "loss": "hinge"}, "loss must be"),
        ("logistic_labels", {**ok, "loss": "logistic"}, "y must hold labels -1 and \\+1"),
        ("w0_shape", {**ok, "w0": np.zeros(3)}, "w0 must have shape"),
        ("w0_nan", {**ok, "w0": np.full(50, np.nan)}, "w0 contains NaN"),
        ("no_prox", {**ok, "penalty": object()}, "lacks value, prox, subdiff_distance"),
        ("no_penalty", {**ok, "penalty": None}, "penalty is required"),
        ("no_data", {"penalty": L1(1.0)}, "give either smooth"),
        ("eta", {**ok, "eta": 1.0}, "eta must be > 1"),
        ("check_every", {**ok, "check_every": 0}, "check_every must be"),
        ("blas_threads", {**ok, "blas_threads": 0}, "blas_threads must be"),
        ("dual_gap", {**ok, "dual_gap": 1e-3}, "dual_gap must be a callable"),
        ("smooth_and_X", {**ok, "smooth": LeastSquares(X, y)}, "not both"),
    ]


@pytest.mark.parametrize("name,kwargs,match", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_raises(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fista(**kwargs)


def test_negative_strength_raises_in_penalty():
    with pytest.raises(ValueError, match="l1 must be"):
        fista(X=np.eye(3), y=np.ones(3), penalty=L1(-1.0))


def test_logistic_loss_rejects_labels():
    with pytest.raises(ValueError, match="y must hold labels"):
        LogisticLoss(np.eye(3), np.array([0.0, 1.0, 1.0]))


@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_torch_sparse_equals_numpy(layout):
    torch = pytest.importorskip("torch")
    X, y = regression()
    X[np.abs(X) < 0.8] = 0.0
    alpha = np.abs(X.T @ y).max() / X.shape[0] / 10
    ref = fista(X=X, y=y, penalty=L1(alpha), tol=1e-9)
    dense = torch.from_numpy(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        Xt = dense.to_sparse() if layout == "coo" else getattr(dense, f"to_sparse_{layout}")()
        yt = torch.from_numpy(y)
        res = fista(X=Xt, y=yt, penalty=L1(alpha), tol=1e-9,
                    dual_gap=quadratic_l1_dual_gap(Xt, yt, alpha))
    assert isinstance(res.coef, torch.Tensor) and res.converged and res.dual_gap <= 1e-9
    np.testing.assert_allclose(res.coef.numpy(), ref.coef, rtol=1e-6, atol=1e-8)


def test_numpy_start_point_follows_torch_data():
    torch = pytest.importorskip("torch")
    X, y = regression()
    w0 = np.linspace(-1, 1, X.shape[1])
    res = fista(X=torch.from_numpy(X), y=torch.from_numpy(y), penalty=L1(1.0), w0=w0,
                tol=1e-9)
    assert isinstance(res.coef, torch.Tensor) and res.converged
    np.testing.assert_allclose(res.coef.numpy(),
                               fista(X=X, y=y, penalty=L1(1.0), tol=1e-9).coef, atol=1e-8)


@pytest.mark.parametrize("check_every", [1, 7])
def test_check_every(check_every):
    X, y = regression()
    res = fista(X=X, y=y, penalty=L1(1.0), tol=1e-9, check_every=check_every)
    assert res.converged and res.violation <= 1e-9
    assert res.n_iter % check_every == 0
    # checked at the start and at accepted iterations that are multiples of check_every
    assert 2 <= len(res.violations) <= res.n_iter // check_every + 1
    assert res.violations[-1] == res.violation


class _MatrixTarget:
    """F(W) = 0.5 ||W - B||^2 on a 2-D weight: the protocol is not tied to vectors."""

    lipschitz = 1.0

    def __init__(self, B):
        self.B = B

    def value(self, W):
        return 0.5 * float(((W - self.B) ** 2).sum())

    def gradient(self, W):
        return W - self.B


def test_custom_smooth_on_matrix_weight():
    B = np.array([[3.0, 4.0, 0.0], [0.1, -0.2, 0.1], [-1.0, 2.0, 2.0]])
    pen = GroupL1(1.0, weights=[1.0, 1.0, 1.0])  # groups: the rows
    res = fista(_MatrixTarget(B), pen, w0=np.zeros_like(B), tol=1e-12)
    nrm = np.linalg.norm(B, axis=1, keepdims=True)
    expected = B * np.maximum(0, 1 - 1.0 / nrm)
    assert res.converged and res.coef.shape == B.shape
    np.testing.assert_allclose(res.coef, expected, atol=1e-12)
    assert np.all(res.coef[1] == 0)
