"""SparseLogisticRegressionCV / LogisticRegressionCV (binary, L1 / elastic net) on wide
dask input (more features than the Hessian route takes): one working set for every
fold's path, every path's Newton iteration served by the same pass (or, with few rows,
the working set's columns gathered on the client and every path solved there), KKT passes
over every feature; the same folds (HashKFold), scores, selection and refit as in memory.
And the multinomial single fit beyond the limit (working sets of features, K coefficients
each).

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
from distributed import Client, LocalCluster  # noqa: E402

from sparsefit.linear_model import (  # noqa: E402
    HashKFold,
    LogisticRegression,
    LogisticRegressionCV,
    SparseLogisticRegression,
    SparseLogisticRegressionCV,
)
from tests.wide_routes import (
    chunk_reads,
    counted_chunks,
    record_gathers,
    route_fixtures,
)  # noqa: E402

CHUNKS = (70, 30, 120, 80)  # unequal on purpose
N, P, LIMIT = sum(CHUNKS), 40, 16
RTOL = 1e-6


def _data(sparse=False, seed=0):
    """Labels from four of the 40 features and noise (the CV picks an inner strength)."""
    rng = np.random.default_rng(seed)
    if sparse:
        X = sp.random(N, P, density=0.3, random_state=seed, format="csr").toarray() * 3.0
    else:
        X = rng.standard_normal((N, P)) + rng.uniform(-2, 2, P)
    beta = np.zeros(P)
    beta[[1, 7, 22, 35]] = [1.0, -2.0, 0.7, 1.5]
    u = X @ beta + 2.0 * rng.standard_normal(N)
    return X, (u > np.median(u)).astype(np.int64), rng.uniform(0.0, 2.0, N)


def _dask(*arrays):
    return [None if a is None else da.from_array(a, chunks=(CHUNKS,) + a.shape[1:])
            for a in arrays]


# route: both routes of a round, the statistics on the workers (newton) or the rows
route, _route = route_fixtures("newton")


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0)) <= rtol * scale


def _widths(monkeypatch):
    """The columns of every Hessian-moments block computed (never more than the limit)."""
    import sparsefit.distributed._logistic as lg

    widths = []
    real = lg.Moments.from_arrays
    monkeypatch.setattr(lg.Moments, "from_arrays", staticmethod(
        lambda A, *a: widths.append(A.shape[1]) or real(A, *a)))
    return widths


CV = HashKFold(3, seed=2)
SLR = dict(cv=CV, alphas=6, eps=0.2)
LR = dict(cv=CV, Cs=[0.005, 0.02, 0.06], l1_ratios=[1.0], use_legacy_attributes=False)
# name: (estimator, fit options)
CASES = {
    "alpha grid": (SparseLogisticRegressionCV(**SLR), {}),
    "alpha grid, sample_weight": (SparseLogisticRegressionCV(**SLR), {"weights": True}),
    "alpha grid, sparse chunks, sample_weight": (
        SparseLogisticRegressionCV(**{**SLR, "eps": 0.3}), {"sparse": True, "weights": True}),
    "alpha grid, groups, bounds": (
        SparseLogisticRegressionCV(**{**SLR, "cv": HashKFold(3, seed=5)}, bounds=(-0.5, 1.0)),
        {"groups": True}),
    "alpha grid, l1_ratios, class_weight": (
        SparseLogisticRegressionCV(**SLR, l1_ratios=[0.7, 1.0], class_weight="balanced"),
        {"weights": True}),
    "alpha grid, no intercept, refit=False": (
        SparseLogisticRegressionCV(**{**SLR, "eps": 0.4}, fit_intercept=False, refit=False),
        {}),
    "given alphas, 1se, penalty_factor": (
        SparseLogisticRegressionCV(cv=HashKFold(4, seed=3), alphas=[0.2, 0.08, 0.12, 0.06],
                                   alpha_rule="1se", penalty_factor=np.linspace(0.5, 2.0, P)),
        {"weights": True}),
    "Cs, l1, log-loss": (LogisticRegressionCV(**LR, scoring="neg_log_loss"),
                         {"weights": True}),
    "Cs, l1, accuracy, refit=False": (LogisticRegressionCV(**LR, scoring="accuracy",
                                                           refit=False), {}),
    "Cs, elastic net, class_weight, legacy attributes": (
        LogisticRegressionCV(**{**LR, "l1_ratios": [0.6, 1.0], "use_legacy_attributes": True},
                             scoring="neg_log_loss", class_weight="balanced"),
        {"weights": True}),
    "Cs, l1, sparse chunks, groups": (
        LogisticRegressionCV(**{**LR, "cv": HashKFold(3, seed=5)}, scoring="neg_log_loss"),
        {"sparse": True, "groups": True}),
}


def _same(ref, got, name):
    a, b = getattr(ref, name), getattr(got, name)
    if isinstance(a, dict):
        assert set(a) == set(b), name
        for key in a:
            _same_array(a[key], b[key], name)
    else:
        _same_array(a, b, name)


def _same_array(a, b, name):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (name, a.shape, b.shape)
    assert np.allclose(a, b, rtol=RTOL, atol=1e-9), (name, a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wide_logistic_cv_equals_in_memory(client, monkeypatch, route, name):
    """The in-memory estimator's grid, scores, selection and model, with no Hessian
    block wider than the limit; on the rows route (every path solved from the gathered
    columns) the same."""
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
    widths, gathers = _widths(monkeypatch), record_gathers(monkeypatch, "_wide_logistic_cv")
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        fit = {"sample_weight": swd} | ({"groups": gd} if groups is not None else {})
        got = clone(est).fit(Xd, yd, **fit)
    if route == "rows":  # every round from the gathered columns; the refit's Newton passes
        assert gathers, gathers
        assert max(widths, default=0) <= LIMIT
    else:
        assert widths and max(widths) <= LIMIT and not gathers
    assert _close(ref.coef_, got.coef_), (ref.coef_, got.coef_)
    assert np.allclose(got.intercept_, ref.intercept_, rtol=RTOL, atol=1e-9)
    if isinstance(est, SparseLogisticRegressionCV):
        for attr in ("alphas_", "loss_path_", "cv_mean_", "cv_std_error_", "scores_"):
            _same(ref, got, attr)
        assert (got.alpha_, got.alpha_min_, got.alpha_1se_, got.l1_ratio_) == pytest.approx(
            (ref.alpha_, ref.alpha_min_, ref.alpha_1se_, ref.l1_ratio_), rel=1e-9)
    else:
        for attr in ("C_", "l1_ratio_", "Cs_", "scores_", "coefs_paths_"):
            _same(ref, got, attr)
        assert np.shape(ref.n_iter_) == np.shape(got.n_iter_)
        assert got.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-9)  # (by scoring)
    assert set(vars(ref)) == set(vars(got)), set(vars(ref)) ^ set(vars(got))
    for a, b in zip((X, y, sw), copies):  # the inputs, and the estimator's own, untouched
        assert (a is None and b is None) or np.array_equal(a, b)
    assert repr(got.get_params()) == repr(est.get_params())


def _strong_rule_miss(cv, rho=0.9, s=3.0, seed=4):
    """Feature 2 has a zero gradient at the null model of every training set (exactly:
    on every fold's rows it is orthogonal to 1 and y), so the strong rule drops it;
    correlated with feature 0, which drives y, it enters every path once feature 0 is
    in."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P))
    y = (X[:, 0] + 0.5 * rng.standard_normal(N) > 0).astype(np.int64)
    X[:, 2] = s * (rho * X[:, 0] + np.sqrt(1 - rho ** 2) * X[:, 2])
    for _, fold in cv.split(X):
        A = np.c_[np.ones(fold.size), y[fold]]
        X[fold, 2] -= A @ np.linalg.lstsq(A, X[fold, 2], rcond=None)[0]
    return X, y


def _record(monkeypatch):
    """The first working set, the rounds and the passes of every WideLogisticCV run."""
    import sparsefit.distributed._wide_logistic_cv as wlc

    seen = {"first": [], "runs": []}
    first, run = wlc.WideLogisticCV.first_set, wlc.WideLogisticCV.run
    monkeypatch.setattr(wlc.WideLogisticCV, "first_set", lambda self, *a: seen[
        "first"].append(first(self, *a)) or seen["first"][-1])
    monkeypatch.setattr(wlc.WideLogisticCV, "run", lambda self, *a: (run(self, *a), seen[
        "runs"].append(self))[0])
    return seen


@pytest.mark.parametrize("kind", ["SparseLogisticRegressionCV", "LogisticRegressionCV"])
def test_a_feature_the_strong_rule_misses_joins_by_the_kkt_pass(client, monkeypatch, kind):
    cv = HashKFold(3, seed=1)
    X, y = _strong_rule_miss(cv)
    if kind == "SparseLogisticRegressionCV":
        est = SparseLogisticRegressionCV(cv=cv, alphas=8, eps=0.5, tol=1e-10)
    else:
        est = LogisticRegressionCV(cv=cv, Cs=[0.02, 0.03, 0.05], l1_ratios=[1.0],
                                   scoring="neg_log_loss", use_legacy_attributes=False,
                                   tol=1e-10)
    ref = clone(est).fit(X, y)
    assert ref.coef_[0, 2] != 0
    seen = _record(monkeypatch)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(*_dask(X, y))
    (cvrun,) = seen["runs"]
    assert 2 not in seen["first"][0] and cvrun.rounds == 2, (seen["first"], cvrun.rounds)
    assert 2 in cvrun.working_set
    _same(ref, got, "scores_")
    assert _close(ref.coef_, got.coef_)


def _counted(X, key):
    """``X`` whose chunks are produced by a counted "file read" (the keys are this
    module's: the counts are shared by the test modules of a worker)."""
    return counted_chunks(X, (__name__, key), CHUNKS)


def _reads(key):
    return chunk_reads((__name__, key))


def test_passes_are_shared_by_every_fold_and_ratio(client, monkeypatch):
    """Read from the source at every pass (persist False): every chunk is read once per
    pass the route counts (null, Newton, KKT; the refit's), and a Newton pass serves
    every (fold, l1_ratio) path: as many passes as the longest path needs, not their sum.
    Persisted: each chunk read once."""
    import sparsefit.distributed._wide_logistic as wl
    import sparsefit.distributed._wide_logistic_cv as wlc

    X, y, _ = _data()
    yd = _dask(y)[0]
    served = []  # the requests of every Newton pass
    real_pass = wlc.WideLogisticCV._newton_pass
    monkeypatch.setattr(wlc.WideLogisticCV, "_newton_pass", lambda self, view, reqs: (
        served.append(len(reqs)), real_pass(self, view, reqs))[1])
    refits = []
    real_run = wl.WideNewton.run
    monkeypatch.setattr(wl.WideNewton, "run", lambda self, *a: (real_run(self, *a), refits.append(
        self.n_passes))[0])
    seen = _record(monkeypatch)
    key = "no persist"
    est = SparseLogisticRegressionCV(cv=5, alphas=5, eps=0.3, l1_ratios=[0.8, 1.0],
                                     tol=1e-8)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.persist": False}), warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(_counted(X, key), yd)
    reads = _reads(key)
    (cvrun,) = seen["runs"]
    assert set(reads) == set(range(len(CHUNKS))) and len(set(reads.values())) == 1
    assert reads[0] == cvrun.n_passes + refits[0], (reads, cvrun.n_passes, refits)
    # 10 paths (5 folds x 2 ratios), each pass serving all that are still running
    assert served[0] == 10 and len(served) < sum(served) / 3, served
    assert cvrun.n_passes == 1 + len(served) + cvrun.rounds  # null, Newton, KKT
    key = "persisted"
    with dask.config.set({"sparsefit.gram_max_features": LIMIT, "sparsefit.persist": "auto"}):
        clone(est).fit(_counted(X, key), yd)
    assert _reads(key) == dict.fromkeys(range(len(CHUNKS)), 1)


def test_newton_requests_split_over_passes_give_the_same_model(client, monkeypatch):
    """NEWTON_PASS_BYTES tiny: a pass serves one fold's worth of paths (3 of the 6), the
    same paths and model."""
    import sparsefit.distributed._wide_logistic_cv as wlc

    X, y, _ = _data()
    est = SparseLogisticRegressionCV(**SLR, l1_ratios=[0.8, 1.0], tol=1e-10)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        one = clone(est).fit(*_dask(X, y))
        served = []
        real_pass = wlc.WideLogisticCV._newton_pass
        monkeypatch.setattr(wlc.WideLogisticCV, "_newton_pass", lambda self, view, reqs: (
            served.append(len(reqs)), real_pass(self, view, reqs))[1])
        monkeypatch.setattr(wlc, "NEWTON_PASS_BYTES", 1)
        split = clone(est).fit(*_dask(X, y))
    assert max(served) == 3, served
    np.testing.assert_allclose(one.loss_path_, split.loss_path_, rtol=1e-12)
    np.testing.assert_allclose(one.coef_, split.coef_, rtol=1e-10, atol=1e-14)


def test_the_refit_starts_where_the_cv_ends(client, monkeypatch):
    """The refit on all the rows takes the CV's null gradient (no null pass, no label
    pass) and the folds' supports at the chosen point in its first working set: one
    working set, one Newton solve and its two KKT passes."""
    import sparsefit.distributed._logistic as lg
    import sparsefit.distributed._wide_logistic as wl

    X, y, sw = _data()
    labels, starts = [], []
    real_classes = lg.classes_pass
    monkeypatch.setattr(lg, "classes_pass", lambda *a: labels.append(1) or real_classes(*a))
    real_run = wl.WideNewton.run
    monkeypatch.setattr(wl.WideNewton, "run", lambda self, *a: (
        starts.append(self.start), real_run(self, *a))[1])
    est = SparseLogisticRegressionCV(**SLR, tol=1e-10)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(*_dask(X, y), sample_weight=_dask(sw)[0])
    assert labels == [1]  # the CV's own label pass only
    (start,) = starts
    assert start is not None
    assert np.all(np.isin(np.flatnonzero(got.coef_), start[1]))
    ref = clone(est).fit(X, y, sample_weight=sw)
    assert _close(ref.coef_, got.coef_)
    assert got.converged_ and got.n_iter_ == 1


@pytest.mark.parametrize("persist", [True, False])
def test_wide_logistic_cv_on_a_dask_dataframe(client, monkeypatch, route, persist):
    """Partitions of unknown lengths: the position folds from the counted rows (and the
    rows route's number of rows)."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y, _ = _data()
    cols = [f"f{j}" for j in range(P)]
    df = pd.DataFrame(X, columns=cols).assign(target=y)
    ddf = dd.from_pandas(df, npartitions=4)
    est = SparseLogisticRegressionCV(**SLR, tol=1e-10)
    ref = clone(est).fit(df[cols], y)
    gathers = record_gathers(monkeypatch, "_wide_logistic_cv")
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.persist": persist}):
        got = clone(est).fit(ddf[cols], ddf["target"])
    assert bool(gathers) == (route == "rows"), gathers
    _same(ref, got, "loss_path_")
    assert _close(ref.coef_, got.coef_)
    assert list(got.feature_names_in_) == cols


def test_wide_logistic_cv_with_worker_processes(route):
    """Worker processes (the chunk functions and requests pickled): the same answer, on
    both routes."""
    X, y, sw = _data()
    est = LogisticRegressionCV(**LR, scoring="neg_log_loss", tol=1e-10)
    ref = clone(est).fit(X, y, sample_weight=sw)
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster), \
            dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(*_dask(X, y), sample_weight=_dask(sw)[0])
    _same(ref, got, "scores_")
    assert _close(ref.coef_, got.coef_)


def test_a_support_beyond_the_limit_is_refused_with_advice(client):
    X, y, _ = _data()
    with dask.config.set({"sparsefit.gram_max_features": 3}), \
            pytest.raises(ValueError, match=r"^SparseLogisticRegressionCV on dask input: the "
                          r"cross-validation paths need \d+ features .* more than the 3 "
                          r"columns whose Hessians the workers hold for 3 folds "
                          r"\(sparsefit.gram_max_features=3 and the workers' memory_limit\) "
                          r"or the 0 whose 300 rows the client gathers \(sparsefit.gather_"
                          r"max_bytes=0\); raise eps, give larger alphas"):
        SparseLogisticRegressionCV(cv=3, alphas=5, eps=0.05).fit(*_dask(X, y))
    with dask.config.set({"sparsefit.gram_max_features": 3}), \
            pytest.raises(ValueError, match=r"^LogisticRegressionCV on dask input: the "
                          r"cross-validation paths need \d+ features .*give smaller Cs"):
        LogisticRegressionCV(cv=3, Cs=[0.01, 1.0], l1_ratios=[1.0], scoring="accuracy",
                             use_legacy_attributes=False).fit(*_dask(X, y))


REFUSED = {
    "pure L2 in the l1_ratios": (SparseLogisticRegressionCV(cv=3, l1_ratios=[0.0, 1.0],
                                                            alphas=[0.1, 0.01]),
                                 r"l1_ratio=0.0 \(no L1 part\) keeps every feature"),
    "dfmax": (SparseLogisticRegressionCV(cv=3, dfmax=3), r"dfmax / pmax have no wide route"),
    "an unpenalized feature": (SparseLogisticRegressionCV(
        cv=3, penalty_factor=np.r_[0.0, np.ones(P - 1)]), r"unpenalized features"),
    "penalty l2": (LogisticRegressionCV(cv=3, l1_ratios=[0.0], scoring="accuracy",
                                        use_legacy_attributes=False),
                   r"l1_ratio=0.0 \(no L1 part\)"),
    "no penalty": (LogisticRegressionCV(cv=3, penalty=None, scoring="accuracy",
                                        use_legacy_attributes=False), r"no penalty"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_has_no_wide_route_is_refused_before_any_pass(client, name):
    est, match = REFUSED[name]
    X, y, _ = _data()
    key = ("refused", name)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=rf"^{type(est).__name__} on dask input: X has "
                           rf"p={P} features, more than the {LIMIT} of distributed proximal "
                           rf"Newton, and .*{match}"):
            clone(est).fit(_counted(X, key), _dask(y)[0])
    assert _reads(key) == {}  # refused before any pass


@pytest.mark.parametrize("est", [SparseLogisticRegressionCV(cv=3, alphas=3),
                                 LogisticRegressionCV(cv=3, Cs=2, l1_ratios=[1.0],
                                                      scoring="accuracy",
                                                      use_legacy_attributes=False)],
                         ids=["SparseLogisticRegressionCV", "LogisticRegressionCV"])
def test_multinomial_beyond_the_limit_is_refused(client, est):
    X, y, _ = _data()
    y3 = np.digitize(X[:, 7], [-0.5, 0.5])
    key = ("multinomial", type(est).__name__)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}), \
            pytest.raises(ValueError, match=r"distributed proximal Newton \(p = n_features "
                          r"\* 3 classes\).*; .* with 3 classes has no wide route on dask "
                          r"input .*gathered on the client.*; select features first .* with "
                          r"few rows fit in memory: X.compute\(\) and y.compute\(\)"):
        clone(est).fit(_counted(X, key), _dask(y3)[0])
    assert _reads(key) == {}  # the labels only


# -- the multinomial single fit beyond the limit ------------------------------------------

MULTI_LIMIT = 45  # counts the coefficients: 15 features x 3 classes
MULTI_CASES = {
    "l1": (SparseLogisticRegression(alpha=0.06), {"weights": True}),
    "group": (SparseLogisticRegression(alpha=0.1, multiclass_penalty="group"),
              {"weights": True}),
    "elastic net, class_weight": (SparseLogisticRegression(alpha=0.1, l1_ratio=0.6,
                                                           class_weight="balanced"), {}),
    "no intercept": (SparseLogisticRegression(alpha=0.06, fit_intercept=False), {}),
    # (penalty_factor and bounds together fail in memory: ScaledSpec has no weights)
    "penalty_factor": (SparseLogisticRegression(
        alpha=0.05, penalty_factor=np.linspace(0.5, 2.0, P)), {"weights": True}),
    "bounds": (SparseLogisticRegression(alpha=0.06, bounds=(-0.3, 1.0)), {}),
    "sparse chunks": (SparseLogisticRegression(alpha=0.03), {"sparse": True}),
    "scikit-learn's spelling": (LogisticRegression(C=0.05, l1_ratio=1.0, solver="saga"),
                                {"weights": True}),
}


def _classes(sparse=False, seed=0):
    rng = np.random.default_rng(seed)
    if sparse:
        X = sp.random(N, P, density=0.3, random_state=seed, format="csr").toarray() * 3.0
    else:
        X = rng.standard_normal((N, P)) + rng.uniform(-2, 2, P)
    beta = np.zeros(P)
    beta[[1, 7, 22, 35]] = [1.0, -2.0, 0.7, 1.5]
    u = X @ beta + rng.standard_normal(N)
    return X, np.digitize(u, np.quantile(u, [1 / 3, 2 / 3])), rng.uniform(0.0, 2.0, N)


@pytest.mark.parametrize("name", sorted(MULTI_CASES))
def test_wide_multinomial_equals_in_memory(client, monkeypatch, name):
    """Three classes beyond the limit (p x 3 > limit): the in-memory coefficients and
    intercepts, certified by the full problem's gap, no Hessian wider than the limit."""
    est, opts = MULTI_CASES[name]
    est = clone(est).set_params(tol=1e-10)
    X, y, sw = _classes(opts.get("sparse", False))
    sw = sw if opts.get("weights") else None
    Xd, yd, swd = _dask(X, y, sw)
    if opts.get("sparse"):
        Xd = Xd.map_blocks(sp.csr_matrix)
    ref = clone(est).fit(sp.csc_matrix(X) if opts.get("sparse") else X, y, sample_weight=sw)
    support = np.count_nonzero(np.any(ref.coef_ != 0, axis=0))
    assert 0 < support * 3 < MULTI_LIMIT
    import sparsefit.distributed._logistic as lg

    widths = []
    real = lg._weighted_gram
    monkeypatch.setattr(lg, "_weighted_gram", lambda A, c: widths.append(A.shape[1]) or real(
        A, c))
    with dask.config.set({"sparsefit.gram_max_features": MULTI_LIMIT}):
        got = clone(est).fit(Xd, yd, sample_weight=swd)
    assert widths and max(widths) * 3 <= MULTI_LIMIT
    assert got.coef_.shape == ref.coef_.shape == (3, P)
    assert _close(ref.coef_, got.coef_), (ref.coef_, got.coef_)
    assert np.allclose(got.intercept_, ref.intercept_, rtol=RTOL, atol=1e-9)
    assert got.converged_ and 0.0 <= got.dual_gap_ <= 1e-10
    assert got.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-9)  # (by scoring)


# -- few rows, many features: the rows route ---------------------------------------------

def _genomics(n=60, p=300, seed=11):
    """Few rows, many features (the genomics shape): labels from 6 of the 300 features,
    chunks of unequal sizes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    beta = np.zeros(p)
    beta[rng.choice(p, 6, replace=False)] = rng.uniform(1.0, 2.0, 6)
    u = X @ beta + 0.5 * rng.standard_normal(n)
    y = (u > np.median(u)).astype(np.int64)
    rows = (n // 3, n // 4, n - n // 3 - n // 4)
    return X, y, (da.from_array(X, chunks=(rows, (p,))), da.from_array(y, chunks=(rows,)))


GENOMICS = {
    "SparseLogisticRegressionCV": SparseLogisticRegressionCV(
        cv=HashKFold(5, seed=2), alphas=20, eps=0.01),
    "SparseLogisticRegressionCV, elastic net, class_weight": SparseLogisticRegressionCV(
        cv=HashKFold(5, seed=2), alphas=10, eps=0.01, l1_ratios=[0.5, 1.0],
        class_weight="balanced"),
    "LogisticRegressionCV, l1, log-loss": LogisticRegressionCV(
        cv=HashKFold(5, seed=2), Cs=8, l1_ratios=[1.0], scoring="neg_log_loss",
        use_legacy_attributes=False),
}


NEWTON_REFUSAL = "SparseLogisticRegressionCV, elastic net, class_weight"  # the quickest


@pytest.mark.parametrize("name", sorted(GENOMICS))
def test_few_rows_many_features_take_the_rows_route_in_one_round(client, monkeypatch, route,
                                                                  name):
    """300 features on 60 rows, 5 folds, beyond the Hessians the workers hold (40
    columns for 5 folds): every kept column gathered once, every path solved from the
    rows, one round (null, gather, KKT passes: no Newton pass), the in-memory grid, scores,
    choice and model; the refit solved from the gathered columns too, certified by one
    pass over every feature (no wide Newton refit). The Newton route refuses it."""
    import sparsefit.distributed._cache as cache
    import sparsefit.distributed._wide_logistic as wl
    import sparsefit.distributed._wide_logistic_cv as wlc

    if route == "newton" and name != NEWTON_REFUSAL:
        pytest.skip("the Newton route's refusal is checked on one estimator (it runs its "
                    "Newton passes up to the limit first: 10-25 s each)")
    X, y, dask_xy = _genomics()
    est = clone(GENOMICS[name]).set_params(tol=1e-10)
    ref = clone(est).fit(X, y)
    assert 0 < np.count_nonzero(ref.coef_) < 60
    monkeypatch.setattr(cache, "worker_memory", lambda: 3 * 8 * 5 * 40 ** 2 / 0.35 + 1)
    seen, gathers = _record(monkeypatch), record_gathers(monkeypatch, "_wide_logistic_cv")
    newton = []
    real_pass = wlc.WideLogisticCV._newton_pass
    monkeypatch.setattr(wlc.WideLogisticCV, "_newton_pass", lambda self, view, reqs: (
        newton.append(len(reqs)), real_pass(self, view, reqs))[1])
    refits = []
    real_refit = wl.WideNewton.run
    monkeypatch.setattr(wl.WideNewton, "run", lambda self, *a: refits.append(1) or real_refit(
        self, *a))
    with dask.config.set({"sparsefit.gram_max_features": 100}):
        if route == "newton":
            with pytest.raises(ValueError, match=r"more than the 40 columns whose Hessians "
                               r".* or the 0 whose 60 rows the client gathers "
                               r"\(sparsefit.gather_max_bytes=0\)"):
                clone(est).fit(*dask_xy)
            return
        got = clone(est).fit(*dask_xy)
    (cvrun,) = seen["runs"]
    assert cvrun.rounds == 1 and gathers == [seen["first"][0].size] and not newton, (
        cvrun.rounds, gathers, newton)
    assert cvrun.n_passes == 4 and not refits  # null, gather, KKT and scores; the refit's
    assert got.converged_ and got.kkt_violation_ == pytest.approx(ref.kkt_violation_,
                                                                  rel=1e-3, abs=1e-12)
    assert _close(ref.coef_, got.coef_), (ref.coef_, got.coef_)
    assert np.allclose(got.intercept_, ref.intercept_, rtol=RTOL, atol=1e-9)
    if isinstance(est, SparseLogisticRegressionCV):
        for attr in ("alphas_", "loss_path_", "cv_mean_", "scores_"):
            _same(ref, got, attr)
        assert (got.alpha_, got.l1_ratio_) == pytest.approx((ref.alpha_, ref.l1_ratio_),
                                                            rel=1e-9)
    else:
        for attr in ("C_", "l1_ratio_", "scores_", "coefs_paths_"):
            _same(ref, got, attr)
        assert np.array_equal(got.n_iter_, ref.n_iter_)  # every C solved from zero, as in memory


def test_sparse_chunks_gather_by_their_entries(client, monkeypatch):
    """Sparse chunks: the client's budget counts the gathered columns' stored entries
    (from the null pass). Here it holds every column as CSR, 22 of the 40 counted dense,
    and the Newton route 16: the paths (whose supports and violators need all 40) are
    solved from gathered columns (dense counting refused them), with the in-memory
    answer."""
    X, y, sw = _data(sparse=True)
    budget = 32 * N + 12 * np.count_nonzero(X) + 64
    assert LIMIT < budget // (8 * N) < P
    est = SparseLogisticRegressionCV(cv=HashKFold(4, seed=3), alphas=10, tol=1e-10)
    ref = clone(est).fit(sp.csc_matrix(X), y, sample_weight=sw)
    assert 0 < np.count_nonzero(ref.coef_) < LIMIT
    gathers = record_gathers(monkeypatch, "_wide_logistic_cv")
    Xd, yd, swd = _dask(X, y, sw)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.gather_max_bytes": budget}):
        got = clone(est).fit(Xd.map_blocks(sp.csr_matrix), yd, sample_weight=swd)
    assert gathers and max(gathers) > budget // (8 * N), gathers
    assert _close(ref.coef_, got.coef_), (ref.coef_, got.coef_)
    for attr in ("alphas_", "loss_path_", "cv_mean_"):
        _same(ref, got, attr)
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-9)
