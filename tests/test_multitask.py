"""MultiTaskLasso / MultiTaskElasticNet (and their CV versions, and the 2-D paths) against
scikit-learn's classes of the same names, which they replace: same objective, parameters,
attributes and shapes. References are scikit-learn's solutions at tight tolerances, an
explicit least-squares / ridge solve, and the objective written out here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn import linear_model as sk
from sklearn.model_selection import GroupKFold

from sparsefit.linear_model import (
    MultiTaskElasticNet,
    MultiTaskElasticNetCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    enet_path,
    lasso_path,
)
from sparsefit.linear_model._multitask import multitask_path

RNG = np.random.default_rng(0)
N, P, T = 60, 25, 3
X = RNG.standard_normal((N, P))
W_TRUE = np.zeros((P, T))
W_TRUE[:5] = RNG.standard_normal((5, T))
Y = X @ W_TRUE + 0.3 * RNG.standard_normal((N, T)) + [1.0, -2.0, 0.5]
SW = RNG.uniform(0.2, 3.0, N)


def objective(X, Y, coef, intercept, alpha, l1_ratio, sw=None):
    """scikit-learn's multi-task objective, written out (``coef`` of shape (T, p));
    with weights, the squared errors weighted by ``sw / sum(sw)``."""
    R = Y - X @ coef.T - intercept
    s = np.full(len(Y), 1.0 / len(Y)) if sw is None else sw / sw.sum()
    return (0.5 * float(np.sum(s[:, None] * R * R))
            + alpha * l1_ratio * float(np.sum(np.sqrt(np.sum(coef ** 2, axis=0))))
            + 0.5 * alpha * (1 - l1_ratio) * float(np.sum(coef ** 2)))


def _sk_ref(alpha, l1_ratio, X, Y, sw=None, fit_intercept=True):
    ref = sk.MultiTaskElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=200_000,
                                 fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref.fit(X, Y, sample_weight=sw)


# (name, alpha, l1_ratio, input transform, sample weights, fit_intercept)
CASES = [
    ("lasso", 0.1, 1.0, None, None, True),
    ("enet", 0.05, 0.5, None, None, True),
    ("ridge-heavy", 0.3, 0.1, None, None, True),
    ("no-intercept", 0.1, 0.7, None, None, False),
    ("weights", 0.08, 0.6, None, SW, True),
    ("csc", 0.1, 0.8, sp.csc_matrix, None, True),
    ("csr-weights", 0.1, 0.8, sp.csr_matrix, SW, True),
    ("float32", 0.1, 0.9, lambda a: a.astype(np.float32), None, True),
    ("near-zero-alpha", 1e-3, 1.0, None, None, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_coefficients_match_scikit_learn(case):
    _, alpha, r, transform, sw, fi = case
    Xi = X if transform is None else transform(X)
    est = (MultiTaskLasso(alpha=alpha, tol=1e-12, fit_intercept=fi) if r == 1.0 else
           MultiTaskElasticNet(alpha=alpha, l1_ratio=r, tol=1e-12, fit_intercept=fi))
    est.fit(Xi, Y, sample_weight=sw)
    # scikit-learn refuses sparse X with weights in its own pre-fit centering: the
    # reference is always the dense float64 fit
    ref = _sk_ref(alpha, r, X, Y, sw, fi)
    dtype = np.float32 if transform is not None and "float32" in case[0] else np.float64
    assert est.coef_.shape == (T, P) and est.coef_.dtype == dtype
    assert np.shape(est.intercept_) == ((T,) if fi else ())
    scale = np.abs(ref.coef_).max()
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=rtol * scale)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=rtol * (1 + scale))
    # the certificate: our relative gap is at most tol, and our objective is no worse
    # than scikit-learn's (up to float32 rounding of the stored coefficients)
    assert est.dual_gap_ <= 1e-12 and est.converged_
    ours = objective(X, Y, est.coef_.astype(float), est.intercept_, alpha, r, sw)
    theirs = objective(X, Y, ref.coef_, ref.intercept_, alpha, r, sw)
    assert ours <= theirs * (1 + (1e-6 if dtype == np.float32 else 1e-12))
    # a row is zero for every task or for none
    nz = est.coef_ != 0
    assert np.all(nz.all(axis=0) | ~nz.any(axis=0))


def test_integer_weights_are_repeated_rows():
    w = RNG.integers(0, 4, N)
    a = MultiTaskElasticNet(alpha=0.05, l1_ratio=0.6, tol=1e-12).fit(X, Y, sample_weight=w)
    keep = np.repeat(np.arange(N), w)
    b = MultiTaskElasticNet(alpha=0.05, l1_ratio=0.6, tol=1e-12).fit(X[keep], Y[keep])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-7)


def test_alpha_max_gives_zero_and_just_below_does_not():
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    amax = np.sqrt(((Xc.T @ Yc) ** 2).sum(axis=1)).max() / N
    assert np.all(MultiTaskLasso(alpha=amax * 1.0001).fit(X, Y).coef_ == 0)
    assert np.any(MultiTaskLasso(alpha=amax * 0.99, tol=1e-12).fit(X, Y).coef_ != 0)


def test_l1_ratio_zero_is_ridge():
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    ridge = np.linalg.solve(Xc.T @ Xc / N + 0.2 * np.eye(P), Xc.T @ Yc / N)
    est = MultiTaskElasticNet(alpha=0.2, l1_ratio=0.0, tol=1e-12).fit(X, Y)
    np.testing.assert_allclose(est.coef_, ridge.T, atol=1e-8)


def test_one_row_and_constant_columns():
    Xk = X.copy()
    Xk[:, 3] = 2.5  # constant: duplicates the intercept, so its row is exactly zero
    est = MultiTaskLasso(alpha=0.05, tol=1e-12).fit(Xk, Y)
    ref = _sk_ref(0.05, 1.0, Xk, Y)
    assert np.all(est.coef_[:, 3] == 0)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())
    one = MultiTaskLasso(alpha=0.1).fit(X[:1], Y[:1])  # one sample: intercept = Y
    assert np.all(one.coef_ == 0)
    np.testing.assert_allclose(one.intercept_, Y[0])


def test_selection_random_reaches_the_same_solution():
    a = MultiTaskElasticNet(alpha=0.05, tol=1e-12, selection="cyclic").fit(X, Y)
    b = MultiTaskElasticNet(alpha=0.05, tol=1e-12, selection="random",
                            random_state=3).fit(X, Y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)


def test_warm_start_continues_from_coef():
    est = MultiTaskLasso(alpha=0.1, warm_start=True, tol=1e-12)
    est.fit(X, Y)
    first, cold_epochs = est.coef_.copy(), est.n_iter_
    est.fit(X, Y)
    np.testing.assert_allclose(est.coef_, first, atol=1e-9)
    # started at the solution: at most 2 working sets (max_iter's unit), and fewer epochs
    # (n_iter_) than the cold fit
    assert est.n_outer_iter_ <= 2 and est.n_iter_ < cold_epochs


def test_inputs_are_not_modified_and_read_only_is_fine():
    Xr, Yr = np.asfortranarray(X.copy()), Y.copy()
    Xr.flags.writeable = False
    Yr.flags.writeable = False
    MultiTaskElasticNet(alpha=0.1).fit(Xr, Yr, sample_weight=SW)
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(Yr, Y)


@pytest.mark.parametrize("est, msg", [
    (MultiTaskLasso(), "For mono-task outputs, use Lasso"),
    (MultiTaskElasticNet(), "For mono-task outputs, use ElasticNet"),
    (MultiTaskLassoCV(), "For mono-task outputs, use LassoCV"),
    (MultiTaskElasticNetCV(), "For mono-task outputs, use ElasticNetCV"),
])
def test_one_dimensional_y_is_refused_naming_the_estimator(est, msg):
    with pytest.raises(ValueError, match=msg):
        est.fit(X, Y[:, 0])


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(ValueError, match="alpha"):
        MultiTaskLasso(alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="l1_ratio"):
        MultiTaskElasticNet(l1_ratio=1.5).fit(X, Y)
    with pytest.raises(ValueError, match="sample_weight"):
        MultiTaskLasso().fit(X, Y, sample_weight=-SW)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MultiTaskLasso().fit(Xn, Y)
    with pytest.raises(ValueError, match="alphas"):
        MultiTaskLassoCV(alphas=[0.1, -1.0]).fit(X, Y)
    with pytest.raises(ValueError, match="l1_ratio=0"):
        MultiTaskElasticNetCV(l1_ratio=0.0).fit(X, Y)
    with pytest.raises(ValueError, match="coef_init"):
        multitask_path(X, Y, w_init=np.zeros((P, T)), n_alphas=3)


def test_max_iter_reached_warns_as_scikit_learn():
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="Objective did not converge"):
        MultiTaskElasticNet(alpha=0.001, tol=1e-14, max_iter=1).fit(X, Y)


# -- cross-validation -----------------------------------------------------------------------
CV_CASES = [
    # (class, kwargs, mse_path_ shape, alphas_ shape)
    (MultiTaskLassoCV, dict(alphas=6), (6, 3), (6,)),
    (MultiTaskElasticNetCV, dict(alphas=6, l1_ratio=0.7), (6, 3), (6,)),
    (MultiTaskElasticNetCV, dict(alphas=6, l1_ratio=[0.3, 0.9]), (2, 6, 3), (2, 6)),
    (MultiTaskElasticNetCV, dict(alphas=[0.3, 0.1, 0.03, 0.01], l1_ratio=[0.3, 0.9]),
     (2, 4, 3), (4,)),
]


@pytest.mark.parametrize("cls, kw, mse_shape, alphas_shape", CV_CASES)
def test_cv_matches_scikit_learn(cls, kw, mse_shape, alphas_shape):
    ours = cls(cv=3, tol=1e-12, **kw).fit(X, Y)
    ref = getattr(sk, cls.__name__)(cv=3, tol=1e-14, max_iter=200_000, **kw).fit(X, Y)
    assert ours.mse_path_.shape == ref.mse_path_.shape == mse_shape
    assert ours.alphas_.shape == ref.alphas_.shape == alphas_shape
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    if "l1_ratio" in kw:
        assert ours.l1_ratio_ == ref.l1_ratio_
    else:
        assert not hasattr(ours, "l1_ratio_")
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())
    assert ours.coef_.shape == (T, P) and ours.intercept_.shape == (T,)


def test_cv_with_sample_weight_matches_scikit_learn():
    ours = MultiTaskElasticNetCV(cv=3, alphas=5, tol=1e-12).fit(X, Y, sample_weight=SW)
    ref = sk.MultiTaskElasticNetCV(cv=3, alphas=5, tol=1e-14, max_iter=200_000).fit(
        X, Y, sample_weight=SW)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * np.abs(ref.coef_).max())


def test_grouped_cv_through_metadata_routing():
    groups = np.arange(N) % 4
    with sklearn.config_context(enable_metadata_routing=True):
        ours = MultiTaskLassoCV(cv=GroupKFold(4), alphas=5, tol=1e-12).fit(X, Y, groups=groups)
        ref = sk.MultiTaskLassoCV(cv=GroupKFold(4), alphas=5, tol=1e-14,
                                  max_iter=200_000).fit(X, Y, groups=groups)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    with pytest.raises(ValueError, match="groups"):  # refused without routing
        MultiTaskLassoCV(cv=GroupKFold(4), alphas=5).fit(X, Y, groups=groups)


def test_n_alphas_is_deprecated_and_alpha_rule_1se_is_sparser():
    with pytest.warns(FutureWarning, match="n_alphas"):
        est = MultiTaskLassoCV(n_alphas=4, cv=3).fit(X, Y)
    assert est.alphas_.shape == (4,)
    one = MultiTaskLassoCV(alphas=10, cv=3, alpha_rule="1se").fit(X, Y)
    assert one.alpha_ == one.alpha_1se_ >= one.alpha_min_


def test_constant_targets_give_scikit_learn_grid():
    Yc = np.tile([5.0, 10.0], (N, 1))
    est = MultiTaskLassoCV(alphas=3, cv=3).fit(X, Yc)
    np.testing.assert_array_equal(est.alphas_, [np.finfo(float).resolution] * 3)
    np.testing.assert_array_equal(est.predict(X), Yc)


# -- paths ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, kw", [(enet_path, dict(l1_ratio=0.6)), (lasso_path, {})])
@pytest.mark.parametrize("sparse", [False, True])
def test_two_dimensional_paths_match_scikit_learn(fn, kw, sparse):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xi = sp.csc_matrix(Xc) if sparse else Xc
    alphas, coefs, gaps = fn(Xi, Yc, alphas=7, tol=1e-12, **kw)
    ra, rc, _ = getattr(sk, fn.__name__)(Xc, Yc, alphas=7, tol=1e-14, max_iter=200_000, **kw)
    assert coefs.shape == rc.shape == (T, P, 7)
    np.testing.assert_allclose(alphas, ra, rtol=1e-12)
    np.testing.assert_allclose(coefs, rc, atol=1e-6 * np.abs(rc).max())
    assert np.all(gaps <= 1e-12)
    # a precomputed X.T @ Y gives the same grid (its largest row norm)
    a2, _, _ = fn(Xi, Yc, alphas=7, Xy=Xc.T @ Yc, **kw)
    np.testing.assert_allclose(a2, ra, rtol=1e-12)


def test_multitask_path_coef_init_and_shapes():
    path = multitask_path(X, Y, l1_ratio=0.8, alphas=[0.2, 0.05], fit_intercept=True,
                          w_init=np.zeros((T, P)), tol=1e-12)
    assert path.coefs.shape == (2, T, P) and path.intercepts.shape == (2, T)
    est = MultiTaskElasticNet(alpha=0.05, l1_ratio=0.8, tol=1e-12).fit(X, Y)
    np.testing.assert_allclose(path.coefs[-1], est.coef_, atol=1e-8)


@pytest.mark.parametrize("cls, fn", [(MultiTaskElasticNet, enet_path), (MultiTaskLasso, enet_path),
                                     (MultiTaskElasticNetCV, enet_path),
                                     (MultiTaskLassoCV, lasso_path)])
def test_path_staticmethods_are_scikit_learns(cls, fn):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    a, c, _ = cls.path(Xc, Yc, alphas=[0.3, 0.1])
    a2, c2, _ = fn(Xc, Yc, alphas=[0.3, 0.1])
    np.testing.assert_array_equal(c, c2)
    assert c.shape == (T, P, 2)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_row_problem_from_moments_equals_rows(l1_ratio, fit_intercept):
    # the covariance form (dask input's route) against the solver on the rows: the same
    # coefficients, intercepts, null objective and certified gap; a constant column
    from sparsefit.datafits import MultiTaskQuadratic
    from sparsefit.linear_model._multitask import RowPenalty
    from sparsefit.solvers import solve
    from sparsefit.solvers.moments import Moments

    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 7)) * rng.uniform(0.5, 2, 7) + rng.uniform(-3, 3, 7)
    X[:, 6] = 1.5
    Y = X[:, :3] @ rng.standard_normal((3, 3)) + rng.standard_normal((90, 3)) + 2.0
    sw = rng.uniform(0, 2, 90)
    pen = RowPenalty(l1_ratio, 7, 3)(0.3)
    a = solve(X, Y, MultiTaskQuadratic(3), pen, fit_intercept=fit_intercept,
              sample_weight=sw, tol=1e-12, max_iter=500)
    b = solve(Moments.from_arrays(X, Y, sw), None, MultiTaskQuadratic(3), pen,
              fit_intercept=fit_intercept, tol=1e-12, max_iter=500)
    assert b.converged and b.coef.shape == (7, 3) and b.intercept.shape == (3,)
    assert np.allclose(a.coef, b.coef, rtol=0, atol=1e-9 * np.abs(a.coef).max())
    assert np.allclose(a.intercept, b.intercept, rtol=0, atol=1e-8)
    assert b.null_primal == pytest.approx(a.null_primal, rel=1e-12)
    assert 0 <= b.dual_gap <= 1e-12
    with pytest.raises(ValueError, match="2-D y of 2 columns"):
        solve(Moments.from_arrays(X, Y, sw), None, MultiTaskQuadratic(2), pen)
