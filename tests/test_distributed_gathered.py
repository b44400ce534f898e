"""Estimators with no route for wide dask data (more features than the covariance or Newton
routes hold, and no wide route): gathered on the client when the data fit its budget
(``sparsefit.gather_max_bytes``) and fitted in memory, hence the in-memory answer; refused
beyond it with the bytes it would take, before reading ``X``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")
import dask.array as da  # noqa: E402

from sparsefit.linear_model import (  # noqa: E402
    FusedLasso,
    HashKFold,
    LogisticRegressionCV,
    MultiTaskElasticNetCV,
    MultiTaskLassoCV,
    PriorLassoCV,
    SparseLogisticRegressionCV,
)
from tests.wide_routes import chunk_reads, counted_chunks  # noqa: E402

CHUNKS = (40, 25, 55)  # unequal on purpose
N, P, LIMIT = sum(CHUNKS), 30, 8

def _counted(X, key):
    """``X`` (dense or CSR) whose chunks come from a counted "file read"."""
    return counted_chunks(X, (__name__, key), CHUNKS)


def _reads(key):
    return sorted(chunk_reads((__name__, key)).values())


def _dask(v):
    return None if v is None else da.from_array(v, chunks=(CHUNKS,) + v.shape[1:])


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P)) + rng.uniform(-1, 1, P)
    u = X[:, 1] - 2 * X[:, 7] + 0.5 * rng.standard_normal(N)
    return X, u, rng.uniform(0.2, 2.0, N)


def _targets(kind, X, u):
    if kind == "classes":
        return np.digitize(u, np.quantile(u, [1 / 3, 2 / 3]))
    if kind == "binary":
        return (u > np.median(u)).astype(np.int64)
    if kind == "tasks":
        return np.c_[u, X[:, 3] - u]
    return u


#: name: (estimator, target kind, options); every one beyond the limit has no wide route
CASES = {
    "multinomial SparseLogisticRegressionCV, sample weights": (
        SparseLogisticRegressionCV(cv=HashKFold(3, seed=1), alphas=6), "classes",
        {"weights": True}),
    "multinomial SparseLogisticRegressionCV, group penalty, sparse chunks": (
        SparseLogisticRegressionCV(cv=3, alphas=4, multiclass_penalty="group"), "classes",
        {"sparse": True}),
    "multinomial LogisticRegressionCV, groups": (
        LogisticRegressionCV(cv=HashKFold(3, seed=2), Cs=3, l1_ratios=[1.0],
                             scoring="neg_log_loss", use_legacy_attributes=False),
        "classes", {"groups": True}),
    "binary SparseLogisticRegressionCV, pure L2": (
        SparseLogisticRegressionCV(cv=3, l1_ratios=[0.0, 1.0], alphas=[0.1, 0.01]),
        "binary", {}),
    "MultiTaskLassoCV": (MultiTaskLassoCV(cv=3, alphas=5), "tasks", {"weights": True}),
    "MultiTaskElasticNetCV, two ratios": (
        MultiTaskElasticNetCV(cv=HashKFold(3, seed=4), l1_ratio=[0.5, 1.0], alphas=4),
        "tasks", {}),
    "PriorLassoCV": (PriorLassoCV(prior_features=[1, 7], cv=3, alphas=5), "y", {}),
    "FusedLasso": (FusedLasso(alpha=0.05), "y", {"weights": True}),
}


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return est.fit(X, y, **kw)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gathered_fit_is_the_in_memory_fit(client, name):
    """Every fitted attribute of the in-memory estimator, from one read of each chunk
    (sparse chunks that fit the budget even counted dense are not counted first)."""
    est, kind, opts = CASES[name]
    X, u, sw = _data()
    y = _targets(kind, X, u)
    Xm = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0)) if opts.get("sparse") else X
    kw = {"sample_weight": sw} if opts.get("weights") else {}
    groups = np.repeat(np.arange(N // 4), 4) if opts.get("groups") else None
    import sklearn

    with sklearn.config_context(enable_metadata_routing=groups is not None):
        ref = _fit(clone(est), Xm, y, **kw, **({"groups": groups} if groups is not None
                                               else {}))
        key = ("fit", name)
        dkw = {k: _dask(v) for k, v in kw.items()}
        if groups is not None:
            dkw["groups"] = _dask(groups)
        with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
            got = _fit(clone(est), _counted(Xm, key), _dask(y), **dkw)
    assert _reads(key) == [1] * len(CHUNKS)
    assert set(vars(got)) == set(vars(ref)), set(vars(got)) ^ set(vars(ref))
    for attr, a in vars(ref).items():
        b = getattr(got, attr)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14, err_msg=attr)
    assert repr(got.get_params()) == repr(est.get_params())  # the user's cv, untouched


def test_beyond_the_budget_the_refusal_stands_before_reading_x(client):
    X, u, _ = _data()
    key = ("refused", 0)
    est = MultiTaskLassoCV(cv=3)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                          "sparsefit.gather_max_bytes": 8 * N * P}), \
            pytest.raises(ValueError, match=r"^MultiTaskLassoCV on dask input: X has p=30 "
                          r"features, more than the 8 of the one-pass covariance route.* "
                          r"Gathering the data to fit in memory would take 30,720 bytes on "
                          r"the client, more than sparsefit.gather_max_bytes=28,800 "
                          r"\(raise it if the client holds them\)\.$"):
        est.fit(_counted(X, key), _dask(_targets("tasks", X, u)))
    assert _reads(key) == []
    assert not hasattr(est, "coef_")


def test_a_chunk_with_nan_is_named(client):
    X, u, _ = _data()
    X[70, 3] = np.nan
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}), \
            pytest.raises(ValueError, match=r"NaN or infinity in chunk 2 \(rows 65\.\.119\)"):
        PriorLassoCV(prior_features=[1], cv=3).fit(_dask(X), _dask(u))


def test_a_dask_dataframe_keeps_its_feature_names(client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X, u, _ = _data()
    y = _targets("classes", X, u)
    cols = [f"f{j}" for j in range(P)]
    frame = dd.from_pandas(pd.DataFrame(X, columns=cols), npartitions=3)
    est = SparseLogisticRegressionCV(cv=3, alphas=4)
    ref = clone(est).fit(pd.DataFrame(X, columns=cols), y)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(frame, dd.from_pandas(pd.Series(y), npartitions=3))
    assert list(got.feature_names_in_) == cols
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)


def test_sparse_chunks_beyond_the_dense_bound_are_counted_by_their_entries(client):
    """Sparse chunks whose dense size passes the budget: one read counts their entries;
    within the budget they are gathered (one more read), beyond it refused."""
    X, u, _ = _data()
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1.5, X, 0.0))
    need = 12 * Xs.nnz + 8 * N * 2
    assert need < 8 * N * P
    est = MultiTaskLassoCV(cv=3, alphas=4)
    y = _targets("tasks", X, u)
    ref = clone(est).fit(Xs, y)
    for budget, key in ((need, ("entries", "fits")), (need - 1, ("entries", "refused"))):
        with dask.config.set({"sparsefit.gram_max_features": LIMIT,
                              "sparsefit.gather_max_bytes": budget}):
            if budget == need:
                got = clone(est).fit(_counted(Xs, key), _dask(y))
                np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
                assert _reads(key) == [2] * len(CHUNKS)
            else:
                with pytest.raises(ValueError, match=rf"would take {need:,} bytes"):
                    clone(est).fit(_counted(Xs, key), _dask(y))
                assert _reads(key) == [1] * len(CHUNKS)


def test_prior_features_by_name_on_a_dask_dataframe(client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X, u, _ = _data()
    cols = [f"f{j}" for j in range(P)]
    est = PriorLassoCV(prior_features=["f1", "f7"], cv=3, alphas=4)
    ref = clone(est).fit(pd.DataFrame(X, columns=cols), u)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(dd.from_pandas(pd.DataFrame(X, columns=cols), npartitions=3),
                             dd.from_pandas(pd.Series(u), npartitions=3))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    assert list(got.feature_names_in_) == cols


@pytest.mark.parametrize("routing", [False, True])
def test_groups_give_the_dask_folds_whatever_the_routing(client, routing):
    """``groups`` on dask folds by the hashed groups (``HashKFold(cv, 0)`` for an integer
    ``cv``): the gathered fit uses the same folds as the narrow dask route, with or
    without scikit-learn's metadata routing (the in-memory fit sees no ``groups``)."""
    import sklearn

    X, u, _ = _data()
    y = _targets("tasks", X, u)
    groups = np.random.default_rng(1).permutation(np.repeat(np.arange(N // 4), 4))
    with sklearn.config_context(enable_metadata_routing=routing):
        for cv in (3, HashKFold(3, seed=2)):
            est = MultiTaskLassoCV(cv=cv, alphas=6)
            narrow = clone(est).fit(_dask(X), _dask(y), groups=_dask(groups))
            with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
                got = clone(est).fit(_dask(X), _dask(y), groups=_dask(groups))
            assert got.alpha_ == pytest.approx(narrow.alpha_, rel=1e-12)
            np.testing.assert_allclose(got.mse_path_, narrow.mse_path_, rtol=1e-8)


def test_warm_start_starts_from_the_fitted_state(client):
    X, u, _ = _data()
    est = FusedLasso(alpha=0.05, max_iter=3, warm_start=True)
    ref = clone(est)
    got = clone(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            ref.fit(X, u)
            with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
                got.fit(_dask(X), _dask(u))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)


def test_a_dense_chunk_among_sparse_ones(client):
    X, u, _ = _data()
    y = _targets("classes", X, u)
    Xz = np.where(np.abs(X) > 1.0, X, 0.0)
    blocks = [sp.csr_matrix(Xz[:40]), Xz[40:65], sp.csr_matrix(Xz[65:])]
    Xd = da.concatenate([da.from_delayed(dask.delayed(b), shape=b.shape, dtype=np.float64,
                                         meta=sp.csr_matrix((0, P))) for b in blocks])
    est = SparseLogisticRegressionCV(cv=3, alphas=4)
    ref = clone(est).fit(sp.csr_matrix(Xz), y)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = clone(est).fit(Xd, _dask(y))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)


def test_a_single_fit_whose_working_set_outgrows_the_limit_is_gathered(client):
    """The wide single fits refuse a working set beyond the limit after their passes:
    with data the client holds, the fit is gathered instead (a multinomial
    LogisticRegression whose 30 features x 3 classes pass a limit of 8)."""
    from sparsefit.linear_model import LogisticRegression

    X, u, _ = _data()
    y = _targets("classes", X, u)
    ref = LogisticRegression(C=10.0, l1_ratio=1.0).fit(X, y)
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}):
        got = LogisticRegression(C=10.0, l1_ratio=1.0).fit(_dask(X), _dask(y))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)


def test_an_error_of_the_in_memory_fit_is_not_chained_to_the_refusal(client):
    X, u, _ = _data()
    with dask.config.set({"sparsefit.gram_max_features": LIMIT}), \
            pytest.raises(ValueError, match="non-zero") as info:
        MultiTaskLassoCV(cv=3).fit(_dask(X), _dask(_targets("tasks", X, u)),
                                   sample_weight=_dask(np.zeros(N)))
    from sparsefit.distributed._pass import TooWideError

    assert not isinstance(info.value.__context__, TooWideError)


def test_a_continuous_target_for_a_classifier_cv_says_so(client):
    """(The stratified folds' pass read the labels first and said "n_splits=3 cannot be
    greater than the number of members in each class".)"""
    X, u, _ = _data()
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SparseLogisticRegressionCV(cv=3).fit(_dask(X), _dask(u))
