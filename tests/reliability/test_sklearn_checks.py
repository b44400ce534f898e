"""Reliability item 3: every public estimator passes scikit-learn's ``check_estimator``;
each expected failure is listed with its reason."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsefit.linear_model import (
    AdaptiveLasso,
    ElasticNet,
    ElasticNetCV,
    FusedLasso,
    GroupLasso,
    Lasso,
    LassoCV,
    LogSumRegressor,
    MCPRegressor,
    PriorLasso,
    PriorLassoCV,
    RelaxedLasso,
    RelaxedLassoCV,
    SCADRegressor,
    SparseGroupLasso,
    SparseLogisticRegression,
    SparseLogisticRegressionCV,
)

# One row per public estimator, in a configuration the common checks can afford (ungrouped
# GroupLasso: the checks use many feature counts; tight tol where results are compared).
ESTIMATORS = [
    Lasso(alpha=0.1),
    ElasticNet(alpha=0.1),
    LassoCV(n_alphas=5, cv=3, tol=1e-10),
    ElasticNetCV(n_alphas=5, cv=3, tol=1e-10),
    SparseLogisticRegression(alpha=0.01),
    SparseLogisticRegressionCV(n_alphas=5, cv=3),
    GroupLasso(alpha=0.1),
    SparseGroupLasso(alpha=0.1),
    AdaptiveLasso(alpha=0.1),
    MCPRegressor(alpha=0.1),
    SCADRegressor(alpha=0.1),
    LogSumRegressor(alpha=0.1),
    RelaxedLasso(alpha=0.1),
    RelaxedLassoCV(n_alphas=5, cv=3, tol=1e-10),
    PriorLasso(alpha=0.1),
    PriorLassoCV(etas=(0.0, 1.0), n_alphas=5, cv=3, tol=1e-10),
    FusedLasso(alpha=0.1),
]

# No expected failures: every check passes. (Keep a dict here, check name -> reason, for any
# check an estimator cannot pass, so the reason is written down.)
EXPECTED_FAILURES = {}


def test_the_table_covers_every_registered_estimator():
    from sparsefit import linear_model

    missing = set(linear_model.registry()) - {type(e).__name__ for e in ESTIMATORS}
    assert not missing, f"add rows for {sorted(missing)} to ESTIMATORS"


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est).__name__, {}))
def test_sklearn_common_checks(estimator, check):
    check(estimator)
