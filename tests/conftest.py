"""Fixtures shared by the test modules: ``client``, the dask cluster of the distributed
tests (module-scoped: a ``LocalCluster`` of 2 threaded workers, ``processes=False`` for
speed; the tests that need processes start their own; distributed is imported only when
a test asks for it).

Under pytest-xdist, numba compiles are serialized across the workers per kernel and
signature (:func:`_one_compile_per_kernel`): on a cold cache both workers otherwise
compile the same kernels at the same time (measured: 36% more CPU on the penalty and
solver tables), where one can compile and the other load the result from the cache."""

import contextlib
import hashlib
import os
import tempfile
import time

import pytest


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@contextlib.contextmanager
def _file_lock(path, timeout=600.0):
    """An exclusive ``flock`` on ``path``; after ``timeout`` seconds, go on without it (a
    slow compile elsewhere must not stop this one for good)."""
    import fcntl

    with open(path, "a") as fh:
        deadline = time.monotonic() + timeout
        locked = False
        while not locked:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _one_compile_per_kernel():
    """Wrap numba's ``Dispatcher.compile`` so that a kernel and signature compiles in one
    xdist worker at a time: the other waits, then finds it in the on-disk cache (numba
    looks there first). Locks follow the call graph (a caller's compile holds its lock
    while its callees compile), which has no cycle."""
    try:
        import fcntl  # noqa: F401  (POSIX only)

        from numba.core import dispatcher, sigutils
    except ImportError:
        return
    real = dispatcher.Dispatcher.compile
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(tempfile.gettempdir(), "sparsefit-numba-locks-"
                          + hashlib.sha1(here.encode()).hexdigest()[:12])
    os.makedirs(folder, exist_ok=True)

    def compile(self, sig):
        args, _ = sigutils.normalize_signature(sig)
        if tuple(args) in self.overloads or type(self._cache).__name__ == "NullCache":
            return real(self, sig)
        func = self.py_func
        key = hashlib.sha1(f"{func.__module__}.{func.__qualname__}{args}".encode())
        with _file_lock(os.path.join(folder, key.hexdigest())):
            return real(self, sig)

    dispatcher.Dispatcher.compile = compile


if os.environ.get("PYTEST_XDIST_WORKER"):
    _one_compile_per_kernel()
