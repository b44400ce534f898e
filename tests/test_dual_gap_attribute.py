"""``dual_gap_`` means what scikit-learn's means: the duality gap ``P - D`` of the objective
at return, equal to the public :func:`sparsefit.solvers.dual_gap` with ``relative=False``
on every route (dense, sparse, sample weights, the moments of dask input), and the exact
suboptimality when nothing is penalized."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsefit.datafits import Quadratic
from sparsefit.linear_model import ElasticNet, Lasso, MultiTaskLasso
from sparsefit.penalties import L1, L1L2
from sparsefit.solvers import dual_gap

RNG = np.random.default_rng(3)
X = RNG.standard_normal((60, 25))
X[:, 3] += 4.0  # a column far from zero mean
Y = X[:, :4] @ [1.0, -2.0, 0.5, 0.3] + 0.3 * RNG.standard_normal(60) + 2.0
SW = RNG.uniform(0.2, 3.0, 60)

CASES = {
    "lasso": (lambda: Lasso(alpha=0.05, tol=1e-6), lambda: L1(0.05)),
    "lasso-no-intercept": (lambda: Lasso(alpha=0.05, tol=1e-6, fit_intercept=False),
                           lambda: L1(0.05)),
    "enet": (lambda: ElasticNet(alpha=0.08, l1_ratio=0.3, tol=1e-6),
             lambda: L1L2(0.08 * 0.3, 0.5 * 0.08 * 0.7)),
}


def _p0(y, sw, fit_intercept):
    w = sw / sw.sum()
    yc = y - w @ y if fit_intercept else y
    return 0.5 * float(w @ yc ** 2)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("storage", ["dense", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dual_gap_is_the_absolute_gap_of_the_objective(name, storage, weighted):
    make, pen = CASES[name]
    Xs = X if storage == "dense" else sp.csc_matrix(X)
    sw = SW if weighted else np.ones(len(Y))
    est = make().fit(Xs, Y, sample_weight=sw if weighted else None)
    ref = dual_gap(Xs, Y, est.coef_, est.intercept_, Quadratic(), pen(), sample_weight=sw,
                   fit_intercept=est.fit_intercept, relative=False)
    assert est.converged_ and 0.0 <= est.dual_gap_
    # (the exact step on the support ends at the optimum: the gap is then float64's
    # rounding of P and D, 1e-16 of the objective, which two evaluations do not share)
    np.testing.assert_allclose(est.dual_gap_, ref, rtol=1e-5,
                               atol=1e-14 * _p0(Y, sw, est.fit_intercept))
    # the stopping rule bounds it by tol * P(0)
    assert est.dual_gap_ <= est.tol * _p0(Y, sw, est.fit_intercept) * (1 + 1e-9)


def test_unpenalized_fit_reports_its_exact_suboptimality():
    """alpha=0: the gap at the optimal dual point (the optimal residual), against lstsq."""
    A = np.column_stack([X, np.ones(len(Y))])
    best = np.linalg.lstsq(A, Y, rcond=None)[0]
    opt = 0.5 * np.mean((Y - A @ best) ** 2)
    for max_iter in (1, 100):  # stopped early, and converged
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Lasso(alpha=0.0, max_iter=max_iter).fit(X, Y)
        sub = 0.5 * np.mean((Y - X @ est.coef_ - est.intercept_) ** 2) - opt
        assert est.dual_gap_ == pytest.approx(sub, rel=1e-6, abs=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = MultiTaskLasso(alpha=0.0, tol=1e-10).fit(X, np.column_stack([Y, -Y]))
    assert 0.0 <= mt.dual_gap_ <= 1e-12


def test_dual_gap_from_dask_moments_is_the_same_quantity():
    da = pytest.importorskip("dask.array")
    est = Lasso(alpha=0.05, tol=1e-6)
    got = est.fit(da.from_array(X, chunks=(20, 25)), da.from_array(Y, chunks=20))
    ref = dual_gap(X, Y, got.coef_, got.intercept_, Quadratic(), L1(0.05),
                   fit_intercept=True, relative=False)
    assert 0.0 <= got.dual_gap_ <= est.tol * _p0(Y, np.ones(len(Y)), True)
    # the moments' dual point is the same rescaled residual, up to the rounding of X^T X
    np.testing.assert_allclose(got.dual_gap_, ref, rtol=1e-3, atol=1e-13)


# n_iter_ means scikit-learn's too: coordinate-descent epochs (passes over the coefficients
# of the working set), summed over the working sets; max_iter bounds the working sets,
# reported in n_outer_iter_.

def _count_epochs(monkeypatch):
    """Wrap the inner coordinate-descent kernels (single- and multi-task) so that the
    epochs each solve returns are recorded: the independent count ``n_iter_`` must equal."""
    import sparsefit.solvers.cd as cd
    import sparsefit.solvers.multitask as mt

    class Seen(list):
        pass

    seen = Seen()

    def counting(kernel):
        def counted(*args):
            out = kernel(*args)
            seen.append(int(out[0]))
            return out
        return counted

    for module, name in ((cd, "wls_cd"), (cd, "gram_cd"), (mt, "multitask_cd")):
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    seen.exact = []  # the exact steps on a support (solvers._exact): their linear solves
    import sparsefit.solvers._exact as ex

    solves = []
    real_direction = ex.exact_direction

    def counted_direction(*args):
        solves.append(1)
        return real_direction(*args)

    monkeypatch.setattr(ex, "exact_direction", counted_direction)

    def exact_counting(method, taken, per_step):
        def counted(self, *args, **kwargs):
            solves.clear()
            out = method(self, *args, **kwargs)
            if taken(out):  # one epoch per linear solve (one per multi-task step)
                seen.exact.append(len(solves) if per_step is None else per_step)
            return out
        return counted
    monkeypatch.setattr(cd.QuadraticCD, "_exact_move", exact_counting(
        cd.QuadraticCD._exact_move, lambda out: out is not None, None))
    monkeypatch.setattr(mt.MultiTaskCD, "polish", exact_counting(
        mt.MultiTaskCD.polish, bool, 1))
    return seen


N_ITER_CASES = {
    **{name: (make, False) for name, (make, _) in CASES.items()},
    "lasso-precompute": (lambda: Lasso(alpha=0.05, tol=1e-6, precompute=True), False),
    "lasso-2-targets": (lambda: Lasso(alpha=0.05, tol=1e-6), True),
    "multitask": (lambda: MultiTaskLasso(alpha=0.05, tol=1e-6), True),
}


@pytest.mark.parametrize("name", N_ITER_CASES)
@pytest.mark.parametrize("storage", ["dense", "csc"])
def test_n_iter_counts_the_coordinate_descent_epochs(name, storage, monkeypatch):
    make, two_d = N_ITER_CASES[name]
    Xs = X if storage == "dense" else sp.csc_matrix(X)
    y = np.column_stack([Y, -Y]) if two_d else Y
    seen = _count_epochs(monkeypatch)
    est = make().fit(Xs, y)
    assert est.converged_ is True or np.all(est.converged_)
    assert np.sum(est.n_iter_) == sum(seen) + sum(seen.exact) > 0
    outer = np.ravel(est.n_outer_iter_)
    # every working-set solve runs one epoch at least; max_iter bounds the working sets
    assert np.all(np.ravel(est.n_iter_) >= outer) and np.all(outer <= est.max_iter)
    # a working-set iteration is a coordinate-descent solve or an exact step; the exact
    # step at convergence (then checked again) is not one
    assert len(seen) <= outer.sum() <= len(seen) + len(seen.exact)
    # the epochs are what n_iter_ holds, well above the working-set iterations here
    assert np.sum(est.n_iter_) > outer.sum()


def test_n_iter_exceeds_max_iter_which_bounds_the_working_sets():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=1: not converged, as asked
        est = Lasso(alpha=0.01, tol=1e-12, max_iter=1).fit(X, Y)
    assert est.n_outer_iter_ == 1 and not est.converged_
    assert est.n_iter_ > est.max_iter


def test_n_iter_is_zero_from_a_solution_and_path_counts_epochs(monkeypatch):
    est = ElasticNet(alpha=0.08, l1_ratio=0.3, tol=1e-6).fit(X, Y)
    est.set_params(warm_start=True).fit(X, Y)
    assert est.n_iter_ == 0 and est.n_outer_iter_ == 0  # scikit-learn's: 0 as well
    from sparsefit.linear_model import lasso_path

    seen = _count_epochs(monkeypatch)
    *_, n_iters = lasso_path(X, Y - Y.mean(), alphas=4, return_n_iter=True, tol=1e-6)
    assert sum(n_iters) == sum(seen) + sum(seen.exact) and max(n_iters) > 2
