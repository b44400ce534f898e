"""The compiled pieces of coordinate descent, each against a reference written another way:
the L1 / elastic-net epochs against a Python epoch built on the penalty objects' own prox and
subdifferential, the working-set top-k against a full sort, the fused input scan against
NumPy's checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from sparsefit.datafits._validation import as_column_store
from sparsefit.linear_model import Lasso
from sparsefit.linear_model._base import check_scale
from sparsefit.penalties import L1L2
from sparsefit.penalties._interface import canonical_spec
from sparsefit.penalties.box import BoxSpec
from sparsefit.penalties.separable import L1L2Spec
from sparsefit.solvers._columns import top_free_units
from sparsefit.solvers._epochs import wls_cd

NO_XM = np.zeros(0)  # wls_cd without its centered mode


def _spec(l1, l2, weights, positive):
    """The compiled spec of ``weights * (l1 |x| + l2 x^2)``, restricted to ``x >= 0`` when
    ``positive``."""
    spec = L1L2Spec(l1, l2, weights)
    return canonical_spec(BoxSpec(spec, np.zeros(1), np.full(1, np.inf)) if positive else spec)


def _reference_epoch(X, sw, R, w, lc, units, l1, l2, weights, positive):
    """One cyclic epoch of exact coordinate minimization, with the penalty objects' prox
    and subdifferential distance (per coordinate: ``L1L2(l1 * c_j, l2 * c_j)``)."""
    viol = 0.0
    for j in units:
        c = 1.0 if weights.size == 0 else weights[j]
        pen = L1L2(l1 * c, l2 * c)
        g = -X[:, j] @ (sw * R)
        old = w[j]
        if positive and old == 0.0:
            d = max(-g - l1 * c, 0.0)
        else:
            d = float(pen.subdiff_distance(np.array([old]), np.array([g]))[0])
        viol = max(viol, d)
        new = float(pen.prox(np.array([old - g / lc[j]]), 1.0 / lc[j])[0])
        if positive:
            new = max(new, 0.0)
        R -= X[:, j] * (new - old)
        w[j] = new
    return viol


CASES = [  # (storage, uniform sample weights, l2, per-feature weights, positive)
    ("dense", True, 0.0, False, False),
    ("dense", False, 0.0, False, False),
    ("dense", True, 0.3, False, False),
    ("dense", False, 0.3, True, True),
    ("sparse", True, 0.0, False, False),
    ("sparse", False, 0.0, False, False),
    ("sparse", True, 0.3, True, False),
    ("sparse", False, 0.0, True, True),
]


@pytest.mark.parametrize("storage, uniform, l2, weighted, positive", CASES)
def test_l1_epochs_equal_the_reference_epoch(storage, uniform, l2, weighted, positive):
    rng = np.random.default_rng(0)
    n, p = 30, 12
    X = sp.random(n, p, density=0.4, random_state=1, data_rvs=rng.standard_normal).toarray()
    X[:, 3] = 0.0  # an empty column: L = 0, skipped
    y = rng.standard_normal(n)
    sw = np.full(n, 1.0 / n) if uniform else rng.uniform(0.5, 2.0, n) / n
    weights = rng.uniform(0.0, 2.0, p) if weighted else np.zeros(0)
    if weighted:
        weights[5] = 0.0  # unpenalized
    l1 = 0.05
    lc = (sw[:, None] * X ** 2).sum(0)
    units = np.array([0, 2, 3, 5, 7, 8, 11], dtype=np.int64)
    w = np.zeros(p)
    w[[0, 7]] = [0.4, -0.3]
    store = as_column_store(np.asfortranarray(X) if storage == "dense" else sp.csc_matrix(X),
                            densify=False)
    spec = _spec(l1, l2, weights, positive)
    w_ref, R_ref = w.copy(), y - X @ w
    w_fast, R_fast = w.copy(), y - X @ w
    lc_kernel = np.where(lc > 0, lc, 0.0)
    for _ in range(3):  # three epochs: from the warm start, then on the moved iterate
        v_ref = _reference_epoch(X, sw, R_ref, w_ref, lc_kernel, [u for u in units if lc[u] > 0],
                                 l1, l2, weights, positive)
        ep, v_fast = wls_cd(spec, *store.args, sw, uniform, R_fast, w_fast, np.zeros(1), False,
                            lc_kernel, NO_XM, units, 1, 0.0, 0, 0.0)
        assert ep == 1
        np.testing.assert_allclose(w_fast, w_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(R_fast, R_ref, rtol=1e-12, atol=1e-14)
        assert v_fast == pytest.approx(v_ref, rel=1e-10, abs=1e-14)
    # each coordinate's violation on its own (the epoch returns only the largest)
    for u in units:
        if lc[u] == 0:
            continue
        w1, R1 = w.copy(), y - X @ w
        v_ref = _reference_epoch(X, sw, R1.copy(), w1.copy(), lc_kernel, [u], l1, l2, weights,
                                 positive)
        _, v_fast = wls_cd(spec, *store.args, sw, uniform, R1, w1, np.zeros(1), False,
                           lc_kernel, NO_XM, np.array([u], dtype=np.int64), 1, 0.0, 0, 0.0)
        assert v_fast == pytest.approx(v_ref, rel=1e-10, abs=1e-14), u
    assert w_fast[3] == 0.0 and np.all(w_fast[[1, 4, 6, 9, 10]] == 0.0)  # outside the units
    if positive:
        assert np.all(w_fast >= 0)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 200))
def test_top_free_units_equals_a_full_sort(data, n):
    rank = data.draw(arrays(np.float64, n, elements=st.one_of(
        st.floats(-1e6, 1e6), st.sampled_from([0.0, -1.0, np.nan]))))
    forced = data.draw(arrays(np.bool_, n))
    need = data.draw(st.integers(0, n + 2))
    out = top_free_units(rank, forced, need)
    free = np.flatnonzero(~forced)
    k = min(need, free.size)
    assert out.size == k and np.unique(out).size == k
    assert not np.any(forced[out])
    key = np.where(np.isnan(rank), -np.inf, rank)
    # the chosen ranks are the k largest free ranks (ties may pick either index)
    np.testing.assert_array_equal(np.sort(key[out]), np.sort(np.sort(key[free])[::-1][:k]))


@pytest.mark.parametrize("tiny", [5e-324, 2.22507386e-313, 1e-300])
def test_top_free_units_with_a_subnormal_spread(tiny):
    # found by hypothesis in CI: a spread of ranks below 1e-308 made the bucket factor inf
    # and the bucket index garbage (MemoryError)
    rank = np.full(150, 2 * tiny)
    rank[[0, 7]] = 0.0
    rank[[3, 9]] = 3 * tiny
    rank[11] = np.nan
    out = top_free_units(rank, np.zeros(150, dtype=bool), 3)
    assert out.size == 3 and {3, 9} <= set(out.tolist())
    assert rank[np.setdiff1d(out, [3, 9])][0] == 2 * tiny


@pytest.mark.parametrize("make", [np.asfortranarray, sp.csc_matrix], ids=["dense", "sparse"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_input_scan_names_nan_and_inf_and_leaves_x_alone(make, bad):
    X = np.random.default_rng(0).standard_normal((20, 5))
    X[3, 2] = bad
    Xm = make(X)
    before = Xm.copy()
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        check_scale(Xm, np.ones(20))
    with pytest.raises(ValueError, match="NaN or infinity"):
        Lasso(alpha=0.1).fit(Xm, np.ones(20))
    after = Xm.toarray() if sp.issparse(Xm) else Xm
    np.testing.assert_array_equal(after, before.toarray() if sp.issparse(before) else before)


@pytest.mark.parametrize("scale, refused", [(1.0, False), (1e70, False), (1e150, True),
                                            (1e200, True)])
def test_input_scan_bound_agrees_with_the_exact_maximum(scale, refused):
    # the one-read bound (sqrt of the sum of squares) decides only when conclusive; near
    # and past the overflow threshold the exact maximum does
    X = np.random.default_rng(1).standard_normal((50, 4)) * scale
    if refused:
        with pytest.raises(ValueError, match="[Rr]escale"):
            check_scale(X, np.ones(50))
    else:
        check_scale(X, np.ones(50))


@pytest.mark.parametrize("l2, weighted, positive, fit_intercept", [
    (0.0, False, False, False), (0.0, False, False, True), (0.2, True, False, True),
    (0.0, True, True, False)])
@pytest.mark.parametrize("anderson", [0, 5])
def test_gram_cd_with_active_sweeps_solves_the_working_set_problem(l2, weighted, positive,
                                                                   fit_intercept, anderson):
    # covariance-form CD (full sweeps, active-set sweeps, Anderson) against residual-form
    # CD on the same working-set subproblem, both to a violation of 1e-13
    from sparsefit.solvers._gram import gram_cd

    rng = np.random.default_rng(3)
    n, p = 60, 40
    X = rng.standard_normal((n, p)) + 0.5 * rng.standard_normal((n, 1))
    y = X[:, :6] @ rng.uniform(-2, 2, 6) + 0.1 * rng.standard_normal(n) + 3.0
    sw = rng.uniform(0.5, 1.5, n)
    sw /= sw.sum()
    units = np.arange(0, 30, dtype=np.int64)
    weights = rng.uniform(0.5, 1.5, p) if weighted else np.zeros(0)
    # strong enough for a support of under 3/4 of the working set: active sweeps run
    spec = _spec(0.2, l2, weights, positive)
    store = as_column_store(np.asfortranarray(X))
    lc = (sw[:, None] * X ** 2).sum(0)
    w_ref, R, b_ref = np.zeros(p), y.copy(), np.zeros(1)
    wls_cd(spec, *store.args, sw, False, R, w_ref, b_ref, fit_intercept, lc, NO_XM, units,
           100_000, 1e-13, 0, 0.0)
    A = X[:, units] * np.sqrt(sw)[:, None]
    G = np.asfortranarray(A.T @ A)
    cvec = X[:, units].T @ sw
    q = X[:, units].T @ (sw * y)
    w_loc, b = np.zeros(units.size), np.zeros(1)
    ep, viol = gram_cd(spec, G, cvec, 1.0, q, w_loc, b, fit_intercept, float(sw @ y),
                       float(sw @ y ** 2), units, 100_000, 1e-13, anderson, 0.0)
    assert viol <= 1e-13
    assert 0 < np.count_nonzero(w_loc) < 0.75 * units.size
    np.testing.assert_allclose(w_loc, w_ref[units], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-11)
    # q was kept equal to X_ws.T (sw * R) through the active sweeps
    np.testing.assert_allclose(q, X[:, units].T @ (sw * (y - X[:, units] @ w_loc - b[0])),
                               atol=1e-11)


# ---------------------------------------------------------------------------------------
# the intercept: centered coordinate steps
# ---------------------------------------------------------------------------------------
def _shifted(n=60, p=8, shift=100.0, seed=0):
    """Features of mean ``shift`` and unit spread: an intercept is then nearly collinear
    with every column, the case that alternating coordinate/intercept steps crawl on."""
    rng = np.random.default_rng(seed)
    X = shift + rng.standard_normal((n, p))
    y = X[:, :3] @ np.array([1.5, -2.0, 1.0]) + 0.3 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("storage", ["dense", "sparse"])
@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("kind", ["L1", "L1L2", "MCP"])
def test_centered_epoch_is_cd_on_centered_columns(storage, uniform, kind):
    from sparsefit.penalties import MCP
    from sparsefit.solvers._columns import weighted_col_moments

    X, y = _shifted(n=40, p=6)
    if storage == "sparse":
        X[np.random.default_rng(1).random(X.shape) < 0.5] = 0.0  # sparse, still off-center
    n, p = X.shape
    sw = np.full(n, 1.0 / n) if uniform else np.random.default_rng(2).uniform(0.5, 2, n) / n
    store = as_column_store(np.asfortranarray(X) if storage == "dense" else sp.csc_matrix(X),
                            densify=False)
    units = np.arange(p, dtype=np.int64)
    xm, lcc = np.zeros(p), np.zeros(p)
    weighted_col_moments(*store.args, units, sw, xm, lcc)
    S = sw.sum()
    np.testing.assert_allclose(xm, sw @ X / S, rtol=1e-12)
    np.testing.assert_allclose(lcc, sw @ (X - xm) ** 2, rtol=1e-10)
    pen = {"L1": L1L2(0.05, 0.0), "L1L2": L1L2(0.05, 0.2), "MCP": MCP(0.05, 3.0)}[kind]
    spec = canonical_spec(pen.numba_spec())  # as the solvers pass it: one compile
    w = np.zeros(p)
    w[[0, 4]] = [0.8, -0.1]
    b = np.zeros(1)
    R = y - X @ w
    w_fast = w.copy()
    for _ in range(3):
        wls_cd(spec, *store.args, sw, uniform, R, w_fast, b, True, lcc, xm, units, 1, 0.0, 0,
               0.0)
    # reference: CD without intercept on the explicitly centered columns and target
    Xc, yc = X - xm, y - (sw @ y) / S
    w_ref = w.copy()
    for _ in range(3):
        for j in units:
            g = -Xc[:, j] @ (sw * (yc - Xc @ w_ref))
            z = w_ref[j] - g / lcc[j]
            w_ref[j] = float(pen.prox(np.array([z]), 1.0 / lcc[j])[0])
    np.testing.assert_allclose(w_fast, w_ref, rtol=1e-9, atol=1e-12)
    # the intercept is the optimal one for the coefficients, and R the true residual
    np.testing.assert_allclose(b[0], sw @ (y - X @ w_fast) / S, rtol=1e-10)
    np.testing.assert_allclose(R, y - X @ w_fast - b[0], atol=1e-9)


@pytest.mark.parametrize("make", [np.asfortranarray, sp.csc_matrix], ids=["dense", "sparse"])
def test_off_center_features_with_intercept_converge_fast_and_equal_sklearn(make):
    # before the centered steps this took about 50,000 epochs per working-set solve and
    # missed tol=1e-10 after 100 outer iterations (scikit-learn's check data, 53x2)
    from sklearn.linear_model import Lasso as SkLasso

    from sparsefit.datafits import Quadratic
    from sparsefit.solvers import solve

    X, y = _shifted()
    alpha = 0.01
    res = solve(make(X), y, Quadratic(), L1L2(alpha, 0.0), fit_intercept=True, tol=1e-10)
    assert res.converged and res.n_epochs < 2000, res.n_epochs
    sk = SkLasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.intercept, sk.intercept_, rtol=1e-6)


@pytest.mark.parametrize("tol", [1e-6, 1e-12])
@pytest.mark.parametrize("precompute", [True, "auto", False])
@pytest.mark.parametrize("shift", [1e5, 1e6])
def test_columns_far_from_zero_mean_under_every_precompute(shift, precompute, tol):
    # centering X.T X loses the digits of such columns: the covariance form stepped aside
    # for the intercept's alternating steps, which crawled (precompute=True stopped after
    # 100 outer iterations 1.98 away from the answer); below tol 1e-9 the optimality check
    # asked for violations below the rounding of gradients at mean 1e6 (100 iterations,
    # 17 s, for 500 x 10)
    from sklearn.linear_model import Lasso as SkLasso

    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 10))
    y = X @ np.arange(1, 11) / 5 + rng.standard_normal(500)
    ref = SkLasso(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = Lasso(alpha=0.1, precompute=precompute, tol=tol).fit(X + shift, y)
    assert ours.n_outer_iter_ <= 20, ours.n_outer_iter_  # max_iter counts these
    scale = 1e-5 if tol > 1e-9 else 1e-9
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=scale)
    np.testing.assert_allclose(ours.intercept_ + shift * ours.coef_.sum(), ref.intercept_,
                               atol=1e3 * scale)


@pytest.mark.parametrize("make", [np.asfortranarray, sp.csc_matrix], ids=["dense", "sparse"])
def test_columns_of_different_scales_are_not_certified_by_rounding(make):
    """The gap's rounding floor (tol <= 1e-9) is per column, ``sum_j max|X_j| |w_j|``:
    with ``max|X| ||w||_1`` a column scaled 1e7 beside columns scaled 1e-6 (coefficients
    1e-7 and 1e6) made the floor 2.5e-2, and GroupLasso reported converged_ at a gap of
    4.7e-2 with no warning after 10 iterations (found by a hostile review)."""
    from sparsefit.linear_model import GroupLasso
    from sparsefit.solvers._gap import _EPS
    from sparsefit.solvers._solve import column_abs_max

    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 20))
    Z[:, 2:8] = 0.3 * Z[:, 2:8] + 0.95 * Z[:, [1]]
    y = Z[:, 1] + Z[:, 2] - Z[:, 3] + 0.5 * Z[:, 5] + Z[:, 0] + 0.3 * rng.standard_normal(200)
    X = Z.copy()
    X[:, 0] *= 1e7
    X[:, 1:8] *= 1e-6
    Xm = make(X)
    np.testing.assert_array_equal(column_abs_max(as_column_store(Xm)), np.abs(X).max(axis=0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = GroupLasso(alpha=1e-10, groups=2, tol=1e-10, max_iter=10).fit(Xm, y)
    assert (not m.converged_ and any(issubclass(w.category, ConvergenceWarning)
                                     for w in caught)) or m.dual_gap_ <= 1e-8, m.dual_gap_
    assert m.dual_gap_ > 1e3 * _EPS  # (the case: far from the floor, not certified)


@pytest.mark.parametrize("make", [np.asfortranarray, sp.csc_matrix], ids=["dense", "sparse"])
@pytest.mark.parametrize("precompute", [True, False])
def test_spread_below_float64_digits_around_the_mean_is_refused(make, precompute):
    # mean 1e8 and unit spread: coordinate descent with an intercept diverged (a
    # LinAlgError traceback from the extrapolation); now one line naming the column
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    X[:, 2] += 1e8
    y = X[:, 0] + rng.standard_normal(200)
    est = Lasso(alpha=0.01, precompute=precompute if make is np.asfortranarray else False)
    with pytest.raises(ValueError, match="X column 2 has mean 1e\\+08.*center X first"):
        est.fit(make(X), y)
    assert np.isfinite(Lasso(alpha=0.01, fit_intercept=False).fit(make(X), y).coef_).all()


@pytest.mark.parametrize("name", ["Lasso", "GroupLasso", "SparseGroupLasso", "MultiTaskLasso",
                                  "MultiTaskElasticNet"])
def test_a_column_whose_spread_float64_cannot_center_is_refused_by_every_solver(name):
    # mean 5, spread 1e-8: the single-task solver refused it; the group and multi-task
    # solvers ran their max_iter instead (over 40 s and 300 s at tol=1e-10, max_iter 1e5)
    from sparsefit import linear_model

    rng = np.random.default_rng(0)
    Z = rng.standard_normal((60, 8))
    X = 5.0 + 1e-8 * Z
    y = Z[:, 0] - 2 * Z[:, 1] + 0.1 * rng.standard_normal(60)
    y = np.c_[y, -y] if name.startswith("MultiTask") else y
    kw = {"groups": 2} if "Group" in name else {}
    est = getattr(linear_model, name)(alpha=1e-9, tol=1e-10, max_iter=200, **kw)
    with pytest.raises(ValueError, match=r"X column \d has mean 5 and spread [0-9.e-]+: "
                       r"float64 keeps too few digits .* center X first"):
        est.fit(X, y)
    est.set_params(fit_intercept=False).fit(X - X.mean(axis=0), y)  # the advice works
    assert np.isfinite(est.coef_).all()


def test_off_center_features_lasso_cv_path_equals_sklearn():
    # the dense path solves in covariance form, on the centered Gram matrix
    from sklearn.linear_model import LassoCV as SkLassoCV
    from sklearn.model_selection import KFold

    from sparsefit.linear_model import LassoCV

    X, y = _shifted(n=80, p=10)
    ours = LassoCV(alphas=10, cv=KFold(3), tol=1e-10).fit(X, y)
    sk = SkLassoCV(alphas=10, cv=KFold(3), tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(np.ravel(ours.alphas_), sk.alphas_, rtol=1e-10)
    np.testing.assert_allclose(np.reshape(ours.mse_path_, sk.mse_path_.shape), sk.mse_path_,
                               rtol=1e-6)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-6, atol=1e-8)


def test_off_center_features_logistic_with_intercept_equals_sklearn():
    from sklearn.linear_model import LogisticRegression

    from sparsefit.linear_model import SparseLogisticRegression

    X, y = _shifted(n=120, p=6)
    labels = (y > np.median(y)).astype(int)
    alpha = 0.01
    ours = SparseLogisticRegression(alpha=alpha, tol=1e-10).fit(X, labels)
    sk = LogisticRegression(C=1 / (alpha * len(y)), l1_ratio=1.0, solver="saga", tol=1e-12,
                            max_iter=1_000_000).fit(X - X.mean(0), labels)
    assert ours.converged_
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("tol", [1e-10, 1e-12])
def test_tiny_tol_also_bounds_the_largest_violation(l2, tol):
    # below 1e-9 the gap alone (whose square root bounds the coefficients' error) is not
    # enough: the solver also brings the largest violation under sqrt(tol) * alpha
    from sklearn.datasets import make_regression

    from sparsefit.datafits import Quadratic
    from sparsefit.solvers import solve

    X, y = make_regression(n_samples=200, n_features=50, n_informative=10, noise=0.5,
                           random_state=0)
    alpha = 0.5
    res = solve(X, y, Quadratic(), L1L2(alpha, l2), fit_intercept=True, tol=tol)
    assert res.converged and res.dual_gap <= tol
    assert res.kkt_max <= np.sqrt(tol) * alpha


@pytest.mark.parametrize("datafit, penalty", [
    (d, pen) for d in ["Quadratic", "Logistic"]
    for pen in ["L1", "L1L2", "MCP", "GroupL1", "SparseGroupL1"]
    # MCP with Logistic: proximal Newton stalls at a violation near 1e-5 with or without
    # the shift (a known limitation, see the closing note of the session that added this)
    if (d, pen) != ("Logistic", "MCP")])
def test_shifting_the_features_only_moves_the_intercept(datafit, penalty):
    # with an intercept, X + c fits the same coefficients as X (the intercept absorbs
    # -c.w): the shifted problem, nearly collinear with the intercept, must converge to them
    # in about as many epochs as the unshifted one
    from sparsefit.datafits import Logistic, Quadratic
    from sparsefit.penalties import MCP, GroupL1, SparseGroupL1
    from sparsefit.solvers import solve

    rng = np.random.default_rng(5)
    n, p = 120, 12
    X = rng.standard_normal((n, p))
    z = X[:, :4] @ np.array([1.0, -1.5, 0.8, 0.5]) + 0.3 * rng.standard_normal(n)
    y = np.where(z > 0, 1.0, -1.0) if datafit == "Logistic" else z
    df = Logistic() if datafit == "Logistic" else Quadratic()
    a = 0.02
    pen = {"L1": L1L2(a, 0.0), "L1L2": L1L2(a, 0.05), "MCP": MCP(a, 3.0),
           "GroupL1": GroupL1(a, [3] * 4), "SparseGroupL1": SparseGroupL1(a, 0.5, [3] * 4)}
    shift = 50.0 + 10.0 * rng.random(p)
    ref = solve(X, y, df, pen[penalty], fit_intercept=True, tol=1e-10)
    res = solve(X + shift, y, df, pen[penalty], fit_intercept=True, tol=1e-10)
    assert ref.converged and res.converged
    # the relative gap 1e-10 bounds the coefficients through its square root (proximal
    # Newton has no extra violation rule, so Logistic gets the looser tolerance)
    rtol = 1e-4 if datafit == "Logistic" else 1e-5
    np.testing.assert_allclose(res.coef, ref.coef, rtol=rtol, atol=1e-2 * rtol)
    np.testing.assert_allclose(res.intercept, ref.intercept - shift @ ref.coef, rtol=rtol,
                               atol=1e-1 * rtol)
    assert res.n_epochs <= 3 * ref.n_epochs + 50, (res.n_epochs, ref.n_epochs)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_covariance_form_solve_keeps_the_residual_consistent(fit_intercept):
    # the covariance-form working-set solve from a non-optimal intercept (sum of weighted
    # residuals != 0): afterwards R must still be y - X w - b exactly
    from sparsefit.solvers._common import describe
    from sparsefit.solvers.cd import GramCache, QuadraticCD

    X, y = _shifted(n=50, p=6, shift=5.0)
    sw = np.full(50, 1 / 50)
    store = as_column_store(np.asfortranarray(X))
    info = describe(L1L2(0.05, 0.0), 6)
    state = QuadraticCD(store, y, sw, True, info, np.zeros(6), 1.0, 1.0,
                        fit_intercept=fit_intercept, tol=1e-6, p0=10, ws_hint=None,
                        max_epochs=10_000, anderson=5, inner_tol_ratio=0.3,
                        gram=GramCache(store, sw))
    state.gap_tol_in = 0.0
    state._gram_inner(np.arange(6, dtype=np.int64), 1e-10)
    w, b = state.w, state.b_arr
    np.testing.assert_allclose(state.R, y - X @ w - b[0], atol=1e-10)
    assert np.count_nonzero(w) > 0 and (b[0] != 1.0) == fit_intercept


@pytest.mark.parametrize("make", [np.asfortranarray, sp.csc_matrix], ids=["dense", "sparse"])
@pytest.mark.parametrize("datafit", ["Quadratic", "Logistic"])
def test_constant_columns_stay_at_zero_with_an_intercept(make, datafit):
    # centered, a constant column has curvature 0 up to the rounding of its mean: it must
    # be skipped, not stepped by gradient-rounding / curvature-rounding (the fuzz test once
    # found coefficients of 1e46 cancelling against the intercept, on this 2x5 problem)
    from sparsefit.datafits import Logistic, Quadratic
    from sparsefit.solvers import solve

    X = np.array([[7.0, 0.0, 7.0, 7.0, 7.0], [7.0, 7.0, 7.0, 7.0, 7.0]])
    y = np.array([-1.0, 1.0]) if datafit == "Logistic" else np.array([0.3, 1.9])
    df = Logistic() if datafit == "Logistic" else Quadratic()
    res = solve(make(X), y, df, L1L2(0.0, 0.0), fit_intercept=True, max_iter=5, tol=1e-6)
    assert np.all(res.coef[[0, 2, 3, 4]] == 0.0)
    assert np.all(np.isfinite(res.coef)) and abs(res.intercept) < 100


def test_anderson_extrapolation_of_huge_iterates_does_not_overflow():
    # iterates of 1e200 made U U' overflow and np.linalg.solve raise a LinAlgError (a
    # traceback from MultiTaskLasso on columns of mean 1e4 and spread 1e-4, found by a
    # fuzzing review); the differences are rescaled first, which leaves the weights as
    # they are
    from sparsefit.solvers._anderson import anderson_point

    last = np.array([[0.0, 1.0], [1e200, -1e200], [-1e200, 1e200], [1e200, 0.0]])
    out = np.empty(2)
    assert anderson_point(last, out) and np.all(np.isfinite(out))
    small = last / 1e200
    out_small = np.empty(2)
    assert anderson_point(small, out_small)
    np.testing.assert_allclose(out, out_small * 1e200, rtol=1e-12)
