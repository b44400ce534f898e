"""Common machinery of the datafits: ``F(w, b) = sum_i sw_i * f_i(x_i @ w + b)``."""

from __future__ import annotations

import numpy as np

from ._kernels import col_sq_norms_w
from ._validation import (
    as_column_store,
    check_coef,
    linear_predictor,
    normalize_sample_weight,
    xt_times,
)


class BaseDatafit:
    """A loss ``F(w, b) = sum_i sw_i f_i(x_i w + b)`` with normalized sample weights
    (``sum_i sw_i = 1``, so the unweighted loss is a mean).

    Subclasses define the per-sample pieces on the linear predictor ``u = X w + b``:
    ``_value_u``, ``_raw_grad`` (``dF/du``), ``_hess_bound`` (a bound on ``f_i''``),
    ``_dual_value`` (``-F*(-theta)``) and ``_optimal_intercept``.
    """

    #: upper bound on the second derivative of ``f_i`` (Lipschitz constant of ``f_i'``)
    _hess_bound = 1.0
    n_classes = None

    # -- public API on (X, y, coef) ------------------------------------------------------
    def check_y(self, y, n):
        """Validate ``y`` against ``n`` samples; return the float64 array the kernels use."""
        raise NotImplementedError

    def value(self, X, y, coef, intercept=0.0, sample_weight=None):
        """Loss value at ``(coef, intercept)``."""
        store, y, sw = self._prepare(X, y, sample_weight)
        coef = check_coef(coef, store.p, n_classes=self.n_classes)
        return self._value_u(y, linear_predictor(store, coef, intercept), sw)

    def gradient(self, X, y, coef, intercept=0.0, sample_weight=None):
        """Gradient with respect to ``coef``: ``X.T @ dF/du``."""
        store, y, sw = self._prepare(X, y, sample_weight)
        coef = check_coef(coef, store.p, n_classes=self.n_classes)
        u = linear_predictor(store, coef, intercept)
        return xt_times(store, self._raw_grad(y, u, sw))

    def lipschitz(self, X, sample_weight=None):
        """Per-coordinate Lipschitz constants of the gradient:
        ``L_j = c * sum_i sw_i X_ij^2`` (``c`` bounds ``f_i''``)."""
        store = as_column_store(X)
        sw = normalize_sample_weight(sample_weight, store.n)
        out = np.empty(store.p)
        col_sq_norms_w(*store.args, store.p, sw, out)
        return self._hess_bound * out

    def dual_value(self, y, theta, sample_weight=None):
        """Dual objective of the loss part, ``-F*(-theta)``, at a dual point ``theta``."""
        y = self.check_y(y, np.shape(y)[0])
        sw = normalize_sample_weight(sample_weight, y.shape[0])
        return self._dual_value(y, np.asarray(theta, dtype=np.float64), sw)

    # -- helpers ---------------------------------------------------------------------------
    def _prepare(self, X, y, sample_weight):
        store = as_column_store(X)
        y = self.check_y(y, store.n)
        sw = normalize_sample_weight(sample_weight, store.n)
        return store, y, sw

    def dual_point(self, y, u, sw, fit_intercept):
        """Dual candidate ``theta = -dF/du`` at ``u``, shifted by the optimal intercept when
        fitting one, so that ``sum(theta) == 0`` (dual feasibility for the intercept)."""
        if fit_intercept:
            u = u + self._optimal_intercept(y, u, sw)
        return -self._raw_grad(y, u, sw)

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


def newton_intercept(datafit, y, u, sw, max_iter=50):
    """The intercept ``b`` minimizing ``F(u + b)``: damped Newton with the datafit's
    ``_intercept_newton_step(y, u, sw) -> (gradient, Newton step)``.

    Far from the optimum the steps are damped by Armijo halving. Once the Newton decrement
    ``g . step`` is below ``1e-8 F`` (the quadratic region, where F can no longer resolve
    the decrease a line search would test), full steps are taken until the decrement
    stops falling: that is the rounding floor.
    """
    shape = np.shape(u)[1:]
    b = np.zeros(shape) if shape else 0.0
    f = None
    prev = np.inf
    for _ in range(max_iter):
        g, step = datafit._intercept_newton_step(y, u + b, sw)
        decrement = float(np.sum(np.multiply(g, step)))
        if not decrement > 0.0 or decrement >= 0.5 * prev:
            break
        if f is None:
            f = datafit._value_u(y, u + b, sw)
        if decrement <= 1e-8 * abs(f):
            b = b - step
            prev = decrement
            continue
        t = 1.0
        while t >= 1e-10:
            fn = datafit._value_u(y, u + (b - t * step), sw)
            if fn <= f - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            break
        b = b - t * step
        f = fn
    return b
