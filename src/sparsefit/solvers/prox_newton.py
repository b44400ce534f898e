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
from ._gap import StopRule, dual_scaling, null_grad_scale, null_primal
from ._multinomial_kernels import multinomial_newton, multinomial_value
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
                                        max_pn_iter=max_pn_iter, max_cd=max_cd, p0=p0,
                                        ws_hint=ws_hint)
    grouped = is_group(spec)
    convex = is_convex(spec)
    nu = n_units(spec, store.p)
    u = linear_predictor(store, w, b)
    P0 = null_primal(datafit, y, sw, fit_intercept, w.shape)
    rule = StopRule(spec, tol, P0, nu, lambda: null_grad_scale(
        store, y, sw, datafit, fit_intercept, w.shape))
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
        P = D = None
        if rule.uses_gap:
            P = datafit._value_u(y, u, sw) + penalty_value(
                w, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr, spec.grp_idx)
            if grouped or spec.params[0] == 0:
                s, conj = dual_scaling(spec, Xt, positive)
            elif spec.kind == L2 or (spec.kind == L1L2 and spec.params[1] > 0):
                s, conj = 1.0, conj_sep
            else:
                s, conj = (min(1.0, 1.0 / max_ratio) if max_ratio > 0 else 1.0), 0.0
            D = datafit._dual_value(y, s * theta, sw) - conj
        crit, gap = rule.measure(kkt_max, scores, P, D)
        history.append(crit)
        if verbose:
            print(f"[prox-newton] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}  "
                  f"nnz {np.count_nonzero(w)}")
        if rule.converged(crit, kkt_max):
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


def _prox_newton_multinomial(store, y, sw, datafit, spec, W, b, *, fit_intercept, tol, max_iter,
                             verbose, max_pn_iter, max_cd, p0=100, ws_hint=None,
                             inner_tol_ratio=0.1):
    """Working-set proximal Newton over the features (separable penalties): each outer
    iteration checks optimality on all coefficients, keeps the features that are non-zero
    or closest to entering in any class, and solves that subproblem by the compiled
    class-wise proximal Newton (:func:`~._multinomial_kernels.multinomial_newton`).
    Coefficient ``(j, k)`` uses penalty coordinate ``j * n_classes + k``."""

    if is_group(spec):
        return _block_cd_multinomial(store, y, sw, datafit, spec, W, b,
                                     fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                                     verbose=verbose)
    K = datafit.n_classes
    p = store.p
    b = np.array(b, dtype=np.float64).reshape(K) if fit_intercept else np.zeros(K)
    W = np.ascontiguousarray(W, dtype=np.float64)
    U = np.ascontiguousarray(linear_predictor(store, W, b))
    yi = y.astype(np.int64)
    wts = (np.ascontiguousarray(spec.weights.reshape(p, K).T) if spec.weights.size
           else np.zeros((K, 0)))
    P0 = null_primal(datafit, y, sw, fit_intercept, W.shape)
    rule = StopRule(spec, tol, P0, p * K, lambda: null_grad_scale(
        store, y, sw, datafit, fit_intercept, W.shape))
    scores = np.empty(p * K)
    rank = np.empty(p * K)
    history = []
    converged = False
    crit = kkt_max = np.inf
    gap = np.nan
    n_epochs = 0
    prev_ws = None
    it = 0
    for it in range(max_iter + 1):
        if fit_intercept:
            c = datafit._optimal_intercept(y, U, sw)
            b += c
            U += c
        theta = -datafit._raw_grad(y, U, sw)
        Xt = xt_times(store, theta)  # (p, K)
        kkt_scores(W.ravel(), -Xt.ravel(), False, spec.kind, spec.params, spec.weights,
                   spec.grp_ptr, spec.grp_idx, False, scores)
        kkt_max = float(scores.max())
        P = D = None
        if rule.uses_gap:
            P = multinomial_value(U, yi, sw) + penalty_value(
                W.ravel(), False, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                spec.grp_idx)
            s, conj = dual_scaling(spec, Xt.ravel(), False)
            D = datafit._dual_value(y, s * theta, sw) - conj
        crit, gap = rule.measure(kkt_max, scores, P, D)
        history.append(crit)
        if verbose:
            print(f"[prox-newton multinomial] iter {it:3d}  crit {crit:.3e}  "
                  f"kkt {kkt_max:.3e}  nnz {np.count_nonzero(W)}")
        if rule.converged(crit, kkt_max):
            converged = True
            break
        if it == max_iter:
            break
        rank_scores(W.ravel(), -Xt.ravel(), False, spec.kind, spec.params, spec.weights,
                    spec.grp_ptr, spec.grp_idx, False, rank)
        feat_rank = rank.reshape(p, K).max(axis=1)
        nonzero = np.any(W != 0, axis=1)
        ws = select_working_set(feat_rank, nonzero, p0, ws_hint if it == 0 else None)
        ratio = inner_tol_ratio
        core = np.flatnonzero(nonzero | (feat_rank > 0))
        if gap > 0 and prev_ws is not None and np.all(np.isin(core, prev_ws,
                                                              assume_unique=True)):
            ratio = max(min(ratio, 0.1 * tol / gap), 1e-3)
        prev_ws = ws
        n_epochs += _newton_on_block(store, sw, yi, U, W, b, fit_intercept, ws, spec, wts,
                                     max_pn_iter, max_cd, ratio * kkt_max)
    return SolverResult(
        coef=W, intercept=b if fit_intercept else np.zeros(K),
        dual_gap=gap, n_iter=it, converged=converged, stop_crit=crit,
        kkt_max=kkt_max, n_epochs=n_epochs, history=history, gradient=-Xt,
    )


def _newton_on_block(store, sw, yi, U, W, b, fit_intercept, ws, spec, wts, max_newton, max_cd,
                     tol):
    """:func:`multinomial_newton` on the working-set columns, taken as a dense block
    (centered when fitting an intercept, the intercept reparametrized to match: ``X_ws W_ws
    + b = (X_ws - c) W_ws + (b + c W_ws)``); ``U``, ``W`` and ``b`` updated in place."""
    from .cd import _dense_columns

    A = np.asfortranarray(_dense_columns(store, ws))
    V = np.ascontiguousarray(W[ws])
    c = np.zeros(ws.size)
    if fit_intercept:
        c = (sw @ A) / sw.sum()
        A -= c
    bc = b + c @ V
    ep, _ = multinomial_newton(A, sw, yi, U, V, bc, fit_intercept, spec.kind, spec.params,
                               np.ascontiguousarray(wts[:, ws]) if wts.shape[1] else wts,
                               max_newton, max_cd, tol)
    W[ws] = V
    b[:] = bc - c @ V
    return ep


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
    rule = StopRule(spec, tol, P0, nu, lambda: null_grad_scale(
        store, y, sw, datafit, fit_intercept, W.shape))
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
        P_ = D = None
        if rule.uses_gap:
            P_ = datafit._value_u(y, U, sw) + penalty_value(
                wf, True, spec.kind, spec.params, spec.weights, spec.grp_ptr, spec.grp_idx)
            s, conj = dual_scaling(spec, Xt.ravel(), False)
            th = datafit.dual_point(y, U, sw, fit_intercept)
            if fit_intercept:
                s, conj = dual_scaling(spec, xt_times(store, th).ravel(), False)
            D = datafit._dual_value(y, s * th, sw) - conj
        crit, gap = rule.measure(kkt_max, scores, P_, D)
        history.append(crit)
        if verbose:
            print(f"[block-cd multinomial] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}")
        if rule.converged(crit, kkt_max):
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
