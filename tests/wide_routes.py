"""The two routes of a wide cross-validation round, for the tests of
``test_distributed_widecv.py`` and ``test_distributed_widelogcv.py``: statistics of the
working set reduced on the workers (moments, Newton passes), or its columns gathered on
the client (``sparsefit.gather_max_bytes``)."""

import importlib

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
