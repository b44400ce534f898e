"""pytest plumbing of the scikit-learn upstream harness: scikit-learn's global fixtures,
the NOT_APPLICABLE skips, the KNOWN_FAILURES strict xfails, the control reduction and a
per-test timeout. Only items of this directory are touched."""

from __future__ import annotations

import faulthandler
import os
import signal

import pytest

from ._harness import lookup, upstream_id
from .known_failures import KNOWN_FAILURES
from .selection import CONTROL_ONE_PARAMETRIZATION_ONLY, NOT_APPLICABLE

#: Seconds one upstream test may run before it fails as hung (SIGALRM raises in the test).
#: The slowest, test_linear_models_cv_fit_with_loky[ElasticNetCV], takes 4 s with
#: scikit-learn's classes and 17 s with sparsefit's alone, but went past 60 s once on these
#: shared 2 cores under a load of 7 (its loky workers import sparsefit and load the numba
#: kernels): hence the margin.
TIMEOUT = float(os.environ.get("SPARSEFIT_UPSTREAM_TIMEOUT", "180"))
#: A hang inside compiled code never returns to the interpreter, so SIGALRM cannot interrupt
#: it; past this many further seconds faulthandler dumps every thread's stack and ends the
#: process (exit status 1): a loud failure instead of a CI job that never ends.
HARD_GRACE = 60.0

_SEEN = pytest.StashKey[dict]()


class UpstreamTimeout(Exception):
    """An upstream test ran past :data:`TIMEOUT`."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "thread_unsafe: scikit-learn's marker for pytest-run-parallel (unused)")


def pytest_generate_tests(metafunc):
    # scikit-learn's own parametrization of the global_random_seed fixture (42 unless
    # SKLEARN_TESTS_GLOBAL_RANDOM_SEED says otherwise), as in its conftest
    if "global_random_seed" in metafunc.fixturenames:
        from sklearn.conftest import pytest_generate_tests as sklearn_generate_tests

        sklearn_generate_tests(metafunc)


def _control_representatives(items):
    """First parametrization of each (file, test) of the control run."""
    seen, keep = set(), set()
    for item in items:
        up = upstream_id(item)
        if up and up[1] == "control":
            key = up[2].split("[", 1)[0]
            if key not in seen:
                seen.add(key)
                keep.add(item.nodeid)
    return keep


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect: the list check sees every id
def pytest_collection_modifyitems(session, config, items):
    seen = config.stash.setdefault(_SEEN, {})
    representatives = (_control_representatives(items) if CONTROL_ONE_PARAMETRIZATION_ONLY
                       else None)
    for item in items:
        up = upstream_id(item)
        if up is None:
            continue
        filename, impl, uid = up
        seen.setdefault(impl, set()).add(uid)
        key, reason = lookup(NOT_APPLICABLE, uid)
        if key:
            item.add_marker(pytest.mark.skip(reason=f"NOT_APPLICABLE: {reason}"))
            continue
        if impl == "control":
            if representatives is not None and item.nodeid not in representatives:
                item.add_marker(pytest.mark.skip(
                    reason="control run: one parametrization per test (selection.py)"))
            continue
        key, entry = lookup(KNOWN_FAILURES, uid)
        if key:
            category, why = entry
            # "borderline": measured at the test's own tolerance (it passes in some
            # processes), so an XPASS is not an error there
            item.add_marker(pytest.mark.xfail(
                strict=category != "borderline", reason=f"KNOWN_FAILURES [{category}] {why}"))


def listed_ids_seen(config):
    """``{impl: set of upstream ids}`` this session collected (empty if none)."""
    return config.stash.get(_SEEN, {})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if upstream_id(item) is None or not hasattr(signal, "SIGALRM"):
        return (yield)

    def on_alarm(signum, frame):
        raise UpstreamTimeout(f"{item.nodeid} still running after {TIMEOUT:g} s "
                              "(SPARSEFIT_UPSTREAM_TIMEOUT): counted as a hang")

    hard = not (item.config.getini("faulthandler_timeout") or 0)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
    if hard:
        faulthandler.dump_traceback_later(TIMEOUT + HARD_GRACE, exit=True)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if hard:
            faulthandler.cancel_dump_traceback_later()
