"""The subgradient method (penalty-in-the-loss training) gives no exact zeros; FISTA does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_regression

from sparsefit.penalties import L1, GroupL1
from sparsefit.solvers.fista import LeastSquares, fista
from sparsefit.solvers.subgradient import subgradient_method


def lasso_problem():
    X, y = make_regression(n_samples=200, n_features=50, n_informative=10, noise=0.5,
                           random_state=0)
    alpha = np.abs(X.T @ y).max() / X.shape[0] / 10
    return X, y, alpha


# (id, penalty factory, schedule, lr factor on 1/L)
CASES = [
    ("l1_constant", lambda a: L1(a), "constant", 0.1),
    ("l1_sqrt", lambda a: L1(a), "sqrt", 1.0),
    ("group_l1_sqrt", lambda a: GroupL1(a, groups=[5] * 10), "sqrt", 1.0),
]


@pytest.mark.parametrize("name,make_pen,schedule,factor", CASES, ids=[c[0] for c in CASES])
def test_no_exact_zeros_unlike_fista(name, make_pen, schedule, factor):
    X, y, alpha = lasso_problem()
    pen = make_pen(alpha)
    f = LeastSquares(X, y)
    prox = fista(f, pen, tol=1e-10)
    sub = subgradient_method(f, pen, lr=factor / f.lipschitz, schedule=schedule,
                             max_iter=2000)
    zeros = prox.coef == 0
    assert prox.converged and zeros.sum() >= 10, "the proximal solution is sparse"
    assert np.count_nonzero(sub.coef == 0) == 0, "subgradient iterates are never exactly 0"
    assert np.count_nonzero(sub.best_coef == 0) == 0
    # ... and hover near zero where the solution is zero, yet above the proximal optimum
    assert sub.best_objective > prox.objective[-1]
    assert pen.value(prox.coef) + f.value(prox.coef) == pytest.approx(prox.objective[-1])
    assert sub.objective.shape == (2001,)


def test_sqrt_schedule_gets_closer_with_more_iterations():
    X, y, alpha = lasso_problem()
    f = LeastSquares(X, y)
    opt = fista(f, L1(alpha), tol=1e-10).objective[-1]
    short = subgradient_method(f, L1(alpha), schedule="sqrt", max_iter=100)
    long = subgradient_method(f, L1(alpha), schedule="sqrt", max_iter=2000)
    assert 0 < long.best_objective - opt < short.best_objective - opt


def test_torch_tensors_stay_torch():
    torch = pytest.importorskip("torch")
    X, y, alpha = lasso_problem()
    ref = subgradient_method(X=X, y=y, penalty=L1(alpha), lr=0.05, max_iter=50)
    res = subgradient_method(X=torch.from_numpy(X), y=torch.from_numpy(y),
                             penalty=L1(alpha), lr=0.05, max_iter=50)
    assert isinstance(res.coef, torch.Tensor)
    np.testing.assert_allclose(res.coef.numpy(), ref.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-10)


def test_divergence_raises():
    X, y, alpha = lasso_problem()
    with pytest.raises(ValueError, match="diverged.*lower lr"):
        subgradient_method(X=X, y=y, penalty=L1(alpha), lr=1e3, max_iter=500)


@pytest.mark.parametrize("kw,match", [
    ({"lr": -0.1}, "lr must be"),
    ({"lr": float("nan")}, "lr must be"),
    ({"lr": 0.0}, "lr must be"),
    ({"schedule": "cosine"}, "schedule must be"),
    ({"max_iter": 0}, "max_iter must be"),
    ({"penalty": object()}, "lacks value, subgradient"),
    ({"y": np.ones(3)}, "y has 3 entries"),
], ids=["lr_negative", "lr_nan", "lr_zero", "schedule", "max_iter", "penalty", "y_length"])
def test_bad_input_raises(kw, match):
    X, y, alpha = lasso_problem()
    args = {"X": X, "y": y, "penalty": L1(alpha), "lr": 0.01}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        subgradient_method(**args)
