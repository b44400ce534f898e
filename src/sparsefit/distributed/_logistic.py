r"""Binary sparse logistic regression on dask input: proximal Newton, one pass per outer
iteration.

At the current point :math:`(w, b)` the pass returns the gradient :math:`g = X^\top r`
(:math:`r_i = \partial F / \partial u_i`), :math:`g_b = \sum_i r_i` and the Hessian moments
(:math:`h_i = \partial^2 F / \partial u_i^2` as weights: :math:`S_h`, the mean
:math:`\bar x_h` and the co-moment :math:`C_h = \sum_i h_i (x_i - \bar x_h)(x_i -
\bar x_h)^\top`, combined pairwise as for least squares). Minimizing the Newton model
over the intercept leaves, in :math:`w`, the quadratic

.. math:: \tfrac12 v^\top C_h v - (C_h w - g + g_b \bar x_h)^\top v + \mathrm{pen}(v),

solved locally by coordinate descent in covariance form
(:func:`~sparsefit.solvers.covariance.covariance_cd`); the intercept step follows in closed
form. The next pass evaluates, for the direction found, the objective at a grid of step
sizes (the Armijo line search on the full data), the statistics at the full step, and the
duality gap of the current point: the dual point :math:`\theta = -r` shifted by
:math:`\kappa h` so that it sums to zero (the intercept's dual constraint) and rescaled
into the penalty's dual domain, exactly as :func:`~sparsefit.solvers.dual_gap` does with
the optimal intercept. The fit stops on that certified gap.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import dask
import numpy as np
from scipy.special import expit, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import type_of_target

from ..linear_model._base import warm_start_point
from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import compiled_dual_terms, compiled_penalty_value, compiled_unit_scores
from ..solvers.covariance import ViolationRule, covariance_cd
from ..solvers.moments import Moments
from ._pass import as_block, as_vector, check_chunk, run, tree_reduce

TAUS = 0.5 ** np.arange(12)  # the step sizes the line search tries, in one pass (1 first)


def _label_weights(y, sw, index):
    """Per chunk: ``{label: summed sample weight}``."""
    y = np.asarray(y).reshape(-1)
    w = np.ones(y.shape[0]) if sw is None else as_vector(sw)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"Input y contains NaN or infinity in chunk {index}")
    labels, inv = np.unique(y, return_inverse=True)
    return dict(zip(labels.tolist(), np.bincount(inv, weights=w, minlength=labels.size)))


def _merge_counts(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


@dataclass
class NewtonPart:
    """What a chunk contributes to one pass (raw sample weights; sums)."""

    weight: float
    values: np.ndarray  # sum_i sw_i f_i at every step size
    grad: np.ndarray  # X.T r at the full step
    grad_b: float
    hess: Moments  # the Hessian weights' moments at the full step
    dual: float  # sum_i sw_i (q log q + (1 - q) log(1 - q)) at the base point
    dual_ok: bool  # whether the shifted dual point stayed in [0, 1]

    def combine(self, o):
        return NewtonPart(self.weight + o.weight, self.values + o.values, self.grad + o.grad,
                          self.grad_b + o.grad_b, self.hess.combine(o.hess),
                          self.dual + o.dual, self.dual_ok and o.dual_ok)


def chunk_newton(X, y, sw, index, start, positive_label, point, direction, dual):
    """One chunk's :class:`NewtonPart`: ``point = (w, b)``, ``direction = (d, db)`` (the
    statistics are taken at ``point + direction``), ``dual = (s, kappa)`` or None."""
    X, sw = as_block(X), as_vector(sw)
    y = np.where(np.asarray(y).reshape(-1) == positive_label, 1.0, -1.0)
    check_chunk(index, start, X, y, sw, y_numeric=False)
    sw = np.ones(X.shape[0]) if sw is None else sw
    (w, b), (d, db) = point, direction
    u0 = X @ w + b
    du = X @ d + db
    yu0, ydu = y * u0, y * du
    values = np.array([float(sw @ np.logaddexp(0.0, -(yu0 + t * ydu))) for t in TAUS])
    yu = yu0 + ydu
    sig = expit(yu)
    r = -sw * y * (1.0 - sig)
    h = sw * sig * (1.0 - sig)
    hess = Moments.from_arrays(X, np.zeros(X.shape[0]), h)
    dual_sum, ok = 0.0, True
    if dual is not None:
        s, kappa = dual
        pos = sw > 0
        p0 = expit(-yu0[pos])
        p = p0 - kappa * y[pos] * p0 * (1.0 - p0)
        ok = bool(np.all((p >= -1e-12) & (p <= 1.0 + 1e-12)))
        q = np.clip(s * p, 0.0, 1.0)
        dual_sum = float(sw[pos] @ (xlogy(q, q) + xlogy(1.0 - q, 1.0 - q)))
    return NewtonPart(float(sw.sum()), values, np.asarray(X.T @ r).ravel(), float(r.sum()),
                      hess, dual_sum, ok)


def _combine(a, b):
    return a.combine(b)


def classes_pass(data, label):
    """The labels of ``y`` and their summed weights (a pass over ``y`` only)."""
    parts = [dask.delayed(_label_weights, pure=True)(yb, wb, i)
             for i, (_, yb, wb, _) in enumerate(data.blocks())]
    counts = run(tree_reduce(parts, _merge_counts), label)
    classes = np.array(sorted(counts))
    kind = type_of_target(classes)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}; {label} needs class labels")
    return classes, counts


class DaskNewton:
    """The outer loop of the distributed proximal Newton method (see the module
    docstring). ``run()`` returns a :class:`SolverResult`."""

    def __init__(self, est, data, classes, counts, penalty):
        self.est, self.data, self.penalty = est, data, penalty
        self.pos_label = classes[1]
        self.fit_intercept = bool(est.fit_intercept)
        self.info = describe(penalty, data.n_features)
        self.offsets = data.row_offsets(need=False)
        S = sum(counts.values())
        s_pos = counts[classes[1]] / S
        self.b_null = float(np.log(s_pos / (1.0 - s_pos))) if self.fit_intercept else 0.0
        self.P0 = float(-(xlogy(s_pos, s_pos) + xlogy(1 - s_pos, 1 - s_pos))) \
            if self.fit_intercept else float(np.log(2.0))
        self.n_passes = 0

    def evaluate(self, w, b, d=None, db=0.0, dual=None):
        """One pass: the combined :class:`NewtonPart` (normalized by the total weight)."""
        p = self.data.n_features
        d = np.zeros(p) if d is None else d
        parts = [dask.delayed(chunk_newton, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]),
            self.pos_label, (w, b), (d, db), dual)
            for i, (Xb, yb, wb, _) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), type(self.est).__name__)
        S = out.weight
        return replace(out, values=out.values / S, grad=out.grad / S, grad_b=out.grad_b / S,
                       dual=out.dual / S, hess=replace(out.hess, weight=out.hess.weight / S,
                                                       xx=out.hess.xx / S))

    def dual_request(self, st):
        """``(s, kappa, conj)``: the shift making the dual point sum to zero, its rescaling
        and the penalty's conjugate there."""
        kappa = 0.0
        if self.fit_intercept and st.hess.weight > 0:
            kappa = -st.grad_b / st.hess.weight
        v = -st.grad - kappa * st.hess.weight * st.hess.x_mean
        s, conj = compiled_dual_terms(self.info.spec, np.ascontiguousarray(v),
                                      self.info.free_or_empty)
        return s, kappa, conj

    def direction(self, st, w, tol_in):
        """The proximal Newton direction ``(d, db)`` and the model decrease it predicts."""
        G, _, _ = st.hess.quadratic_form(self.fit_intercept)
        G *= st.hess.weight
        gc = st.grad - (st.grad_b * st.hess.x_mean if self.fit_intercept else 0.0)
        c = G @ w - gc
        v = w.copy()
        covariance_cd(G, c, None, self.info, v, tol=tol_in, max_iter=100,
                      rule=ViolationRule(tol_in))
        d = v - w
        db = (-st.grad_b / st.hess.weight - st.hess.x_mean @ d
              if self.fit_intercept and st.hess.weight > 0 else 0.0)
        spec = self.info.spec
        delta = float(st.grad @ d + st.grad_b * db) + compiled_penalty_value(spec, v) - \
            compiled_penalty_value(spec, w)
        return d, db, delta

    def step_size(self, w, d, delta, F_w, values):
        """The largest step of :data:`TAUS` passing Armijo's test (``F_w`` the loss at
        ``w``, ``values`` along the direction), or None."""
        spec = self.info.spec
        F0 = F_w + compiled_penalty_value(spec, w)
        if -delta <= 1e-13 * abs(F0):
            return 1.0  # a decrease below float64's resolution of F: take the full step
        for t, Ft in zip(TAUS, values):
            if Ft + compiled_penalty_value(spec, w + t * d) <= F0 + 1e-4 * t * min(delta, 0.0):
                return float(t)
        return None

    def run(self, w, b, tol, max_iter):
        rule = StopRule(self.info, tol, self.P0, lambda: self.g0)
        st = self.evaluate(w, b)
        self.g0 = float(np.max(np.abs(st.grad), initial=0.0))
        scores, rank = np.empty(self.info.n_units), np.empty(self.info.n_units)
        history, crit, gap, it, converged = [], np.nan, np.nan, 0, False
        for it in range(max_iter + 1):
            kkt = compiled_unit_scores(self.info.spec, w, st.grad, scores, rank)
            s, kappa, conj = self.dual_request(st)
            d, db, delta = self.direction(st, w, max(1e-3 * kkt, 1e-15 * max(self.g0, 1.0)))
            nxt = self.evaluate(w, b, d, db, (s, kappa) if rule.uses_gap else None)
            P = float(st.values[0]) + compiled_penalty_value(self.info.spec, w)
            D = -nxt.dual - conj if nxt.dual_ok else -np.inf
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            if rule.converged(crit, kkt) or it == max_iter:
                converged = rule.converged(crit, kkt)
                break
            t = self.step_size(w, d, delta, float(st.values[0]), nxt.values)
            if t is None:
                break  # no decrease along the Newton direction: float64's floor
            w, b = w + t * d, b + t * db
            st = nxt if t == 1.0 else self.evaluate(w, b)
        return SolverResult(coef=w, intercept=float(b), dual_gap=gap, n_iter=it,
                            converged=converged, stop_crit=crit, kkt_max=float(scores.max(
                                initial=0.0)), history=history, gradient=st.grad)


def fit_logistic(est, data):
    """:class:`~sparsefit.linear_model.SparseLogisticRegression` on dask input (binary)."""
    from ._estimators import DaskInputError, check_gram_limit

    name = type(est).__name__
    check_gram_limit(est, data.n_features)
    classes, counts = classes_pass(data, name)
    if classes.size < 2:
        raise ValueError(f"{name} needs samples of at least 2 classes in y; got one class: "
                         f"{classes[0]!r}")
    if classes.size > 2:
        raise DaskInputError(f"{name} on dask input fits two classes; y has {classes.size}: "
                             "fit the multinomial model in memory, or one-vs-rest on dask")
    p = data.n_features
    penalty = est._make_penalty(p, 2)(est.alpha)
    solver = DaskNewton(est, data, classes, counts, penalty)
    w0, b0 = warm_start_point(est, (1, p))
    w = np.zeros(p) if w0 is None else w0.ravel().copy()
    b = solver.b_null if b0 is None or not est.fit_intercept else float(np.ravel(b0)[0])
    res = solver.run(w, b if est.fit_intercept else 0.0, float(est.tol), int(est.max_iter))
    if not res.converged:
        warnings.warn(f"Solver did not converge after max_iter={est.max_iter} iterations: "
                      f"relative duality gap {res.stop_crit:.3e} > tol={est.tol:.1e}. "
                      "Increase max_iter or tol, or scale X.", ConvergenceWarning,
                      stacklevel=4)
    est.classes_ = classes
    est._set_solution(res, data.dtype, 2)
