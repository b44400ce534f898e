"""The two routes of a wide cross-validation round, for the tests of
``test_distributed_widecv.py`` and ``test_distributed_widelogcv.py``: statistics of the
working set reduced on the workers (moments, Newton passes), or its columns gathered on
the client (``sparsefit.gather_max_bytes``)."""

import importlib
import threading

import dask
import pytest


def route_fixtures(other):
    """The fixtures ``route`` (a test taking it runs on both routes: ``other``, the
    statistics reduced on the workers, and ``"rows"``, the working set's columns gathered
    on the client) and ``_route`` (autouse: ``sparsefit.gather_max_bytes`` 1 GiB on the
    rows route, else 0, no column gathered, for the tests not taking ``route`` too)."""

    @pytest.fixture(params=[other, "rows"])
    def route(request):
        return request.param

    @pytest.fixture(autouse=True)
    def _route(request):
        rows = "route" in request.fixturenames and request.getfixturevalue("route") == "rows"
        with dask.config.set({"sparsefit.gather_max_bytes": 2 ** 30 if rows else 0}):
            yield

    return route, _route


def record_gathers(monkeypatch, module):
    """The columns of every gather pass of ``sparsefit.distributed.<module>`` (its
    ``gather_columns``), a list filled as the fit runs."""
    mod = importlib.import_module(f"sparsefit.distributed.{module}")
    widths = []
    real = mod.gather_columns
    monkeypatch.setattr(mod, "gather_columns", lambda data, cols, *a, **kw: (
        widths.append(cols.size), real(data, cols, *a, **kw))[1])
    return widths


_LOCK = threading.Lock()
_READS: dict = {}


def _read(key, i, block):
    with _LOCK:
        _READS[(key, i)] = _READS.get((key, i), 0) + 1
    return block


def counted_chunks(X, key, chunks):
    """``X`` (dense or CSR) as a dask array of the row chunks ``chunks``, each produced by
    a counted "file read" (:func:`chunk_reads`)."""
    import dask.array as da
    import scipy.sparse as sp

    blocks, start = [], 0
    meta = sp.csr_matrix((0, X.shape[1])) if sp.issparse(X) else None
    for i, n in enumerate(chunks):
        blocks.append(da.from_delayed(dask.delayed(_read, pure=False)(key, i, X[start:start + n]),
                                      shape=(n, X.shape[1]), dtype=X.dtype, meta=meta))
        start += n
    return da.concatenate(blocks, axis=0)


def chunk_reads(key):
    """``{chunk: reads}`` of the array :func:`counted_chunks` made with ``key``."""
    with _LOCK:
        return {i: c for (k, i), c in _READS.items() if k == key}
