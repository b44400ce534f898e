"""Datafits: one table, every entry runs every check.

References are independent of the kernels under test: explicit NumPy formulas, central
finite differences, duplicated rows for sample weights, the Fenchel-Young inequality for
the dual objective.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp

from sparsefit.datafits import Logistic, Multinomial, MultiTaskQuadratic, Quadratic

RNG = np.random.default_rng(0)
N, P, K = 30, 8, 3
X_DENSE = RNG.standard_normal((N, P))
X_DENSE[:, 2] = 0.0  # an empty column
X_DENSE[RNG.random((N, P)) < 0.3] = 0.0
Y = {
    "quadratic": RNG.standard_normal(N),
    "logistic": np.where(RNG.random(N) < 0.5, -1.0, 1.0),
    "multinomial": RNG.integers(0, K, N).astype(float),
    "multitask": RNG.standard_normal((N, K)),
}


def _ref_value(name, X, y, w, b, s):
    s = s / s.sum()
    u = X @ w + b
    if name == "quadratic":
        return 0.5 * np.sum(s * (y - u) ** 2)
    if name == "logistic":
        return np.sum(s * np.log1p(np.exp(-y * u)))
    if name == "multitask":
        return 0.5 * np.sum(s[:, None] * (y - u) ** 2)
    return np.sum(s * (logsumexp(u, axis=1) - u[np.arange(len(y)), y.astype(int)]))


# name -> (datafit, coefficient shape, intercept)
DATAFITS = {
    "quadratic": (Quadratic(), (P,), 0.3),
    "logistic": (Logistic(), (P,), -0.2),
    "multinomial": (Multinomial(K), (P, K), np.array([0.1, -0.2, 0.05])),
    "multitask": (MultiTaskQuadratic(K), (P, K), np.array([0.4, -0.1, 0.2])),
}


def test_the_table_covers_every_registered_datafit():
    from sparsefit import datafits

    covered = {type(df).__name__ for df, _, _ in DATAFITS.values()}
    missing = set(datafits.registry()) - covered
    assert not missing, f"add rows for {sorted(missing)} to DATAFITS"


X_KINDS = {
    "dense": lambda X: X,
    "fortran": lambda X: np.asfortranarray(X),
    "csc": lambda X: sp.csc_matrix(X),
    "csr": lambda X: sp.csr_matrix(X),
    "float32": lambda X: X.astype(np.float32),
}
WEIGHTS = {"none": None, "random": RNG.uniform(0.2, 3.0, N)}


@pytest.fixture(params=list(DATAFITS))
def case(request):
    name = request.param
    df, shape, b = DATAFITS[name]
    w = RNG.standard_normal(shape) * 0.5
    return name, df, w, b


@pytest.mark.parametrize("xkind", list(X_KINDS))
@pytest.mark.parametrize("wname", list(WEIGHTS))
def test_value_matches_formula(case, xkind, wname):
    name, df, w, b = case
    X = X_KINDS[xkind](X_DENSE)
    s = WEIGHTS[wname]
    ref = _ref_value(name, X_DENSE, Y[name], w, b, np.ones(N) if s is None else s)
    got = df.value(X, Y[name], w, b, sample_weight=s)
    tol = 1e-5 if xkind == "float32" else 1e-12
    assert got == pytest.approx(ref, rel=tol)


@pytest.mark.parametrize("xkind", ["dense", "csc"])
@pytest.mark.parametrize("wname", list(WEIGHTS))
def test_gradient_matches_finite_differences(case, xkind, wname):
    name, df, w, b = case
    X = X_KINDS[xkind](X_DENSE)
    s = WEIGHTS[wname]
    g = df.gradient(X, Y[name], w, b, sample_weight=s)
    assert g.shape == w.shape
    fd = np.zeros_like(w)
    h = 1e-6
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        fd[idx] = (df.value(X, Y[name], w + e, b, s) - df.value(X, Y[name], w - e, b, s)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("wname", list(WEIGHTS))
def test_lipschitz_bounds_coordinate_curvature(case, wname):
    """|g_j(w + t e_j) - g_j(w)| <= L_j |t| for many t, and the bound is attained for the
    quadratic (L_j is exact there)."""
    name, df, w, b = case
    s = WEIGHTS[wname]
    L = df.lipschitz(X_DENSE, sample_weight=s)
    assert L.shape == (P,)
    ss = (np.ones(N) if s is None else s) / (N if s is None else s.sum())
    np.testing.assert_allclose(L, df._hess_bound * (ss @ X_DENSE**2), rtol=1e-12)
    assert L[2] == 0.0
    g0 = df.gradient(X_DENSE, Y[name], w, b, s)
    for t in (-3.0, -0.1, 0.05, 2.0):
        for j in range(P):
            e = np.zeros_like(w)
            e[j] = t
            g1 = df.gradient(X_DENSE, Y[name], w + e, b, s)
            assert np.all(np.abs(g1[j] - g0[j]) <= L[j] * abs(t) * (1 + 1e-10) + 1e-14)
            if name in ("quadratic", "multitask"):
                assert np.abs(g1[j] - g0[j]) == pytest.approx(L[j] * abs(t), rel=1e-10,
                                                              abs=1e-14)


def test_dense_and_sparse_agree(case):
    name, df, w, b = case
    L_d = df.lipschitz(X_DENSE)
    L_s = df.lipschitz(sp.csc_matrix(X_DENSE))
    np.testing.assert_allclose(L_d, L_s, rtol=1e-14)
    g_d = df.gradient(X_DENSE, Y[name], w, b)
    g_s = df.gradient(sp.csc_matrix(X_DENSE), Y[name], w, b)
    np.testing.assert_allclose(g_d, g_s, rtol=1e-12, atol=1e-15)


def test_integer_sample_weights_equal_duplicated_rows(case):
    name, df, w, b = case
    reps = RNG.integers(1, 4, N)
    Xr = np.repeat(X_DENSE, reps, axis=0)
    yr = np.repeat(Y[name], reps, axis=0)
    assert df.value(X_DENSE, Y[name], w, b, reps) == pytest.approx(df.value(Xr, yr, w, b),
                                                                   rel=1e-12)
    np.testing.assert_allclose(df.gradient(X_DENSE, Y[name], w, b, reps),
                               df.gradient(Xr, yr, w, b), rtol=1e-10, atol=1e-14)


def test_dual_value_fenchel_young(case):
    """-F*(-theta) <= F(u) + <theta, u>, with equality at theta = -F'(u)."""
    name, df, w, b = case
    y = df.check_y(Y[name], N)
    sw = np.full(N, 1.0 / N)
    u = X_DENSE @ w + b
    theta = -df._raw_grad(y, u, sw)
    lhs = df.dual_value(y, theta)
    rhs = df._value_u(y, u, sw) + np.sum(theta * u)
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12)
    F = df._value_u(y, u, sw)
    for t in (0.0, 0.3, 0.9):  # other points of the dual domain: strict inequality
        other = t * theta
        assert df.dual_value(y, other) - np.sum(other * u) < F - 1e-8
    if name in ("quadratic", "multitask"):  # any theta is in the domain
        other = theta + 0.1 * RNG.standard_normal(theta.shape)
        assert df.dual_value(y, other) - np.sum(other * u) < F - 1e-8


def test_does_not_modify_inputs(case):
    name, df, w, b = case
    X = X_DENSE.copy()
    y = Y[name].copy()
    s = WEIGHTS["random"].copy()
    w0 = w.copy()
    df.value(X, y, w, b, s)
    df.gradient(sp.csc_matrix(X), y, w, b, s)
    df.lipschitz(X, s)
    np.testing.assert_array_equal(X, X_DENSE)
    np.testing.assert_array_equal(y, Y[name])
    np.testing.assert_array_equal(s, WEIGHTS["random"])
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": np.full((N, P), np.nan)}, "X contains NaN"),
        ({"X": np.ones(N)}, "X must be 2-D"),
        ({"X": np.ones((0, P))}, "X is empty"),
        ({"y": np.ones(N + 1)}, "y has length"),
        ({"y": np.full(N, np.inf)}, "y contains NaN"),
        ({"sample_weight": -np.ones(N)}, "sample_weight must be non-negative"),
        ({"sample_weight": np.zeros(N)}, "sample_weight must have a positive sum"),
        ({"sample_weight": np.ones(N - 1)}, "sample_weight has length"),
        ({"coef": np.ones(P + 1)}, "coef has shape"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"X": X_DENSE, "y": Y["quadratic"], "coef": np.zeros(P), "sample_weight": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Quadratic().value(args["X"], args["y"], args["coef"], 0.0, args["sample_weight"])


def test_label_errors():
    with pytest.raises(ValueError, match="-1 and \\+1"):
        Logistic().value(X_DENSE, np.arange(N) % 2, np.zeros(P))
    with pytest.raises(ValueError, match="class indices 0 .. 2"):
        Multinomial(3).value(X_DENSE, np.full(N, 3.0), np.zeros((P, 3)))
    with pytest.raises(ValueError, match="n_classes"):
        Multinomial(1)
