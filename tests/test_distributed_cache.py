"""Multi-pass fits on dask input read each chunk once when the data fit in the workers'
memory (``dask.config`` ``sparsefit.persist``, :mod:`sparsefit.distributed._cache`), and
the model is the same whether the chunks were persisted or read again at every pass."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("distributed")
import dask  # noqa: E402
import dask.array as da  # noqa: E402

import sparsefit.distributed._cache as cache  # noqa: E402
from sparsefit.distributed._data import as_dask_data  # noqa: E402
from sparsefit.linear_model import GroupLasso, Lasso, SparseLogisticRegression  # noqa: E402

CHUNKS = (90, 60, 150)
P = 30


_LOCK = threading.Lock()
_COUNTS: dict = {}


def _read(key, i, block):
    """A chunk's "file read": counted (the workers are threads of this process; the graph
    is pickled, so the counter lives at module level)."""
    with _LOCK:
        _COUNTS[(key, i)] = _COUNTS.get((key, i), 0) + 1
    return block


class Reads:
    """The reads of every chunk of one dask array made by :func:`_counted`."""

    _next = iter(range(10**9))

    def __init__(self):
        self.key = next(Reads._next)

    @property
    def count(self):
        with _LOCK:
            return {i: c for (k, i), c in _COUNTS.items() if k == self.key}


def _data(sparse):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((sum(CHUNKS), P))
    if sparse:
        X[rng.random(X.shape) < 0.7] = 0.0
    y = X[:, :3] @ [1.5, -2.0, 1.0] + 0.3 * rng.standard_normal(X.shape[0])
    return X, y


def _counted(X, reads, sparse):
    """``X`` as a dask array whose chunks are produced by ``reads.read`` (a file read)."""
    blocks, start = [], 0
    for i, n in enumerate(CHUNKS):
        part = X[start:start + n]
        part = sp.csr_matrix(part) if sparse else part
        meta = sp.csr_matrix((0, P)) if sparse else np.empty((0, P))
        blocks.append(da.from_delayed(dask.delayed(_read, pure=False)(reads.key, i, part),
                                      shape=(n, P), dtype=np.float64, meta=meta))
        start += n
    return da.concatenate(blocks, axis=0)


CASES = {
    "logistic, dense": (SparseLogisticRegression(alpha=0.02, tol=1e-10), False, None),
    "logistic, sparse chunks": (SparseLogisticRegression(alpha=0.02, tol=1e-10), True, None),
    # beyond the covariance route's limit: the wide route's passes
    "wide lasso, sparse chunks": (Lasso(alpha=0.05, tol=1e-10), True, 8),
    "wide group lasso": (GroupLasso(alpha=0.05, groups=3, tol=1e-10), False, 9),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_multi_pass_fit_reads_each_chunk_once_when_it_fits(client, name):
    from sklearn.base import clone

    est, sparse, limit = CASES[name]
    X, y = _data(sparse)
    if isinstance(est, SparseLogisticRegression):
        y = (y > 0).astype(int)
    ref = clone(est).fit(sp.csc_matrix(X) if sparse else X, y)
    got = {}
    for setting in ("auto", False):
        reads = Reads()
        conf = {"sparsefit.persist": setting}
        if limit is not None:
            conf["sparsefit.gram_max_features"] = limit
        with dask.config.set(conf):
            fitted = clone(est).fit(_counted(X, reads, sparse),
                                    da.from_array(y, chunks=(CHUNKS,)))
        got[setting] = (fitted, reads.count)
    once, again = got["auto"][1], got[False][1]
    # auto: one read each (the size estimate's read of chunk 0, for sparse chunks, is the
    # one the persisted data keep)
    assert once == {i: 1 for i in range(len(CHUNKS))}, once
    assert min(again.values()) >= 2, again  # without persisting, every pass reads again
    for setting, (fitted, _) in got.items():
        np.testing.assert_allclose(fitted.coef_, ref.coef_, rtol=1e-6,
                                   atol=1e-6 * np.abs(ref.coef_).max(), err_msg=str(setting))
    np.testing.assert_array_equal(got["auto"][0].coef_, got[False][0].coef_)


def test_auto_does_not_persist_what_does_not_fit(client, monkeypatch):
    X, y = _data(False)
    y = (y > 0).astype(int)
    monkeypatch.setattr(cache, "PERSIST_FRACTION", 1e-12)
    reads = Reads()
    SparseLogisticRegression(alpha=0.02).fit(_counted(X, reads, False),
                                             da.from_array(y, chunks=(CHUNKS,)))
    assert min(reads.count.values()) >= 2


def test_the_size_estimate_and_the_setting():
    X, y = _data(True)
    reads = Reads()
    data = as_dask_data(_counted(X, reads, True), da.from_array(y, chunks=(CHUNKS,)))
    est = cache.estimated_bytes(data)
    first = sp.csr_matrix(X[:CHUNKS[0]])
    size0 = first.data.nbytes + first.indices.nbytes + first.indptr.nbytes
    assert est == pytest.approx((size0 + 16 * CHUNKS[0]) * len(CHUNKS))
    dense = as_dask_data(da.from_array(X, chunks=(CHUNKS, P)),
                               da.from_array(y, chunks=(CHUNKS,)))
    assert cache.estimated_bytes(dense) == X.shape[0] * (8 * P + 16)
    with dask.config.set({"sparsefit.persist": "sometimes"}), \
            pytest.raises(ValueError, match="'sparsefit.persist' must be 'auto', True or "
                          "False, got 'sometimes'"):
        cache.persist_setting()
    with dask.config.set({"sparsefit.persist": "False"}):
        assert cache.persist_setting() is False


def test_persisted_wide_fits_start_from_a_small_working_set(client, monkeypatch):
    """In memory a round of the wide route reads no file: its first working set is at most
    FIRST_IN_MEMORY columns (the KKT passes bring the rest), and the answer is the same."""
    import sparsefit.distributed._wide as wide

    X, y = _data(False)
    widths = []
    real = wide.moments_pass
    monkeypatch.setattr(wide, "moments_pass", lambda data, **kw: widths.append(
        kw["cols"].size) or real(data, **kw))
    monkeypatch.setattr(wide, "FIRST_IN_MEMORY", 2)
    ref = Lasso(alpha=0.05, tol=1e-10).fit(X, y)
    assert np.count_nonzero(ref.coef_) > 2
    with dask.config.set({"sparsefit.gram_max_features": 20}):
        got = Lasso(alpha=0.05, tol=1e-10).fit(_counted(X, Reads(), False),
                                               da.from_array(y, chunks=(CHUNKS,)))
    assert widths[0] <= 2 < max(widths) <= 20, widths
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-6,
                               atol=1e-6 * np.abs(ref.coef_).max())
    widths.clear()
    with dask.config.set({"sparsefit.gram_max_features": 20, "sparsefit.persist": False}):
        Lasso(alpha=0.05, tol=1e-10).fit(_counted(X, Reads(), False),
                                         da.from_array(y, chunks=(CHUNKS,)))
    assert widths[0] > 2  # read from the source: the first set takes half the limit


def test_a_refused_fit_reads_no_chunk(client):
    """The decision to persist is made where the multi-pass work starts: an option the
    route refuses fails before any chunk is read (not after reading all of them)."""
    from sparsefit.distributed import DaskInputError
    from sparsefit.linear_model import LogisticRegression

    X, y = _data(True)
    reads = Reads()
    with pytest.raises(ValueError, match="dual=True"):
        LogisticRegression(dual=True).fit(_counted(X, reads, True),
                                          da.from_array((y > 0).astype(int),
                                                        chunks=(CHUNKS,)))
    Y = da.from_array(np.column_stack([y, -y]), chunks=(CHUNKS, 2))
    with dask.config.set({"sparsefit.gram_max_features": 8}), \
            pytest.raises(DaskInputError, match="a 2-D y with more features"):
        Lasso(alpha=0.05).fit(_counted(X, reads, True), Y)
    assert reads.count == {}
