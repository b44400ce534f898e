"""LassoCV / ElasticNetCV on wide dask input (more features than the covariance route
takes): one working set for every fold's path, certified by KKT passes over every
feature; the same folds (HashKFold), paths, selection and refit as in memory.

The feature limit is lowered through dask.config so the route runs at small scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")
import dask.array as da  # noqa: E402

from sparsefit.linear_model import (  # noqa: E402
    ElasticNet,
    ElasticNetCV,
    HashKFold,
    Lasso,
    LassoCV,
    MultiTaskLasso,
    RelaxedLassoCV,
)
from tests.test_distributed import (  # noqa: E402  (the same chunks, data and checks)
    CHUNKS,
    RTOL,
    N,
    _close,
    _wide_data,
)
from tests.test_distributed import WIDE_P as P  # noqa: E402
from tests.wide_routes import (
    chunk_reads,
    counted_chunks,
    record_gathers,
    route_fixtures,
)  # noqa: E402

LIMIT = 16


def _data(sparse=False, seed=0):
    return _wide_data(sparse, seed)


def _dask(*arrays):  # (None passes through)
    return [None if a is None else da.from_array(a, chunks=(CHUNKS,) + a.shape[1:])
            for a in arrays]


# route: both routes of a round, the statistics on the workers (moments) or the rows
route, _route = route_fixtures("moments")


def _widths(monkeypatch):
    """The columns of every moments pass of the wide routes (never all of X)."""
    import sparsefit.distributed._wide as wide
    import sparsefit.distributed._wide_cv as wide_cv

    widths = []
    for mod in (wide, wide_cv):
        real = mod.moments_pass
        monkeypatch.setattr(mod, "moments_pass", lambda data, real=real, **kw: widths.append(
            kw["cols"].size) or real(data, **kw))
    return widths


CV = HashKFold(3, seed=1)
# name: (estimator, fit options)
CASES = {
    "lasso": (LassoCV(cv=CV, alphas=10, eps=0.05), {}),
    "lasso, sample_weight": (LassoCV(cv=CV, alphas=10, eps=0.05), {"weights": True}),
    "lasso, sparse chunks, sample_weight": (LassoCV(cv=HashKFold(4, seed=3), alphas=8,
                                                    eps=0.1),
                                            {"sparse": True, "weights": True}),
    "lasso, groups": (LassoCV(cv=HashKFold(3, seed=5), alphas=8, eps=0.05),
                      {"groups": True}),
    "lasso, no intercept": (LassoCV(cv=CV, alphas=8, eps=0.1, fit_intercept=False), {}),
    "lasso, given alphas, 1se": (LassoCV(cv=CV, alphas=[0.5, 0.2, 0.1, 0.3],
                                         alpha_rule="1se"), {}),
    "lasso, positive": (LassoCV(cv=CV, alphas=8, eps=0.2, positive=True), {}),
    "lasso, penalty_factor with a free feature": (
        LassoCV(cv=CV, alphas=8, eps=0.1, penalty_factor=np.r_[
            0.0, np.linspace(0.5, 2.0, P - 1)]), {"weights": True}),
    "elastic net": (ElasticNetCV(l1_ratio=0.7, cv=CV, alphas=8, eps=0.1), {}),
    "elastic net, a list of l1_ratio, sample_weight": (
        ElasticNetCV(l1_ratio=[0.6, 0.9, 1.0], cv=HashKFold(4, seed=7), alphas=6, eps=0.1),
        {"weights": True}),
    # the path on all the rows cuts the grid; eps=1e-3 would need every feature, the cap
    # keeps the supports small
    "lasso, dfmax": (LassoCV(cv=CV, alphas=12, eps=1e-3, dfmax=6), {"weights": True}),
    "elastic net, pmax, no intercept": (
        ElasticNetCV(l1_ratio=0.8, cv=CV, alphas=10, eps=1e-3, pmax=7, fit_intercept=False),
        {}),
    "elastic net, bounds, sparse chunks": (
        ElasticNetCV(l1_ratio=0.8, cv=CV, alphas=6, eps=0.1, bounds=(-1.0, 1.2)),
        {"sparse": True}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_wide_cv_equals_in_memory(client, monkeypatch, name, route):
    """The in-memory estimator's grid, mse_path_, selection and refit, with no moments
    pass wider than the limit; on the rows route, the paths from gathered columns (no
    per-fold moments)."""
    est, opts = CASES[name]
    est = clone(est).set_params(tol=1e-10)
    X, y, sw = _data(opts.get("sparse", False))
    sw = sw if opts.get("weights") else None
    groups = np.repeat(np.arange(N // 10), 10) if opts.get("groups") else None
    copies = [None if a is None else a.copy() for a in (X, y, sw)]
    Xd, yd, swd, gd = _dask(X, y, sw, groups)
    if opts.get("sparse"):
        Xd = Xd.map_blocks(sp.csr_matrix)
    Xm = sp.csc_matrix(X) if opts.get("sparse") else X
    if groups is not None:
        with sklearn.config_context(enable_metadata_routing=True):
            ref = clone(est).fit(Xm, y, sample_weight=sw, groups=groups)
    else:
        ref = clone(est).fit(Xm, y, sample_weight=sw)
    assert 0 < np.count_nonzero(ref.coef_) < LIMIT
    widths, gathers = _widths(monkeypatch), record_gathers(monkeypatch, "_wide_cv")
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        fit = {"sample_weight": swd} | ({"groups": gd} if groups is not None else {})
        got = clone(est).fit(Xd, yd, **fit)
    if route == "moments":
        assert widths and max(widths) <= LIMIT and not gathers
    else:  # every path from the rows; the refit's moments of the chosen supports at most
        assert gathers and max(widths, default=0) <= LIMIT
    assert np.allclose(got.alphas_, ref.alphas_, rtol=1e-9)
    assert got.mse_path_.shape == ref.mse_path_.shape
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert np.allclose(got.cv_mean_, ref.cv_mean_, rtol=RTOL, atol=0)
    assert (got.alpha_, got.alpha_min_, got.alpha_1se_, got.l1_ratio_) == pytest.approx(
        (ref.alpha_, ref.alpha_min_, ref.alpha_1se_, ref.l1_ratio_), rel=1e-9)
    assert _close(ref.coef_, got.coef_), (ref.coef_, got.coef_)
    assert got.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-9)
    assert got.converged_ and 0.0 <= got.dual_gap_ <= 1e-10 * max(1.0, float(y @ y) / N)
    assert got.n_iter_ >= got.n_outer_iter_ >= 1
    assert got.n_features_in_ == P
    for a, b in zip((X, y, sw), copies):  # the inputs, and the estimator's own, untouched
        assert (a is None and b is None) or np.array_equal(a, b)
    assert repr(got.get_params()) == repr(est.get_params())


def _strong_rule_miss(cv, rho=0.9, s=3.0, seed=4):
    """Feature 2 is uncorrelated with y on every training set (exactly: centred and
    projected out fold by fold), so the strong rule drops it at every fold; being
    correlated with feature 0 (and of a larger scale), it enters every fold's path once
    feature 0 is in (near 0.73 alpha_max)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P))
    X[:, 2] = s * (rho * X[:, 0] + np.sqrt(1 - rho ** 2) * X[:, 2])
    y = X[:, 0] + 0.1 * rng.standard_normal(N)
    for _, fold in cv.split(X):
        X[fold, 2] -= X[fold, 2].mean()
        y[fold] -= y[fold].mean()
        x2 = X[fold, 2]
        y[fold] -= x2 * (x2 @ y[fold]) / (x2 @ x2)
    return X, y + 1.0


def _record(monkeypatch):
    """The first working set and the rounds of every WideCV run."""
    import sparsefit.distributed._wide_cv as wide_cv

    seen = {"first": [], "rounds": []}
    first, run = wide_cv.WideCV.first_set, wide_cv.WideCV.run
    monkeypatch.setattr(wide_cv.WideCV, "first_set", lambda self, *a: seen["first"].append(
        first(self, *a)) or seen["first"][-1])
    monkeypatch.setattr(wide_cv.WideCV, "run", lambda self: (run(self), seen["rounds"].append(
        self.rounds))[0])
    return seen


def test_a_feature_the_strong_rule_misses_joins_by_the_kkt_pass(client, monkeypatch):
    """The grid ends at 0.6 alpha_max (so the strong rule screens: |g_j| >= 0.2
    alpha_max): feature 2, with a zero gradient at the null model of every fold, is not in
    the first working set but in every fold's model at the smallest alpha."""
    cv = HashKFold(3, seed=1)
    X, y = _strong_rule_miss(cv)
    est = LassoCV(cv=cv, alphas=8, eps=0.6, tol=1e-10)
    ref = clone(est).fit(X, y)
    assert ref.coef_[2] != 0
    seen = _record(monkeypatch)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(*_dask(X, y))
    assert 2 not in seen["first"][0] and seen["rounds"] == [2], seen
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-9)
    assert _close(ref.coef_, got.coef_)


def test_a_feature_the_first_set_misses_joins_by_the_kkt_pass(client, monkeypatch):
    """A first working set of one column (the data persisted, FIRST_IN_MEMORY lowered):
    the KKT pass finds the missing features, the set is rebuilt, the answer unchanged."""
    import sparsefit.distributed._wide_cv as wide_cv

    monkeypatch.setattr(wide_cv, "FIRST_IN_MEMORY", 1)
    seen = _record(monkeypatch)
    X, y, sw = _data()
    est = LassoCV(cv=CV, alphas=10, eps=0.05, tol=1e-10)
    ref = clone(est).fit(X, y, sample_weight=sw)
    widths = _widths(monkeypatch)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT, "sparsefit.persist": True}):
        got = clone(est).fit(*_dask(X, y), sample_weight=_dask(sw)[0])
    assert widths[0] == 1 and seen["rounds"][0] >= 2, (widths, seen)
    assert max(widths) <= LIMIT
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-9)
    assert _close(ref.coef_, got.coef_)


@pytest.mark.parametrize("persist", [True, False])
def test_wide_cv_on_a_dask_dataframe(client, persist):
    """Partitions of unknown lengths: the position folds from the counted rows."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y, _ = _data()
    cols = [f"f{j}" for j in range(P)]
    df = pd.DataFrame(X, columns=cols).assign(target=y)
    ddf = dd.from_pandas(df, npartitions=4)
    est = LassoCV(cv=HashKFold(3, seed=2), alphas=6, eps=0.1, tol=1e-10)
    ref = clone(est).fit(df[cols], y)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.persist": persist}):
        got = clone(est).fit(ddf[cols], ddf["target"])
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert _close(ref.coef_, got.coef_)
    assert list(got.feature_names_in_) == cols


def test_a_support_beyond_the_limit_is_refused_with_advice(client):
    X, y, _ = _data()
    with dask.config.set({"sparsefit.gram_max_features": 3}), \
            pytest.raises(ValueError, match=r"^LassoCV on dask input: the cross-validation "
                          r"paths need \d+ features .* more than the 3 columns whose moments "
                          r"the workers hold for 3 folds \(sparsefit.gram_max_features=3 .*"
                          r"raise eps, give larger alphas or set dfmax"):
        LassoCV(cv=3, alphas=5, eps=0.05).fit(*_dask(X, y))
    free = np.r_[np.zeros(LIMIT + 1), np.ones(P - LIMIT - 1)]
    reads = ("refused", 0)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}), \
            pytest.raises(ValueError, match=rf"^LassoCV on dask input: the cross-validation "
                          rf"paths need {LIMIT + 1} unpenalized features, more than "):
        LassoCV(cv=3, penalty_factor=free).fit(_counted(X, reads), _dask(y)[0])
    assert _reads(reads) == {}  # refused before any pass


def test_more_folds_than_the_workers_hold_take_the_wide_route(client, monkeypatch):
    """p within gram_max_features, but its per-fold moments beyond what the workers hold
    (their memory_limit): the working sets of the wide route, the same answer."""
    import sparsefit.distributed._cache as cache
    from sparsefit.distributed._pass import fold_moments_limit

    X, y, _ = _data()
    est = LassoCV(cv=HashKFold(3, seed=1), alphas=8, eps=0.05, tol=1e-10)
    ref = clone(est).fit(X, y)
    monkeypatch.setattr(cache, "worker_memory", lambda: 3 * 8 * 3 * 20 ** 2 / 0.35 + 1)
    assert fold_moments_limit(3) == 20 < P
    widths = _widths(monkeypatch)
    got = clone(est).fit(*_dask(X, y))
    assert widths and max(widths) <= 20
    assert _close(ref.coef_, got.coef_) and got.alpha_ == pytest.approx(ref.alpha_)


def test_kkt_points_split_over_passes_give_the_same_model(client, monkeypatch):
    """A KKT pass holding one point's gradients at a time (KKT_PASS_BYTES tiny): one pass
    per point, the same paths."""
    import sparsefit.distributed._wide_cv as wide_cv

    X, y, _ = _data()
    est = LassoCV(cv=CV, alphas=4, eps=0.1, tol=1e-10)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        one = clone(est).fit(*_dask(X, y))
        passes = []
        real = wide_cv.WideCV.run
        monkeypatch.setattr(wide_cv.WideCV, "run", lambda self: (real(self), passes.append(
            (self.n_passes, self.rounds)))[0])
        monkeypatch.setattr(wide_cv, "KKT_PASS_BYTES", 1)
        split = clone(est).fit(*_dask(X, y))
    (n_passes, rounds), = passes
    # a pass per point: the null model of 3 folds and of all the rows, then per round
    # the moments and the 3 x 4 path points
    assert n_passes == 4 + rounds * (1 + 3 * 4), (n_passes, rounds)
    np.testing.assert_array_equal(one.mse_path_, split.mse_path_)
    np.testing.assert_array_equal(one.coef_, split.coef_)


def _counted(X, key):
    """``X`` whose chunks are produced by a counted "file read" (the keys are this
    module's: the counts are shared by the test modules of a worker)."""
    return counted_chunks(X, (__name__, key), CHUNKS)


def _reads(key):
    return chunk_reads((__name__, key))


def test_passes_do_not_grow_with_the_grid(client):
    """Read from the source at every pass (persist False): the same number of passes for
    a grid of 5 and of 40 alphas, a handful; persisted: each chunk read once."""
    X, y, _ = _data()
    yd = _dask(y)[0]
    counts = {}
    for n_alphas in (5, 40):
        key = ("no persist", n_alphas)
        with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                              "sparsefit.persist": False}), warnings.catch_warnings():
            warnings.simplefilter("error")
            ElasticNetCV(l1_ratio=[0.7, 1.0], cv=5, alphas=n_alphas, eps=0.1,
                         tol=1e-8).fit(_counted(X, key), yd)
        reads = _reads(key)
        assert set(reads) == set(range(len(CHUNKS))) and len(set(reads.values())) == 1
        counts[n_alphas] = reads[0]
    # null, moments, KKT; the refit starts from the CV's null point, working set and
    # moments: its KKT pass only
    assert counts[5] == counts[40] == 4, counts
    key = "persisted"
    with dask.config.set({"sparsefit.gram_max_features": LIMIT, "sparsefit.persist": "auto"}):
        LassoCV(cv=5, alphas=40, eps=0.1).fit(_counted(X, key), yd)
    assert _reads(key) == dict.fromkeys(range(len(CHUNKS)), 1)


RELAXED_CASES = {
    "default gammas": (RelaxedLassoCV(cv=CV, alphas=8, eps=0.05), {}),
    "sample_weight, bounds, 1se": (RelaxedLassoCV(
        cv=CV, alphas=6, eps=0.1, gammas=[0.0, 0.5], bounds=(-1.5, 1.2), alpha_rule="1se"),
        {"weights": True}),
    "sparse chunks, positive": (RelaxedLassoCV(cv=HashKFold(4, seed=3), alphas=6, eps=0.1,
                                               positive=True), {"sparse": True}),
    "dfmax, no intercept": (RelaxedLassoCV(cv=CV, alphas=12, eps=1e-3, dfmax=6,
                                           fit_intercept=False), {"weights": True}),
}


@pytest.mark.parametrize("name", sorted(RELAXED_CASES))
def test_wide_relaxed_cv_equals_in_memory(client, monkeypatch, name, route):
    """RelaxedLassoCV beyond the limit: the lasso paths of LassoCV's wide route, every
    point relaxed at every gamma from the fold's training moments (or rows); the same
    mse_path_ (n_gammas, n_alphas, n_folds), pair and refit as in memory."""
    est, opts = RELAXED_CASES[name]
    est = clone(est).set_params(tol=1e-10)
    X, y, sw = _data(opts.get("sparse", False))
    sw = sw if opts.get("weights") else None
    Xd, yd, swd = _dask(X, y, sw)
    if opts.get("sparse"):
        Xd = Xd.map_blocks(sp.csr_matrix)
    ref = clone(est).fit(sp.csc_matrix(X) if opts.get("sparse") else X, y, sample_weight=sw)
    widths, gathers = _widths(monkeypatch), record_gathers(monkeypatch, "_wide_cv")
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(Xd, yd, sample_weight=swd)
    assert (gathers if route == "rows" else widths) and max(widths, default=0) <= LIMIT
    assert np.allclose(got.alphas_, ref.alphas_, rtol=1e-9)
    assert got.mse_path_.shape == ref.mse_path_.shape
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert (got.alpha_, got.gamma_) == pytest.approx((ref.alpha_, ref.gamma_), rel=1e-9)
    assert _close(ref.coef_, got.coef_) and _close(ref.lasso_coef_, got.lasso_coef_)
    assert got.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-9)


# -- the rows route: few rows, the working set's columns gathered on the client ---------

def _genomics(n=60, p=300, seed=11):
    """Few rows, many features (the genomics shape): the folds' models at the end of a
    long grid hold about as many features as rows, so every feature ends up in play."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    beta = np.zeros(p)
    beta[rng.choice(p, 8, replace=False)] = rng.uniform(1.0, 2.0, 8)
    y = X @ beta + 0.5 * rng.standard_normal(n) + 2.0
    rows = (n // 3, n // 4, n - n // 3 - n // 4)  # chunks of unequal sizes
    return X, y, (da.from_array(X, chunks=(rows, (p,))), da.from_array(y, chunks=(rows,)))


def test_few_rows_many_features_take_the_rows_route_in_one_round(client, monkeypatch, route):
    """p beyond the per-fold moments the workers hold (5 folds of 300 columns on a 60-row
    set): every kept column gathered at once, the paths solved from the rows, one round
    (null, gather, KKT passes; the refit's KKT pass), the in-memory answer. The moments
    route refuses it."""
    import sparsefit.distributed._cache as cache

    X, y, dask_xy = _genomics()
    est = LassoCV(cv=HashKFold(5, seed=2), alphas=30, eps=1e-3, tol=1e-10)
    ref = clone(est).fit(X, y)
    monkeypatch.setattr(cache, "worker_memory", lambda: 3 * 8 * 5 * 40 ** 2 / 0.35 + 1)
    seen, gathers = _record(monkeypatch), record_gathers(monkeypatch, "_wide_cv")
    if route == "moments":
        with pytest.raises(ValueError, match=r"more than the 40 columns whose moments .* or "
                           r"the 0 whose 60 rows the client gathers \(sparsefit.gather_max_"
                           r"bytes=0\)"):
            clone(est).fit(*dask_xy)
        return
    got = clone(est).fit(*dask_xy)
    assert gathers == [300] and seen["rounds"] == [1], (gathers, seen)
    assert np.allclose(got.mse_path_, ref.mse_path_, rtol=RTOL, atol=0)
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-9)
    assert _close(ref.coef_, got.coef_)
    assert got.dual_gap_ <= 1e-10 * max(1.0, float(y @ y) / y.size)


def test_rows_route_refit_solves_in_covariance_form_when_cheap(client, monkeypatch):
    """At the default tol, the refit from gathered rows solves from their moments on the
    client (where the exact step on the support is cheap: measured on a 400 x 20,000
    LassoCV, the in-memory coef_ to 2e-15 against 4e-5 from the rows), and ends at the
    in-memory model."""
    import sparsefit.distributed._cache as cache
    import sparsefit.distributed._wide as wide

    X, y, dask_xy = _genomics()
    est = LassoCV(cv=HashKFold(5, seed=2), alphas=30)
    ref = clone(est).fit(X, y)
    monkeypatch.setattr(cache, "worker_memory", lambda: 3 * 8 * 5 * 40 ** 2 / 0.35 + 1)
    local = []
    real = wide.Moments.from_arrays
    monkeypatch.setattr(wide.Moments, "from_arrays", lambda X, *a: local.append(X.shape) or
                        real(X, *a))
    with dask.config.set({"sparsefit.gather_max_bytes": 2 ** 30}):
        got = clone(est).fit(*dask_xy)
    assert any(shape[0] == y.size for shape in local)  # every row: the client's moments
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    assert np.max(np.abs(got.coef_ - ref.coef_)) <= 1e-9 * np.max(np.abs(ref.coef_))


@pytest.mark.parametrize("est", [
    LassoCV(cv=HashKFold(3, seed=1), alphas=10, eps=0.01, tol=1e-10),
    RelaxedLassoCV(cv=HashKFold(3, seed=1), alphas=[0.02, 0.01], gammas=[0.0, 1.0],
                   tol=1e-10)], ids=["LassoCV", "RelaxedLassoCV"])
def test_rows_route_refit_holds_more_than_the_gram_limit(client, monkeypatch, est):
    """A chosen model with more features than sparsefit.gram_max_features: the refit
    solves from the CV's gathered rows (no moments pass at all), its KKT pass certifies
    it; the in-memory answer."""
    X, y, _ = _data()
    ref = clone(est).fit(X, y)
    assert np.count_nonzero(ref.coef_) > 10
    widths, gathers = _widths(monkeypatch), record_gathers(monkeypatch, "_wide_cv")
    with dask.config.set({"sparsefit.gram_max_features": 10,
                          "sparsefit.gather_max_bytes": 2 ** 30}):
        got = clone(est).fit(*_dask(X, y))
    assert gathers and not widths
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-9)
    assert _close(ref.coef_, got.coef_)
    assert got.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-9)


# -- warm_start on the wide single-fit route ---------------------------------------------

@pytest.mark.parametrize("est", [
    Lasso(alpha=0.2, tol=1e-10, warm_start=True),
    ElasticNet(alpha=0.2, l1_ratio=0.7, tol=1e-10, warm_start=True),
    MultiTaskLasso(alpha=0.2, tol=1e-10, warm_start=True),
], ids=["Lasso", "ElasticNet", "MultiTaskLasso"])
def test_wide_route_honours_warm_start(client, monkeypatch, est):
    """The second fit starts from the first one's coef_ (its support in the first working
    set, the first solve from its values) and ends at the in-memory answer; a coef_ of
    another shape starts afresh."""
    import sparsefit.distributed._wide as wide

    X, y, sw = _data()
    est = clone(est)
    if "MultiTask" in type(est).__name__:
        y = np.c_[y, X[:, [1, 7, 22]] @ [-1.0, 0.5, 2.0] - 1.0]
    Xd, yd, swd = _dask(X, y, sw)
    starts = []
    real = wide.WideLasso._solve_on
    monkeypatch.setattr(wide.WideLasso, "_solve_on", lambda self, ws, w, *a: starts.append(
        (ws.copy(), w.copy())) or real(self, ws, w, *a))
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        est.fit(Xd, yd, sample_weight=swd)
        first = np.array(est.coef_, copy=True)
        assert np.count_nonzero(first) and not np.any(starts[0][1])  # from zero
        starts.clear()
        est.set_params(alpha=0.1).fit(Xd, yd, sample_weight=swd)
    ws, w = starts[0]
    prev = first if first.ndim == 1 else first.T.ravel()
    support = np.flatnonzero(first if first.ndim == 1 else np.any(first != 0, axis=0))
    assert np.all(np.isin(support, ws))  # the previous support is in the first set
    assert np.array_equal(w, prev)  # and the first solve starts from the previous coef_
    ref = clone(est).set_params(warm_start=False).fit(X, y, sample_weight=sw)
    assert not np.allclose(first, est.coef_)
    assert _close(ref.coef_, est.coef_), (ref.coef_, est.coef_)
    assert est.converged_
    starts.clear()
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        est.fit(Xd[:, :P - 2], yd, sample_weight=swd)  # another shape: from zero
    assert not np.any(starts[0][1])


def test_sparse_chunks_gather_by_their_entries(client, monkeypatch):
    """Sparse chunks: the client's budget counts the gathered columns' stored entries
    (from the null pass), not ``rows x 8`` bytes a column. Here the budget holds every
    column as CSR but 13 of the 40 as dense columns, and the workers hold the moments
    of 16: the paths are solved from one gather of every column (dense counting needed a
    working set past both limits), no KKT pass follows (no feature is outside the set),
    and the answer is the in-memory one."""
    import sparsefit.distributed._wide_cv as wide_cv

    X, y, sw = _data(sparse=True)
    Xs = sp.csr_matrix(X)
    budget = 32 * N + 12 * Xs.nnz + 64
    assert budget // (8 * N) < LIMIT < P  # counted dense, fewer columns than the moments
    est = LassoCV(cv=HashKFold(4, seed=3), alphas=8, eps=1e-3, tol=1e-10)
    ref = clone(est).fit(Xs, y, sample_weight=sw)
    assert np.count_nonzero(ref.coef_) > LIMIT // 2
    gathers = record_gathers(monkeypatch, "_wide_cv")
    kkt = []
    real = wide_cv.WideCV._sum_batches
    monkeypatch.setattr(wide_cv.WideCV, "_sum_batches", lambda self, *a: (
        kkt.append(a[5:6] == (True,)), real(self, *a))[1])
    Xd, yd, swd = _dask(X, y, sw)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.gather_max_bytes": budget}):
        got = clone(est).fit(Xd.map_blocks(sp.csr_matrix), yd, sample_weight=swd)
    assert gathers == [P]
    assert kkt[0] and not any(kkt[1:2])  # the null pass counts; no KKT pass in the CV
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    assert _close(ref.coef_, got.coef_)
    np.testing.assert_allclose(got.mse_path_, ref.mse_path_, rtol=1e-8)
