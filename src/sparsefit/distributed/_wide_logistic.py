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
exact. Multinomial problems (``K > 2`` classes, beyond ``p K`` coefficients in the limit)
take the same loop with working sets of features, each with its ``K`` coefficients
(:class:`WideSoftmaxNewton`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import dask
import numpy as np
from scipy.special import expit, xlogy
from sklearn.base import clone

from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import compiled_dual_terms, compiled_penalty_value, compiled_unit_scores
from ._logistic import DaskNewton, chunk_weights, dual_sum_at
from ._pass import TooWideError, gram_max_features, one_pass_limit, run, tree_reduce
from ._wide import FIRST_IN_MEMORY, MAX_REBUILDS, WideLasso


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
        self.limit = one_pass_limit()
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

    #: ``(gradient at the null model of all the rows, features)`` from a CV estimator's
    #: passes, or None: no null pass, and the features join the first working set
    start = None

    def run(self, w, b, tol, max_iter):
        info = self.info
        if self.start is not None:
            grad0, extra = self.start
        else:
            grad0 = self.kkt_pass(np.zeros(self.p), self.b_null).grad  # the null model's
            extra = np.zeros(0, dtype=np.int64)
        grad = grad0
        g0 = float(np.max(np.abs(grad0), initial=0.0))
        rule = StopRule(info, tol, self.P0, lambda: g0)
        ws = np.union1d(self._strong_set(grad0), np.flatnonzero(w))
        if np.union1d(ws, extra).size <= self.limit:  # the CV's supports, when they fit
            ws = np.union1d(ws, extra)
        if ws.size > self.limit:
            raise TooWideError(self._too_wide(ws.size, "features (warm start and screening)"))
        scores, rank = np.empty(info.n_units), np.empty(info.n_units)
        history, crit, gap, converged, sub_tol = [], np.nan, np.nan, False, tol
        for _ in range(max_iter):
            w, b = self._solve_on(ws, w, b, sub_tol, max_iter)
            st = self.kkt_pass(w, b)
            grad = st.grad
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
                            history=history, gradient=grad, null_primal=self.P0)


@dataclass
class SoftmaxKKTPart:
    """Sums over a chunk's rows at ``(W, b)`` for the multinomial loss (raw sample
    weights); ``hwb`` indexed feature-major as :class:`~sparsefit.distributed._logistic.
    SoftmaxPart`'s."""

    weight: float
    loss: float  # sum s (-log q_{i, y_i})
    grad: np.ndarray  # (p, K) X' R
    grad_b: np.ndarray  # (K,) sum R
    hbb: np.ndarray  # (K, K) sum s A_i
    hwb: np.ndarray  # (p, K, K) sum s x_i kron A_i
    dual: float
    dual_ok: bool

    def combine(self, o):
        return SoftmaxKKTPart(self.weight + o.weight, self.loss + o.loss, self.grad + o.grad,
                              self.grad_b + o.grad_b, self.hbb + o.hbb, self.hwb + o.hwb,
                              self.dual + o.dual, self.dual_ok and o.dual_ok)


def chunk_softmax_kkt(X, y, sw, index, start, labels, class_weights, support, coef, b,
                      dual):
    """One chunk's :class:`SoftmaxKKTPart` at ``W`` (the rows ``coef`` on the columns
    ``support``, zero elsewhere) and ``b``; ``dual = (s, delta)`` or None (see
    :func:`~sparsefit.distributed._logistic.chunk_softmax`)."""
    from ._logistic import _log_softmax, softmax_dual_sum

    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights)
    n, K = X.shape[0], labels.size
    U = (np.asarray(X[:, support] @ coef) if support.size else np.zeros((n, K))) + b
    L = _log_softmax(U)
    Q = np.exp(L)
    rows = np.arange(n)
    R = Q.copy()
    R[rows, yi] -= 1.0
    R *= sw[:, None]
    p = X.shape[1]
    hwb = np.zeros((p, K, K))
    hbb = np.zeros((K, K))
    for k in range(K):
        for m in range(k, K):
            c = sw * Q[:, k] * ((k == m) - Q[:, m])
            xc = np.asarray(X.T @ c).ravel()
            hwb[:, k, m] = xc
            hwb[:, m, k] = xc
            hbb[k, m] = hbb[m, k] = c.sum()
    dual_sum, ok = softmax_dual_sum(U, yi, sw, dual)
    return SoftmaxKKTPart(float(sw.sum()), float(sw @ -L[rows, yi]),
                          np.asarray(X.T @ R).reshape(p, K), R.sum(axis=0), hbb, hwb,
                          dual_sum, ok)


class WideSoftmaxNewton:
    r"""The working-set loop of the module docstring for the multinomial loss (``K > 2``
    classes): the working set holds **features** (each with its ``K`` coefficients, its
    Hessian block ``(|W| K)^2`` numbers: the limit counts ``|W| K``), solved by
    :class:`~sparsefit.distributed._logistic.DaskSoftmaxNewton` on their columns; the KKT
    passes give the gradient over all ``p K`` coefficients, and a feature joins when any
    of its coefficients (``multiclass_penalty="l1"``) or its group (``"group"``) violates
    its optimality condition. The dual point is DaskSoftmaxNewton's (the intercept shift
    from :math:`H_{bb}` and :math:`H_{wb}` over every feature)."""

    def __init__(self, est, data, classes, weights, class_weights, alpha, l1_ratio):
        self.est, self.data = est, data
        self.p, self.K = data.n_features, classes.size
        self.fit_intercept = bool(est.fit_intercept)
        self.alpha, self.l1_ratio = alpha, l1_ratio
        self.penalty = est._make_penalty(self.p, self.K, l1_ratio)(alpha)
        self.info = describe(self.penalty, self.p * self.K)
        self.offsets = data.row_offsets(need=False)
        self.label = type(est).__name__
        self.limit = one_pass_limit()
        self.classes, self.weights, self.class_weights = classes, weights, class_weights
        prior = weights / weights.sum()  # the null model, as DaskSoftmaxNewton's
        logp = np.log(np.where(prior > 0, prior, 1.0))
        self.b_null = logp - logp.mean() if self.fit_intercept else np.zeros(self.K)
        self.P0 = float(-(xlogy(prior, prior)).sum()) if self.fit_intercept \
            else float(np.log(self.K))
        # each unit's feature: a coefficient (j, k) at j * K + k, or a group of K
        self.unit_feature = (np.arange(self.info.n_units) if self.info.is_group
                             else np.arange(self.p * self.K) // self.K)
        if self.info.free is not None:
            raise ValueError(f"{self.label} on dask input: unpenalized features "
                             "(penalty_factor 0) have no wide multinomial route; select "
                             "features first, or fit in memory")
        self.n_passes = 0
        self.rebuilds = 0

    def kkt_pass(self, W, b, dual=None):
        """One pass at ``(W, b)`` (``W`` of shape (p, K)): the combined
        :class:`SoftmaxKKTPart`, normalized by the total weight."""
        support = np.flatnonzero(np.any(W != 0, axis=1))
        parts = [dask.delayed(chunk_softmax_kkt, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]),
            self.classes, self.class_weights, support, W[support], np.asarray(b, float),
            dual) for i, (Xb, yb, wb, _) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), self.label)
        S = out.weight
        return replace(out, loss=out.loss / S, grad=out.grad / S, grad_b=out.grad_b / S,
                       hbb=out.hbb / S, hwb=out.hwb / S, dual=out.dual / S)

    def _dual_request(self, st):
        """``(s, delta, conj)`` as DaskSoftmaxNewton.dual_request, over every feature."""
        delta = np.zeros(self.K)
        if self.fit_intercept:
            delta = -np.linalg.pinv(st.hbb, rcond=1e-12, hermitian=True) @ st.grad_b
        v = -st.grad.ravel() - st.hwb.reshape(self.p * self.K, self.K) @ delta
        s, conj = compiled_dual_terms(self.info.spec, np.ascontiguousarray(v),
                                      self.info.free_or_empty)
        return s, delta, conj

    def _feature_scores(self, scores):
        """The largest violation of every feature's units."""
        out = np.zeros(self.p)
        np.maximum.at(out, self.unit_feature, scores)
        return out

    def _strong_set(self, grad):
        pen, g = self.penalty, np.ascontiguousarray(grad.ravel())
        n = self.info.n_units
        scores, rank = np.empty(n), np.empty(n)
        zero = np.zeros(self.p * self.K)
        strong = 2 * float(pen.strength) - float(pen.alpha_max(g))
        keep = np.ones(self.p, dtype=bool)
        if strong > 0:
            compiled_unit_scores(describe(pen.with_strength(strong), self.p * self.K).spec,
                                 zero, g, scores, rank)
            keep = self._feature_scores(np.where(rank >= 0, 1.0, 0.0)) > 0
        compiled_unit_scores(self.info.spec, zero, g, scores, rank)
        order = np.full(self.p, -np.inf)
        np.maximum.at(order, self.unit_feature, rank)
        ws = np.flatnonzero(keep)
        first = self.limit // (2 * self.K)
        if self.data.persisted_bytes:
            first = min(first, FIRST_IN_MEMORY // self.K)
        if ws.size > first:
            ws = np.sort(ws[np.argsort(-order[ws], kind="stable")[:first]])
        return ws

    def _too_wide(self, k, what):
        return (f"{self.label} on dask input: the working set needs {k} {what} x {self.K} "
                f"classes, more than the {self.limit} whose Hessian a pass holds "
                f"(sparsefit.gram_max_features={gram_max_features()} and the workers' "
                "memory_limit); raise alpha "
                "(a sparser model), raise the limit in dask.config if the workers hold its "
                "k^2 numbers, or select features first")

    def _grow(self, ws, violators, fscores, W):
        take = min(max(ws.size, 100), violators.size)
        worst = violators[np.argsort(-fscores[violators], kind="stable")[:take]]
        grown = np.union1d(ws, worst)
        if grown.size * self.K <= self.limit:
            return grown
        self.rebuilds += 1
        support = np.flatnonzero(np.any(W != 0, axis=1))
        room = self.limit // self.K - support.size
        if room < 1 or self.rebuilds > MAX_REBUILDS:
            raise TooWideError(self._too_wide(support.size + violators.size,
                                            "features (support and KKT violators)"))
        return np.union1d(support, worst[:room])

    def _solve_on(self, ws, W, b, tol, max_iter):
        """The problem restricted to the features ``ws``, by DaskSoftmaxNewton on their
        columns."""
        from ..linear_model._base import _check_bounds
        from ._logistic import DaskSoftmaxNewton

        params = {}
        if getattr(self.est, "penalty_factor", None) is not None:
            params["penalty_factor"] = np.asarray(self.est.penalty_factor, float)[ws]
        bounds = _check_bounds(getattr(self.est, "bounds", None), self.p)
        if bounds is not None:
            params["bounds"] = tuple(x if x.size == 1 else x[ws] for x in bounds)
        sub = clone(self.est).set_params(**params)
        pen = sub._make_penalty(ws.size, self.K, self.l1_ratio)(self.alpha)
        view = replace(self.data, X=self.data.X[:, ws], feature_names=None)
        solver = DaskSoftmaxNewton(sub, view, self.classes, self.weights,
                                   self.class_weights, pen)
        res = solver.run(np.ascontiguousarray(W[ws]).ravel(), b, tol, max(max_iter, 100))
        self.n_passes += solver.n_passes
        out = np.zeros((self.p, self.K))
        out[ws] = res.coef
        return out, np.asarray(res.intercept, dtype=np.float64)

    def run(self, w, b, tol, max_iter):
        info = self.info
        W = np.asarray(w, dtype=np.float64).reshape(self.p, self.K).copy()
        b = np.asarray(b, dtype=np.float64).reshape(self.K)
        st = self.kkt_pass(np.zeros((self.p, self.K)), self.b_null)
        g0 = float(np.max(np.abs(st.grad), initial=0.0))
        rule = StopRule(info, tol, self.P0, lambda: g0)
        ws = np.union1d(self._strong_set(st.grad), np.flatnonzero(np.any(W != 0, axis=1)))
        if ws.size * self.K > self.limit:
            raise TooWideError(self._too_wide(ws.size, "features (warm start and screening)"))
        scores, rank = np.empty(info.n_units), np.empty(info.n_units)
        history, crit, gap, converged, sub_tol = [], np.nan, np.nan, False, tol
        for _ in range(max_iter):
            W, b = self._solve_on(ws, W, b, sub_tol, max_iter)
            st = self.kkt_pass(W, b)
            w = W.ravel()
            kkt = compiled_unit_scores(info.spec, w, np.ascontiguousarray(st.grad.ravel()),
                                       scores, rank)
            P, D = float(st.loss) + compiled_penalty_value(info.spec, w), -np.inf
            if rule.uses_gap:
                s, delta, conj = self._dual_request(st)
                dual = self.kkt_pass(W, b, (s, delta))
                D = -dual.dual - conj if dual.dual_ok else -np.inf
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            fscores = self._feature_scores(scores)
            fscores[ws] = 0.0
            violators = np.flatnonzero(fscores > 0)
            if violators.size:
                ws = self._grow(ws, violators, fscores, W)
                continue
            if rule.converged(crit, kkt):
                converged = True
                break
            if sub_tol <= 1e-15:
                break
            sub_tol *= 0.01
        return SolverResult(coef=W, intercept=b if self.fit_intercept else np.zeros(self.K),
                            dual_gap=gap, n_iter=len(history), converged=converged,
                            stop_crit=crit, kkt_max=float(scores.max(initial=0.0)),
                            history=history, gradient=st.grad, null_primal=self.P0)


def takes_wide_logistic_route(est, n_features, n_classes, l1_ratio):
    """Whether a logistic fit with more coefficients than the Hessian route takes
    (``n_features``, times ``n_classes`` beyond two) can take the wide route: a convex
    penalty with some L1, separable (binary; per coefficient for the multinomial) or the
    multinomial ``multiclass_penalty="group"``."""
    n_coords = n_features * (1 if n_classes == 2 else n_classes)
    if n_coords <= one_pass_limit():
        return False
    pen = est._make_penalty(n_features, n_classes, l1_ratio)(1.0)
    if not pen.is_convex:
        return False
    group = n_classes > 2 and getattr(est, "multiclass_penalty", "l1") == "group"
    return bool(pen.is_separable or group)
