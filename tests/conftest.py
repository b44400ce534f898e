"""Fixtures shared by the test modules: ``client``, the dask cluster of the distributed
tests (module-scoped: a ``LocalCluster`` of 2 threaded workers, ``processes=False`` for
speed; the tests that need processes start their own; distributed is imported only when
a test asks for it)."""

import pytest


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c
