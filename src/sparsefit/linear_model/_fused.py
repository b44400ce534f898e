"""Fused lasso: least squares with total variation on the ordered coefficients."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval

from ..penalties import TV1D
from ..solvers.fista import LeastSquares, fista
from ._base import SparseLinearRegressor, check_fit_data, checked_cast, finish_penalty


class FusedLasso(SparseLinearRegressor):
    r"""Fused lasso: neighbouring coefficients are fused into equal values.

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \alpha\sum_{j} |w_{j+1} - w_j|

    for features with a natural order (time, position, dose). Solved by FISTA with restart,
    whose prox step is the exact total-variation prox (Condat's direct algorithm). The
    intercept is handled by (weighted) centering; a sparse ``X`` is densified. Stops when
    the optimality violation (``TV1D.subdiff_distance``, checked every ``check_every``
    iterations) is at most ``tol``; ``dual_gap_`` is NaN.

    Parameters
    ----------
    alpha : float, default=1.0
    fit_intercept : bool, default=True
    tol : float, default=1e-6
        Optimality violation at which to stop.
    max_iter : int, default=10000
        FISTA iterations.
    check_every : int, default=10
    warm_start : bool, default=False
    positive : bool, default=False
    bounds : tuple (lower, upper), optional
        One lower and one upper bound for every coefficient, ``lower <= 0 <= upper``: the
        TV prox clipped to them is the exact prox of the constrained penalty.
    penalty_factor : None
        Not defined here (the penalty acts on differences of neighbouring coefficients,
        not on features); anything but None is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import FusedLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 8)); w = np.array([0, 0, 2, 2, 2, 0, 0, 0.0])
    >>> model = FusedLasso(alpha=0.05).fit(X, X @ w)
    >>> np.unique(model.coef_.round(2)).size <= 4
    True
    """

    _parameter_constraints = {
        **SparseLinearRegressor._parameter_constraints,
        "alpha": [Interval(Real, 0, np.inf, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "check_every": [Interval(Integral, 1, None, closed="left")],
        "positive": ["boolean"],
    }

    def __init__(self, alpha=1.0, *, fit_intercept=True, tol=1e-6, max_iter=10_000,
                 check_every=10, warm_start=False, positive=False, bounds=None,
                 penalty_factor=None):
        self.positive = positive
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.check_every = check_every
        self.warm_start = warm_start

    def fit(self, X, y, sample_weight=None):
        """Fit the fused lasso (see the class docstring)."""
        self._validate_params()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        dtype = X.dtype
        A = (X.toarray() if sp.issparse(X) else np.asarray(X)).astype(np.float64)
        b = np.asarray(y, dtype=np.float64)
        s = np.full(b.size, 1.0 / b.size) if sw is None else sw / sw.sum()
        x_mean, y_mean = np.zeros(A.shape[1]), 0.0
        if self.fit_intercept:
            x_mean, y_mean = s @ A, s @ b
            A, b = A - x_mean, b - y_mean
        # weighted least squares as ordinary least squares on rescaled rows
        root = np.sqrt(s * b.size)
        return self._solve(LeastSquares(A * root[:, None], b * root), X.shape[1], dtype,
                           x_mean, y_mean, self._warm_init(X)[0])

    def _fit_moments(self, moments):
        """The same problem from the data's :class:`~sparsefit.solvers.moments.Moments`
        (dask input): FISTA needs only the gradient ``G w - c`` and the value
        ``(yy - 2 c'w + w'Gw) / 2`` of the quadratic form, which the moments give."""
        G, c, yy = moments.quadratic_form(self.fit_intercept)
        x_mean = moments.x_mean if self.fit_intercept else np.zeros(moments.n_features)
        y_mean = float(moments.y_mean) if self.fit_intercept else 0.0
        return self._solve(GramLeastSquares(G, c, float(yy)), moments.n_features,
                           moments.dtype, x_mean, y_mean, self._warm_init(moments)[0])

    def _solve(self, smooth, p, dtype, x_mean, y_mean, w0):
        if self.penalty_factor is not None:
            raise ValueError("penalty_factor: FusedLasso penalizes the differences of "
                             "neighbouring coefficients, not the features, so per-feature "
                             "factors are not defined for it; leave penalty_factor=None")
        penalty = finish_penalty(self, TV1D(self.alpha), p)
        if w0 is not None:  # a warm start outside new bounds is moved in
            w0 = penalty.prox(w0, 0.0) if not hasattr(penalty, "lower") else np.clip(
                w0, penalty.lower[0], penalty.upper[0])
        res = fista(smooth, penalty, w0=w0, tol=self.tol, max_iter=self.max_iter,
                    check_every=self.check_every)
        self.coef_ = checked_cast(res.coef, dtype)
        intercept = float(y_mean - x_mean @ res.coef) if self.fit_intercept else 0.0
        self.intercept_ = dtype.type(checked_cast(intercept, dtype))
        self.n_iter_ = int(res.n_iter)
        self.dual_gap_ = float("nan")
        self.converged_ = bool(res.converged)
        self.kkt_violation_ = float(res.violation)
        return self


class GramLeastSquares:
    r"""Least squares given by its quadratic form, :math:`F(w) = \frac12(yy - 2c^\top w +
    w^\top G w)` (with :math:`G = X^\top X / n`, :math:`c = X^\top y / n`, :math:`yy =
    y^\top y / n` this is :math:`\frac{1}{2n}\|y - Xw\|^2`): the smooth part of FISTA
    (see :mod:`sparsefit.solvers.fista`) when only the data's moments are at hand.
    Gradient :math:`Gw - c`; Lipschitz constant :math:`\lambda_{max}(G)`.

    Examples
    --------
    >>> import numpy as np
    >>> f = GramLeastSquares(np.diag([1.0, 4.0]) / 2, np.array([0.5, 2.0]), 2.5)
    >>> f.value(np.zeros(2)), f.lipschitz  # as LeastSquares([[1, 0], [0, 2]], [1, 2])
    (1.25, 2.0)
    """

    def __init__(self, G, c, yy):
        self.G, self.c, self.yy = np.asarray(G, np.float64), np.asarray(c, np.float64), yy
        self._lipschitz = None

    @property
    def lipschitz(self):
        if self._lipschitz is None:
            self._lipschitz = float(max(np.linalg.eigvalsh(self.G)[-1], 0.0))
        return self._lipschitz

    def zeros(self):
        return np.zeros(self.c.shape[0])

    def value(self, w):
        return 0.5 * float(self.yy - 2.0 * self.c @ w + w @ (self.G @ w))

    def gradient(self, w):
        return self.G @ w - self.c

    def value_and_gradient(self, w):
        Gw = self.G @ w
        return 0.5 * float(self.yy - 2.0 * self.c @ w + w @ Gw), Gw - self.c
