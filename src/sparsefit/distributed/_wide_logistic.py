r"""Wide binary logistic regression on dask input (more features than the Hessian route
takes): screened working sets solved by the distributed proximal Newton method on their
columns only, certified by KKT passes over every feature.

For a separable convex penalty (L1, elastic net; with ``penalty_factor`` or ``bounds``)
and the binary logistic loss :math:`F(u) = \frac1S\sum_i s_i \log(1 + e^{-y_i u_i})`:

1. one pass at the null model (``w = 0``, the intercept at the class prior) gives the
   gradient :math:`g^0 = X^\top r` over all :math:`p` features; the strong rule keeps the
   features with :math:`|g^0_j| \ge f_j (2\lambda - \lambda_{\max})` (at most
   ``sparsefit.gram_max_features`` of them, the largest first; the unpenalized ones
   always), as :mod:`~sparsefit.distributed._wide` does for least squares;
2. the problem restricted to the working set is solved by
   :class:`~sparsefit.distributed._logistic.DaskNewton` on those columns (each of its
   passes holds the ``|W|^2`` Hessian moments of the working set only);
3. two passes at that solution give the gradient over **all** features, the loss, and the
   dual objective at the dual point of :func:`~sparsefit.solvers.dual_gap`; every feature
   outside the working set whose optimality condition fails joins it (back to 2). When
   none does, the duality gap of the full problem certifies the answer.

The strong rule only orders the work; the KKT passes over every feature make the answer
exact. Multinomial problems beyond the limit are refused (their Hessian blocks are ``K``
times larger).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import dask
import numpy as np
from scipy.special import expit, xlogy

from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import compiled_dual_terms, compiled_penalty_value, compiled_unit_scores
from ._logistic import DaskNewton, chunk_weights, dual_sum_at
from ._pass import gram_max_features, run, tree_reduce
from ._wide import WideLasso


@dataclass
class KKTPart:
    """Sums over a chunk's rows at ``(w, b)`` (raw sample weights)."""

    weight: float  # sum s
    loss: float  # sum s log(1 + exp(-y u))
    grad: np.ndarray  # X' r, r = dF/du
    grad_b: float  # sum r
    hsum: float  # sum h, h = d2F/du2
    hx: np.ndarray  # X' h
    dual: float  # sum s (q log q + (1 - q) log(1 - q)) at the requested dual point
    dual_ok: bool

    def combine(self, o):
        return KKTPart(self.weight + o.weight, self.loss + o.loss, self.grad + o.grad,
                       self.grad_b + o.grad_b, self.hsum + o.hsum, self.hx + o.hx,
                       self.dual + o.dual, self.dual_ok and o.dual_ok)


def chunk_kkt(X, y, sw, index, start, labels, class_weights, support, coef, b, dual):
    """One chunk's :class:`KKTPart` at ``w`` (``coef`` on the columns ``support``, zero
    elsewhere) and ``b``; ``dual = (s, kappa)`` or None (see
    :func:`~sparsefit.distributed._logistic.chunk_newton`)."""
    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights)
    y = np.where(yi == 1, 1.0, -1.0)
    u = (np.asarray(X[:, support] @ coef).ravel() if support.size else
         np.zeros(X.shape[0])) + b
    yu = y * u
    sig = expit(yu)
    r = -sw * y * (1.0 - sig)
    h = sw * sig * (1.0 - sig)
    dual_sum, ok = dual_sum_at(yu, y, sw, dual)
    return KKTPart(float(sw.sum()), float(sw @ np.logaddexp(0.0, -yu)),
                   np.asarray(X.T @ r).ravel(), float(r.sum()), float(h.sum()),
                   np.asarray(X.T @ h).ravel(), dual_sum, ok)


def _combine(a, b):
    return a.combine(b)


class WideNewton(WideLasso):
    """The working-set loop of the module docstring (binary; ``penalty`` separable and
    convex)."""

    def __init__(self, est, data, classes, weights, class_weights, alpha, l1_ratio):
        self.est, self.data = est, data
        self.p = data.n_features
        self.T, self.n_coords = None, self.p
        self.fit_intercept = bool(est.fit_intercept)
        self.alpha, self.l1_ratio = alpha, l1_ratio
        self.penalty = est._make_penalty(self.p, 2, l1_ratio)(alpha)
        self.info = describe(self.penalty, self.p)
        self.offsets = data.row_offsets(need=False)
        self.label = type(est).__name__
        self.limit = gram_max_features()
        self.classes, self.weights, self.class_weights = classes, weights, class_weights
        s_pos = weights[1] / weights.sum()  # the null model, as DaskNewton's
        self.b_null = float(np.log(s_pos / (1.0 - s_pos))) if self.fit_intercept else 0.0
        self.P0 = float(-(xlogy(s_pos, s_pos) + xlogy(1 - s_pos, 1 - s_pos))) \
            if self.fit_intercept else float(np.log(2.0))
        self.n_passes = 0
        self.rebuilds = 0
        self._init_units()

    def kkt_pass(self, w, b, dual=None):
        """One pass at ``(w, b)``: the combined :class:`KKTPart`, normalized by the total
        weight."""
        support = np.flatnonzero(w)
        parts = [dask.delayed(chunk_kkt, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]),
            self.classes, self.class_weights, support, w[support], b, dual)
            for i, (Xb, yb, wb, _) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), self.label)
        S = out.weight
        return replace(out, loss=out.loss / S, grad=out.grad / S, grad_b=out.grad_b / S,
                       hsum=out.hsum / S, hx=out.hx / S, dual=out.dual / S)

    def _dual_request(self, st):
        """``(s, kappa, conj)`` at the pass ``st``, as DaskNewton.dual_request."""
        kappa = 0.0
        if self.fit_intercept and st.hsum > 0:
            kappa = -st.grad_b / st.hsum
        v = -st.grad - kappa * st.hx
        s, conj = compiled_dual_terms(self.info.spec, np.ascontiguousarray(v),
                                      self.info.free_or_empty)
        return s, kappa, conj

    def _solve_on(self, ws, w, b, tol, max_iter):
        """The problem restricted to the columns ``ws`` by DaskNewton on those columns."""
        sub = self._sub_estimator(ws)
        pen = sub._make_penalty(ws.size, 2, self.l1_ratio)(self.alpha)
        view = replace(self.data, X=self.data.X[:, ws], feature_names=None)
        solver = DaskNewton(sub, view, self.classes, self.weights, self.class_weights, pen)
        res = solver.run(np.ascontiguousarray(w[ws]), b, tol, max(max_iter, 100))
        self.n_passes += solver.n_passes
        out = np.zeros(self.p)
        out[ws] = res.coef
        return out, float(res.intercept) if self.fit_intercept else 0.0

    def run(self, w, b, tol, max_iter):
        info = self.info
        st = self.kkt_pass(np.zeros(self.p), self.b_null)  # the null model's gradient
        g0 = float(np.max(np.abs(st.grad), initial=0.0))
        rule = StopRule(info, tol, self.P0, lambda: g0)
        ws = np.union1d(self._strong_set(st.grad), np.flatnonzero(w))
        if ws.size > self.limit:
            raise ValueError(self._too_wide(ws.size, "features (warm start and screening)"))
        scores, rank = np.empty(info.n_units), np.empty(info.n_units)
        history, crit, gap, converged, sub_tol = [], np.nan, np.nan, False, tol
        for _ in range(max_iter):
            w, b = self._solve_on(ws, w, b, sub_tol, max_iter)
            st = self.kkt_pass(w, b)
            kkt = compiled_unit_scores(info.spec, w, st.grad, scores, rank)
            P, D = float(st.loss) + compiled_penalty_value(info.spec, w), -np.inf
            if rule.uses_gap:
                s, kappa, conj = self._dual_request(st)
                dual = self.kkt_pass(w, b, (s, kappa))
                D = -dual.dual - conj if dual.dual_ok else -np.inf
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            stop, converged, ws, sub_tol = self._next_set(ws, w, scores, rule, crit, kkt,
                                                          sub_tol)
            if stop:
                break
        return SolverResult(coef=w, intercept=float(b) if self.fit_intercept else 0.0,
                            dual_gap=gap, n_iter=len(history), converged=converged,
                            stop_crit=crit, kkt_max=float(scores.max(initial=0.0)),
                            history=history, gradient=st.grad, null_primal=self.P0)


def takes_wide_logistic_route(est, n_features, n_classes, l1_ratio):
    """Whether a binary logistic fit with more features than the limit can take the wide
    route: a separable convex penalty with some L1."""
    if n_classes != 2 or n_features <= gram_max_features():
        return False
    pen = est._make_penalty(n_features, 2, l1_ratio)(1.0)
    return bool(pen.is_separable and pen.is_convex)
