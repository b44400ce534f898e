"""The exact step on a settled support (``sparsefit.solvers._exact``): least-squares fits
whose support is cheap to solve end at the optimum to rounding, whatever ``tol``; the step
never raises the objective, and the routes (Gram or X, dense or sparse) then agree to
rounding. The penalties come from the registry's table (tests/test_penalties.py)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sparsefit.datafits import Logistic, Multinomial, Quadratic
from sparsefit.linear_model import (
    ElasticNet,
    GroupLasso,
    Lasso,
    MultiTaskElasticNet,
    MultiTaskLasso,
    SparseGroupLasso,
)
from sparsefit.penalties import GroupL1
from sparsefit.solvers import solve
from sparsefit.solvers._common import describe
from sparsefit.solvers._exact import (
    exact_direction,
    group_active_set,
    group_pieces,
    restricted_minimizer,
    row_newton_direction,
    row_pieces,
    row_sparse_minimizer,
    takes_exact_step,
)

from .test_penalties import PENALTIES, SETTINGS


def _problem(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[:, 1] += 3.0  # a column far from zero mean
    w = np.zeros(p)
    w[:6] = rng.standard_normal(6) * 2
    y = X @ w + 0.5 * rng.standard_normal(n) + 1.0
    return X, y


def _grad(X, y, coef, intercept, sw):
    """The least-squares gradient with weights summing to 1 (the solver's scale)."""
    s = sw / sw.sum()
    return -X.T @ (s * (y - X @ coef - intercept))


def _alpha_max(X, y, fit_intercept):
    yc = y - y.mean() if fit_intercept else y
    return np.abs(X.T @ yc).max() / len(y)


EXACT = [k for k in PENALTIES if PENALTIES[k](4).is_separable
         and takes_exact_step(describe(PENALTIES[k](4), 4).spec)]


def test_the_exact_step_takes_the_orthant_quadratic_penalties_only():
    # L1, weighted L1, elastic net, penalty factors, boxes of them; no MCP / SCAD / log-sum
    # (not quadratic on an orthant), no TV
    assert {"L1", "WeightedL1", "L1L2", "Box_L1L2", "Box_positive_L1", "Scaled_L1L2"} <= set(
        EXACT)
    for name in PENALTIES:
        if name.split("_")[0] in ("MCP", "SCAD", "LogSum", "TV1D", "L2") or "MCP" in name:
            assert name not in EXACT, name


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("shape", [(80, 25), (30, 70)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_a_loose_tol_ends_at_the_exact_optimum(name, shape, fit_intercept):
    """At tol=1e-4 every coordinate's optimality condition holds to rounding: on the
    support (a_j sign(w_j) + beta_j w_j = -grad_j), at zero (|grad_j| <= a_j) and at a
    bound of a box (the one-sided condition)."""
    X, y = _problem(*shape)
    p = shape[1]
    # (Box_L1L2 missed exactness in 13 of 800 weight draws when a coordinate pinned at zero
    # could not leave it: tests/test_exact_step.py's brute-force test checks that case)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, shape[0])
    base = PENALTIES[name](p)
    scale = 0.05 * _alpha_max(X, y, fit_intercept) / 0.7
    pen = _scaled(base, scale)
    res = solve(X, y, Quadratic(), pen, fit_intercept=fit_intercept, sample_weight=sw,
                tol=1e-4)
    assert res.converged
    g = _grad(X, y, res.coef, res.intercept, sw)
    assert np.count_nonzero(res.coef) > 0
    # every coordinate's distance to optimality (support, zeros, bounds) at rounding level
    dist = np.asarray(pen.subdiff_distance(res.coef, g))
    assert dist.max() <= 1e-10 * np.abs(g).max(initial=1.0), (name, dist.max())
    # and the certificate reported is at rounding level
    assert res.dual_gap < 1e-12


def _scaled(pen, s):
    """``pen`` with its strength multiplied by ``s`` (the table's penalties, rescaled to
    the problem)."""
    from sparsefit.penalties import L1, L1L2, Box, Scaled, WeightedL1

    if isinstance(pen, Box):
        return Box(_scaled(pen.penalty, s), pen.lower, pen.upper)
    if isinstance(pen, Scaled):
        return Scaled(_scaled(pen.penalty, s), pen.factors)
    if isinstance(pen, WeightedL1):
        return WeightedL1(pen.alpha * s, pen.weights)
    if isinstance(pen, L1L2):
        return L1L2(pen.l1 * s, pen.l2 * s)
    return L1(pen.l1 * s)


@pytest.mark.parametrize("weighted", [False, True])
def test_routes_agree_to_rounding_at_the_default_tol(weighted):
    """Gram matrix given, Gram entries computed, no Gram matrix, sparse X: one answer
    (scikit-learn's precompute test asks 1e-7; these routes stopped 3.4e-3 apart)."""
    X, y = _problem(50, 200, seed=3)
    sw = np.random.default_rng(2).lognormal(size=50) if weighted else None
    fits = [ElasticNet(alpha=0.05, precompute=pre).fit(Xk, y, sample_weight=sw)
            for pre in (True, False) for Xk in (X, np.asfortranarray(X), sp.csc_matrix(X))]
    for f in fits[1:]:
        np.testing.assert_allclose(f.coef_, fits[0].coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(f.intercept_, fits[0].intercept_, rtol=1e-9)


def test_the_step_never_raises_the_objective(monkeypatch):
    """A wrong system (here its matrix scrambled) gives a point the objective check
    refuses: the fit goes on by coordinate descent to the same answer."""
    import sparsefit.solvers.cd as cd

    X, y = _problem(80, 25)
    good = Lasso(alpha=0.05, tol=1e-10).fit(X, y)
    real = cd.support_moments

    def scrambled(*args):
        H, xm = real(*args)
        return H[::-1, ::-1] * 3.0 + np.eye(H.shape[0]) * 10.0, xm

    refused = []
    real_move = cd.QuadraticCD._exact_move

    def move(self, settled):
        before = self.w.copy()
        out = real_move(self, settled)
        if out is None:
            refused.append(np.array_equal(before, self.w))
        return out

    monkeypatch.setattr(cd, "support_moments", scrambled)
    monkeypatch.setattr(cd.QuadraticCD, "_exact_move", move)
    bad = Lasso(alpha=0.05, tol=1e-10, precompute=False).fit(X, y)
    assert refused and all(refused)  # refused, and w left as it was
    np.testing.assert_allclose(bad.coef_, good.coef_, rtol=1e-6, atol=1e-9)


def test_without_the_step_the_fit_holds_tol_only(monkeypatch):
    """Over the budget (here: the step switched off) a fit is what the working sets give
    at tol, no more: the exact step is what makes the default fit exact."""
    import sparsefit.solvers._exact as ex

    X, y = _problem(80, 25)
    exact = Lasso(alpha=0.05, tol=1e-4).fit(X, y)
    calls = []
    real = ex.restricted_minimizer
    monkeypatch.setattr(ex, "restricted_minimizer", lambda *a, **k: calls.append(1) or real(
        *a, **k))
    import sparsefit.solvers.cd as cd

    monkeypatch.setattr(cd.QuadraticCD, "_exact_move", lambda self, settled: None)
    est = Lasso(alpha=0.05, tol=1e-4).fit(X, y)
    assert est.converged_ and not calls
    assert est.dual_gap_ <= 1e-4 * 0.5 * np.var(y)
    assert exact.dual_gap_ < 1e-3 * est.dual_gap_  # the exact step is what makes it exact


def _brute_force_minimum(H, gs, w, a, lo, hi):
    """The minimum over every ``v`` in the box of ``gs . (v - w) + (v - w).T H (v - w) / 2
    + a . |v|``, by enumerating each coordinate's face (at the lower bound, negative, zero,
    positive, at the upper bound; 5^k of them, a linear solve on each, kept when it stays
    on its face)."""
    import itertools

    k = w.size
    best, arg = np.inf, None

    def f(v):
        d = v - w
        return gs @ d + 0.5 * d @ H @ d + a @ np.abs(v)

    for faces in itertools.product(("lo", -1.0, 0.0, 1.0, "hi"), repeat=k):
        v = np.array([lo[j] if c == "lo" else hi[j] if c == "hi" else 0.0
                      for j, c in enumerate(faces)])
        if not np.all(np.isfinite(v)):
            continue
        s = np.array([0.0 if isinstance(c, str) else c for c in faces])
        s[[isinstance(c, str) for c in faces]] = np.sign(v[[isinstance(c, str) for c in faces]])
        nz = np.flatnonzero([not isinstance(c, str) and c != 0 for c in faces])
        if nz.size:  # stationary on the face: (H (v - w) + gs + a s)_nz = 0, the rest fixed
            rest = np.setdiff1d(np.arange(k), nz)
            rhs = (H[nz] @ w - (gs + a * s)[nz] - H[np.ix_(nz, rest)] @ v[rest])
            v[nz] = np.linalg.solve(H[np.ix_(nz, nz)], rhs)
            if np.any(np.sign(v[nz]) != s[nz]):
                continue
        if np.any(v < lo) or np.any(v > hi):
            continue
        if f(v) < best:
            best, arg = f(v), v
    return best, arg, f


@SETTINGS
@given(st.integers(1, 4), st.integers(0, 10_000), st.booleans())
def test_restricted_minimizer_is_the_minimizer_on_its_support(k, seed, box):
    """An exact answer is the minimizer of the objective over every point supported on
    ``S`` in the box (any signs: a coordinate that reaches zero and whose condition then
    fails re-enters on its gradient's side; one at a bound leaves it when its derivative
    points inside), equal to a brute-force enumeration of the faces; an inexact one never
    raises the objective."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k + 3, k))
    H = A.T @ A + 0.1 * np.eye(k)
    w = rng.uniform(0.2, 2.0, k) * rng.choice([-1.0, 1.0], k)
    a = rng.uniform(0.0, 1.0, k)
    grad = rng.standard_normal(k)  # the objective's gradient at w (includes a * sign(w))
    lo, hi = np.full(k, -np.inf), np.full(k, np.inf)
    if box:  # bounds around w, some of them zero
        lo = np.where(rng.random(k) < 0.3, np.minimum(w, 0.0), w - rng.uniform(0, 1.5, k))
        hi = np.where(rng.random(k) < 0.3, np.maximum(w, 0.0), w + rng.uniform(0, 1.5, k))
    new, exact = restricted_minimizer(H, grad, w, a, lo, hi)
    best, arg, f = _brute_force_minimum(H, grad - a * np.sign(w), w, a, lo, hi)
    scale = 1.0 + np.abs(grad).max() + np.abs(H).max()
    assert np.all((new >= lo) & (new <= hi))
    assert f(new) <= f(w) + 1e-12 * scale
    if exact:
        assert f(new) <= best + 1e-10 * scale
        np.testing.assert_allclose(new, arg, rtol=1e-7, atol=1e-9)


@SETTINGS
@given(st.integers(2, 5), st.integers(0, 10_000))
def test_restricted_minimizer_on_a_singular_system(k, seed):
    """With ``singular=True`` a singular system (the data's Hessian of rank ``k - 1``: a
    column the others repeat) does not stop the step: the answer, when exact, is the
    objective's minimum, which L-BFGS-B finds on the split ``v = v+ - v-``; otherwise it
    still never raises the objective."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k - 1, k))
    H = A.T @ A
    w = rng.uniform(0.2, 2.0, k) * rng.choice([-1.0, 1.0], k)
    a = rng.uniform(0.1, 1.0, k)
    gs = H @ rng.standard_normal(k)  # the smooth part's gradient: in H's range (bounded)
    lo, hi = np.full(k, -np.inf), np.full(k, np.inf)

    def f(v):
        d = v - w
        return gs @ d + d @ H @ d / 2 + a @ np.abs(v)

    def split(z):
        v = z[:k] - z[k:]
        g = gs + H @ (v - w)
        return f(v), np.concatenate([g + a, -g + a])

    ref = minimize(split, np.concatenate([np.maximum(w, 0), np.maximum(-w, 0)]), jac=True,
                   method="L-BFGS-B", bounds=[(0, None)] * (2 * k),
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    new, exact = restricted_minimizer(H, gs + a * np.sign(w), w, a, lo, hi, singular=True)
    scale = 1.0 + np.abs(gs).max() + np.abs(H).max()
    assert new is not None and f(new) <= f(w) + 1e-12 * scale
    if exact:
        assert f(new) <= ref.fun + 1e-9 * scale


def test_a_repeated_column_with_a_larger_l1_weight_leaves_the_support():
    """Two equal columns: the data see only their sum, so along their difference the
    objective is linear (the weights' difference); the step follows it until the more
    penalized coefficient is zero, and ends at the fit on the other column alone. Without
    ``singular`` the system is refused."""
    rng = np.random.default_rng(0)
    x, z = rng.standard_normal((2, 50))
    X = np.column_stack([x, x, z])
    y = 2.0 * x - z + 0.1 * rng.standard_normal(50)
    H, a = X.T @ X, np.array([1.0, 3.0, 1.0])
    w = np.array([0.8, 0.9, -0.5])
    grad = X.T @ (X @ w - y) + a * np.sign(w)
    inf = np.full(3, np.inf)
    assert restricted_minimizer(H, grad, w, a, -inf, inf)[0] is None
    new, exact = restricted_minimizer(H, grad, w, a, -inf, inf, singular=True)
    assert exact and new[1] == 0.0
    H2, w2 = H[np.ix_([0, 2], [0, 2])], w[[0, 2]]
    grad2 = X[:, [0, 2]].T @ (X[:, [0, 2]] @ w2 - y) + a[[0, 2]] * np.sign(w2)
    alone, _ = restricted_minimizer(H2, grad2, w2, a[[0, 2]], -inf[:2], inf[:2])
    np.testing.assert_allclose(new[[0, 2]], alone, rtol=1e-10)


def test_row_minimizer_with_one_task_is_the_linear_solve():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((9, 4))
    H = A.T @ A
    V0 = rng.uniform(0.5, 1.5, (4, 1))
    Q0 = rng.standard_normal((4, 1)) * 0.1
    a, beta = rng.uniform(0, 0.2, 4), np.full(4, 0.05)
    V, exact = row_sparse_minimizer(H, Q0, V0, a, beta)
    w, exact1 = restricted_minimizer(H + np.diag(beta), -Q0[:, 0] + a + beta * V0[:, 0],
                                     V0[:, 0], a, np.full(4, -np.inf), np.full(4, np.inf))
    assert exact and exact1
    np.testing.assert_allclose(V[:, 0], w, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: MultiTaskLasso(alpha=0.05),
                                  lambda: MultiTaskElasticNet(alpha=0.05, l1_ratio=0.4)])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", [0, 23, 38])
def test_multitask_ends_at_the_exact_optimum(make, sparse, seed):
    """Seeds 23 and 38 missed exactness before: a row that reaches zero at the optimum
    (Newton's method cannot end there; the row is now dropped when its condition holds at
    zero), and a line search below the objective's rounding."""
    X, y = _problem(60, 30)
    rng = np.random.default_rng(seed)
    Y = np.column_stack([y, -0.5 * y + rng.standard_normal(60), y ** 2 / 10])
    sw = rng.uniform(0.5, 2.0, 60)
    Xk = sp.csc_matrix(X) if sparse else X
    loose = make().set_params(tol=1e-4).fit(Xk, Y, sample_weight=sw)
    tight = make().set_params(tol=1e-13, max_iter=10_000).fit(X, Y, sample_weight=sw)
    np.testing.assert_allclose(loose.coef_, tight.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(loose.intercept_, tight.intercept_, rtol=1e-8)


def _review_case(seed):
    """A multi-task case as the hostile review of the exact step drew them (its
    ``mt_case.gen``, no sample weights): ``X, Y, l1_ratio, fit_intercept, alpha, tol``."""
    rng = np.random.default_rng(seed)
    n, p, T = int(rng.integers(4, 50)), int(rng.integers(2, 50)), int(rng.integers(1, 5))
    X = rng.standard_normal((n, p))
    if rng.random() < .3:
        X *= 10 ** rng.uniform(-2, 2, size=p)
    if rng.random() < .2:
        X[:, rng.integers(p)] = X[:, 0]
    k = min(p, 3)
    Y = X[:, :k] @ rng.standard_normal((k, T)) + rng.standard_normal((n, T)) * rng.uniform(
        .01, 1)
    Y *= 10.0 ** rng.choice([0, 0, 0, 4, -4, 8, -8])
    l1 = 1.0 if rng.random() < .5 else float(rng.uniform(.05, .99))
    fi = bool(rng.random() < .7)
    assert rng.random() >= .3  # (no sample weights in the cases used here)
    Yc = Y - (Y.mean(axis=0) if fi else 0)
    alpha = np.linalg.norm(X.T @ Yc, axis=1).max() / n / l1 * 10 ** rng.uniform(-3, -0.02)
    return X, Y, l1, fi, alpha, 10 ** rng.uniform(-12, -2)


def _row_violations(est, X, Y, alpha, l1):
    W = est.coef_.T
    G = X.T @ (Y - X @ W - est.intercept_) / X.shape[0]
    a, b = alpha * l1, alpha * (1 - l1)
    nrm = np.linalg.norm(W, axis=1)
    return np.where(nrm > 0, np.linalg.norm(G - a * W / np.maximum(nrm, 1e-300)[:, None]
                                            - b * W, axis=1),
                    np.maximum(np.linalg.norm(G, axis=1) - a, 0.0)) / a


def test_a_zero_row_that_violates_enters_the_multitask_polish():
    """The review's case 159 (n=44, p=40, 2 tasks, tol 5.6e-3): a zero row broke its
    condition by 7.7% of alpha at convergence and the polish, on the non-zero rows only,
    left it out. It now enters at its block soft-threshold step: every row's condition
    holds to rounding."""
    X, Y, l1, fi, alpha, tol = _review_case(159)
    assert X.shape == (44, 40) and Y.shape[1] == 2
    est = MultiTaskElasticNet(alpha=alpha, l1_ratio=l1, tol=tol, fit_intercept=fi).fit(X, Y)
    assert _row_violations(est, X, Y, alpha, l1).max() <= 1e-10


def test_an_ill_conditioned_multitask_support_takes_the_exact_step_early():
    """The review's case 320 (n=17, p=41, |Y| ~ 1e-7, alpha 8e-9: a near-lasso with more
    active rows than samples): at tol 1e-10 it ran 18M epochs (127 s), its gap shrinking
    1% per outer iteration; the exact step once the zero rows settle ends it in a few."""
    X, Y, l1, fi, alpha, _ = _review_case(320)
    assert X.shape == (17, 41) and np.abs(Y).max() < 1e-6
    est = MultiTaskElasticNet(alpha=alpha, l1_ratio=l1, tol=1e-10, fit_intercept=fi,
                              max_iter=30).fit(X, Y)
    assert est.converged_ and est.n_iter_ < 1000
    assert _row_violations(est, X, Y, alpha, l1).max() <= 1e-9


def _row_hessian(HX, W, c, beta):
    """The multi-task Newton matrix of :func:`row_newton_direction`, written out."""
    k, T = W.shape
    U = W / np.linalg.norm(W, axis=1)[:, None]
    H = np.kron(HX + np.diag(c + beta), np.eye(T))
    for j in range(k):
        H[j * T:(j + 1) * T, j * T:(j + 1) * T] -= c[j] * np.outer(U[j], U[j])
    return H


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_rows", [3, 40])  # HX singular (rank 3 < 12) or not
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_row_newton_direction_is_the_dense_newton_solve(seed, n_rows, ridge):
    """The Woodbury solve (a k x k factorization) against the (kT) x (kT) Cholesky solve
    it replaced: the same direction, and None exactly where that one is None (no curvature
    along a row's own direction without a ridge, where HX is singular)."""
    rng = np.random.default_rng(seed)
    k, T = 12, int(rng.integers(1, 6))
    B = rng.standard_normal((n_rows, k)) * rng.uniform(0.1, 3.0, k)
    HX = B.T @ B / n_rows
    W, G = rng.standard_normal((k, T)), rng.standard_normal((k, T))
    c, beta = rng.uniform(0.01, 2.0, k), np.full(k, ridge)
    got = row_newton_direction(HX, W, c, beta, G)
    ref = exact_direction(_row_hessian(HX, W, c, beta), G.ravel())
    if ref is None:
        assert got is None or np.allclose(_row_hessian(HX, W, c, beta) @ got, -G.ravel(),
                                          atol=1e-8 * np.abs(G).max())
    else:
        assert got is not None
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("seed", range(6))
def test_row_active_set_is_the_same_with_the_kron_solve(seed):
    """group_active_set on the multi-task rows with the Woodbury solve (``rows=T``) and
    with the dense Newton matrix: the same minimizer, rows leaving the support included."""
    rng = np.random.default_rng(seed)
    k, T = 10, 3
    A = rng.standard_normal((30, k))
    HX = A.T @ A / 30 + 0.01 * np.eye(k)
    q0, w0 = rng.standard_normal(k * T) * 0.3, rng.standard_normal(k * T) * 0.1
    gid, ag = np.repeat(np.arange(k), T), np.full(k, 0.35)
    args = (np.kron(HX, np.eye(T)), q0, w0, gid, ag, np.zeros(k * T), np.zeros(k * T))
    w_kron, exact_kron = group_active_set(*args, rows=T)
    w_dense, exact_dense = group_active_set(*args)
    assert exact_kron and exact_dense
    assert 0 < np.count_nonzero(np.linalg.norm(w_kron.reshape(k, T), axis=1)) < k
    np.testing.assert_allclose(w_kron, w_dense, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: MultiTaskLasso(alpha=0.05),
                                  lambda: MultiTaskElasticNet(alpha=0.05, l1_ratio=0.7)])
def test_a_larger_multitask_support_takes_the_exact_step_at_a_small_tol(make):
    """1000 x 80, 4 tasks, about 70 rows of 80 non-zero, tol 1e-6: the step on 280
    coefficients used to cost a (280)^3 factorization per Newton iteration and was beyond
    the budget (the fit ended 3.4e-6 from the optimum); by the Woodbury identity it costs
    70^3, and Newton's method stops once rows head to zero (the active set drops them)
    instead of halving its steps 30 times: the fit ends at the optimum."""
    rng = np.random.default_rng(1)
    n, p, T = 1000, 80, 4
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 2, p) + rng.uniform(-2, 2, p)
    W = np.zeros((p, T))
    W[: p // 2] = rng.standard_normal((p // 2, T))
    Y = X @ W + rng.standard_normal((n, T)) + 1.0
    got = make().set_params(tol=1e-6).fit(X, Y)
    ref = make().set_params(tol=1e-13, max_iter=10_000).fit(X, Y)
    assert 40 < np.count_nonzero(np.linalg.norm(ref.coef_, axis=0)) < p
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


def test_row_pieces_only_for_row_groups():
    spec = describe(GroupL1(0.5, [3] * 4), 12).spec
    assert row_pieces(spec, 4, 3, np.arange(4)) is not None
    assert row_pieces(spec, 6, 2, np.arange(6)) is None  # groups of 3 are not rows of 2


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_covariance_form_ends_at_the_same_exact_optimum(name, fit_intercept):
    """The solver from the data's moments (dask's one-pass route) takes the exact step
    too: at tol=1e-4 it equals the solve on the rows to rounding."""
    from sparsefit.solvers.moments import Moments

    X, y = _problem(80, 25)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, 80)
    pen = _scaled(PENALTIES[name](25), 0.05 * _alpha_max(X, y, fit_intercept) / 0.7)
    rows = solve(X, y, Quadratic(), pen, fit_intercept=fit_intercept, sample_weight=sw,
                 tol=1e-4)
    mom = solve(Moments.from_arrays(X, y, sw), None, Quadratic(), pen,
                fit_intercept=fit_intercept, tol=1e-4)
    np.testing.assert_allclose(mom.coef, rows.coef, rtol=1e-9, atol=1e-11)
    assert mom.dual_gap < 1e-12


@pytest.mark.parametrize("shape", [(5, 0), (0, 3), (0, 0), (1, 0)])
def test_moments_of_an_empty_block_are_zeros_and_silent(capfd, shape):
    """A block with no columns (an empty working set) or no rows: zero moments, and
    nothing printed (OpenBLAS's syrk prints "illegal value" for a zero leading dimension)."""
    from sparsefit.solvers.moments import Moments

    X = np.ones(shape)
    m = Moments.from_arrays(X, np.ones(shape[0]))
    assert m.n_features == shape[1] and m.count == shape[0]
    if shape[0]:
        assert np.all(m.quadratic_form(True)[0] == 0)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_covariance_exact_budget_lets_a_large_support_take_the_exact_step():
    """A support of about 250 on the moments of 300 columns: the exact step costs more than
    the default budget (two products G w), so the fit stops at tol; with the budget of
    the data it stands for (dask's wide route gives two passes over X), it ends at the
    exact solution."""
    from sparsefit.penalties import L1
    from sparsefit.solvers.covariance import solve_covariance
    from sparsefit.solvers.moments import Moments

    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 300))
    y = X @ rng.standard_normal(300) + rng.standard_normal(400)
    mom = Moments.from_arrays(X, y)
    pen = L1(0.01)
    default = solve_covariance(mom, Quadratic(), pen, fit_intercept=True, tol=1e-4)
    wide = solve_covariance(mom, Quadratic(), pen, fit_intercept=True, tol=1e-4,
                            exact_budget=1e9)
    assert np.count_nonzero(wide.coef) ** 3 / 3 > 4 * 2 ** 20  # beyond the default budget
    ref = solve_covariance(mom, Quadratic(), pen, fit_intercept=True, tol=1e-14,
                           max_iter=1000)
    assert np.max(np.abs(default.coef - ref.coef)) > 1e-8
    assert np.max(np.abs(wide.coef - ref.coef)) <= 1e-10


def _noisy_toeplitz(n, p, k=20, seed=0):
    """A Toeplitz-0.5 design, ``k`` true features, noise at a third of the signal's
    spread (``benchmarks/bench_path_accuracy.py``'s noisy problem, smaller)."""
    from scipy.linalg import toeplitz

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(toeplitz(0.5 ** np.arange(p))).T
    w = np.zeros(p)
    w[rng.choice(p, k, replace=False)] = rng.standard_normal(k)
    s = X @ w
    return X, s + rng.standard_normal(n) * s.std() / 3


def test_a_path_point_is_as_accurate_as_a_single_fit_at_its_tol():
    """Every point of a CV path is solved as a single fit at that ``tol`` solves it: its
    held-out error equals the single fit's. Before, a path's last exact step was left to
    the next solve's check, and a step landing short of the support stayed there (1e-7
    apart on this problem, supports larger than the rows; 1e-15 now)."""
    from sklearn.model_selection import KFold

    from sparsefit.linear_model import ElasticNetCV

    X, y = _noisy_toeplitz(100, 300)
    cv = KFold(3)
    m = ElasticNetCV(l1_ratio=0.5, alphas=20, cv=cv, tol=1e-7).fit(X, y)
    for k, (tr, te) in enumerate(cv.split(X)):
        for i, alpha in enumerate(m.alphas_):
            single = ElasticNet(alpha=alpha, l1_ratio=0.5, tol=1e-7).fit(X[tr], y[tr])
            mse = np.mean((y[te] - single.predict(X[te])) ** 2)
            np.testing.assert_allclose(m.mse_path_[i, k], mse, rtol=1e-10)


def test_a_large_unsettled_step_does_not_leave_coordinate_descent_crawling():
    """During the outer loop the exact step keeps its base budget (the larger one of a
    tight ``tol`` is for the settled support at convergence): a hostile review's elastic
    net (53 rows, 300 features scaled by 1e8, alpha by 1e8, tol 1e-10) took four inexact
    steps on sets of about 90 and then 1.25M epochs (4 s) to converge; 305 epochs now."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((80, 300))
    beta = np.zeros(300)
    beta[:40] = rng.standard_normal(40)
    y = X @ beta + 0.5 * rng.standard_normal(80)
    rows = np.arange(27, 80)  # KFold(3)'s first training fold
    est = ElasticNet(alpha=0.0647395 * 1e8, l1_ratio=0.7, tol=1e-10, max_iter=100).fit(
        X[rows] * 1e8, y[rows])
    assert est.converged_ and est.n_iter_ < 5_000, est.n_iter_


def _group_step_applies(make):
    pen = make(24)
    if pen.is_separable:
        return False
    try:
        return group_pieces(describe(pen, 24).spec, 24) is not None
    except ValueError:  # (a table entry whose groups come from a weight's shape)
        return False


GROUP = [k for k in PENALTIES if _group_step_applies(PENALTIES[k])]


def test_the_group_step_takes_the_group_norm_penalties():
    # positive=True too: its coordinates at zero are held there as an L1 coordinate is
    # (it had no Newton step: the positive group lasso ended 1e-7 to 3e-6 from the
    # optimum at its default tol, and the dask route elsewhere in the tolerance ball)
    assert {"GroupL1", "GroupL1_scattered", "SparseGroupL1", "GroupL1L2", "Scaled_GroupL1",
            "Scaled_SparseGroupL1", "Box_positive_GroupL1"} <= set(GROUP)


@pytest.mark.parametrize("name", GROUP)
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("route", ["dense", "sparse", "moments"])
def test_group_penalties_end_at_the_optimum_at_a_loose_tol(name, fit_intercept, route):
    """Newton's method on the non-zero groups at convergence (group lasso, sparse group
    lasso, group elastic net, penalty factors including 0): at tol=1e-4 every group's
    optimality condition holds to rounding, on the rows (dense or sparse) and from the
    moments (dask's route). Before: 4.9e-6 (GroupLasso) and 1.1e-5 (SparseGroupLasso)
    from the optimum in memory, so the two routes differed by that."""
    from sparsefit.solvers.moments import Moments

    X, y = _problem(80, 24)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, 80)
    base = PENALTIES[name](24)
    yc = y - np.average(y, weights=sw) if fit_intercept else y
    pen = base.with_strength(0.3 * base.alpha_max(_grad(X, yc, np.zeros(24), 0.0, sw)))
    if route == "moments":
        res = solve(Moments.from_arrays(X, y, sw), None, Quadratic(), pen,
                    fit_intercept=fit_intercept, tol=1e-4)
    else:
        res = solve(sp.csc_matrix(X) if route == "sparse" else X, y, Quadratic(), pen,
                    fit_intercept=fit_intercept, sample_weight=sw, tol=1e-4)
    assert res.converged and np.count_nonzero(res.coef) > 0
    g = _grad(X, y, res.coef, res.intercept, sw)
    dist = np.asarray(pen.subdiff_distance(res.coef, g))
    assert dist.max() <= 1e-10 * np.abs(g).max(initial=1.0), (name, dist.max())


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l2", [0.0, 0.02])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_logistic_at_a_loose_tol_ends_at_the_optimum(n_classes, l2, fit_intercept):
    """Proximal Newton's polish at convergence (one Newton step, its model solved to
    rounding): tol=1e-4 gives the tol=1e-12 coefficients to 1e-9. Before: 1.4e-5 apart
    (SparseLogisticRegression), which dask's route, stopping elsewhere in the tolerance
    ball, doubled."""
    from sparsefit.penalties import L1, L1L2

    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 12)) + rng.uniform(-2, 2, 12)
    u = X[:, :3] @ np.array([1.5, -2.0, 1.0])
    y = (np.digitize(u, np.quantile(u, [1 / 3, 2 / 3])) if n_classes == 3
         else np.where(u > np.median(u), 1, -1)).astype(np.int64)
    sw = rng.uniform(0.5, 2.0, 300)
    datafit = Multinomial(3) if n_classes == 3 else Logistic()
    pen = L1L2(0.01, l2) if l2 else L1(0.01)
    fits = [solve(X, y, datafit, pen, fit_intercept=fit_intercept, sample_weight=sw,
                  tol=tol) for tol in (1e-4, 1e-12)]
    assert all(f.converged for f in fits)
    ref = np.abs(fits[1].coef).max()
    assert np.abs(fits[0].coef - fits[1].coef).max() <= 1e-9 * ref
    b0, b1 = (_gauge(f.intercept) for f in fits)
    assert np.all(np.abs(b0 - b1) <= 1e-9 * max(1.0, np.abs(b1).max()))


def _gauge(intercept):
    """Multinomial intercepts summing to zero (softmax ignores a common shift, which
    differs with the route to the optimum; the estimators report this one)."""
    b = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    return b - b.mean() if b.size > 1 else b


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_ridge_logistic_at_a_loose_tol_ends_at_the_optimum(n_classes, fit_intercept):
    """A pure L2 penalty (LogisticRegression's default) takes the exact Newton step too,
    on columns far from zero mean: before, the multinomial polish (coordinate descent on
    a model whose class directions are nearly flat) left 1.8e-5 (2000 x 20, C=1) and the
    binary polish over two passes' budget (one capped step) 5.7e-4 (5000 x 50 without an
    intercept; the exact step may now cost a quarter of the work spent)."""
    from sparsefit.penalties import L2

    rng = np.random.default_rng(5)
    n, p = (2000, 20) if n_classes == 3 else (5000, 50)
    X = rng.standard_normal((n, p)) + rng.uniform(-5, 5, p)
    u = (X - X.mean(axis=0)) @ rng.standard_normal((p, n_classes)) * 3
    y = u.argmax(axis=1) if n_classes == 3 else np.where(u[:, 0] > u[:, 1], 1, -1)
    datafit = Multinomial(3) if n_classes == 3 else Logistic()
    fits = [solve(X, y.astype(np.int64), datafit, L2(1.0 / n), fit_intercept=fit_intercept,
                  tol=tol, max_iter=1000) for tol in (1e-4, 1e-13)]
    assert all(f.converged for f in fits)
    assert np.abs(fits[0].coef - fits[1].coef).max() <= 1e-8 * np.abs(fits[1].coef).max()
    b0, b1 = (_gauge(f.intercept) for f in fits)
    assert np.all(np.abs(b0 - b1) <= 1e-8 * max(1.0, np.abs(b1).max()))


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_multinomial_with_redundant_features_ends_at_the_optimum(l1_ratio):
    """``make_classification``'s redundant features are sums of others: along them only
    the penalty curves the objective, and coordinate descent on the Newton model crawled.
    Before, on 20000 x 30 with 3 classes at C=1, the default tol left L2 4.8e-3 above the
    optimal objective with coefficients 30% off, the elastic net 0.055 off, and L1 took
    42 s (4000 epochs for one model, which a singular exact system could not replace).
    Newton's method on the support now takes over when the models' epochs cost more (a
    singular system through its null space), and the polish lets violators enter first.
    Pure L2 is checked against scikit-learn's lbfgs as well."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from sparsefit.linear_model import LogisticRegression

    X, y = make_classification(10000, 30, n_informative=10, n_classes=3, random_state=0)
    loose = LogisticRegression(C=1.0, l1_ratio=l1_ratio).fit(X, y)
    tight = LogisticRegression(C=1.0, l1_ratio=l1_ratio, tol=1e-12, max_iter=1000).fit(X, y)
    assert np.abs(loose.coef_ - tight.coef_).max() <= 1e-6 * np.abs(tight.coef_).max()
    assert loose.n_iter_.max() <= 10
    if l1_ratio == 0.0:
        sk = SkLogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
        np.testing.assert_allclose(loose.coef_, sk.coef_, rtol=0,
                                   atol=1e-5 * np.abs(sk.coef_).max())


def test_multinomial_polish_keeps_to_its_budget(monkeypatch):
    """The polish at convergence runs once per solve within its epochs (uncapped it ran
    three times 20 Newton steps of 200 epochs: LogisticRegression(C=1) on 1000 x 100 with
    4 classes took 0.75 s against 0.097 s without it)."""
    from sparsefit.linear_model import LogisticRegression
    from sparsefit.solvers import prox_newton as pn

    calls = []
    polish = pn.MultinomialNewton.polish

    def counted(self):
        before = self.n_epochs
        budget = pn.MULTINOMIAL_POLISH_STEPS * self._polish_epochs(
            pn.MULTINOMIAL_POLISH_MIN_EPOCHS)
        moved = polish(self)
        calls.append((self.n_epochs - before, budget))
        return moved

    monkeypatch.setattr(pn.MultinomialNewton, "polish", counted)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 100))
    B = rng.standard_normal((100, 4)) * (np.arange(100) < 5)[:, None]
    y = (X @ B + rng.gumbel(size=(1000, 4))).argmax(axis=1)
    model = LogisticRegression(C=1.0).fit(X, y)
    assert calls and calls[0][0] <= calls[0][1]
    assert all(spent == 0 for spent, _ in calls[1:])  # (once per solve)
    assert model.n_iter_.max() < 1000


def test_multinomial_at_the_default_tol_beyond_the_exact_budget():
    """Coordinate descent on the multinomial model shifts each feature's class
    coefficients to their best common offset (the loss does not change along it, the
    penalty does): before, it crawled there, and LogisticRegression(C=1) on 1000 x 100
    with 4 classes (every coefficient non-zero, over the exact step's budget) ended
    2.5e-4 from the optimum at the default tol; 20000 x 30 with 3 classes took 5.2 s,
    now 0.6 s."""
    from sparsefit.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 100))
    B = rng.standard_normal((100, 4)) * (np.arange(100) < 5)[:, None]
    y = (X @ B + rng.gumbel(size=(1000, 4))).argmax(axis=1)
    loose = LogisticRegression(C=1.0).fit(X, y).coef_
    tight = LogisticRegression(C=1.0, tol=1e-12, max_iter=1000).fit(X, y).coef_
    assert np.abs(loose - tight).max() <= 1e-6 * np.abs(tight).max()


@SETTINGS  # (no deadline: the first example compiles the kernel on a cold numba cache)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=6), st.sampled_from(["l1", "l2", "en"]))
def test_best_shift_of_a_row_is_the_penalty_minimizer(values, kind):
    """``_best_shift`` against a brute-force search: the kinks and a fine grid."""
    from sparsefit.penalties import L1, L1L2, L2
    from sparsefit.solvers._multinomial_kernels import _best_shift

    v = np.array(values)
    pen = {"l1": L1(0.3), "l2": L2(0.3), "en": L1L2(0.3, 0.2)}[kind]
    spec = describe(pen, v.size).spec
    c = _best_shift(spec, v, 0)

    def value(shift):
        return float(pen.value(v - shift))

    grid = np.concatenate([np.linspace(v.min(), v.max(), 2001), v, [0.0]])
    assert value(c) <= min(value(g) for g in grid) + 1e-9 * max(1.0, value(0.0))
    assert value(c) <= value(0.0)
    if kind == "l1" and c != 0:
        assert np.any(v - c == 0)  # (an L1 optimum is a kink: an exact zero)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("l1", [0.0, 0.05])
def test_group_active_set_meets_every_groups_condition(seed, l1):
    """The group step's active-set method from a point whose groups are all non-zero
    while the optimum has zero groups (Newton alone crawled towards them: a row's norm
    heading to zero, steps halved 30 times, MultiTaskElasticNetCV's refit 2e-4 off):
    when it says exact, every kept group's gradient vanishes and every zero group's
    condition holds. Without L1 parts it says exact on these well-conditioned models;
    with them (sparse group lasso) from so far away it may run out of pivots (11 of the
    12 seeds end exact: next test; the polish then simply does not move, and the
    estimator-level test above checks it ends exact from coordinate descent's point)."""
    w, exact, H, q0, w0, gid, ag, a1 = _random_group_model(seed, l1)
    assert exact or l1 > 0
    if not exact:
        return
    grad = q0 - H @ (w - w0)  # - the smooth part's gradient
    norms = np.sqrt(np.bincount(gid, weights=w * w))
    assert np.any(norms > 0)
    for g in range(ag.size):
        c = gid == g
        if norms[g] == 0:
            st = np.sign(grad[c]) * np.maximum(np.abs(grad[c]) - a1[c], 0.0)
            assert np.linalg.norm(st) <= ag[g] * (1 + 1e-9)
        else:
            nz = c & (w != 0)
            r = grad[nz] - ag[g] * w[nz] / norms[g] - a1[nz] * np.sign(w[nz])
            assert np.abs(r).max() <= 1e-10
            zc = c & (w == 0)  # an L1 coordinate at zero in a live group
            assert np.all(np.abs(grad[zc]) <= a1[zc] * (1 + 1e-9))


def _random_group_model(seed, l1, n_groups=8, size=3):
    """A group-lasso model (8 groups of 3, strength 0.4, L1 part ``l1``) from a point
    whose groups are all non-zero, and :func:`group_active_set`'s answer."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((40, n_groups * size))
    H = A.T @ A / 40 + 0.01 * np.eye(n_groups * size)
    q0 = rng.standard_normal(n_groups * size) * 0.3
    w0 = rng.standard_normal(n_groups * size) * 0.1
    gid = np.repeat(np.arange(n_groups), size)
    ag = np.full(n_groups, 0.4)
    a1 = np.full(n_groups * size, l1)
    w, exact = group_active_set(H, q0, w0, gid, ag, a1, np.zeros(n_groups * size))
    return w, exact, H, q0, w0, gid, ag, a1


@pytest.mark.parametrize("make", [lambda: GroupLasso(groups=4, alpha=0.05, positive=True),
                                  lambda: SparseGroupLasso(groups=4, alpha=0.05,
                                                           positive=True),
                                  lambda: GroupLasso(groups=4, alpha=0.005, positive=True,
                                                     fit_intercept=False)])
@pytest.mark.parametrize("shape", [(1000, 80), (100, 300)])
def test_positive_group_penalties_end_at_the_optimum_at_their_default_tol(make, shape):
    """The positive group lasso at its default tol (1e-6): the Newton step at convergence
    holds the coordinates at zero there and frees one whose gradient points up, so the fit
    ends at the tol=1e-14 one to rounding (before: 2e-8 to 2e-6 from it, with no step)."""
    n, p = shape
    rng = np.random.default_rng(p)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 2, p) + rng.uniform(-2, 2, p)
    w = np.zeros(p)
    w[: p // 2] = rng.standard_normal(p // 2)
    y = X @ w + rng.standard_normal(n) + 1.0
    got = make().fit(X, y)
    ref = make().set_params(tol=1e-14, max_iter=100_000).fit(X, y)
    assert got.coef_.min() >= 0 and 0 < np.count_nonzero(got.coef_) < p
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-11)


def test_group_active_set_with_l1_parts_mostly_ends_exact():
    assert sum(_random_group_model(seed, 0.05)[1] for seed in range(12)) >= 11


def test_duplicated_unpenalized_columns_stay_at_the_smallest_norm():
    """Multinomial, an elastic net with redundant columns (30 in the span of the first 20),
    two exactly duplicated column pairs and a fifth column unpenalized
    (``penalty_factor`` 0): the loss and the penalty are flat along ``w_0 - w_60``, and
    the null-space step left the pair at +-2.8e7 (each -0.18 at the smallest norm;
    tol=1e-8 did not converge in 100 iterations). Now the pair is equal, the fit
    converges, and the objective is the one without the duplicates."""
    from sparsefit.linear_model import SparseLogisticRegression

    rng = np.random.default_rng(0)
    n, p, K = 1000, 60, 4
    Z = rng.standard_normal((n, p))
    X = np.c_[Z, Z[:, :10], Z[:, :20] @ rng.standard_normal((20, 30))]
    B = np.zeros((p, K))
    B[:8] = 2 * rng.standard_normal((8, K))
    y = np.argmax(Z @ B + rng.gumbel(size=(n, K)), axis=1)
    pf = np.ones(X.shape[1])
    pf[[0, 60, 1, 61, 5]] = 0
    kw = dict(alpha=1e-4, l1_ratio=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SparseLogisticRegression(tol=1e-8, penalty_factor=pf, **kw).fit(X, y)
    W = est.coef_
    assert np.abs(W).max() < 50
    np.testing.assert_allclose(W[:, 0], W[:, 60], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(W[:, 1], W[:, 61], rtol=1e-9, atol=1e-12)
    # without the duplicates (columns 60, 61 dropped): the same objective, each pair's sum
    keep = np.setdiff1d(np.arange(X.shape[1]), [60, 61])
    ref = SparseLogisticRegression(tol=1e-12, penalty_factor=pf[keep], **kw).fit(
        X[:, keep], y)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X[:, keep]),
                               atol=1e-6)
