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
from ..penalties import _kernels as pk
from ._cd_kernels import penalty_value
from ._common import as_spec, check_datafit, is_convex, is_group


def _sgl_threshold(v, l1, lg):
    """Largest ``t`` in (0, 1] with ``||ST(t v, l1)|| <= lg`` (bisection, vectorized over
    the rows of the list ``v``)."""
    out = np.ones(len(v))
    for g, vg in enumerate(v):
        def phi(t, vg=vg):
            return np.linalg.norm(np.maximum(np.abs(t * vg) - l1, 0.0))
        if phi(1.0) <= lg:
            continue
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if phi(mid) <= lg:
                lo = mid
            else:
                hi = mid
        out[g] = max(lo, 1e-300)
    return out


def dual_scaling(spec, Xt, positive=False):
    """Scale ``s`` in (0, 1] making ``s * theta`` dual feasible, and the penalty conjugate
    ``pen*(s * X.T theta)``, given ``Xt = X.T @ theta``.

    Features with zero weight (unpenalized) are left out of the scaling: their dual
    constraint ``X_j.T theta = 0`` holds only at convergence.
    """
    kind, params = spec.kind, spec.params
    p = Xt.shape[0]
    v = Xt if not positive else np.maximum(Xt, 0.0)
    av = np.abs(v)
    if kind in (pk.L1, pk.L1L2, pk.L2) and not is_group(spec):
        wts = spec.weights if spec.weights.size else np.ones(p)
        if kind == pk.L2 or (kind == pk.L1L2 and params[1] > 0):
            l1 = 0.0 if kind == pk.L2 else params[0]
            l2 = params[0] if kind == pk.L2 else params[1]
            pen = wts > 0
            conj = np.sum(np.maximum(av[pen] - l1 * wts[pen], 0.0) ** 2 / (4.0 * l2 * wts[pen]))
            return 1.0, float(conj)
        lam = params[0] * wts
        sel = (lam > 0) & (av > 0)
        s = min(1.0, float(np.min(lam[sel] / av[sel]))) if np.any(sel) else 1.0
        if params[0] == 0 and np.any(av > 0):
            s = 0.0
        return s, 0.0
    if kind in pk.GROUP_KINDS:
        n_groups = spec.grp_ptr.shape[0] - 1
        gw = spec.weights if spec.weights.size else np.ones(n_groups)
        blocks = [Xt[spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]] for g in range(n_groups)]
        if kind == pk.GROUP_L1:
            s = 1.0
            for g, vg in enumerate(blocks):
                nrm = np.linalg.norm(vg)
                lam = params[0] * gw[g]
                if lam > 0 and nrm > 0:
                    s = min(s, lam / nrm)
            return s, 0.0
        alpha, tau = params[0], params[1]
        l1 = alpha * tau
        s = 1.0
        for g, vg in enumerate(blocks):
            lg = alpha * (1.0 - tau) * gw[g]
            if gw[g] == 0 and tau == 0:
                continue
            t = _sgl_threshold([vg], l1, lg)[0]
            s = min(s, t)
        return s, 0.0
    raise ValueError("no duality gap for a non-convex penalty")


def _primal_dual(datafit, spec, store, y, sw, w, u, fit_intercept, positive=False):
    """Primal value at ``(w, u = Xw + b)``, dual value at the rescaled dual point, and the
    ``X.T @ theta`` used (so callers reuse it as minus the gradient)."""
    wf = np.ascontiguousarray(w, dtype=np.float64).ravel()
    pen = penalty_value(wf, is_group(spec), spec.kind, spec.params, spec.weights,
                        spec.grp_ptr, spec.grp_idx)
    P = datafit._value_u(y, u, sw) + pen
    theta = datafit.dual_point(y, u, sw, fit_intercept)
    Xt = xt_times(store, theta)
    s, conj = dual_scaling(spec, Xt.ravel(), positive)
    D = datafit._dual_value(y, s * theta, sw) - conj
    return P, D, Xt


# Below this relative gap the coefficients are wanted to many digits: the gap bounds their
# error only through its square root, so the outer loops also ask for a small violation.
GAP_STOP_MIN_TOL = 1e-9


def free_units(spec, n):
    """Mask of the ``n`` units (coordinates or groups) the penalty leaves unpenalized (zero
    strength and zero weight), or None when every unit is penalized.

    A dual point certifies nothing about a free unit until ``X_j.T theta = 0`` holds: the
    stopping rule measures those units by their gradient instead.
    """
    kind, params = spec.kind, spec.params
    if not is_convex(spec):
        return None
    if is_group(spec):
        gw = spec.weights if spec.weights.size else np.ones(n)
        if kind == pk.GROUP_L1 or params[1] == 0:
            free = (params[0] * gw) == 0
        else:  # sparse group: the L1 part penalizes every coordinate when alpha * tau > 0
            free = np.full(n, params[0] * params[1] == 0) & ((params[0] * gw) == 0)
    else:
        wts = spec.weights if spec.weights.size else np.ones(n)
        l1 = 0.0 if kind == pk.L2 else params[0]
        l2 = params[0] if kind == pk.L2 else (params[1] if kind == pk.L1L2 else 0.0)
        free = (l1 * wts == 0) & (l2 * wts == 0)
    return free if np.any(free) else None


class StopRule:
    """When the outer loops of the solvers stop, and what they report.

    - Non-convex penalties (MCP, SCAD): the largest optimality violation ``<= tol``.
    - Convex penalties: the relative duality gap ``gap / P(0) <= tol``. Units the penalty
      leaves free (zero strength, e.g. ``Lasso(alpha=0)``, or a zero weight) are also held
      to ``violation <= tol * g0``, with ``g0`` the largest gradient entry at the null model:
      no dual point certifies them. With every unit free (least squares, unpenalized
      logistic regression) that relative violation is the only criterion and the reported
      gap is NaN.
    - Below ``tol = GAP_STOP_MIN_TOL`` the largest violation must also be at most
      ``sqrt(tol)`` times the penalty's strength (or ``g0`` when that is 0).

    Parameters
    ----------
    spec : NumbaSpec
    tol : float
    P0 : float
        The objective at the null model (:func:`null_primal`).
    n_units : int
    grad_scale : callable
        Returns ``g0``; called at most once, only when a criterion needs it.
    """

    def __init__(self, spec, tol, P0, n_units, grad_scale):
        self.tol = float(tol)
        self.P0 = float(P0)
        self.convex = is_convex(spec)
        self.free = free_units(spec, n_units)
        self.uses_gap = self.convex and (self.free is None or not np.all(self.free))
        self._grad_scale = grad_scale
        self._g0 = None
        self.strength = float(spec.params[0]) if spec.params.size and spec.kind != pk.L2 else 0.0

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
        if self.uses_gap:
            gap = max(P - D, 0.0)
            gap = gap / self.P0 if self.P0 > 0 else gap
            crit = gap
        if self.free is not None:
            free_max = float(scores[self.free].max())
            crit = max(crit, self._relative(free_max))
        return crit, gap

    def converged(self, crit, kkt_max):
        if not crit <= self.tol:
            return False
        if not self.convex or not self.uses_gap or self.tol >= GAP_STOP_MIN_TOL:
            return True
        scale = self.strength if self.strength > 0 else self.g0
        return kkt_max <= np.sqrt(self.tol) * scale


def null_grad_scale(store, y, sw, datafit, fit_intercept, shape):
    """``max |grad F(0)|``, the gradient at the null model (best intercept when fitting
    one): the scale of the relative violations of :class:`StopRule`."""
    u = np.zeros((store.n,) + tuple(shape[1:]))
    if fit_intercept:
        u = u + datafit._optimal_intercept(y, u, sw)
    g = xt_times(store, datafit._raw_grad(y, u, sw))
    return float(np.max(np.abs(g))) if g.size else 0.0


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
    penalty : penalty object or NumbaSpec (L1, L2, L1L2, weighted L1, GroupL1, SparseGroupL1)
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
    >>> from sparsefit.penalties._kernels import make_spec, L1
    >>> from sparsefit.solvers import dual_gap
    >>> X = np.eye(2); y = np.array([1.0, -2.0])
    >>> # lasso on an identity design: w = ST(y, n * alpha) with n = 2, alpha = 0.25
    >>> w = np.array([0.5, -1.5])
    >>> float(dual_gap(X, y, w, 0.0, Quadratic(), make_spec(L1, [0.25]))) < 1e-12
    True
    """
    datafit = check_datafit(datafit)
    store = as_column_store(X)
    y = datafit.check_y(y, store.n)
    sw = normalize_sample_weight(sample_weight, store.n)
    spec = as_spec(penalty, store.p * (datafit.n_classes or 1))
    if not is_convex(spec):
        raise ValueError("dual_gap needs a convex penalty; MCP/SCAD have no duality gap")
    coef = check_coef(coef, store.p, n_classes=datafit.n_classes)
    if fit_intercept is None:
        fit_intercept = bool(np.any(np.asarray(intercept) != 0))
    u = linear_predictor(store, coef, intercept)
    P, D, _ = _primal_dual(datafit, spec, store, y, sw, coef, u, fit_intercept, positive)
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


def critical_strength(spec, grad):
    """Smallest ``params[0]`` of ``spec`` (other parameters fixed) giving ``w = 0``."""
    g = np.abs(np.asarray(grad, dtype=np.float64)).ravel()
    kind = spec.kind
    if not is_group(spec):
        wts = spec.weights if spec.weights.size else np.ones(g.size)
        pen = wts > 0
        if np.any(g[~pen] > 0):
            return np.inf
        if not np.any(pen):
            return 0.0
        return float(np.max(g[pen] / wts[pen]))
    n_groups = spec.grp_ptr.shape[0] - 1
    gw = spec.weights if spec.weights.size else np.ones(n_groups)
    blocks = [g[spec.grp_idx[spec.grp_ptr[k]:spec.grp_ptr[k + 1]]] for k in range(n_groups)]
    if kind == pk.GROUP_L1:
        return float(max((np.linalg.norm(b) / gw[k] if gw[k] > 0 else
                          (np.inf if np.linalg.norm(b) > 0 else 0.0))
                         for k, b in enumerate(blocks)))
    tau = spec.params[1]
    best = 0.0
    for k, b in enumerate(blocks):
        # smallest alpha with ||ST(b, alpha tau)|| <= alpha (1 - tau) w_g: bisection
        def ok(a, b=b, c=gw[k]):
            return np.linalg.norm(np.maximum(b - a * tau, 0.0)) <= a * (1.0 - tau) * c
        hi = max(float(np.max(b, initial=0.0)) / max(tau, 1e-300), 1.0)
        if not ok(hi):
            hi = np.linalg.norm(b) / max((1.0 - tau) * gw[k], 1e-300) + hi
        lo = 0.0
        if ok(lo):
            continue
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if ok(mid):
                hi = mid
            else:
                lo = mid
        best = max(best, hi)
    return best


def alpha_max(X, y, datafit, penalty, *, fit_intercept=False, sample_weight=None):
    r"""Smallest strength giving the all-zero solution.

    For a penalty whose first parameter is the strength (``L1(alpha)``, ``WeightedL1``,
    ``GroupL1``, ``SparseGroupL1``, ``MCP``, ``SCAD``; ``l1`` for ``L1L2``), returns the
    critical value of that parameter, e.g. for the weighted L1

    .. math:: \alpha_{\max} = \max_j |\nabla_j F(0)| / w_j,

    and for the group L1 :math:`\max_g \|\nabla_g F(0)\| / w_g`. If the penalty object has
    its own ``alpha_max(grad_at_zero)``, that is used.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties._kernels import make_spec, L1
    >>> from sparsefit.solvers import alpha_max
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); y = np.array([2.0, -4.0])
    >>> float(alpha_max(X, y, Quadratic(), make_spec(L1, [1.0])))  # max |X.T y| / n
    2.0
    """
    g = grad_at_zero(X, y, datafit, fit_intercept=fit_intercept, sample_weight=sample_weight)
    if hasattr(penalty, "alpha_max") and not isinstance(penalty, pk.NumbaSpec):
        return float(penalty.alpha_max(g))
    return critical_strength(as_spec(penalty), g)
