"""Reliability items 6 (overflow-prone data) and 16 (fuzzing estimators and penalties)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sparsefit import penalties as P

from .test_estimators import ESTIMATORS, targets

# 6. overflow-prone data --------------------------------------------------------------------

@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("scale", [1e200, 1e160])
def test_huge_data_is_refused_with_advice_never_nan_or_silent_zero(name, scale):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = 2 * X[:, 0] + 0.1 * rng.normal(size=40)
    est = clone(ESTIMATORS[name])
    if is_classifier(est):
        y = (y > 0).astype(int)
    else:
        y = y * scale
    with pytest.raises(ValueError, match="[Rr]escale"):
        est.fit(X * scale, y)


@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "GroupLasso", "SparseLogisticRegression"])
def test_large_but_safe_scale_gives_the_scaled_solution(name):
    # 1e60 is safe: the problem is the same up to the scaling of alpha (Lasso: alpha*s^2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = 2 * X[:, 0] + 0.1 * rng.normal(size=40)
    est = clone(ESTIMATORS[name])
    if is_classifier(est):
        y = (y > 0).astype(int)
        ref = clone(est).fit(X, y)
        big = clone(est).fit(X * 1e100, y)
        assert np.all(np.isfinite(big.coef_))
        assert np.count_nonzero(big.coef_) > 0
        return
    s = 1e60
    ref = clone(est).fit(X, y)
    big = clone(est).set_params(alpha=est.alpha * s * s).fit(X * s, y * s)
    np.testing.assert_allclose(big.coef_, ref.coef_, rtol=1e-5, atol=1e-8)
    del s


# 16. fuzzing ---------------------------------------------------------------------------------

DOCUMENTED = (ValueError, InvalidParameterError, TypeError)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    p = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    X = draw(arrays(dtype, (n, p), elements=st.floats(-1e3, 1e3, width=32)))
    y = draw(arrays(np.float64, n, elements=st.floats(-1e3, 1e3)))
    if draw(st.booleans()):
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, p - 1))
        X = X.copy()
        X[i, j] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    alpha = draw(st.one_of(st.floats(0, 10), st.sampled_from([-1.0, np.nan, np.inf])))
    return X, y, alpha


@pytest.mark.parametrize("name", ESTIMATORS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_fuzz_estimators_give_finite_results_or_documented_errors(name, problem):
    X, y, alpha = problem
    est = clone(ESTIMATORS[name])
    if is_classifier(est):
        y = (y > np.median(y)).astype(int)
    y = targets(name, y)
    if "alpha" in est.get_params():
        est.set_params(alpha=alpha)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            est.fit(X, y)
    except DOCUMENTED:
        return
    assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))
    pred = est.predict(X)
    assert np.all(np.isfinite(pred)) if pred.dtype.kind == "f" else pred.shape == (len(y),)


PENALTY_FACTORIES = [
    lambda a: P.L1(a), lambda a: P.L2(a), lambda a: P.L1L2(a, a), lambda a: P.MCP(a, 3.0),
    lambda a: P.SCAD(a, 3.7), lambda a: P.GroupL1(a), lambda a: P.SparseGroupL1(a, 0.5),
    lambda a: P.TV1D(a),
]


@pytest.mark.parametrize("k", range(len(PENALTY_FACTORIES)))
@settings(max_examples=40, deadline=None)
@given(w=arrays(st.sampled_from([np.float64, np.float32]), st.integers(0, 8),
                elements=st.floats(-1e6, 1e6, width=32)),
       alpha=st.one_of(st.floats(0, 1e3), st.sampled_from([-1.0, np.nan, np.inf])),
       step=st.one_of(st.floats(0, 1e3), st.sampled_from([-1.0, np.nan, np.inf])))
def test_fuzz_penalties_give_finite_results_or_value_errors(k, w, alpha, step):
    try:
        pen = PENALTY_FACTORIES[k](alpha)
        z = pen.prox(w, step)
        v = pen.value(w)
    except ValueError:
        return
    assert z.shape == w.shape and np.all(np.isfinite(z))
    assert np.isfinite(v)
