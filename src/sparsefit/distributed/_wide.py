r"""Wide least squares on dask input (more features than the covariance route takes):
screened working sets solved from their moments, certified by a KKT pass over every
feature.

For a separable convex penalty (``Lasso``, ``ElasticNet``; with ``penalty_factor``,
``positive`` or ``bounds``) and

.. math:: P(w, b) = \frac{1}{2S}\sum_i s_i (y_i - x_i^\top w - b)^2 + \mathrm{pen}(w),

1. one pass at the null point gives the gradient :math:`g^0 = -X^\top s (y - \bar y)/S`
   over all :math:`p` features; the strong rule (Tibshirani et al., 2012) keeps the
   features with :math:`|g^0_j| \ge 2\lambda_j - \lambda_{\max}` (at most
   ``sparsefit.gram_max_features`` of them, the largest first; the unpenalized ones
   always);
2. one pass accumulates the :class:`~sparsefit.solvers.moments.Moments` of the kept
   columns only (``|W|^2`` numbers, the route of :mod:`sparsefit.distributed` for narrow
   data), and the problem restricted to them is solved in covariance form;
3. one pass computes, at that solution, the gradient over **all** features, the loss and
   the dual objective: every feature outside the working set whose optimality condition
   fails joins it (back to 2); when none does, the duality gap of the full problem
   certifies the answer (the same stopping rule as :func:`~sparsefit.solvers.solve`).

The strong rule only orders the work; the KKT pass over every feature is what makes the
answer exact. A model whose support (with the violators) does not fit the limit is
refused with advice, after at most :data:`MAX_REBUILDS` rebuilds of the working set.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np
from sklearn.base import clone

from ..datafits import Quadratic
from ..linear_model._base import _check_bounds, finish_penalty
from ..solvers import solve
from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import compiled_dual_conj, compiled_penalty_value, outer_pass
from ._pass import (
    as_block,
    as_vector,
    check_chunk,
    gram_max_features,
    moments_pass,
    run,
    tree_reduce,
)

#: How many times the working set may be rebuilt at the limit (its zero coefficients and
#: smallest ones replaced by violators) before the model is refused as too wide.
MAX_REBUILDS = 5


@dataclass
class ResidualPart:
    """Sums over a chunk's rows at a point ``(w, b)``: ``r = y - X w - b``."""

    weight: float  # sum s
    xs: np.ndarray  # X' s
    xr: np.ndarray  # X' (s r)
    sr: float  # sum s r
    srr: float  # sum s r^2
    sry: float  # sum s r y

    def combine(self, o):
        return ResidualPart(self.weight + o.weight, self.xs + o.xs, self.xr + o.xr,
                            self.sr + o.sr, self.srr + o.srr, self.sry + o.sry)


def chunk_residual(X, y, sw, index, start, support, coef, intercept):
    """One chunk's :class:`ResidualPart` (``coef`` the values on the columns
    ``support``); checks every value of the chunk."""
    X, y, sw = as_block(X), as_vector(y), as_vector(sw)
    check_chunk(index, start, X, y, sw)
    sw = np.ones(X.shape[0]) if sw is None else sw
    u = np.asarray(X[:, support] @ coef).ravel() + intercept if support.size else \
        np.full(X.shape[0], float(intercept))
    r = y - u
    sr = sw * r
    return ResidualPart(float(sw.sum()), np.asarray(X.T @ sw).ravel(),
                        np.asarray(X.T @ sr).ravel(), float(sr.sum()), float(sr @ r),
                        float(sr @ y))


def _combine(a, b):
    return a.combine(b)


class WideLasso:
    """The working-set loop of the module docstring for a fitted-to-be estimator."""

    def __init__(self, est, data):
        self.est, self.data = est, data
        self.p = data.n_features
        self.fit_intercept = bool(est.fit_intercept)
        self.penalty = finish_penalty(est, est._penalty(self.p), self.p)
        self.info = describe(self.penalty, self.p)
        self.offsets = data.row_offsets(need=False)
        self.label = type(est).__name__
        self.limit = gram_max_features()
        self.n_passes = 0
        self.sy = None  # sum s y, from the first pass
        self.rebuilds = 0

    def residual_pass(self, w, b):
        """One pass at ``(w, b)``: the sums of :class:`ResidualPart` over all rows, with the
        intercept re-fitted for ``w`` (``b`` plus the weighted mean residual); returns the
        part, the intercept and the total weight."""
        support = np.flatnonzero(w)
        parts = [dask.delayed(chunk_residual, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]), support,
            w[support], b) for i, (Xb, yb, wb, _) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), self.label)
        S = out.weight
        if S <= 0:
            raise ValueError("sample_weight: every sample has weight 0")
        if self.sy is None:
            self.sy = out.sr  # the first pass is at w = 0, b = 0: there r = y
        if self.fit_intercept:  # r - c, c the weighted mean residual
            c = out.sr / S
            out = ResidualPart(S, out.xs, out.xr - c * out.xs, 0.0,
                               out.srr - 2 * c * out.sr + c * c * S, out.sry - c * self.sy)
            b = b + c
        return out, b, S

    def run(self, tol, max_iter):
        p, info = self.p, self.info
        w = np.zeros(p)
        st, b, S = self.residual_pass(w, 0.0)  # the null point (optimal intercept)
        grad = -st.xr / S
        g0 = float(np.max(np.abs(grad), initial=0.0))
        rule = StopRule(info, tol, 0.5 * st.srr / S, lambda: g0)
        self.P0 = rule.P0
        ws = self._strong_set(grad)
        scores, rank = np.empty(info.n_units), np.empty(info.n_units)
        sub_tol = tol
        crit, gap, converged = np.nan, np.nan, False
        history = []
        self.n_epochs = 0  # summed over the working-set solves (the estimators' n_iter_)
        while len(history) < max_iter:
            w, b_ws = self._solve_on(ws, w, sub_tol, max_iter)
            st, b, S = self.residual_pass(w, b_ws)
            v = np.ascontiguousarray(st.xr / S)   # X.T theta: the gradient is -v
            grad = -v
            kkt, s = outer_pass(info, w, v, scores, rank)
            P = 0.5 * st.srr / S + compiled_penalty_value(info.spec, w)
            conj = compiled_dual_conj(info.spec, v, info.free_or_empty, s)
            D = s * st.sry / S - 0.5 * s * s * st.srr / S - conj
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            stop, converged, ws, sub_tol = self._next_set(ws, w, scores, rule, crit, kkt,
                                                          sub_tol)
            if stop:
                break
        return SolverResult(coef=w, intercept=float(b) if self.fit_intercept else 0.0,
                            dual_gap=gap, n_iter=len(history), converged=converged, stop_crit=crit,
                            kkt_max=float(scores.max(initial=0.0)), history=history,
                            gradient=grad, null_primal=self.P0, n_epochs=self.n_epochs)

    def _next_set(self, ws, w, scores, rule, crit, kkt, sub_tol):
        """After a KKT pass over every feature: ``(stop, converged, ws, sub_tol)``. The
        violators outside the working set join it; when there are none, stop (converged,
        or at float64's floor on the working set) or solve the working set to more digits
        (its gap bounds the full one)."""
        outside = np.ones(self.p, dtype=bool)
        outside[ws] = False
        violators = np.flatnonzero(outside & (scores > 0))
        if violators.size:
            return False, False, self._grow(ws, violators, scores, w), sub_tol
        if rule.converged(crit, kkt):
            return True, True, ws, sub_tol
        if sub_tol <= 1e-15:
            return True, False, ws, sub_tol
        return False, False, ws, sub_tol * 0.01

    def _strong_set(self, grad):
        """The basic strong rule at the null point: keep ``j`` when ``|g_j| >= f_j (2 a -
        a_max)`` (``a`` the L1 strength, ``f_j`` the penalty factor, ``a_max = max |g_j| /
        f_j``), at most ``limit`` features (the largest ``|g_j| / f_j`` first), with every
        unpenalized feature."""
        a, f = self._l1_levels()
        free = self._free = f <= 0
        if free.sum() > self.limit:
            raise ValueError(self._too_wide(int(free.sum()), "unpenalized features"))
        ratio = np.where(free, np.inf, np.abs(grad) / np.where(free, 1.0, f))
        a_max = float(np.max(ratio[~free], initial=0.0))
        ws = np.flatnonzero(free | (np.abs(grad) >= f * (2 * a - a_max)))
        cap = max(self.limit // 2, int(free.sum()))  # room to grow by the KKT violators
        if ws.size > cap:
            order = np.argsort(-ratio[ws], kind="stable")
            ws = np.sort(ws[order[:cap]])
        return ws

    def _l1_levels(self):
        """``(a, f)``: the L1 strength and each feature's penalty factor (0: unpenalized;
        all 0 when ``a`` is 0)."""
        from ..penalties import Box, Scaled

        pen, f = self.penalty, np.ones(self.p)
        while isinstance(pen, (Box, Scaled)):
            if isinstance(pen, Scaled):
                f = f * np.broadcast_to(np.asarray(pen.factors, dtype=np.float64), (self.p,))
            pen = pen.penalty
        a = float(pen.strength)
        return a, (f if a > 0 else np.zeros(self.p))

    def _too_wide(self, k, what):
        return (f"{self.label} on dask input: the working set needs {k} {what}, more than "
                f"sparsefit.gram_max_features={self.limit}; raise alpha (a sparser model), "
                "raise the limit in dask.config if the workers hold its k^2 numbers, or "
                "select features first")

    def _grow(self, ws, violators, scores, w):
        """Add the violators, the worst first, at most as many as the set holds (at least
        100). When that passes the limit, the set is rebuilt: the unpenalized features,
        the largest coefficients and the worst violators (half the room each, at least).
        Which set is solved changes only the speed: the KKT pass over every feature
        decides when the answer is exact."""
        take = min(max(ws.size, 100), violators.size)
        worst = violators[np.argsort(-scores[violators], kind="stable")[:take]]
        grown = np.union1d(ws, worst)
        if grown.size <= self.limit:
            return grown
        self.rebuilds += 1
        if self.rebuilds > MAX_REBUILDS:
            raise ValueError(self._too_wide(int(np.count_nonzero(w)) + violators.size,
                                            "features (support and KKT violators)"))
        free = np.flatnonzero(self._free)
        room = self.limit - free.size
        nz = np.setdiff1d(np.flatnonzero(w), free)
        n_new = min(worst.size, max(room // 2, room - nz.size))
        big = nz[np.argsort(-np.abs(w[nz]), kind="stable")[:room - n_new]]
        return np.union1d(np.union1d(free, big), worst[:n_new])

    def _solve_on(self, ws, w, tol, max_iter):
        """The problem restricted to the columns ``ws``, from their moments (one pass):
        ``(w, b)`` with ``w`` zero outside ``ws``."""
        mom = moments_pass(self.data, label=self.label, cols=ws)
        sub = self._sub_estimator(ws)
        pen = finish_penalty(sub, sub._penalty(ws.size), ws.size)
        res = solve(mom, None, Quadratic(), pen, fit_intercept=self.fit_intercept,
                    w_init=w[ws], tol=tol, max_iter=max(max_iter, 100))
        self.n_epochs += int(res.n_epochs)
        out = np.zeros(self.p)
        out[ws] = res.coef
        return out, float(res.intercept) if self.fit_intercept else 0.0

    def _sub_estimator(self, ws):
        """The estimator with its per-feature options restricted to ``ws``."""
        est = self.est
        params = {}
        if getattr(est, "penalty_factor", None) is not None:
            params["penalty_factor"] = np.asarray(est.penalty_factor, dtype=np.float64)[ws]
        bounds = _check_bounds(getattr(est, "bounds", None), self.p)
        if bounds is not None:
            params["bounds"] = tuple(b if b.size == 1 else b[ws] for b in bounds)
        return clone(est).set_params(**params)


def fit_wide(est, data):
    """Fit ``est`` (least squares, separable convex penalty) by :class:`WideLasso`; sets the
    fitted attributes as :meth:`~sparsefit.linear_model.Lasso.fit` does."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    res = WideLasso(est, data).run(float(est.tol), int(est.max_iter))
    if not res.converged:
        warnings.warn(f"{type(est).__name__} on dask input (wide route) did not converge "
                      f"after max_iter={est.max_iter} working sets: criterion "
                      f"{res.stop_crit:.3e} > tol={est.tol:.1e}. Increase max_iter.",
                      ConvergenceWarning, stacklevel=4)
    est._set_solution(res, data.dtype)
