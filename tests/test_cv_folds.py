"""Every CV estimator draws its folds once per fit: each ``l1_ratio`` of a grid is scored
on the same folds, as scikit-learn's (found by a hostile review: a shuffled splitter with
a ``RandomState`` drew new folds for every ratio, and a generator of splits was spent by
the first ratio). The table is every CV estimator of the registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import KFold, StratifiedKFold

from sparsefit import linear_model


def _ratio_grid(est):
    """The estimator's ratio parameter set to a grid of two ratios, or None."""
    params = est.get_params()
    for name, grid in (("l1_ratios", [0.5, 0.9]), ("l1_ratio", [0.5, 0.9])):
        if name in params:
            extra = {"penalty": "elasticnet"} if "penalty" in params and \
                name == "l1_ratios" else {}
            return {name: grid, **extra}
    return None


def _data(est):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8))
    y = X[:, 0] - 2 * X[:, 1] + rng.standard_normal(60)
    if is_classifier(est):
        y = (y > np.median(y)).astype(int)
    elif "MultiTask" in type(est).__name__:
        y = np.column_stack([y, X[:, 2] + rng.standard_normal(60)])
    return X, y


def _small(est):
    params = est.get_params()
    extra = {"use_legacy_attributes": False} if "use_legacy_attributes" in params else {}
    return clone(est).set_params(**{"Cs" if "Cs" in params else "alphas": 5, "tol": 1e-8},
                                 **extra)


def _fitted(est):
    names = ("coef_", "intercept_", "alpha_", "C_", "l1_ratio_")
    return {k: np.asarray(getattr(est, k)) for k in names if hasattr(est, k)}


CV_ESTIMATORS = sorted(n for n in linear_model.registry() if n.endswith("CV"))


@pytest.mark.parametrize("name", CV_ESTIMATORS)
def test_folds_are_drawn_once_per_fit(name):
    est = _small(linear_model.registry()[name]())
    grid = _ratio_grid(est)
    if grid is not None:
        est.set_params(**grid)
    X, y = _data(est)
    split = StratifiedKFold if is_classifier(est) else KFold
    folds = list(split(3, shuffle=True, random_state=np.random.RandomState(1)).split(X, y))
    ref = _fitted(clone(est).set_params(cv=folds).fit(X, y))
    drawn = _fitted(clone(est).set_params(
        cv=split(3, shuffle=True, random_state=np.random.RandomState(1))).fit(X, y))
    spent = _fitted(clone(est).set_params(cv=iter(folds)).fit(X, y))  # a generator
    for got in (drawn, spent):
        assert got.keys() == ref.keys()
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
