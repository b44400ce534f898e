"""Estimators with no route for wide dask data (more features than the covariance or Newton
routes hold, and no wide route): gathered on the client when the data fit its budget
(``sparsefit.gather_max_bytes``) and fitted in memory, hence the in-memory answer; refused
beyond it with the bytes it would take, before reading ``X``."""

from __future__ import annotations

import threading
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

CHUNKS = (40, 25, 55)  # unequal on purpose
N, P, LIMIT = sum(CHUNKS), 30, 8

_LOCK = threading.Lock()
_READS: dict = {}


def _read(key, i, block):
    with _LOCK:
        _READS[(key, i)] = _READS.get((key, i), 0) + 1
    return block


def _counted(X, key):
    """``X`` (dense or CSR) whose chunks come from a counted "file read"."""
    blocks, start = [], 0
    for i, n in enumerate(CHUNKS):
        part = X[start:start + n]
        meta = sp.csr_matrix((0, X.shape[1])) if sp.issparse(X) else None
        blocks.append(da.from_delayed(dask.delayed(_read, pure=False)(key, i, part),
                                      shape=(n, X.shape[1]), dtype=X.dtype, meta=meta))
        start += n
    return da.concatenate(blocks, axis=0)


def _reads(key):
    with _LOCK:
        return sorted(c for (k, _), c in _READS.items() if k == key)


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
    """Every fitted attribute of the in-memory estimator, from one read of each dense
    chunk (sparse chunks: one more, to count their entries)."""
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
    assert _reads(key) == [2 if opts.get("sparse") else 1] * len(CHUNKS)
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
