"""Sparse regressors: Lasso, ElasticNet, GroupLasso, SparseGroupLasso, MCPRegressor,
SCADRegressor, LogSumRegressor, AdaptiveLasso. Each is the Quadratic datafit plus one
penalty, solved by coordinate descent with working sets."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..penalties import L1, L1L2, MCP, SCAD, GroupL1, LogSum, SparseGroupL1, WeightedL1
from ._base import (
    PENALTY_OPTIONS_DOC,
    SOLVER_OPTIONS,
    SOLVER_OPTIONS_DOC,
    SparseLinearRegressor,
    check_fit_data,
    warn_if_unpenalized,
)

_ALPHA = [Interval(Real, 0, np.inf, closed="left")]
_COMMON_DOC = """
    fit_intercept : bool, default=True
        Fit an unpenalized intercept.
    tol : float, default=1e-6
        Stop when the relative duality gap ``gap / P(0)`` is at most ``tol`` (``P(0)``: the
        objective of the null model). scikit-learn's test ``gap <= tol * ||y -
        mean(y)||^2 / n`` is the same one at ``tol / 2``; its default ``1e-4`` is looser.
        ``tol=0`` runs all ``max_iter`` iterations, as scikit-learn's: the gap counted
        includes float64's rounding of the objective, so it is never 0. A fit whose
        support is small enough ends with an exact step on it (a linear solve on the
        support with the signs reached; see ``sparsefit.solvers._exact``): the
        coefficients are then those of the exact optimum, to rounding.
    max_iter : int, default=100
        The most outer (working-set) iterations, ``n_outer_iter_``: each is a pass over all
        of ``X`` (gradient, duality gap, every feature's optimality violation) and, unless
        that pass finds the fit converged, a coordinate-descent solve on the working set
        (at most 50,000 epochs). It does not bound the epochs ``n_iter_`` counts:
        scikit-learn's ``max_iter`` bounds those epochs (hence its default of 1000). When
        it is reached before ``tol``, a ConvergenceWarning states the achieved gap.
    warm_start : bool, default=False
        Start from the previous ``coef_``.""" + PENALTY_OPTIONS_DOC


def _elastic_net_penalty(alpha, l1_ratio):
    """scikit-learn's ``alpha * (r ||w||_1 + (1 - r)/2 ||w||^2)`` in Keras' L1L2 scaling."""
    return L1L2(l1=alpha * l1_ratio, l2=0.5 * alpha * (1.0 - l1_ratio))


# the parameters of Lasso's subclasses (scikit-learn's solver options are Lasso's own)
LASSO_LIKE = {**SparseLinearRegressor._parameter_constraints, "alpha": _ALPHA,
              "positive": ["boolean"]}


class Lasso(SparseLinearRegressor):
    __doc__ = r"""Lasso: :math:`\frac{1}{2n}\|y - Xw - b\|^2 + \alpha\|w\|_1`.

    The same objective as :class:`sklearn.linear_model.Lasso`, solved by coordinate descent
    with working sets and Anderson extrapolation, stopped on the duality gap.

    Parameters
    ----------
    alpha : float, default=1.0
        L1 strength, >= 0.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.""" + _COMMON_DOC + SOLVER_OPTIONS_DOC \
        + r"""

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int or list of int
        Coordinate-descent epochs, scikit-learn's meaning (one count per target for a 2-D
        ``y``): an epoch is one pass updating every coefficient of the current working set
        (every feature when the working set holds them all; in covariance form with
        ``precompute``, the same updates), summed over all the working sets of the fit;
        each linear solve of an exact step on the support (see ``tol``; one per change
        of its active set) counts as one epoch.
        Not counted: the pass over all of ``X`` that measures the duality gap at every
        outer iteration, and the working-set gap checks every few epochs (scikit-learn
        does not count its gap checks either). 0 when the start (a warm start) already
        meets ``tol``. ``max_iter`` does not bound it (see ``max_iter``).
    n_outer_iter_ : int or list of int
        Outer (working-set) iterations, at most ``max_iter``.
    dual_gap_ : float or ndarray of shape (n_targets,)
        Duality gap ``P - D`` of the objective at return, as in scikit-learn (the fit
        stops when it is at most ``tol * P(0)``), plus its float64 rounding ``4 eps (|P| +
        |D|)``: an exact solution reports that rounding, not 0. When nothing is penalized
        (``alpha=0``, or every ``penalty_factor`` 0) the fit stops on the relative
        gradient norm, and ``dual_gap_`` is the exact suboptimality ``P(w) - P*`` from a
        least-squares solve (NaN beyond about ``max(n, p) * min(n, p)**2 = 2e9``).
    converged_ : bool
    kkt_violation_ : float
        Largest optimality violation at return.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import Lasso
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> Lasso(alpha=0.1).fit(X, [0.0, 1.0, 2.0]).coef_.round(3)
    array([0.85, 0.  ])
    """

    _parameter_constraints = {**LASSO_LIKE, **SOLVER_OPTIONS}

    def __init__(self, alpha=1.0, *, fit_intercept=True, precompute=False, copy_X=True,
                 max_iter=100, tol=1e-6, warm_start=False, positive=False, random_state=None,
                 selection="cyclic", bounds=None, penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.precompute = precompute
        self.copy_X = copy_X
        self.random_state = random_state
        self.selection = selection

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.enet_path`, as scikit-learn's ``Lasso.path`` is
        (its default ``l1_ratio=0.5``, not the lasso: code written against scikit-learn
        gets the same numbers; :func:`~sparsefit.linear_model.lasso_path` is the lasso's)."""
        from ._path import enet_path

        return enet_path(X, y, **kwargs)

    def _penalty(self, n_features):
        return L1(self.alpha)


class ElasticNet(Lasso):
    __doc__ = r"""Elastic net, scikit-learn's scaling:

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \alpha r\|w\|_1 + \frac{\alpha(1 - r)}{2}\|w\|^2

    Parameters
    ----------
    alpha : float, default=1.0
    l1_ratio : float, default=0.5
        :math:`r \in [0, 1]`; 1 is the lasso.
    positive : bool, default=False""" + _COMMON_DOC + SOLVER_OPTIONS_DOC + r"""

    Attributes
    ----------
    coef_, intercept_, n_iter_, n_outer_iter_, dual_gap_, converged_, kkt_violation_
        As for :class:`Lasso`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import ElasticNet
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> ElasticNet(alpha=0.1, l1_ratio=0.5).fit(X, [0.0, 1.0, 2.0]).coef_.round(3)
    array([0.86])
    """

    _parameter_constraints = {
        **Lasso._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, precompute=False,
                 max_iter=100, copy_X=True, tol=1e-6, warm_start=False, positive=False,
                 random_state=None, selection="cyclic", bounds=None, penalty_factor=None):
        super().__init__(alpha, fit_intercept=fit_intercept, precompute=precompute,
                         copy_X=copy_X, max_iter=max_iter, tol=tol, warm_start=warm_start,
                         positive=positive, random_state=random_state, selection=selection,
                         bounds=bounds, penalty_factor=penalty_factor)
        self.l1_ratio = l1_ratio

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.enet_path` (scikit-learn's ``ElasticNet.path``)."""
        from ._path import enet_path

        return enet_path(X, y, **kwargs)

    def _penalty(self, n_features):
        return _elastic_net_penalty(self.alpha, self.l1_ratio)


def _check_groups_for(groups, n_features):
    """Groups (sizes or index arrays) as a penalty argument; default: one per feature."""
    if groups is None:
        return [1] * n_features
    if isinstance(groups, (Integral, np.integer)):
        size = int(groups)
        if size < 1 or n_features % size:
            raise ValueError(f"groups={size} must divide n_features={n_features}")
        return [size] * (n_features // size)
    return groups


class GroupLasso(SparseLinearRegressor):
    __doc__ = r"""Group lasso: :math:`\frac{1}{2n}\|y - Xw - b\|^2 + \alpha\sum_g c_g\|w_g\|_2`.

    Parameters
    ----------
    alpha : float, default=1.0
    groups : int, list of int, list of index arrays, or None
        An int is the size of equal contiguous groups; a list of ints gives contiguous
        sizes; a list of index arrays gives the groups explicitly. They must partition the
        features. None: every feature its own group (the lasso, up to the weights).
    weights : array-like of shape (n_groups,), optional
        Positive group weights :math:`c_g`; default :math:`\sqrt{|g|}`.""" + _COMMON_DOC + r"""

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import GroupLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 6)); y = X[:, 0] + X[:, 1]
    >>> np.flatnonzero(GroupLasso(alpha=0.05, groups=2).fit(X, y).coef_).tolist()
    [0, 1]
    """

    _parameter_constraints = {
        **SparseLinearRegressor._parameter_constraints,
        "alpha": _ALPHA,
        "groups": ["array-like", Interval(Integral, 1, None, closed="left"), None],
        "weights": ["array-like", None],
        "positive": ["boolean"],
    }

    def __init__(self, alpha=1.0, *, groups=None, weights=None, fit_intercept=True,
                 tol=1e-6, max_iter=100, warm_start=False, positive=False, bounds=None,
                 penalty_factor=None):
        self.alpha = alpha
        self.groups = groups
        self.weights = weights
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.positive = positive
        self.bounds = bounds
        self.penalty_factor = penalty_factor

    def _penalty(self, n_features):
        return GroupL1(self.alpha, _check_groups_for(self.groups, n_features), self.weights)


class SparseGroupLasso(GroupLasso):
    __doc__ = r"""Sparse group lasso:

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \alpha\tau\|w\|_1
              + \alpha(1-\tau)\sum_g c_g\|w_g\|_2

    Parameters
    ----------
    alpha : float, default=1.0
    tau : float, default=0.5
        Share of the L1 part, in [0, 1].
    groups, weights
        As for :class:`GroupLasso`.""" + _COMMON_DOC + r"""

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import SparseGroupLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 6)); y = 2 * X[:, 0]
    >>> np.flatnonzero(SparseGroupLasso(alpha=0.1, groups=2).fit(X, y).coef_).tolist()
    [0]
    """

    _parameter_constraints = {
        **GroupLasso._parameter_constraints,
        "tau": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, alpha=1.0, *, tau=0.5, groups=None, weights=None, fit_intercept=True,
                 tol=1e-6, max_iter=100, warm_start=False, positive=False, bounds=None,
                 penalty_factor=None):
        super().__init__(alpha, groups=groups, weights=weights, fit_intercept=fit_intercept,
                         tol=tol, max_iter=max_iter, warm_start=warm_start, positive=positive,
                         bounds=bounds, penalty_factor=penalty_factor)
        self.tau = tau

    def _penalty(self, n_features):
        return SparseGroupL1(self.alpha, self.tau, _check_groups_for(self.groups, n_features),
                             self.weights)


class MCPRegressor(SparseLinearRegressor):
    __doc__ = r"""Least squares with the minimax concave penalty (non-convex).

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \sum_j \mathrm{MCP}_{\alpha,\gamma}(w_j)

    Large coefficients are not shrunk (unlike the lasso). Coordinate descent stops when the
    largest optimality violation (``subdiff_distance``) is at most ``tol``; the result is
    a stationary point. ``dual_gap_`` is NaN (no duality gap for a non-convex problem).

    Parameters
    ----------
    alpha : float, default=1.0
    gamma : float, default=3.0
        Concavity, > 1. With columns of ``X`` scaled to ``||X_j||^2 / n = 1``, ``gamma > 1``
        makes each coordinate update convex.
    positive : bool, default=False""" + _COMMON_DOC + r"""

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import MCPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = 3 * X[:, 0]
    >>> MCPRegressor(alpha=0.1).fit(X, y).coef_.round(3)  # no shrinkage of the large one
    array([3., 0., 0., 0., 0.])
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "gamma": [Interval(Real, 1, None, closed="neither")],
    }

    def __init__(self, alpha=1.0, *, gamma=3.0, fit_intercept=True, tol=1e-6, max_iter=100,
                 warm_start=False, positive=False, bounds=None, penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.gamma = gamma

    def _penalty(self, n_features):
        return MCP(self.alpha, self.gamma)


class SCADRegressor(SparseLinearRegressor):
    __doc__ = r"""Least squares with the smoothly clipped absolute deviation penalty (Fan and Li,
    2001), non-convex.

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \sum_j \mathrm{SCAD}_{\alpha,a}(w_j)

    L1 near zero, constant beyond ``a * alpha``: large coefficients are not shrunk. As for
    :class:`MCPRegressor`, coordinate descent stops at a stationary point (largest
    violation ``<= tol``) and ``dual_gap_`` is NaN.

    Parameters
    ----------
    alpha : float, default=1.0
    a : float, default=3.7
        Shape, > 2 (Fan and Li's choice).
    positive : bool, default=False""" + _COMMON_DOC + r"""

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import SCADRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = 3 * X[:, 0]
    >>> SCADRegressor(alpha=0.1).fit(X, y).coef_.round(3)  # no shrinkage of the large one
    array([3., 0., 0., 0., 0.])
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "a": [Interval(Real, 2, None, closed="neither")],
    }

    def __init__(self, alpha=1.0, *, a=3.7, fit_intercept=True, tol=1e-6, max_iter=100,
                 warm_start=False, positive=False, bounds=None, penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.a = a

    def _penalty(self, n_features):
        return SCAD(self.alpha, self.a)


class LogSumRegressor(SparseLinearRegressor):
    __doc__ = r"""Least squares with the log-sum penalty (reweighted L1 in the limit; Candes,
    Wakin and Boyd, 2008), non-convex.

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \alpha \sum_j \log(1 + |w_j| / \epsilon)

    Near zero it acts as the L1 penalty of strength ``alpha / eps``; large coefficients are
    barely shrunk. Coordinate descent with the exact prox stops at a stationary point
    (largest violation ``<= tol``); ``dual_gap_`` is NaN.

    Parameters
    ----------
    alpha : float, default=1.0
    eps : float, default=1.0
        Curvature scale, > 0: smaller is closer to counting the non-zeros.
    positive : bool, default=False""" + _COMMON_DOC + r"""

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import LogSumRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = 3 * X[:, 0]
    >>> np.flatnonzero(LogSumRegressor(alpha=0.05, eps=0.5).fit(X, y).coef_).tolist()
    [0]
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, alpha=1.0, *, eps=1.0, fit_intercept=True, tol=1e-6, max_iter=100,
                 warm_start=False, positive=False, bounds=None, penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.eps = eps

    def _penalty(self, n_features):
        return LogSum(self.alpha, self.eps)


class AdaptiveLasso(SparseLinearRegressor):
    __doc__ = r"""Adaptive lasso by reweighted L1 (Zou, 2006; Candes, Wakin and Boyd, 2008).

    Solves a sequence of weighted lassos,

    .. math:: \frac{1}{2n}\|y - Xw - b\|^2 + \alpha\sum_j c_j |w_j|, \qquad
              c_j = \frac{1}{|w_j^{\mathrm{prev}}|^{\gamma} + \epsilon},

    starting from the lasso (all ``c_j = 1``); ``n_reweightings`` reweighting steps follow.
    Large coefficients get small weights (less bias), zeros get large ones.

    Parameters
    ----------
    alpha : float, default=1.0
    gamma : float, default=1.0
        Exponent of the weights, > 0.
    eps : float, default=1e-3
        Keeps the weights finite, > 0.
    n_reweightings : int, default=4
    positive : bool, default=False""" + _COMMON_DOC + r"""

    Attributes
    ----------
    weights_ : ndarray of shape (n_features,)
        The weights of the last weighted lasso.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import AdaptiveLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 8)); y = 2 * X[:, 0] - X[:, 1]
    >>> np.flatnonzero(AdaptiveLasso(alpha=0.05).fit(X, y).coef_).tolist()
    [0, 1]
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "n_reweightings": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, alpha=1.0, *, gamma=1.0, eps=1e-3, n_reweightings=4, fit_intercept=True,
                 tol=1e-6, max_iter=100, warm_start=False, positive=False, bounds=None,
                 penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.gamma = gamma
        self.eps = eps
        self.n_reweightings = n_reweightings

    def _penalty(self, n_features):
        weights = getattr(self, "_current_weights", None)
        if weights is None:
            return L1(self.alpha)
        return WeightedL1(self.alpha, weights)

    def fit(self, X, y, sample_weight=None):
        """Fit the sequence of weighted lassos (see the class docstring)."""
        self._validate_params()
        # validate once here; each inner fit sees the validated arrays
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        warn_if_unpenalized(self)
        return self._fit_reweighted(X, y, sw, *self._warm_init(X))

    def _fit_reweighted(self, X, y, sw, w0=None, b0=None, fit_one=None):
        """The lasso, then ``n_reweightings`` weighted lassos, on validated data (or on the
        data's :class:`~sparsefit.solvers.moments.Moments`, ``y`` and ``sw`` None); each by
        ``fit_one(w0, b0)`` when given (dask's wide route), which sets ``coef_`` and
        ``intercept_`` for the penalty of the current weights."""
        if fit_one is None:
            def fit_one(w0, b0):
                self._fit_validated(X, y, sw, w0, b0)
        self._current_weights = None
        try:
            fit_one(w0, b0)
            for _ in range(self.n_reweightings):
                w0 = self.coef_.astype(np.float64)
                self._current_weights = 1.0 / (np.abs(w0) ** self.gamma + self.eps)
                fit_one(w0, float(self.intercept_))
            self.weights_ = (np.ones(self.coef_.shape[-1]) if self._current_weights is None
                             else self._current_weights)
        finally:
            del self._current_weights
        return self
