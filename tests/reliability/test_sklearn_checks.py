"""Reliability item 3: every public estimator passes scikit-learn's ``check_estimator``;
each expected failure is listed with its reason."""

from __future__ import annotations

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from .test_estimators import ESTIMATORS as TABLE

# The one estimator table (tests/reliability/test_estimators.py), adjusted to what the
# common checks can afford: they fit many feature counts (GroupLasso, SparseGroupLasso
# ungrouped). Every estimator runs at its default tol: the CV estimators too, whose
# sample-weight checks compare the alpha_ chosen with weights and with repeated rows on
# a flat CV curve (they ran at tol 1e-10 until the multi-task polish became an
# active-set method: MultiTaskElasticNetCV's refit then stopped 2e-4 apart).
CHECK_SETTINGS = {
    "GroupLasso": {"groups": None},
    "SparseGroupLasso": {"groups": None},
}
ESTIMATORS = [clone(e).set_params(**CHECK_SETTINGS.get(name, {})) for name, e in TABLE.items()]

# Every check passes. (Keep a dict here, check name -> reason, for any check an estimator
# cannot pass, so the reason is written down.)
EXPECTED_FAILURES: dict = {}


def test_the_settings_name_estimators_of_the_table():
    assert set(CHECK_SETTINGS) <= set(TABLE)


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est).__name__, {}))
def test_sklearn_common_checks(estimator, check):
    check(estimator)
