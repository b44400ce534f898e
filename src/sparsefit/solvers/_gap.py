"""Duality gap and alpha_max: one implementation for solvers, tests and benchmarks."""

from __future__ import annotations

import numpy as np

from ..datafits._validation import (
    as_column_store,
    check_coef,
    linear_predictor,
    normalize_sample_weight,
    xt_times,
)
from ._common import check_datafit, describe
from ._units import compiled_dual_terms, compiled_penalty_value


def primal_dual(datafit, info, store, y, sw, w, u, fit_intercept):
    """Primal value at ``(w, u = Xw + b)``, dual value at the rescaled dual point, and the
    ``X.T @ theta`` used (so callers reuse it as minus the gradient)."""
    wf = np.ascontiguousarray(w, dtype=np.float64).ravel()
    P = datafit._value_u(y, u, sw) + compiled_penalty_value(info.spec, wf)
    theta = datafit.dual_point(y, u, sw, fit_intercept)
    Xt = xt_times(store, theta)
    s, conj = compiled_dual_terms(info.spec, np.ascontiguousarray(Xt.ravel()),
                                  info.free_or_empty)
    D = datafit._dual_value(y, s * theta, sw) - conj
    return P, D, Xt


# At this relative gap and below, the coefficients are wanted to many digits: the gap bounds their
# error only through its square root, so the outer loops also ask for a small violation.
GAP_STOP_MIN_TOL = 1e-9


_EPS = float(np.finfo(np.float64).eps)


class StopRule:
    """When the outer loops of the solvers stop, and what they report.

    - Non-convex penalties (MCP, SCAD): the largest optimality violation ``<= tol``.
    - Convex penalties: the relative duality gap ``gap / P(0) <= tol``, the gap being the
      computed ``P - D`` (at least 0) plus its rounding, ``4 eps (|P| + |D|)``: a bound
      float64 can certify, never 0. Units the penalty
      leaves free (zero strength, e.g. ``Lasso(alpha=0)``, or a zero weight) are also held
      to ``violation <= tol * g0``, with ``g0`` the largest gradient entry at the null model:
      no dual point certifies them. With every unit free (least squares, unpenalized
      logistic regression) that relative violation is the only criterion; the reported
      gap is then NaN, except for least squares, where :func:`least_squares_gap` gives the
      exact suboptimality.
    - At ``tol <= GAP_STOP_MIN_TOL`` the largest violation must also be at most ``tol``
      times the penalty's strength (or ``g0`` when that is 0): who asks for so small a gap
      wants the coefficients to many digits, and the gap bounds their error only through
      its square root (measured: at tol=1e-10, a violation of sqrt(tol) times the strength
      left predictions of two equivalent elastic-net problems 6e-9 apart). Neither is
      asked below what float64 certifies for columns far from zero mean (``x_scale``):
      the gradients' rounding, and the gap's (when the solver sets ``coef_scale``).

    Parameters
    ----------
    info : PenaltyInfo
    tol : float
    P0 : float
        The objective at the null model (:func:`null_primal`).
    grad_scale : callable
        Returns ``g0``; called at most once, only when a criterion needs it.
    x_scale : callable, optional
        Returns ``max |X_ij|``; called at most once, at ``tol <= GAP_STOP_MIN_TOL`` only. The
        gradient ``X.T (sw * r)`` is then known to about ``eps * max|X| * sum sw |r|``
        (columns far from zero mean: a mean of 1e6 and unit spread leave a noise of about
        1e-10 on gradients of order 1), and no violation below that noise is asked for.
    """

    def __init__(self, info, tol, P0, grad_scale, x_scale=None):
        self._x_scale_fn = x_scale
        self._x_scale = None
        self.coef_scale = None  # callable: sum_j max_i |X_ij| |w_j| (see _gap_noise)
        self._P = None
        self.tol = float(tol)
        self.P0 = float(P0)
        self.convex = info.is_convex
        self.free = info.free
        self.uses_gap = self.convex and (self.free is None or not np.all(self.free))
        self._grad_scale = grad_scale
        self._g0 = None
        self.strength = float(info.penalty.strength)

    @property
    def g0(self):
        if self._g0 is None:
            self._g0 = float(self._grad_scale())
        return self._g0

    def _relative(self, violation):
        g0 = self.g0
        return violation / g0 if g0 > 0 else violation

    def measure(self, kkt_max, scores, P=None, D=None):
        """``(crit, gap)``: the quantity compared with ``tol``, and the relative gap (NaN
        when no dual point applies). ``scores`` are the units' violations; ``P`` and ``D``
        the primal and dual values (needed when ``uses_gap``)."""
        if not self.convex:
            return kkt_max, np.nan
        gap, crit = np.nan, 0.0
        self._P = P
        if self.uses_gap:
            # what float64 can certify: the computed P - D plus its rounding (the solution
            # of an exact step would otherwise report a gap of 0, or a negative one)
            gap = max(P - D, 0.0) + 4 * _EPS * (abs(P) + abs(D))
            gap = gap / self.P0 if self.P0 > 0 else gap
            crit = gap
        if self.free is not None:
            free_max = float(scores[self.free].max())
            crit = max(crit, self._relative(free_max))
        return crit, gap

    def converged(self, crit, kkt_max):
        if not (crit <= self.tol or (self.tol > 0 and crit <= self._gap_noise())):
            return False
        if not self.convex or not self.uses_gap or self.tol > GAP_STOP_MIN_TOL:
            return True
        scale = self.strength if self.strength > 0 else self.g0
        # (a violation of 1e-13 of the gradients' scale is float64's floor: no lower)
        return kkt_max <= max(self.tol * scale, 1e-13 * self.g0, self._gradient_noise())

    def _gap_noise(self):
        """About the rounding error of the relative gap: a row's prediction is rounded to
        ``eps sum_j |X_ij w_j| <= eps c``, ``c = sum_j max_i |X_ij| |w_j|`` (``coef_scale``,
        per column: columns of very different scales leave it small, where ``max|X|
        ||w||_1`` falsely certified a GroupLasso 2.5e-2 from its optimum), and the gap's
        rounding is about ``16 eps c sqrt(2 P)``, over ``P(0)``; 0 when unknown or at
        ``tol > GAP_STOP_MIN_TOL``. A gap asked below it (``tol`` > 0) is certified at it:
        measured at column means of 1e6 and tol 1e-12, the gap's noise was 2e-11 and the
        solve stopped when the noise happened to fall below tol, after 1.45M epochs."""
        if self.coef_scale is None or not self.P0 > 0 or self.tol > GAP_STOP_MIN_TOL \
                or self._P is None or not np.isfinite(self._P):
            return 0.0
        return (16 * _EPS * float(self.coef_scale()) * np.sqrt(2 * max(self._P, 0.0))
                / self.P0)

    def _gradient_noise(self):
        """About the rounding error of the gradients (see ``x_scale``): ``16 eps max|X|
        sqrt(2 P)`` (``sum sw |r| <= sqrt(2 F) <= sqrt(2 P)`` with the weights summing to
        1); 0 when unknown."""
        if self._x_scale_fn is None or self._P is None or not np.isfinite(self._P):
            return 0.0
        if self._x_scale is None:
            self._x_scale = float(self._x_scale_fn())
        return 16 * np.finfo(np.float64).eps * self._x_scale * np.sqrt(2 * max(self._P, 0.0))


def null_grad_scale(store, y, sw, datafit, fit_intercept, shape):
    """``max |grad F(0)|``, the gradient at the null model (best intercept when fitting
    one): the scale of the relative violations of :class:`StopRule`."""
    u = np.zeros((store.n,) + tuple(shape[1:]))
    if fit_intercept:
        u = u + datafit._optimal_intercept(y, u, sw)
    g = xt_times(store, datafit._raw_grad(y, u, sw))
    return float(np.max(np.abs(g))) if g.size else 0.0


#: Largest ``max(n, p) * min(n, p) ** 2`` for which :func:`least_squares_gap` solves the
#: least-squares problem (about a second): beyond it an unpenalized fit reports NaN.
LSTSQ_MAX_FLOPS = 2e9


def least_squares_gap(store, y, sw, coef, intercept, fit_intercept):
    r"""The exact suboptimality of an unpenalized least-squares fit.

    With nothing penalized no rescaled residual is dual feasible, but the optimal dual
    point is known to be the optimal residual, so the duality gap there is the
    suboptimality itself:

    .. math::

        P(w, b) - P^\star = \tfrac12 \| \Pi\, r \|^2_{sw},

    with :math:`r = y - Xw - b` and :math:`\Pi` the ``sw``-weighted projection onto the
    columns of ``X`` (and the constant column when fitting an intercept), computed by a
    least-squares solve. NaN beyond :data:`LSTSQ_MAX_FLOPS`. ``y`` and ``coef`` may be 2-D
    (one column per task).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits._validation import as_column_store
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([1.0, 2.0, 3.0])
    >>> sw = np.full(3, 1 / 3)
    >>> least_squares_gap(as_column_store(X), y, sw, np.array([1.0, 2.0]), 0.0, False)
    0.0
    >>> round(least_squares_gap(as_column_store(X), y, sw, np.zeros(2), 0.0, False), 6)
    2.333333
    """
    n, p = store.n, store.p
    if max(n, p) * min(n, p) ** 2 > LSTSQ_MAX_FLOPS:
        return np.nan
    if store.dense:
        X = np.asarray(store.data, dtype=np.float64).reshape(p, n).T
    else:
        import scipy.sparse as sp

        X = sp.csc_matrix((store.data, store.indices, store.indptr), shape=(n, p)).toarray()
    y = np.asarray(y, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    r = y - X @ coef - np.asarray(intercept, dtype=np.float64)
    if fit_intercept:  # project out the constant column first
        S = sw.sum()
        X = X - (sw @ X) / S
        r = r - np.tensordot(sw, r, axes=1) / S
    root = np.sqrt(sw)
    A = root[:, None] * X
    rs = root[:, None] * r if r.ndim == 2 else root * r
    d = np.linalg.lstsq(A, rs, rcond=None)[0]
    return 0.5 * float(np.sum((A @ d) ** 2))


def null_primal(datafit, y, sw, fit_intercept, shape):
    """``P(0)``: the objective at ``w = 0`` (with the best intercept when fitting one)."""
    n = y.shape[0]
    u = np.zeros((n,) + tuple(shape[1:]))
    if fit_intercept:
        u = u + datafit._optimal_intercept(y, u, sw)
    return datafit._value_u(y, u, sw)


def dual_gap(X, y, coef, intercept, datafit, penalty, sample_weight=None, *,
             fit_intercept=None, positive=False, relative=True):
    r"""Duality gap of a convex problem :math:`\min_w F(Xw + b) + \mathrm{pen}(w)`.

    .. math::

        \mathrm{gap} = \frac{P(w, b) - D(s\,\theta)}{P(0)}, \qquad
        \theta = -\nabla F(Xw + b^\star),

    where :math:`b^\star` is the best intercept for ``coef`` (when fitting one; this makes
    :math:`\sum_i \theta_i = 0`), :math:`s \in (0, 1]` rescales :math:`\theta` into the dual
    feasible set (:math:`|X_j^\top\theta| \le \lambda_j` for L1, :math:`\|X_g^\top\theta\|
    \le \lambda w_g` for group L1, ...), :math:`D(\theta) = -F^*(-\theta) -
    \mathrm{pen}^*(X^\top\theta)` and :math:`P(0)` is the objective at ``w = 0``.
    The gap bounds the suboptimality, so ``gap <= tol`` certifies the solution.
    This is the one gap function the solvers, the tests and the benchmarks share.

    Parameters
    ----------
    X : array-like or sparse matrix, shape (n_samples, n_features)
    y : array-like, shape (n_samples,)
    coef : ndarray, shape (n_features,) or (n_features, n_classes)
    intercept : float or ndarray
    datafit : Quadratic, Logistic or Multinomial
    penalty : Penalty
        A convex penalty with compiled kernels (L1, L2, L1L2, WeightedL1, GroupL1,
        SparseGroupL1, or a Box of one).
    sample_weight : array-like, optional
    fit_intercept : bool, optional
        Whether the intercept is a free variable (default: ``intercept != 0``).
    positive : bool
        Whether the problem has the constraint ``coef >= 0``.
    relative : bool
        Divide by ``P(0)`` (default) or return the absolute gap.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import dual_gap
    >>> X = np.eye(2); y = np.array([1.0, -2.0])
    >>> # lasso on an identity design: w = ST(y, n * alpha) with n = 2, alpha = 0.25
    >>> w = np.array([0.5, -1.5])
    >>> float(dual_gap(X, y, w, 0.0, Quadratic(), L1(0.25))) < 1e-12
    True
    """
    datafit = check_datafit(datafit)
    store = as_column_store(X)
    y = datafit.check_y(y, store.n)
    sw = normalize_sample_weight(sample_weight, store.n)
    info = describe(penalty, store.p * (datafit.n_classes or 1), positive=positive)
    if not info.is_convex:
        raise ValueError("dual_gap needs a convex penalty; MCP/SCAD/LogSum have no duality gap")
    coef = check_coef(coef, store.p, n_classes=datafit.n_classes)
    if fit_intercept is None:
        fit_intercept = bool(np.any(np.asarray(intercept) != 0))
    u = linear_predictor(store, coef, intercept)
    P, D, _ = primal_dual(datafit, info, store, y, sw, coef, u, fit_intercept)
    gap = max(P - D, 0.0)
    if not relative:
        return gap
    P0 = null_primal(datafit, y, sw, fit_intercept, coef.shape)
    return gap / P0 if P0 > 0 else gap


def grad_at_zero(X, y, datafit, *, fit_intercept=False, sample_weight=None):
    """Gradient of the datafit at ``coef = 0`` (with the best intercept when fitting one)."""
    datafit = check_datafit(datafit)
    store = as_column_store(X)
    y = datafit.check_y(y, store.n)
    sw = normalize_sample_weight(sample_weight, store.n)
    shape = (store.n,) if datafit.n_classes is None else (store.n, datafit.n_classes)
    u = np.zeros(shape)
    if fit_intercept:
        u = u + datafit._optimal_intercept(y, u, sw)
    return xt_times(store, datafit._raw_grad(y, u, sw))
