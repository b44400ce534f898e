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
import scipy.sparse as sp
from scipy.special import expit, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target

from ..linear_model._base import warm_start_point
from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import compiled_dual_terms, compiled_penalty_value, compiled_unit_scores
from ..solvers.covariance import ViolationRule, covariance_cd
from ..solvers.moments import Moments
from ._pass import (
    as_block,
    as_vector,
    check_chunk,
    check_gram_limit,
    one_pass_limit,
    run,
    tree_reduce,
)

TAUS = 0.5 ** np.arange(12)  # the step sizes the line search tries, in one pass (1 first)
#: At a certified point, a Newton step larger than this (max |d| / max |w|) is taken and
#: certified again rather than returned after: the last step leaves about its square.
FINAL_STEP = 1e-4


_EPS = float(np.finfo(np.float64).eps)


def _label_weights(y, sw, index):
    """Per chunk: ``{label: summed sample weight}``."""
    y = np.asarray(y).reshape(-1)
    w = np.ones(y.shape[0]) if sw is None else as_vector(sw)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"Input y contains NaN or infinity in chunk {index}")
    if y.dtype.kind == "O" and any(v is None or v != v for v in y.tolist()):
        raise ValueError(f"Input y contains a missing label (None or NaN) in chunk {index}")
    if sw is not None and not np.all(w >= 0):
        raise ValueError(f"sample_weight has negative values in chunk {index}"
                         if np.all(np.isfinite(w)) else
                         f"sample_weight contains NaN or infinity in chunk {index}")
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


def _class_indices(y, labels):
    """Positions of the labels of ``y`` in the sorted ``labels``."""
    y = np.asarray(y).reshape(-1)
    return np.searchsorted(labels, y)


def chunk_weights(X, y, sw, index, start, labels, class_weights, fold=None, groups=None):
    """A chunk's dense/CSR block, class indices and sample weights times class weights;
    with ``fold = (FoldRule, k)``, the rows of fold ``k`` weigh 0 (CV: the training rows)."""
    X, sw = as_block(X), as_vector(sw)
    yi = _class_indices(y, labels)
    check_chunk(index, start, X, yi, sw, y_numeric=False)
    sw = np.ones(X.shape[0]) if sw is None else sw
    sw = sw * class_weights[yi]
    if fold is not None:
        rule, k = fold
        g = None if groups is None else np.asarray(groups).reshape(-1)
        sw = sw * (rule.ids(start, X.shape[0], g, y) != k)
    return X, yi, sw


def chunk_newton(X, y, sw, index, start, labels, class_weights, point, direction, dual,
                 fold=None, groups=None):
    """One chunk's :class:`NewtonPart`: ``point = (w, b)``, ``direction = (d, db)`` (the
    statistics are taken at ``point + direction``), ``dual = (s, kappa)`` or None."""
    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights, fold, groups)
    y = np.where(yi == 1, 1.0, -1.0)
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
    dual_sum, ok = dual_sum_at(yu0, y, sw, dual)
    return NewtonPart(float(sw.sum()), values, np.asarray(X.T @ r).ravel(), float(r.sum()),
                      hess, dual_sum, ok)


def dual_sum_at(yu, y, sw, dual):
    """``(sum_i s_i (q_i log q_i + (1 - q_i) log(1 - q_i)), ok)`` at the dual point of the
    module docstring, from the margins ``yu`` of the base point and ``dual = (s, kappa)``
    (``ok``: the shifted point stayed in [0, 1]); ``(0.0, True)`` when ``dual`` is None."""
    if dual is None:
        return 0.0, True
    s, kappa = dual
    pos = sw > 0
    p0 = expit(-yu[pos])
    p = p0 - kappa * y[pos] * p0 * (1.0 - p0)
    ok = bool(np.all((p >= -1e-12) & (p <= 1.0 + 1e-12)))
    q = np.clip(s * p, 0.0, 1.0)
    return float(sw[pos] @ (xlogy(q, q) + xlogy(1.0 - q, 1.0 - q))), ok


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


def normalized(out):
    """A combined :class:`NewtonPart` divided by its total weight (means, not sums)."""
    S = out.weight
    return replace(out, values=out.values / S, grad=out.grad / S, grad_b=out.grad_b / S,
                   dual=out.dual / S, hess=replace(out.hess, weight=out.hess.weight / S,
                                                   xx=out.hess.xx / S))


def drive(steps, evaluate):
    """Run the generator ``steps`` of :meth:`DaskNewton.steps`, serving each request by
    ``evaluate(*request)``; its return value."""
    try:
        request = next(steps)
        while True:
            request = steps.send(evaluate(*request))
    except StopIteration as stop:
        return stop.value


class DaskNewton:
    """The outer loop of the distributed proximal Newton method (see the module
    docstring). ``run()`` returns a :class:`SolverResult`. With ``fold = (FoldRule, k)``
    (and ``offsets``, the chunks' first rows), it solves on the rows outside fold ``k``."""

    fold = None

    def __init__(self, est, data, classes, weights, class_weights, penalty):
        self.est, self.data, self.penalty = est, data, penalty
        self.labels, self.class_weights = classes, class_weights
        self.fit_intercept = bool(est.fit_intercept)
        self.info = describe(penalty, data.n_features)
        self.offsets = data.row_offsets(need=False)
        s_pos = weights[1] / weights.sum()
        self.b_null = float(np.log(s_pos / (1.0 - s_pos))) if self.fit_intercept else 0.0
        self.P0 = float(-(xlogy(s_pos, s_pos) + xlogy(1 - s_pos, 1 - s_pos))) \
            if self.fit_intercept else float(np.log(2.0))
        self.n_passes = 0

    def shaped(self, w):
        return w

    def shaped_b(self, b):
        return float(b)

    def evaluate(self, w, b, d=None, db=0.0, dual=None):
        """One pass: the combined :class:`NewtonPart` (normalized by the total weight)."""
        p = self.data.n_features
        d = np.zeros(p) if d is None else d
        db = 0.0 if db is None else db
        parts = [dask.delayed(chunk_newton, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]),
            self.labels, self.class_weights, (w, b), (d, db), dual, self.fold, gb)
            for i, (Xb, yb, wb, gb) in enumerate(self.data.blocks())]
        self.n_passes += 1
        return normalized(run(tree_reduce(parts, _combine), type(self.est).__name__))

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

    def model_gradient(self, st):
        """The gradient in ``w`` with the intercept's step eliminated (the Newton model's
        in ``w`` alone): at columns far from zero mean, the raw gradient carries the
        intercept's residual times the means (1e6 times it at means of 1e6)."""
        return st.grad - (st.grad_b * st.hess.x_mean if self.fit_intercept else 0.0)

    def direction(self, st, w, tol_in):
        """The proximal Newton direction ``(d, db)`` and the model decrease it predicts."""
        G, _, _ = st.hess.quadratic_form(self.fit_intercept)
        G *= st.hess.weight
        c = G @ w - self.model_gradient(st)
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

    def column_means(self, st):
        """The columns' weighted means at the pass ``st``."""
        return st.hess.x_mean

    def coef_scale(self, st, w):
        """``sum_j |mean_j| |w_j|`` (rows of ``W`` summed over the classes): about the
        scores' scale, where columns are far from zero mean (StopRule's ``coef_scale``)."""
        W = np.abs(np.asarray(w, dtype=np.float64)).reshape(self.data.n_features, -1)
        return float(np.abs(self.column_means(st)) @ W.sum(axis=1))

    def value_noise(self, st, w, b):
        """About the rounding of the objective's value at ``(w, b)``: that of the scores,
        ``eps (sum_j |mean_j| |w_j| + |b| + 1)`` (at column means of 1e6 it hid the last
        Newton step's decrease: 1.4e-11 of noise against 8.7e-14 predicted)."""
        return _EPS * (self.coef_scale(st, w) + float(np.max(np.abs(b), initial=0.0)) + 1.0)

    def step_size(self, w, d, delta, F_w, values, noise=0.0):
        """The largest step of :data:`TAUS` passing Armijo's test (``F_w`` the loss at
        ``w``, ``values`` along the direction), or None."""
        spec = self.info.spec
        F0 = F_w + compiled_penalty_value(spec, w)
        if -delta <= max(1e-13 * abs(F0), noise):
            return 1.0  # a decrease below float64's resolution of F: take the full step
        for t, Ft in zip(TAUS, values):
            if Ft + compiled_penalty_value(spec, w + t * d) <= F0 + 1e-4 * t * min(delta, 0.0):
                return float(t)
        return None

    def _last_step(self, rule, w, b, d, db, delta, P, D, st, nxt, measured, scores, rank):
        """At a certified point ``w``, the Newton step the same pass evaluated: taken
        whole when it lowers the objective and its point is certified too, by the dual
        point of ``w`` (a lower bound on the optimum wherever it was built) and the
        gradient the pass returned at ``w + d``. No extra pass: the tolerance ball's
        radius squared (quadratic convergence), and the in-memory solver's polish does
        the same step, so both routes return the same digits. Returns ``(w, b, st,
        crit, gap)``, the point kept (``scores`` and ``rank`` refreshed at it)."""
        spec = self.info.spec
        noise = self.value_noise(st, w, b)
        if self.step_size(w, d, delta, float(st.values[0]), nxt.values, noise) == 1.0 \
                and not np.array_equal(d, np.zeros_like(d)):
            w1 = w + d
            P1 = float(nxt.values[0]) + compiled_penalty_value(spec, w1)
            if P1 <= P + noise:
                kkt1 = compiled_unit_scores(spec, w1, self.model_gradient(nxt), scores, rank)
                crit1, gap1 = rule.measure(kkt1, scores, P1, D)
                if rule.converged(crit1, kkt1):
                    return w1, b + db, nxt, crit1, gap1
        compiled_unit_scores(spec, w, self.model_gradient(st), scores, rank)
        return (w, b, st) + tuple(measured)

    @staticmethod
    def _inner_ratio(it, history, tol):
        """The direction's inner accuracy, relative to the largest violation: 1e-6 where
        the point may be certified (its step then becomes the last one, which must be
        exact to give the in-memory digits): the first iteration (a warm start), and once
        the previous criterion is within ``max(sqrt(tol), 100 tol)`` (quadratic
        convergence certifies the next point from there); 1e-3 before (measured: 1e-6
        throughout cost 8.5x on the client for separable multinomial data at C=1e6)."""
        if it == 0 or (history and history[-1] <= max(np.sqrt(tol), 100 * tol)):
            return 1e-6
        return 1e-3

    def run(self, w, b, tol, max_iter):
        """The outer loop, one pass per evaluation (see :meth:`steps`)."""
        return drive(self.steps(w, b, tol, max_iter), self.evaluate)

    def steps(self, w, b, tol, max_iter):
        """The outer loop as a generator: it yields every evaluation it needs, as the
        arguments ``(w, b, d, db, dual)`` of :meth:`evaluate`, receives the result, and
        returns the :class:`SolverResult`. A caller may serve the requests of several
        solvers (folds, strengths) in one pass (:mod:`~sparsefit.distributed.
        _wide_logistic_cv`)."""
        current = []  # (the pass and point of the rounding floors, as in memory: StopRule)
        rule = StopRule(self.info, tol, self.P0, lambda: self.g0, x_scale=lambda: float(
            np.max(np.abs(self.column_means(current[0])), initial=0.0)))
        st = yield (w, b, None, None, None)
        self.g0 = float(np.max(np.abs(st.grad), initial=0.0))
        scores, rank = np.empty(self.info.n_units), np.empty(self.info.n_units)
        history, crit, gap, it, converged = [], np.nan, np.nan, 0, False
        current[:] = [st, w]
        rule.coef_scale = lambda: self.coef_scale(*current)
        for it in range(max_iter + 1):
            current[:] = [st, w]
            # the violations with the intercept's step eliminated (as in memory, where the
            # intercept is optimal at each check): the raw gradient, at columns far from
            # zero mean, carries the intercept's residual times the means; the direction's
            # accuracy asked relative to it was nothing (the last step did not move w),
            # and at tol 1e-10 and means of 1e3 the check never passed (100 passes)
            kkt = compiled_unit_scores(self.info.spec, w, self.model_gradient(st), scores,
                                       rank)
            s, kappa, conj = self.dual_request(st)
            d, db, delta = self.direction(st, w, max(
                self._inner_ratio(it, history, tol) * kkt, 1e-15 * max(self.g0, 1.0)))
            nxt = yield (w, b, d, db, (s, kappa) if rule.uses_gap else None)
            P = float(st.values[0]) + compiled_penalty_value(self.info.spec, w)
            D = -nxt.dual - conj if nxt.dual_ok else -np.inf
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            converged = rule.converged(crit, kkt)
            # a certified point whose Newton step is still large (relative to w, above
            # FINAL_STEP) takes it and is certified again, a pass more: the step the same
            # pass evaluated leaves about its square (quadratic convergence), which is
            # below 1e-6 relative only from there
            settled = float(np.max(np.abs(d), initial=0.0)) <= FINAL_STEP * max(
                float(np.max(np.abs(w), initial=0.0)), 1e-300)
            if (converged and (settled or it == max_iter)) or (not converged
                                                               and it == max_iter):
                if converged:
                    w, b, st, crit, gap = self._last_step(rule, w, b, d, db, delta, P, D,
                                                          st, nxt, (crit, gap), scores, rank)
                break
            certified, converged = converged, False
            t = self.step_size(w, d, delta, float(st.values[0]), nxt.values,
                               self.value_noise(st, w, b))
            if t is None:  # no decrease along the Newton direction: float64's floor
                converged = certified  # (w, certified, is the answer)
                break
            w, b = w + t * d, b + t * db
            st = nxt if t == 1.0 else (yield (w, b, None, None, None))
        return SolverResult(coef=self.shaped(w), intercept=self.shaped_b(b), dual_gap=gap,
                            n_iter=it,
                            converged=converged, stop_crit=crit, kkt_max=float(scores.max(
                                initial=0.0)), history=history, gradient=st.grad,
                            null_primal=self.P0)


@dataclass
class SoftmaxPart:
    """What a chunk contributes to one multinomial pass (sums, raw weights). ``hww`` is
    indexed feature-major (coefficient ``(j, k)`` at ``j * K + k``)."""

    weight: float
    values: np.ndarray  # sum_i s_i f_i at every step size
    grad: np.ndarray  # (p*K,) X.T R at the full step
    grad_b: np.ndarray  # (K,) sum_i r_i
    hww: np.ndarray  # (p*K, p*K) sum_i s_i (x_i x_i') kron A_i
    hwb: np.ndarray  # (p*K, K) sum_i s_i x_i kron A_i
    hbb: np.ndarray  # (K, K) sum_i s_i A_i, A_i = diag(q_i) - q_i q_i'
    dual: float
    dual_ok: bool
    # with a column shift m (dense X): hww, hwb and grad_c are taken on x_i - m, which
    # changes no Schur complement and keeps the digits of columns far from zero mean
    grad_c: np.ndarray  # (p*K,) (X - m).T R
    xsum: np.ndarray  # (p,) sum_i s_i x_i (the next passes' shift)

    def combine(self, o):
        return SoftmaxPart(self.weight + o.weight, self.values + o.values, self.grad + o.grad,
                           self.grad_b + o.grad_b, self.hww + o.hww, self.hwb + o.hwb,
                           self.hbb + o.hbb, self.dual + o.dual, self.dual_ok and o.dual_ok,
                           self.grad_c + o.grad_c, self.xsum + o.xsum)


def _log_softmax(U):
    m = U.max(axis=1, keepdims=True)
    return U - m - np.log(np.exp(U - m).sum(axis=1, keepdims=True))


def _weighted_gram(X, c):
    """``X' diag(c) X`` as a dense array (X dense or CSR)."""
    if sp.issparse(X):
        return np.asarray((X.T @ X.multiply(c[:, None]).tocsr()).todense())
    return X.T @ (X * c[:, None])


def chunk_softmax(X, y, sw, index, start, labels, class_weights, point, direction, dual,
                  fold=None, groups=None, shift=None):
    r"""One chunk's :class:`SoftmaxPart`: ``point = (W, b)`` with ``W`` of shape (p, K),
    ``direction = (D, db)``, ``dual = (s, delta)`` or None: the dual point's
    probabilities :math:`(1 - s) e_{y_i} + s (q_i + A_i \delta)` at the base point (the
    intercept shift ``delta`` makes it sum to zero over the rows, ``s`` rescales it into
    the penalty's dual domain, as :func:`~sparsefit.solvers.dual_gap` does); ``shift``
    (p,) or None: the columns' shift of the Hessian blocks (dense ``X`` only)."""
    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights, fold, groups)
    n, K = X.shape[0], labels.size
    (W, b), (D, db) = point, direction
    U0 = np.asarray(X @ W) + b
    dU = np.asarray(X @ D) + db
    rows = np.arange(n)
    values = np.array([float(sw @ -_log_softmax(U0 + t * dU)[rows, yi]) for t in TAUS])
    Q = np.exp(_log_softmax(U0 + dU))
    R = Q.copy()
    R[rows, yi] -= 1.0
    R *= sw[:, None]
    p = X.shape[1]
    Xs = X if shift is None else X - shift
    hww = np.zeros((p, K, p, K))
    hwb = np.zeros((p, K, K))
    hbb = np.zeros((K, K))
    for k in range(K):
        for m in range(k, K):
            c = sw * Q[:, k] * ((k == m) - Q[:, m])
            g = _weighted_gram(Xs, c)
            hww[:, k, :, m] = g
            hww[:, m, :, k] = g.T
            xc = np.asarray(Xs.T @ c).ravel()
            hwb[:, k, m] = xc
            hwb[:, m, k] = xc
            hbb[k, m] = hbb[m, k] = c.sum()
    dual_sum, ok = softmax_dual_sum(U0, yi, sw, dual)
    grad = np.asarray(X.T @ R).ravel()
    return SoftmaxPart(float(sw.sum()), values, grad, R.sum(axis=0),
                       hww.reshape(p * K, p * K), hwb.reshape(p * K, K), hbb, dual_sum, ok,
                       grad if shift is None else np.asarray(Xs.T @ R).ravel(),
                       np.asarray(sw @ X).ravel())


def softmax_dual_sum(U0, yi, sw, dual):
    """``(sum_i s_i sum_k p_ik log p_ik, ok)`` at the dual point of :func:`chunk_softmax`
    from the scores ``U0`` of the base point and ``dual = (s, delta)`` (``ok``: the
    shifted probabilities stayed in [0, 1]); ``(0.0, True)`` when ``dual`` is None."""
    if dual is None:
        return 0.0, True
    scale, delta = dual
    pos = sw > 0
    Q0 = np.exp(_log_softmax(U0[pos]))
    Qd = Q0 * (delta[None, :] - (Q0 @ delta)[:, None]) + Q0
    ok = bool(np.all((Qd >= -1e-12) & (Qd <= 1.0 + 1e-12)))
    Qd *= scale
    Qd[np.arange(Qd.shape[0]), yi[pos]] += 1.0 - scale
    Qd = np.clip(Qd, 0.0, 1.0)
    return float(sw[pos] @ xlogy(Qd, Qd).sum(axis=1)), ok


class DaskSoftmaxNewton(DaskNewton):
    r"""The distributed proximal Newton method for the multinomial loss: the same outer
    loop as :class:`DaskNewton`; the pass returns the full Hessian in ``(W, b)`` (raw
    weighted sums, ``(pK)^2`` numbers) and the intercepts are eliminated from the Newton
    model by the Schur complement with the pseudo-inverse of :math:`H_{bb}` (singular
    along the all-classes shift, which changes no probability)."""

    def __init__(self, est, data, classes, weights, class_weights, penalty):
        self.est, self.data, self.penalty = est, data, penalty
        self.labels, self.class_weights = classes, class_weights
        self.K = classes.size
        self.fit_intercept = bool(est.fit_intercept)
        self.info = describe(penalty, data.n_features * self.K)
        self.offsets = data.row_offsets(need=False)
        prior = weights / weights.sum()
        logp = np.log(np.where(prior > 0, prior, 1.0))
        self.b_null = logp - logp.mean() if self.fit_intercept else np.zeros(self.K)
        self.P0 = float(-(xlogy(prior, prior)).sum()) if self.fit_intercept \
            else float(np.log(self.K))
        self.n_passes = 0
        # the columns' shift of the Hessian blocks, dense X only: the first pass's weighted
        # means (unshifted, 1e6-mean columns left 2.8e-6 after the Schur complement)
        self.shift = None
        self.shiftable = self.fit_intercept and not sp.issparse(
            getattr(getattr(data, "X", None), "_meta", None))

    def shaped(self, w):
        return w.reshape(-1, self.K)

    def shaped_b(self, b):
        return np.asarray(b, dtype=np.float64).reshape(self.K)

    def evaluate(self, w, b, d=None, db=None, dual=None):
        p, K = self.data.n_features, self.K
        W = w.reshape(p, K)
        D = np.zeros((p, K)) if d is None else d.reshape(p, K)
        db = np.zeros(K) if db is None or np.ndim(db) == 0 else db
        parts = [dask.delayed(chunk_softmax, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]),
            self.labels, self.class_weights, (W, np.asarray(b, dtype=np.float64)), (D, db),
            dual, self.fold, gb, self.shift)
            for i, (Xb, yb, wb, gb) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), type(self.est).__name__)
        S = out.weight
        st = SoftmaxPart(S, out.values / S, out.grad / S, out.grad_b / S, out.hww / S,
                         out.hwb / S, out.hbb / S, out.dual / S, out.dual_ok, out.grad_c / S,
                         out.xsum / S if S > 0 else out.xsum)
        st.shift = np.zeros(p) if self.shift is None else self.shift
        if self.shift is None and self.shiftable and S > 0:
            self.shift = st.xsum
        return st

    def _intercept_step(self, st, d=None):
        """``-H_bb^+ (g_b + H_bw d)``: the intercept step minimizing the Newton model."""
        if not self.fit_intercept:
            return np.zeros(self.K)
        rhs = st.grad_b if d is None else st.grad_b + st.hwb.T @ d
        return -np.linalg.pinv(st.hbb, rcond=1e-12, hermitian=True) @ rhs

    def dual_request(self, st):
        delta = self._intercept_step(st)
        v = -st.grad_c - st.hwb @ delta  # (the shift cancels: g_b + H_bb delta = 0)
        s, conj = compiled_dual_terms(self.info.spec, np.ascontiguousarray(v),
                                      self.info.free_or_empty)
        return s, delta, conj

    def column_means(self, st):
        return st.xsum

    def model_gradient(self, st):
        if not self.fit_intercept:
            return st.grad
        return st.grad_c + st.hwb @ self._intercept_step(st)

    def direction(self, st, w, tol_in):
        G = st.hww
        if self.fit_intercept:
            Hp = np.linalg.pinv(st.hbb, rcond=1e-12, hermitian=True)
            G = G - st.hwb @ Hp @ st.hwb.T
        G = np.ascontiguousarray(0.5 * (G + G.T))
        c = G @ w - self.model_gradient(st)
        v = w.copy()
        covariance_cd(G, c, None, self.info, v, tol=tol_in, max_iter=100,
                      rule=ViolationRule(tol_in))
        d = v - w
        db = self._intercept_step(st, d)  # (of the shifted columns' intercept)
        spec = self.info.spec
        delta = float(st.grad_c @ d + st.grad_b @ db) + compiled_penalty_value(spec, v) - \
            compiled_penalty_value(spec, w)
        return d, db - st.shift @ d.reshape(-1, self.K), delta


def class_weight_vector(est, classes, counts):
    """Per-class multipliers of the sample weights (``class_weight``, as
    :meth:`~sparsefit.linear_model._logistic._LogisticBase._prepare` computes them: for
    ``"balanced"``, from the weighted counts of the labels)."""
    cw = getattr(est, "class_weight", None)
    if cw is None:
        return np.ones(classes.size)
    if isinstance(cw, dict) and not set(cw) <= set(classes.tolist()):
        raise ValueError(f"class_weight: the keys must be class labels {classes.tolist()}, "
                         f"got {list(cw)}")
    return compute_class_weight(cw, classes=classes, y=classes,
                                sample_weight=np.array([counts[c] for c in classes.tolist()]))


def fit_logistic(est, data, alpha=None, l1_ratio=None, labels=None, wide_start=None):
    """:class:`~sparsefit.linear_model.SparseLogisticRegression` (and scikit-learn's
    spelling, :class:`~sparsefit.linear_model.LogisticRegression`: pass ``alpha`` as a
    callable of the total weight) on dask input, binary or multinomial; sets the fitted
    attributes. A CV estimator's refit passes what it has: ``labels = (classes, counts)``
    (no label pass) and ``wide_start`` (see :class:`~sparsefit.distributed.
    _wide_logistic.WideNewton`; no null pass)."""
    name = type(est).__name__
    classes, counts = classes_pass(data, name) if labels is None else labels
    if classes.size < 2:
        raise ValueError(f"{name} needs samples of at least 2 classes in y; got one class: "
                         f"{classes[0]!r}")
    K = classes.size
    from ._wide_logistic import takes_wide_logistic_route

    wide = takes_wide_logistic_route(est, data.n_features, K, l1_ratio)
    if not wide:
        check_gram_limit(est, data.n_features * (1 if K == 2 else K),
                         what="distributed proximal Newton" + (
                             f" (p = n_features * {K} classes)" if K > 2 else ""),
                         advice="select features first (L1 / elastic-net problems, "
                         "binary or multinomial, and Lasso take a wide route with any p), "
                         "or fit in memory")
    cw = class_weight_vector(est, classes, counts)
    weights = np.array([counts[c] for c in classes.tolist()]) * cw
    if not np.any(weights > 0):
        raise ValueError("class_weight and sample_weight leave every sample with weight 0")
    from ..linear_model._logistic import check_class_weights

    check_class_weights(classes, weights)
    if callable(alpha):
        alpha = alpha(float(weights.sum()))
    alpha = est.alpha if alpha is None else alpha
    p = data.n_features
    penalty = est._make_penalty(p, K, l1_ratio)(alpha)
    if wide:
        from ._wide_logistic import WideNewton, WideSoftmaxNewton

        solver = (WideNewton if K == 2 else WideSoftmaxNewton)(est, data, classes, weights,
                                                               cw, alpha, l1_ratio)
        if K == 2:
            solver.start = wide_start
    else:
        cls = DaskNewton if K == 2 else DaskSoftmaxNewton
        solver = cls(est, data, classes, weights, cw, penalty)
    w0, b0 = warm_start_point(est, (1 if K == 2 else K, p))
    if w0 is None:
        w = np.zeros(p * (1 if K == 2 else K))
    else:
        w = np.ascontiguousarray(w0.ravel() if K == 2 else w0.T).ravel().copy()
    if b0 is None or not est.fit_intercept:
        b = solver.b_null
    else:
        b = float(np.ravel(b0)[0]) if K == 2 else np.asarray(b0, dtype=np.float64).ravel()
    res = solver.run(w, b, float(est.tol), int(est.max_iter))
    if not res.converged:
        warnings.warn(f"Solver did not converge after max_iter={est.max_iter} iterations: "
                      f"relative duality gap {res.stop_crit:.3e} > tol={est.tol:.1e}. "
                      "Increase max_iter or tol, or scale X.", ConvergenceWarning,
                      stacklevel=4)
    est.classes_ = classes
    est._set_solution(res, data.dtype, K)
    if K > 2:
        from ..linear_model._logistic import _center_free_features

        _center_free_features(est.coef_, penalty)
    return alpha


# -- cross-validation -------------------------------------------------------------------

def _fold_label_weights(y, sw, groups, index, start, rule):
    """Per chunk: one ``{label: summed sample weight}`` per fold."""
    y = np.asarray(y).reshape(-1)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    ids = rule.ids(start, y.shape[0], g, y)
    w = np.ones(y.shape[0]) if sw is None else as_vector(sw)
    return [_label_weights(y[ids == k], w[ids == k], index) for k in range(rule.n_splits)]


def _merge_fold_counts(a, b):
    return [_merge_counts(x, z) for x, z in zip(a, b, strict=True)]


def chunk_fold_losses(X, y, sw, groups, index, start, labels, class_weights, rule, paths):
    """Per chunk: the weighted log-loss sums of fold ``k``'s path points on its rows in
    that fold, and the folds' weights: arrays (n_folds, n_points) and (n_folds,)."""
    X, yi, w = chunk_weights(X, y, sw, index, start, labels, class_weights)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    ids = rule.ids(start, X.shape[0], g, y)
    sums = np.zeros((rule.n_splits, len(paths[0][0])))
    weights = np.zeros(rule.n_splits)
    for k, (coefs, intercepts) in enumerate(paths):
        rows = np.flatnonzero(ids == k)
        if rows.size == 0:
            continue
        Xk, yk, wk = X[rows], yi[rows], w[rows]
        weights[k] = wk.sum()
        for a, (c, b) in enumerate(zip(coefs, intercepts)):
            u = np.asarray(Xk @ c) + b
            if u.ndim == 1:
                nll = np.logaddexp(0.0, -np.where(yk == 1, 1.0, -1.0) * u)
            else:
                nll = -_log_softmax(u)[np.arange(rows.size), yk]
            sums[k, a] = wk @ nll
    return sums, weights


def _add_pair(a, b):
    return a[0] + b[0], a[1] + b[1]


def _solver(est, data, classes, weights, cw, penalty, fold=None, offsets=None):
    cls = DaskNewton if classes.size == 2 else DaskSoftmaxNewton
    solver = cls(est, data, classes, weights, cw, penalty)
    if fold is not None:
        solver.fold, solver.offsets = fold, offsets
    return solver


def logistic_path(est, data, classes, weights, cw, make, alphas, fold=None, offsets=None,
                  dfmax=None, pmax=None):
    """Solutions along ``alphas`` (decreasing, warm starts) on the training rows of
    ``fold`` (all rows when None): ``(alphas, results)``, cut where ``dfmax`` / ``pmax``
    are passed (as :func:`~sparsefit.solvers.solve_path`)."""
    K, p = classes.size, data.n_features
    w, b = np.zeros(p * (1 if K == 2 else K)), None
    results, ever = [], np.zeros(p, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for alpha in alphas:
            solver = _solver(est, data, classes, weights, cw, make(float(alpha)), fold,
                             offsets)
            res = solver.run(w, solver.b_null if b is None or not est.fit_intercept else b,
                             float(est.tol), int(est.max_iter))
            w = np.ravel(res.coef).copy()
            b = res.intercept
            nz = np.any(np.reshape(res.coef, (p, -1)) != 0, axis=1)
            ever |= nz
            if (dfmax is not None and nz.sum() > dfmax) or (pmax is not None and
                                                            ever.sum() > pmax):
                break
            results.append(res)
    if not results:
        raise ValueError(f"dfmax={dfmax} / pmax={pmax} stop the path before its first point: "
                         "raise them (the first alpha already has more non-zero features)")
    n_bad = sum(not r.converged for r in results)
    if n_bad:
        warnings.warn(f"{n_bad} of {len(results)} path problems did not reach "
                      f"tol={est.tol:.1e}", ConvergenceWarning, stacklevel=3)
    return np.asarray(alphas)[:len(results)], results


def _cv_label_weights(est, data, rule, name, wide=False):
    """The labels of a logistic CV on dask, from one pass each: ``(classes, counts, cw,
    weights, fold_w, offsets)``, ``weights`` the classes' total (class-)weights, ``fold_w[k]``
    those of fold ``k``'s rows and ``offsets`` the chunks' first rows (or None). Refuses
    one class, too many features for the Newton route, and a fold that has no weight or
    leaves fewer than 2 classes to train on (both CV estimators)."""
    classes, counts = classes_pass(data, name)
    if classes.size < 2:
        raise ValueError(f"{name} needs samples of at least 2 classes in y; got one class: "
                         f"{classes[0]!r}")
    K, p = classes.size, data.n_features
    if not (wide and K == 2):  # the wide route takes binary problems of any p
        advice = ("select features first (binary L1 / elastic-net problems take a wide "
                  "route with any p), or fit in memory")
        if wide:
            advice = (f"{name} with {K} classes has no wide route on dask input (the binary "
                      "one has: Newton passes, or with few rows every fold solved from the "
                      "working set's columns gathered on the client; so has the multinomial "
                      "single fit, SparseLogisticRegression); " + advice.replace(
                          "fit in memory", "with few rows fit in memory: X.compute() and "
                          "y.compute() hold them"))
        check_gram_limit(est, p * (1 if K == 2 else K), what="distributed proximal Newton"
                         + (f" (p = n_features * {K} classes)" if K > 2 else ""),
                         advice=advice)
    cw = class_weight_vector(est, classes, counts)
    weights = np.array([counts[c] for c in classes.tolist()]) * cw
    offsets = data.row_offsets(need=wide or not rule.by_groups)  # (wide: the budget)
    parts = [dask.delayed(_fold_label_weights, pure=True)(
        yb, wb, gb, i, None if offsets is None else int(offsets[i]), rule)
        for i, (_, yb, wb, gb) in enumerate(data.blocks())]
    fold_counts = run(tree_reduce(parts, _merge_fold_counts), name)
    fold_w = np.array([[fc.get(c, 0.0) for c in classes.tolist()] for fc in fold_counts]) * cw
    for k in range(rule.n_splits):
        train = weights - fold_w[k]
        if fold_w[k].sum() <= 0 or np.count_nonzero(train > 0) < 2:
            raise ValueError(f"cross-validation fold {k} of {rule.n_splits} has no rows of "
                             "positive weight, or leaves fewer than 2 classes to train on: "
                             "use fewer folds (cv) or more groups")
    return classes, counts, cw, weights, fold_w, offsets


def fit_logistic_cv(est, data, rule):
    """:class:`~sparsefit.linear_model.SparseLogisticRegressionCV` on dask input: for every
    ``l1_ratio`` and every fold, the path by distributed proximal Newton on the fold's
    training rows (the rows of fold ``k`` weigh 0 in the passes), then one pass for every
    fold's validation log-loss; the selection as in memory; the refit (or the mean of the
    fold models, ``refit=False``) at the selected strength."""
    from ..linear_model._cv import CVPath, check_alphas, select_alpha
    from ..solvers.path import alpha_grid

    name = type(est).__name__
    if data.n_features > one_pass_limit():
        from ._wide_logistic_cv import fit_wide_logistic_cv

        fit_wide_logistic_cv(est, data, rule)
        return
    ratios = est._ratios()
    grid, n_alphas = est._grid(default=50)
    classes, counts, cw, weights, fold_w, offsets = _cv_label_weights(est, data, rule,
                                                                      name)
    K, p = classes.size, data.n_features
    est.classes_ = classes
    paths, fold_results = [], []
    for r in ratios:
        make = est._make_penalty(p, K, r)
        if grid is None:
            pen1 = make(1.0)
            if pen1.strength <= 0:
                raise ValueError("Automatic alpha grid generation is not supported for "
                                 "l1_ratio=0. Please supply a grid by providing your "
                                 "estimator with the appropriate `alphas=` argument.")
            solver = _solver(est, data, classes, weights, cw, pen1)
            g0 = solver.evaluate(np.zeros(p * (1 if K == 2 else K)), solver.b_null).grad
            amax = pen1.alpha_max(g0) / pen1.strength
            alphas = alpha_grid(amax if np.isfinite(amax) and amax > 0 else 1.0, n_alphas,
                                est.eps)
        else:
            alphas = check_alphas(grid)
        if est.dfmax is not None or est.pmax is not None:
            alphas = logistic_path(est, data, classes, weights, cw, make, alphas,
                                   dfmax=est.dfmax, pmax=est.pmax)[0]
        per_fold = [logistic_path(est, data, classes, weights - fold_w[k], cw, make,
                                  alphas, (rule, k), offsets)[1]
                    for k in range(rule.n_splits)]
        path_points = [([res.coef for res in rs], [res.intercept for res in rs])
                       for rs in per_fold]
        parts = [dask.delayed(chunk_fold_losses, pure=True)(
            Xb, yb, wb, gb, i, None if offsets is None else int(offsets[i]), classes, cw,
            rule, path_points) for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
        sums, fw = run(tree_reduce(parts, _add_pair), name)
        losses = (sums / fw[:, None]).T  # (n_alphas, n_folds)
        mean, se, i_min, i_1se = select_alpha(alphas, losses)
        paths.append(CVPath(alphas, losses, mean, se, float(alphas[i_min]),
                            float(alphas[i_1se])))
        fold_results.append(per_fold)
    est._store_paths(ratios, paths)
    if est.refit:
        fit_logistic(est, data, alpha=est.alpha_, l1_ratio=est.l1_ratio_)
        return
    best = int(np.flatnonzero(ratios == est.l1_ratio_)[0])
    i = int(np.flatnonzero(paths[best].alphas == est.alpha_)[0])
    chosen = [rs[i] for rs in fold_results[best]]
    est._set_solution(chosen[0], data.dtype, K)
    coefs, intercepts = [], []
    for res in chosen:
        est._set_solution(res, data.dtype, K)
        coefs.append(est.coef_)
        intercepts.append(est.intercept_)
    est.coef_ = np.mean(coefs, axis=0).astype(data.dtype)
    est.intercept_ = np.mean(intercepts, axis=0).astype(data.dtype)
    est.n_iter_ = int(max(res.n_iter for res in chosen))
    est.dual_gap_ = float("nan")  # an average of solutions solves no single problem
    est.converged_ = True


# -- scikit-learn's LogisticRegressionCV -------------------------------------------------

DASK_SCORINGS = ("accuracy", "neg_log_loss")


def chunk_fold_scores(X, y, sw, groups, index, start, labels, rule, paths):
    """Per chunk, for fold ``k``'s models on its rows in that fold (sample weights only,
    as scikit-learn's scorers take them): the weighted sums of correct predictions and of
    the log-loss (probabilities as ``predict_proba`` gives them, clipped as
    ``sklearn.metrics.log_loss`` does), arrays (n_folds, n_models), and the folds' weights
    (n_folds,)."""
    X, yi, w = chunk_weights(X, y, sw, index, start, labels, np.ones(labels.size))
    g = None if groups is None else np.asarray(groups).reshape(-1)
    ids = rule.ids(start, X.shape[0], g, y)
    n_models = len(paths[0])
    correct = np.zeros((rule.n_splits, n_models))
    nll = np.zeros((rule.n_splits, n_models))
    weights = np.zeros(rule.n_splits)
    for k, models in enumerate(paths):
        rows = np.flatnonzero(ids == k)
        if rows.size == 0:
            continue
        Xk, yk, wk = X[rows], yi[rows], w[rows]
        weights[k] = wk.sum()
        for m, (coef, intercept) in enumerate(models):
            u = np.asarray(Xk @ coef.T.astype(Xk.dtype, copy=False)) + intercept
            if u.shape[1] == 1:
                u = u.ravel()
                pred = (u > 0).astype(np.int64)
                p1 = expit(u)
                proba = np.column_stack([1.0 - p1, p1])
            else:
                pred = u.argmax(axis=1)
                proba = np.exp(_log_softmax(u))
            eps = np.finfo(proba.dtype).eps
            py = np.clip(proba[np.arange(rows.size), yk], eps, 1 - eps)
            correct[k, m] = wk @ (pred == yk)
            nll[k, m] = wk @ -np.log(py)
    return correct, nll, weights


def _add_triple(a, b):
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def fit_sklearn_logistic_cv(est, data, rule, refit_on_dask):
    """:class:`~sparsefit.linear_model.LogisticRegressionCV` on dask input: every (fold,
    ``l1_ratio``, ``C``) a :class:`~sparsefit.linear_model.LogisticRegression` solved from
    zero by distributed proximal Newton on the fold's training rows (the fold's rows weigh
    0 in the passes), at ``alpha = 1 / (C * the training rows' summed sample and class
    weights)``; one pass scores every fold's models on its own rows (accuracy, or the
    log-loss); the selection, the refit (``refit_on_dask(LogisticRegression)``) or the
    average of the folds' best models, and scikit-learn's attributes, as in memory."""
    name = type(est).__name__
    penalty, l1_ratios, scoring, legacy = est._resolve()
    est._check_dual()
    if est.dual:
        raise ValueError("dual=True: sparsefit solves the primal problem only; use "
                         "dual=False (the result is the same optimum)")
    if scoring is not None and not (isinstance(scoring, str) and scoring in DASK_SCORINGS):
        from ._estimators import DaskInputError

        raise DaskInputError(
            f"{name} on dask input scores with accuracy (scoring=None) or "
            f"{' or '.join(repr(s) for s in DASK_SCORINGS)}, not scoring={scoring!r}: "
            "fit in memory for other scorers")
    if data.n_features > one_pass_limit():
        from ._wide_logistic_cv import fit_wide_sklearn_logistic_cv

        fit_wide_sklearn_logistic_cv(est, data, rule, refit_on_dask, penalty, l1_ratios,
                                     scoring, legacy)
        return
    Cs, ratios = est._grids(penalty, l1_ratios)
    classes, counts, cw, weights, fold_w, offsets = _cv_label_weights(est, data, rule,
                                                                      name)
    K, p = classes.size, data.n_features
    est.classes_ = classes
    no_penalty = penalty is None
    scratch = est._template(None)  # stores each solution in scikit-learn's shapes
    models, iters, n_bad = [], [], 0
    with warnings.catch_warnings():
        if no_penalty:  # the unpenalized fit is what was asked: no alpha=0 advice
            warnings.simplefilter("ignore", UserWarning)
        for k in range(rule.n_splits):
            train = weights - fold_w[k]
            total = float(train.sum())
            fold_models = []
            for r in ratios:
                make = est._make_penalty(p, K, r)
                for C in Cs:
                    alpha = 0.0 if no_penalty or np.isinf(C) else 1.0 / (C * total)
                    solver = _solver(est, data, classes, train, cw, make(alpha), (rule, k),
                                     offsets)
                    res = solver.run(np.zeros(p * (1 if K == 2 else K)), solver.b_null,
                                     float(est.tol), int(est.max_iter))
                    n_bad += not res.converged
                    scratch._set_solution(res, data.dtype, K)
                    w = scratch.coef_
                    if est.fit_intercept:
                        w = np.column_stack([w, scratch.intercept_])
                    fold_models.append((w, scratch.coef_, scratch.intercept_))
                    iters.append(scratch.n_iter_)
            models.append(fold_models)
    if n_bad:
        warnings.warn(f"{n_bad} of {len(iters)} cross-validation fits did not reach "
                      f"tol={est.tol:.1e}: increase max_iter or tol, or scale X",
                      ConvergenceWarning, stacklevel=4)
    paths = [[(c, b) for _, c, b in fm] for fm in models]
    parts = [dask.delayed(chunk_fold_scores, pure=True)(
        Xb, yb, wb, gb, i, None if offsets is None else int(offsets[i]), classes, rule,
        paths) for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
    correct, nll, fw = run(tree_reduce(parts, _add_triple), name)
    if not np.all(fw > 0):
        raise ValueError(f"{name}: a cross-validation fold has sample weights summing to 0: "
                         "use fewer folds (cv) or more groups")
    scores = (correct if scoring in (None, "accuracy") else -nll) / fw[:, None]
    n_folds, n_r, n_cs = rule.n_splits, len(ratios), Cs.size
    coefs = np.asarray([[w for w, _, _ in fm] for fm in models]).reshape(
        n_folds, n_r, n_cs, *models[0][0][0].shape)
    iters = np.asarray(iters).reshape(n_folds, n_r, n_cs)
    scores = scores.reshape(n_folds, n_r, n_cs)
    template = est._template(None if est.class_weight is None
                             else dict(zip(classes.tolist(), cw)))

    def refit(C, r):
        from sklearn.base import clone

        return refit_on_dask(clone(template).set_params(C=C, l1_ratio=r))

    est._select(coefs, iters, scores, Cs, ratios, penalty, l1_ratios is None, legacy, p,
                refit)
