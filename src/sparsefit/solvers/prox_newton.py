"""Proximal Newton with working sets for the Logistic and Multinomial datafits.

Each outer iteration picks a working set by optimality violation (as the CD solver does).
On it, a Newton step minimizes the quadratic model of the datafit plus the exact penalty,

    min_v  1/2 sum_i h_i (z_i - x_i v - b)^2 + pen(v),   z = u - F'(u) / h,  h = F''(u),

by the same weighted least-squares coordinate-descent kernel as the Quadratic solver
(the IRLS form of the Newton model), followed by a backtracking line search on the true
objective. The Multinomial datafit is handled class by class (the Hessian block of one
class, others fixed, is diagonal in the samples: ``h_ik = s_i p_ik (1 - p_ik)``), which is
block coordinate descent with a proximal Newton step per class.
"""

from __future__ import annotations

import numpy as np

from ..datafits._validation import linear_predictor, xt_times
from ..penalties._kernels import L1L2, L2
from ._cd_kernels import (
    kkt_scores,
    outer_pass_separable,
    penalty_value,
    rank_scores,
    weighted_col_moments,
    weighted_col_norms,
    wls_cd,
    xt_dot_cols,
)
from ._common import is_convex, is_group, n_units
from ._gap import dual_scaling, null_primal
from .cd import SolverResult, _unit_nonzero, select_working_set

_H_FLOOR = 1e-10  # relative floor on the Hessian weights, keeps the working response finite


def _group_trace_lipschitz(col, spec, ws):
    out = np.zeros(spec.grp_ptr.shape[0] - 1)
    for g in ws:
        out[g] = col[spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]].sum()
    return out


def _ws_cols(spec, ws):
    if not is_group(spec):
        return ws
    return np.concatenate([spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]] for g in ws]
                          + [np.zeros(0, dtype=np.int64)]).astype(np.int64)


def _newton_step(store, y, sw, datafit, spec, w, b, u, ws, fit_intercept, positive, tol_cd,
                 max_cd, kind_params):
    """One damped proximal Newton step on the units ``ws`` (binary / one class).
    ``datafit_fn(u)`` pieces come through ``datafit``; returns new (w, b, u, epochs)."""
    params, weights = kind_params
    grouped = is_group(spec)
    raw = datafit._raw_grad(y, u, sw)
    h = np.maximum(datafit._hessian_weights(y, u, sw), _H_FLOOR * sw)
    cols = _ws_cols(spec, ws)
    col = np.zeros(store.p)
    if fit_intercept:
        # wls_cd's centered mode: weighted means and centered curvatures of the columns
        xm = np.zeros(store.p)
        weighted_col_moments(*store.args, cols, h, xm, col)
    else:
        xm = np.zeros(0)
        weighted_col_norms(*store.args, cols, h, col)
    lc = _group_trace_lipschitz(col, spec, ws) if grouped else col
    # rows with zero sample weight have h = 0 and raw = 0: they carry no information
    R0 = np.divide(-raw, h, out=np.zeros_like(raw), where=h > 0)
    R = R0.copy()
    v = w.copy()
    bb = np.array([b])
    ep, _ = wls_cd(*store.args, h, False, R, v, bb, fit_intercept, lc, xm, ws, grouped,
                   spec.kind, params, weights, spec.grp_ptr, spec.grp_idx, positive, max_cd,
                   tol_cd, 0, 0.0)
    du = R0 - R  # X d + db
    pen_w = penalty_value(w, grouped, spec.kind, params, weights, spec.grp_ptr, spec.grp_idx)
    pen_v = penalty_value(v, grouped, spec.kind, params, weights, spec.grp_ptr, spec.grp_idx)
    F0 = datafit._value_u(y, u, sw) + pen_w
    delta = float(np.dot(raw, du)) + pen_v - pen_w
    d = v - w
    db = bb[0] - b
    if -delta <= 1e-13 * abs(F0):
        # the predicted decrease is below what float64 can see in F: near the optimum,
        # where the full Newton step is right (and a line search would stall)
        return v, bb[0], u + du, ep
    t = 1.0
    for _ in range(40):
        wt = w + t * d
        pen_t = penalty_value(wt, grouped, spec.kind, params, weights, spec.grp_ptr,
                              spec.grp_idx)
        Ft = datafit._value_u(y, u + t * du, sw) + pen_t
        if Ft <= F0 + 1e-4 * t * min(delta, 0.0):
            return wt, b + t * db, u + t * du, ep
        t *= 0.5
    return w, b, u, ep


def prox_newton(store, y, sw, datafit, spec, w, b, *, fit_intercept, tol, max_iter, p0,
                positive, verbose, ws_hint, inner_tol_ratio=0.3, max_pn_iter=20, max_cd=200):
    """Working-set proximal Newton (see the module docstring). Returns a SolverResult."""

    K = datafit.n_classes
    if K is not None:
        return _prox_newton_multinomial(store, y, sw, datafit, spec, w, b,
                                        fit_intercept=fit_intercept, tol=tol,
                                        max_iter=max_iter, verbose=verbose,
                                        max_pn_iter=max_pn_iter, max_cd=max_cd)
    grouped = is_group(spec)
    convex = is_convex(spec)
    nu = n_units(spec, store.p)
    u = linear_predictor(store, w, b)
    P0 = null_primal(datafit, y, sw, fit_intercept, w.shape)
    scores = np.empty(nu)
    rank = np.empty(nu)
    Xt = np.empty(store.p)
    history = []
    converged = False
    n_epochs = 0
    prev_ws = None
    crit = kkt_max = np.inf
    gap = np.nan
    it = 0
    for it in range(max_iter + 1):
        if fit_intercept:
            c = datafit._optimal_intercept(y, u, sw)
            b += c
            u = u + c
        theta = -datafit._raw_grad(y, u, sw)
        if grouped:
            Xt = xt_times(store, theta)
            kkt_scores(w, -Xt, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                       spec.grp_idx, positive, scores)
            rank_scores(w, -Xt, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                        spec.grp_idx, positive, rank)
            kkt_max = float(scores.max())
        else:
            kkt_max, max_ratio, conj_sep = outer_pass_separable(
                *store.args, theta, w, spec.kind, spec.params, spec.weights, positive, Xt,
                scores, rank)
        if convex:
            P = datafit._value_u(y, u, sw) + penalty_value(
                w, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr, spec.grp_idx)
            if grouped or spec.params[0] == 0:
                s, conj = dual_scaling(spec, Xt, positive)
            elif spec.kind == L2 or (spec.kind == L1L2 and spec.params[1] > 0):
                s, conj = 1.0, conj_sep
            else:
                s, conj = (min(1.0, 1.0 / max_ratio) if max_ratio > 0 else 1.0), 0.0
            D = datafit._dual_value(y, s * theta, sw) - conj
            gap = max(P - D, 0.0) / P0 if P0 > 0 else max(P - D, 0.0)
            crit = gap
        else:
            crit = kkt_max
        history.append(crit)
        if verbose:
            print(f"[prox-newton] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}  "
                  f"nnz {np.count_nonzero(w)}")
        if crit <= tol:
            converged = True
            break
        if it == max_iter:
            break
        nonzero = _unit_nonzero(w, spec, grouped)
        ws = select_working_set(rank, nonzero, p0, ws_hint if it == 0 else None)
        ratio = inner_tol_ratio
        core = np.flatnonzero(nonzero | (rank > 0))
        if convex and gap > 0 and prev_ws is not None and \
                np.all(np.isin(core, prev_ws, assume_unique=True)):
            # the working set holds the support and the violators: aim at the violation
            # the target gap needs (as the CD solver does)
            ratio = max(min(ratio, 0.1 * tol / gap), 1e-3)
        prev_ws = ws
        tol_in = ratio * kkt_max
        cols = _ws_cols(spec, ws)
        ws_scores = np.empty(nu)
        gfull = np.zeros(store.p)
        for pn in range(max_pn_iter):
            if pn > 0:
                raw = datafit._raw_grad(y, u, sw)
                xt_dot_cols(*store.args, cols, raw, gfull)
                kkt_scores(w, gfull, grouped, spec.kind, spec.params, spec.weights,
                           spec.grp_ptr, spec.grp_idx, positive, ws_scores)
                ws_kkt = float(ws_scores[ws].max())
                if fit_intercept:
                    ws_kkt = max(ws_kkt, abs(float(raw.sum())))
                if ws_kkt <= tol_in:
                    break
                tol_cd = 0.3 * ws_kkt
            else:
                tol_cd = 0.3 * tol_in
            w, b, u, ep = _newton_step(store, y, sw, datafit, spec, w, b, u, ws, fit_intercept,
                                       positive, tol_cd, max_cd, (spec.params, spec.weights))
            n_epochs += ep
    return SolverResult(
        coef=w, intercept=float(b) if fit_intercept else 0.0,
        dual_gap=gap if convex else np.nan, n_iter=it, converged=converged, stop_crit=crit,
        kkt_max=kkt_max, n_epochs=n_epochs, history=history, gradient=-Xt,
    )


class _ClassView:
    """The multinomial loss seen as a function of the linear predictor of one class."""

    def __init__(self, datafit, U, k):
        self.datafit, self.U, self.k = datafit, U, k

    def _full(self, u):
        U = self.U.copy()
        U[:, self.k] = u
        return U

    def _value_u(self, y, u, sw):
        return self.datafit._value_u(y, self._full(u), sw)

    def _raw_grad(self, y, u, sw):
        return self.datafit._raw_grad(y, self._full(u), sw)[:, self.k]

    def _hessian_weights(self, y, u, sw):
        from scipy.special import softmax

        pk = softmax(self._full(u), axis=1)[:, self.k]
        return sw * pk * (1.0 - pk)


def _prox_newton_multinomial(store, y, sw, datafit, spec, W, b, *, fit_intercept, tol, max_iter,
                             verbose, max_pn_iter, max_cd):
    """Block (per class) proximal Newton over all features; separable penalties only.
    Coefficient ``(j, k)`` uses penalty coordinate ``j * n_classes + k``."""

    if is_group(spec):
        return _block_cd_multinomial(store, y, sw, datafit, spec, W, b,
                                     fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                                     verbose=verbose)
    K = datafit.n_classes
    p = store.p
    convex = is_convex(spec)
    b = np.array(b, dtype=np.float64).reshape(K) if fit_intercept else np.zeros(K)
    U = linear_predictor(store, W, b)
    P0 = null_primal(datafit, y, sw, fit_intercept, W.shape)
    history = []
    converged = False
    crit = kkt_max = np.inf
    gap = np.nan
    n_epochs = 0
    all_units = np.arange(p, dtype=np.int64)
    weights_k = [spec.weights[k::K].copy() if spec.weights.size else spec.weights
                 for k in range(K)]
    it = 0
    for it in range(max_iter + 1):
        if fit_intercept:
            c = datafit._optimal_intercept(y, U, sw)
            b += c
            U = U + c
        theta = -datafit._raw_grad(y, U, sw)
        Xt = xt_times(store, theta)  # (p, K)
        scores = np.empty(p * K)
        kkt_scores(W.ravel(), -Xt.ravel(), False, spec.kind, spec.params, spec.weights,
                   spec.grp_ptr, spec.grp_idx, False, scores)
        kkt_max = float(scores.max())
        if convex:
            P = datafit._value_u(y, U, sw) + penalty_value(
                W.ravel(), False, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                spec.grp_idx)
            s, conj = dual_scaling(spec, Xt.ravel(), False)
            D = datafit._dual_value(y, s * theta, sw) - conj
            gap = max(P - D, 0.0) / P0 if P0 > 0 else max(P - D, 0.0)
            crit = gap
        else:
            crit = kkt_max
        history.append(crit)
        if verbose:
            print(f"[prox-newton multinomial] iter {it:3d}  crit {crit:.3e}")
        if crit <= tol:
            converged = True
            break
        if it == max_iter:
            break
        sc = scores.reshape(p, K)
        for k in range(K):
            ws = np.flatnonzero((W[:, k] != 0) | (sc[:, k] > 0.3 * kkt_max)).astype(np.int64)
            if ws.size == 0:
                ws = all_units[:1]
            view = _ClassView(datafit, U, k)
            wk = np.ascontiguousarray(W[:, k])
            wk, bk, uk, ep = _newton_step(store, y, sw, view, spec, wk, float(b[k]),
                                          U[:, k].copy(), ws, fit_intercept, False,
                                          0.1 * kkt_max, max_cd, (spec.params, weights_k[k]))
            n_epochs += ep
            W[:, k] = wk
            b[k] = bk
            U[:, k] = uk
    return SolverResult(
        coef=W, intercept=b if fit_intercept else np.zeros(K),
        dual_gap=gap if convex else np.nan, n_iter=it, converged=converged, stop_crit=crit,
        kkt_max=kkt_max, n_epochs=n_epochs, history=history, gradient=-Xt,
    )


def _block_cd_multinomial(store, y, sw, datafit, spec, W, b, *, fit_intercept, tol, max_iter,
                          verbose, p0=100, inner_tol_ratio=0.3, max_epochs=10_000):
    """Working-set block coordinate descent (majorization by the softmax curvature bound
    ``1/2``) for the Multinomial datafit with a group penalty, e.g. ``GroupL1`` with one
    group per feature holding its ``n_classes`` coefficients (flattened ``j * K + k``)."""
    from ._cd_kernels import multinomial_block_cd

    K = datafit.n_classes
    p = store.p
    convex = is_convex(spec)
    nu = n_units(spec, p * K)
    b = np.array(b, dtype=np.float64).reshape(K) if fit_intercept else np.zeros(K)
    U = np.ascontiguousarray(linear_predictor(store, W, b))
    from scipy.special import softmax

    P = np.ascontiguousarray(softmax(U, axis=1))
    Y = np.ascontiguousarray(datafit._onehot(y))
    col = np.zeros(p)
    weighted_col_norms(*store.args, np.arange(p, dtype=np.int64), sw, col)
    # curvature bound of group g: 1/2 * sum over its coefficients of sum_i sw_i X_ij^2
    coef_curv = 0.5 * np.repeat(col, K)
    lc = np.add.reduceat(coef_curv[spec.grp_idx], spec.grp_ptr[:-1]) if nu else np.zeros(0)
    wf = np.ascontiguousarray(W, dtype=np.float64).ravel().copy()
    P0 = null_primal(datafit, y, sw, fit_intercept, W.shape)
    scores = np.empty(nu)
    history = []
    converged = False
    crit = kkt_max = np.inf
    gap = np.nan
    n_epochs = 0
    it = 0
    for it in range(max_iter + 1):
        wf.reshape(p, K)
        theta = -datafit._raw_grad(y, U, sw)
        Xt = xt_times(store, theta)
        kkt_scores(wf, -Xt.ravel(), True, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                   spec.grp_idx, False, scores)
        kkt_max = float(scores.max())
        if fit_intercept:
            kkt_max = max(kkt_max, float(np.max(np.abs(theta.sum(0)))))
        if convex:
            P_ = datafit._value_u(y, U, sw) + penalty_value(
                wf, True, spec.kind, spec.params, spec.weights, spec.grp_ptr, spec.grp_idx)
            s, conj = dual_scaling(spec, Xt.ravel(), False)
            th = datafit.dual_point(y, U, sw, fit_intercept)
            if fit_intercept:
                s, conj = dual_scaling(spec, xt_times(store, th).ravel(), False)
            D = datafit._dual_value(y, s * th, sw) - conj
            gap = max(P_ - D, 0.0) / P0 if P0 > 0 else max(P_ - D, 0.0)
            crit = gap
        else:
            crit = kkt_max
        history.append(crit)
        if verbose:
            print(f"[block-cd multinomial] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}")
        if crit <= tol:
            converged = True
            break
        if it == max_iter:
            break
        rank = np.empty(nu)
        rank_scores(wf, -Xt.ravel(), True, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                    spec.grp_idx, False, rank)
        ws = select_working_set(rank, _unit_nonzero(wf, spec, True), p0)
        ep, _ = multinomial_block_cd(*store.args, sw, Y, U, P, wf, b, fit_intercept, lc, ws,
                                     spec.kind, spec.params, spec.weights, spec.grp_ptr,
                                     spec.grp_idx, K, max_epochs, inner_tol_ratio * kkt_max)
        n_epochs += ep
    return SolverResult(
        coef=wf.reshape(p, K).copy(), intercept=b if fit_intercept else np.zeros(K),
        dual_gap=gap if convex else np.nan, n_iter=it, converged=converged, stop_crit=crit,
        kkt_max=kkt_max, n_epochs=n_epochs, history=history, gradient=-Xt,
    )
