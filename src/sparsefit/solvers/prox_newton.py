"""Proximal Newton with working sets for the Logistic and Multinomial datafits (states of
the shared outer loop, :func:`~._outer.outer_loop`).

Binary: on the working set, a Newton step minimizes the quadratic model of the datafit
plus the exact penalty,

    min_v  1/2 sum_i h_i (z_i - x_i v - b)^2 + pen(v),   z = u - F'(u) / h,  h = F''(u),

by the same weighted least-squares coordinate-descent kernel as the Quadratic solver (the
IRLS form of the Newton model), followed by a backtracking line search on the true
objective. Multinomial: the compiled proximal Newton of :mod:`._multinomial_kernels` on a
dense block of the working-set columns, with the exact per-sample Hessian (coordinate
steps for a separable penalty, block steps for a group penalty).
"""

from __future__ import annotations

import numpy as np

from ..datafits._validation import linear_predictor, xt_times
from ._columns import weighted_col_moments, weighted_col_norms, xt_dot_cols
from ._epochs import wls_cd
from ._exact import (
    exact_budget,
    orthant_pieces,
    restricted_minimizer,
    support_moments,
    support_product,
)
from ._multinomial_kernels import multinomial_newton
from ._outer import SolverResult, holds_core, select_working_set, unit_nonzero, ws_coords
from ._units import (
    compiled_dual_conj,
    compiled_penalty_value,
    compiled_unit_scores,
    outer_pass,
)

#: The polish's coordinate descent (BinaryNewton.polish, when the exact Newton step is over
#: budget) may take 1/POLISH_DIV of the epochs spent, and at least POLISH_MIN_EPOCHS.
#: Measured on benchmarks/bench_logistic.py (500 x 5000, supports of 251 and 334): 1/16
#: cost 9% and 7% (15.1 ms against 13.8, 39.2 against 36.8) for 6x and 2x closer
#: coefficients (5.9e-7 from the optimum against 3.7e-6 at alpha_max / 10); 1/8 cost 15%
#: for 30x, which the benchmark's 0.5x target did not always survive (0.536x once).
POLISH_MIN_EPOCHS = 10
POLISH_DIV = 16
#: ... and takes up to POLISH_STEPS such Newton steps while a step moves ``w`` by more
#: than POLISH_SETTLED of its largest entry (measured: an L2-penalized fit on 5000 x 50,
#: over the exact step's budget, ended 2.1e-6 from the optimum after one step).
POLISH_STEPS = 3
POLISH_SETTLED = 1e-4
#: The exact step at convergence may cost 1/POLISH_WORK_DIV of the multiply-adds spent
#: (when more than two passes).
POLISH_WORK_DIV = 4
#: The multinomial polish (no exact step): MULTINOMIAL_POLISH_STEPS Newton steps, each
#: model solved to MULTINOMIAL_POLISH_RATIO of the violation within the epochs above (at
#: least MULTINOMIAL_POLISH_MIN_EPOCHS). Measured (tests/test_exact_step.py's 3-class
#: models, tol 1e-4 against 1e-12): 3 steps at 0.3 left 1.6e-6, these 1.4e-11; uncapped
#: (20 steps of 200 epochs, thrice) it cost 4-10x the fit (1000 x 100, 4 classes: 0.75 s
#: against 0.097 s; now 0.16 s).
MULTINOMIAL_POLISH_STEPS = 4
MULTINOMIAL_POLISH_RATIO = 1e-3
MULTINOMIAL_POLISH_MIN_EPOCHS = 30
#: The multinomial exact step's products (its Hessian's ``X_S' D X_S`` blocks and the
#: factorization) run in BLAS, about BLAS_SPEEDUP times as many multiply-adds a second as
#: a coordinate-descent epoch (measured, one thread: 6-16 G/s for the Hessian's products
#: on 20000 x 30 to 5000 x 300, against 0.5 G/s for the multinomial epoch on 20000 x 30,
#: 3 classes); its cost is counted in epochs' multiply-adds.
BLAS_SPEEDUP = 10.0
#: During the outer loop, a working set's Newton models get at most EXACT_SWITCH_ITERS
#: times the epochs one exact Newton iteration on the working set costs (at least
#: EXACT_SWITCH_MIN_EPOCHS). When they take them all, coordinate descent is slow on this
#: model (ill conditioned: redundant features held only by a ridge, say) and Newton's
#: method on the support follows (:meth:`MultinomialNewton._exact_newton`). Measured on
#: ``make_classification(20000, 30, n_classes=3)`` at C=1 (2 of its features are sums of
#: others): L2 ended 4.8e-3 above the optimal objective in 0.9 s, its coefficients 30%
#: off; L1 took 42 s, 4000 epochs for one model (both now at the optimum in 0.2-0.6 s:
#: benchmarks/bench_multinomial_default.py).
EXACT_SWITCH_ITERS = 8
EXACT_SWITCH_MIN_EPOCHS = 20
#: A ridge alone starts with Newton's method on every coefficient (at most
#: RIDGE_NEWTON_STEPS steps) when one step costs at most RIDGE_NEWTON_EPOCHS epochs.
RIDGE_NEWTON_EPOCHS = 10
RIDGE_NEWTON_STEPS = 30
#: ... while the exact system holds at most EXACT_MAX_COEFS coefficients and the dense
#: copy of their columns takes at most EXACT_MAX_BYTES (its memory)
EXACT_MAX_COEFS = 4096
EXACT_MAX_BYTES = 2 ** 28
#: Far from the optimum (the decrease the last Newton model predicted above
#: SUBSAMPLED_FAR times the objective), the multinomial Newton steps build their Hessian
#: on every SUBSAMPLED_EVERY-th row (its sums scaled to all the rows' weight) when that
#: leaves at least SUBSAMPLED_MIN_ROWS rows per coefficient; the line search is on the
#: objective, and the last steps use every row (their convergence is quadratic). Measured
#: on the ridge of ``make_classification(20000, 30, n_classes=3)`` at C=1, one thread: 7
#: steps on the subsample and 2 on every row, 0.095 s against 0.171 s with 8 on every row
#: (with the polish's step skipped where the last call ended; scikit-learn's lbfgs
#: 0.056 s), the same coefficients.
SUBSAMPLED_FAR = 1e-6
SUBSAMPLED_EVERY = 8
SUBSAMPLED_MIN_ROWS = 20
NO_LIMIT = int(np.iinfo(np.int64).max)
_H_FLOOR = 1e-10  # relative floor on the Hessian weights, keeps the working response finite


def _unit_curvatures(store, info, ws, h, fit_intercept):
    """Curvatures of the working-set units under the weights ``h`` (centered columns with
    an intercept: wls_cd's centered mode) and the column means."""
    cols = ws_coords(info, ws)
    col = np.zeros(store.p)
    if fit_intercept:
        xm = np.zeros(store.p)
        weighted_col_moments(*store.args, cols, h, xm, col)
    else:
        xm = np.zeros(0)
        weighted_col_norms(*store.args, cols, h, col)
    if not info.is_group:
        return col, xm
    spec = info.spec
    lc = np.zeros(info.n_units)
    for g in ws:  # a trace bound of the group's curvature
        lc[g] = col[spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]].sum()
    return lc, xm


def newton_step(store, y, sw, datafit, info, w, b, u, ws, fit_intercept, tol_cd, max_cd):
    """One damped proximal Newton step on the units ``ws``; returns new (w, b, u, epochs)."""
    raw = datafit._raw_grad(y, u, sw)
    h = np.maximum(datafit._hessian_weights(y, u, sw), _H_FLOOR * sw)
    lc, xm = _unit_curvatures(store, info, ws, h, fit_intercept)
    # rows with zero sample weight have h = 0 and raw = 0: they carry no information
    R0 = np.divide(-raw, h, out=np.zeros_like(raw), where=h > 0)
    R = R0.copy()
    v = w.copy()
    bb = np.array([b])
    ep, _ = wls_cd(info.spec, *store.args, h, False, R, v, bb, fit_intercept, lc, xm, ws,
                   max_cd, tol_cd, 0, 0.0)
    du = R0 - R  # X d + db
    return line_search(y, sw, datafit, info, w, b, u, v, bb[0], du, raw) + (ep,)


def line_search(y, sw, datafit, info, w, b, u, v, bv, du, raw, F0=None):
    """The backtracking (Armijo) search from ``(w, b)`` towards the model's minimizer
    ``(v, bv)`` (``du`` the change of the linear predictor ``u``, ``raw`` the datafit's
    gradient in ``u``; ``u`` of shape (n, K) and ``w`` raveled for the multinomial;
    ``F0`` the objective at ``(w, b)`` when the caller has it); returns the new
    ``(w, b, u)``, the old ones when no step lowers the objective."""
    pen_w = compiled_penalty_value(info.spec, w)
    F0 = datafit._value_u(y, u, sw) + pen_w if F0 is None else F0
    delta = float(np.vdot(raw, du)) + compiled_penalty_value(info.spec, v) - pen_w
    if -delta <= 1e-13 * abs(F0):
        # the predicted decrease is below what float64 can see in F: near the optimum,
        # where the full Newton step is right (and a line search would stall)
        return v, bv, u + du
    d, db, t = v - w, bv - b, 1.0
    for _ in range(40):
        wt = w + t * d
        Ft = datafit._value_u(y, u + t * du, sw) + compiled_penalty_value(info.spec, wt)
        if Ft <= F0 + 1e-4 * t * min(delta, 0.0):
            return wt, b + t * db, u + t * du
        t *= 0.5
    return w, b, u


class _NewtonState:
    """What the proximal Newton states share: the optimality check on all units and the
    primal / dual values."""

    def _resolution(self):
        """The smallest violation an inner solve is asked for: 1e-13 of the gradients'
        scale, what float64 resolves (asked for less, at ``tol=0`` in particular, every
        Newton step ran its ``max_cd`` epochs)."""
        return 1e-13 * float(np.abs(self.Xt).max(initial=0.0))

    def __init__(self, store, y, sw, datafit, info, fit_intercept):
        self.store, self.y, self.sw, self.datafit, self.info = store, y, sw, datafit, info
        self.fit_intercept = fit_intercept
        self.scores = np.empty(info.n_units)
        self.rank = np.empty(info.n_units)
        self.n_epochs = 0
        self.prev_ws = None
        self.polished = False  # (the capped polish runs once per solve)
        self._exact_end = None  # (coefficients, w, b) where an exact Newton call ended
        self.x_nnz = store.n * store.p if store.dense else int(store.indptr[-1])
        self.work = 0.0  # multiply-adds spent so far, about (see _exact_budget)

    def _refresh(self, u, w_flat, b):
        """Optimal intercept, dual point, ``X.T theta`` and the unit scores; returns the
        updated ``(u, b)``."""
        if self.fit_intercept:
            c = self.datafit._optimal_intercept(self.y, u, self.sw)
            b = b + c
            u = u + c
        self.theta = -self.datafit._raw_grad(self.y, u, self.sw)
        self.Xt = xt_times(self.store, self.theta)
        self.kkt, self.scale = outer_pass(self.info, w_flat,
                                          np.ascontiguousarray(self.Xt.ravel()), self.scores,
                                          self.rank)
        return u, b

    def _primal_dual(self, u, w_flat):
        P = self.datafit._value_u(self.y, u, self.sw) + compiled_penalty_value(
            self.info.spec, w_flat)
        s = self.scale   # the dual scale, from the pass of the scores (_refresh)
        conj = compiled_dual_conj(self.info.spec, np.ascontiguousarray(self.Xt.ravel()),
                                  self.info.free_or_empty, s)
        return P, self.datafit._dual_value(self.y, s * self.theta, self.sw) - conj

    @staticmethod
    def _polish_units(nonzero, rank):
        """The units a polish works on: the non-zero ones and the violators."""
        return np.flatnonzero(nonzero | (rank > 0)).astype(np.int64)

    def _ridge_alone(self, every):
        """Whether the penalty on the coefficients ``every`` is a ridge alone: no L1 part,
        no bound (the penalties whose solution has every coefficient non-zero)."""
        pieces = None if self.info.is_group else orthant_pieces(self.info.spec, every,
                                                                 ridge=True)
        return pieces is not None and not np.any(pieces[0]) and \
            bool(np.all(np.isinf(pieces[2]))) and bool(np.all(np.isinf(pieces[3])))

    def _exact_ended(self, S, w, b):
        """Whether the last exact Newton call ended at the rounding on the coefficients
        ``S`` at this point (``w``, and ``b`` to the rounding that the optimal
        intercept's refresh moves it by): a call there would find no step."""
        end = self._exact_end
        return end is not None and end[0] == S.tobytes() and np.array_equal(end[1], w) \
            and np.max(np.abs(np.asarray(end[2]) - b)) <= 1e-12 * max(
                1.0, float(np.max(np.abs(b))))

    def _exact_budget(self, passes_cost):
        """The multiply-adds the exact step at convergence may cost: two passes
        (``passes_cost``, at least :func:`~._exact.exact_budget`'s floor) or
        ``1 / POLISH_WORK_DIV`` of the work spent, whichever is larger."""
        return max(exact_budget(passes_cost), self.work / POLISH_WORK_DIV)

    def _count_work(self, epochs, n_cols, K=1):
        """Add ``epochs`` epochs over ``n_cols`` columns (times ``K`` classes) and the
        next check's pass to :attr:`work`."""
        self.work += (epochs * n_cols / max(self.store.p, 1) + 1) * self.x_nnz * K

    def _polish_epochs(self, minimum=POLISH_MIN_EPOCHS):
        """The epochs a polish's coordinate descent may take: ``1 / POLISH_DIV`` of those
        spent, at least ``minimum``, at most ``max_cd``."""
        return min(self.max_cd, max(minimum, self.n_epochs // POLISH_DIV))

    def _inner_ratio(self, ratio, nonzero, gap, tol):
        # the working set holds the support and the violators: aim at the violation the
        # target gap needs (as the CD solver does)
        if self.info.is_convex and gap > 0 and holds_core(nonzero, self.rank, self.prev_ws):
            return max(min(ratio, 0.1 * tol / gap), 1e-3)
        return ratio


class BinaryNewton(_NewtonState):
    """Working-set proximal Newton for the Logistic datafit."""

    def __init__(self, store, y, sw, datafit, info, w, b, *, fit_intercept, tol, p0, ws_hint,
                 inner_tol_ratio, max_pn_iter, max_cd, rng=None):
        super().__init__(store, y, sw, datafit, info, fit_intercept)
        self.rng = rng
        self.w, self.b = w, b
        self.u = linear_predictor(store, w, b)
        self.tol, self.p0, self.ws_hint = tol, p0, ws_hint
        self.inner_tol_ratio, self.max_pn_iter, self.max_cd = inner_tol_ratio, max_pn_iter, \
            max_cd

    def optimality(self):
        self.u, self.b = self._refresh(self.u, self.w, self.b)
        return self.kkt

    def primal_dual(self):
        return self._primal_dual(self.u, self.w)

    def nnz(self):
        return int(np.count_nonzero(self.w))

    def step(self, it, gap):
        info = self.info
        if it == 0 and self._newton_on_all():
            return
        nonzero = unit_nonzero(self.w, info)
        ws = select_working_set(self.rank, nonzero, self.p0, self.ws_hint if it == 0 else None,
                                rng=self.rng)
        tol_in = max(self._inner_ratio(self.inner_tol_ratio, nonzero, gap, self.tol) * self.kkt,
                     self._resolution())
        self.prev_ws = ws
        cols = ws_coords(info, ws)
        ws_scores = np.empty(info.n_units)
        ws_rank = np.empty(info.n_units)
        gfull = np.zeros(self.store.p)
        tol_cd = 0.3 * tol_in
        for pn in range(self.max_pn_iter):
            if pn > 0:
                raw = self.datafit._raw_grad(self.y, self.u, self.sw)
                xt_dot_cols(*self.store.args, cols, raw, gfull)
                compiled_unit_scores(info.spec, self.w, gfull, ws_scores, ws_rank)
                ws_kkt = float(ws_scores[ws].max())
                if self.fit_intercept:
                    ws_kkt = max(ws_kkt, abs(float(raw.sum())))
                if ws_kkt <= tol_in:
                    break
                tol_cd = 0.3 * ws_kkt
            self.w, self.b, self.u, ep = newton_step(
                self.store, self.y, self.sw, self.datafit, info, self.w, self.b, self.u, ws,
                self.fit_intercept, tol_cd, self.max_cd)
            self.n_epochs += ep
            self._count_work(ep, cols.size)

    def polish(self):
        """At convergence, Newton's method on the support with each model solved exactly
        (:meth:`_exact_newton`: a linear solve on the support's orthant, when it costs at
        most :func:`~._exact.exact_budget`), or else one more Newton step on the support
        and the violators, its model solved towards float64's resolution by coordinate
        descent within ``1 / POLISH_DIV`` of the epochs spent (at least
        ``POLISH_MIN_EPOCHS``), up to ``POLISH_STEPS`` times while the steps are large.
        Proximal Newton converges quadratically there: the tolerance ball's radius
        becomes about its square, so two routes to the optimum (rows in memory, passes
        over dask chunks) return the same digits. The next check certifies it. The exact
        step may run at each convergence (a step that changed the support is followed by
        another on the new one), the capped one once per solve. Returns whether it
        moved."""
        w0, b0 = self.w, self.b
        if not self._exact_newton():
            ws = self._polish_units(unit_nonzero(self.w, self.info), self.rank)
            if self.polished or not ws.size:
                return False
            self.polished = True
            for _ in range(POLISH_STEPS):
                w1 = self.w
                self.w, self.b, self.u, ep = newton_step(
                    self.store, self.y, self.sw, self.datafit, self.info, self.w, self.b,
                    self.u, ws, self.fit_intercept, self._resolution(),
                    self._polish_epochs())
                self.n_epochs += ep
                if np.abs(self.w - w1).max(initial=0.0) <= POLISH_SETTLED * np.abs(
                        self.w).max(initial=0.0):
                    break  # (quadratic convergence: what is left is about its square)
        return bool(np.any(self.w != w0)) or self.b != b0

    def _newton_on_all(self):
        """A ridge alone (LogisticRegression's default) whose exact Newton iteration on
        every coefficient costs at most RIDGE_NEWTON_EPOCHS epochs (its products counted
        at BLAS speed): Newton's method from the start, as
        :meth:`MultinomialNewton._newton_on_all` (measured, C=1 on
        ``make_classification(20000, 30)``, one thread: 0.155 s through the working
        sets' coordinate descent, 0.033 s so; scikit-learn's lbfgs 0.025 s).
        Returns whether it ran."""
        every = np.arange(self.store.p)
        if not self._ridge_alone(every):
            return False
        k, n = every.size, self.store.n
        one = (k ** 3 / 3 + n * k * (k + 1) / 2) / BLAS_SPEEDUP / max(n * k, 1)
        return one <= RIDGE_NEWTON_EPOCHS and self._exact_newton(
            max_newton=RIDGE_NEWTON_STEPS, S=every)

    def _exact_newton(self, max_newton=8, S=None):
        """Newton's method on the support ``S`` of ``w`` (or the coefficients ``S``
        given, within no budget: :meth:`_newton_on_all`; their signs and box kept, as
        :func:`~._exact.restricted_minimizer` does), each model minimized by a linear
        solve with the Hessian ``X_S' diag(h) X_S`` (the intercept eliminated by
        centering with the weights ``h``) and a line search on the objective, until the
        step is at the rounding of ``w`` or the decrease its model predicts is below the
        objective's rounding. Returns whether it ran (False: a penalty not quadratic on
        an orthant, a system over budget, or none solved at the start: centering would
        lose the digits, or a singular system; the caller's fallback step then runs)."""
        store, info = self.store, self.info
        given = S is not None
        S = np.flatnonzero(self.w) if S is None else S
        pieces = orthant_pieces(info.spec, S, ridge=True)
        k = S.size
        if pieces is None or not k or (not given and k ** 3 / 3 + store.n * k * (k + 1) / 2
                                       > self._exact_budget(2 * self.x_nnz)):
            return False
        if self._exact_ended(S, self.w, self.b):
            return True  # (where its last call ended, at the rounding: nothing to do)
        a, beta, lower, upper = pieces
        g = np.zeros(store.p)
        last = False
        for it in range(max_newton):
            raw = self.datafit._raw_grad(self.y, self.u, self.sw)
            h = np.maximum(self.datafit._hessian_weights(self.y, self.u, self.sw),
                           _H_FLOOR * self.sw)
            H, xm = support_moments(store, S, h, self.fit_intercept and h.sum() > 0)
            if H is None:
                return it > 0  # (centering would lose the digits: no step here)
            xt_dot_cols(*store.args, S, raw, g)
            gS = g[S] - xm * float(raw.sum())  # the gradient once the intercept is optimal
            wS = self.w[S]
            H[np.diag_indices(k)] += beta
            new, _ = restricted_minimizer(H, gS + a * np.sign(wS) + beta * wS, wS, a,
                                          lower, upper)
            if new is None:
                return it > 0
            d = new - wS
            if np.abs(d).max(initial=0.0) <= 1e-13 * np.abs(wS).max():
                last = True
                break  # (at the rounding of w: the point stays as it is)
            db = (-float(raw.sum()) / float(h.sum()) - float(xm @ d)) \
                if self.fit_intercept and h.sum() > 0 else 0.0
            # the decrease the model predicts, against the objective's rounding: below it
            # this step is the last one (as the multinomial's)
            F0 = self.datafit._value_u(self.y, self.u, self.sw) + compiled_penalty_value(
                info.spec, self.w)
            last = -float((gS + a * np.sign(wS) + beta * wS) @ d) <= 1e-13 * abs(F0)
            v = self.w.copy()
            v[S] = new
            du = support_product(store, S, d) + db
            self.w, self.b, self.u = line_search(self.y, self.sw, self.datafit, info, self.w,
                                                 self.b, self.u, v, self.b + db, du, raw, F0)
            self.n_epochs += 1  # (n_iter_ counts a linear solve as an epoch)
            if last:
                break
        if last:
            self._exact_end = (S.tobytes(), self.w.copy(), float(self.b))
        return True

    def result(self, **outcome):
        return SolverResult(coef=self.w, intercept=float(self.b) if self.fit_intercept
                            else 0.0, n_epochs=self.n_epochs, gradient=-self.Xt, **outcome)


class MultinomialNewton(_NewtonState):
    """Working-set proximal Newton for the Multinomial datafit: each outer iteration keeps
    the units (features for a separable penalty, groups for a group penalty) that are
    non-zero or closest to entering, and solves that subproblem by the compiled proximal
    Newton on a dense block of their columns. Coefficient ``(j, k)`` is penalty
    coordinate ``j * n_classes + k``."""

    def __init__(self, store, y, sw, datafit, info, W, b, *, fit_intercept, tol, p0, ws_hint,
                 inner_tol_ratio, max_pn_iter, max_cd, rng=None):
        super().__init__(store, y, sw, datafit, info, fit_intercept)
        self.rng = rng
        K = datafit.n_classes
        self.K = K
        self.W = np.ascontiguousarray(W, dtype=np.float64)
        self.b = np.array(b, dtype=np.float64).reshape(K) if fit_intercept else np.zeros(K)
        self.U = np.ascontiguousarray(linear_predictor(store, self.W, self.b))
        self.yi = y.astype(np.int64)
        self.tol, self.p0, self.ws_hint = tol, p0, ws_hint
        self.inner_tol_ratio, self.max_pn_iter, self.max_cd = inner_tol_ratio, max_pn_iter, \
            max_cd

    def optimality(self):
        self.U, self.b = self._refresh(self.U, self.W.ravel(), self.b)
        self.U = np.ascontiguousarray(self.U)
        return self.kkt

    def primal_dual(self):
        return self._primal_dual(self.U, self.W.ravel())

    def nnz(self):
        return int(np.count_nonzero(self.W))

    def step(self, it, gap):
        p, K = self.W.shape
        if it == 0 and self._newton_on_all():
            return
        if self.info.is_group:
            unit_rank, nonzero = self.rank, unit_nonzero(self.W.ravel(), self.info)
        else:  # a feature enters when any of its classes does
            unit_rank, nonzero = self.rank.reshape(p, K).max(axis=1), np.any(self.W != 0, axis=1)
        ws = select_working_set(unit_rank, nonzero, self.p0, self.ws_hint if it == 0 else None,
                                rng=self.rng)
        ratio = self.inner_tol_ratio
        if gap > 0 and holds_core(nonzero, unit_rank, self.prev_ws):
            ratio = max(min(ratio, 0.1 * self.tol / gap), 1e-3)
        self.prev_ws = ws
        cap = self._switch_epochs(ws)
        ep = self._newton_on_block(ws, max(ratio * self.kkt, self._resolution()),
                                   max_epochs=cap)
        if ep >= cap:  # (coordinate descent is slow here: Newton's method on the support)
            self._exact_newton(budget=np.inf)
        self.n_epochs += ep
        n_cols = np.unique(ws_coords(self.info, ws) // self.K).size if self.info.is_group \
            else ws.size
        self._count_work(ep, n_cols, self.K)

    def polish(self):
        """At convergence, as :meth:`BinaryNewton.polish`: the exact Newton step on the
        support when within its budget, or else, once per solve, the Newton method on
        the support and the violators towards float64's resolution, within the budget of
        ``MULTINOMIAL_POLISH_*``. Returns whether it moved."""
        W, b = self.W.copy(), self.b.copy()
        p, K = self.W.shape
        nonzero = unit_nonzero(self.W.ravel(), self.info) if self.info.is_group else \
            np.any(self.W != 0, axis=1)
        unit_rank = self.rank if self.info.is_group else self.rank.reshape(p, K).max(axis=1)
        ws = self._polish_units(nonzero, unit_rank)
        if not self.info.is_group and np.any(self.rank[self.W.ravel() == 0] > 0) and \
                self._exact_cost(ws.size * K) <= \
                self._exact_budget(2 * self.x_nnz * K):
            # the zero coefficients that violate their conditions enter first, as in the next
            # working set (else the exact step ends at the support's optimum, which the
            # gap may accept though the coefficients are not the solution's: measured,
            # an elastic net on 20000 x 30, 3 classes, ended 0.055 from the solution)
            self.n_epochs += self._newton_on_block(ws, self._resolution(),
                                                   max_epochs=self._switch_epochs(ws))
        if not self._exact_newton():
            if self.polished or not ws.size:
                return False
            self.polished = True
            self.n_epochs += self._newton_on_block(
                ws, self._resolution(), max_pn_iter=MULTINOMIAL_POLISH_STEPS,
                max_cd=self._polish_epochs(MULTINOMIAL_POLISH_MIN_EPOCHS),
                inner_ratio=MULTINOMIAL_POLISH_RATIO)
        return bool(np.any(W != self.W) or np.any(b != self.b))

    def _exact_cost(self, n_coefs):
        """The multiply-adds of one iteration of :meth:`_exact_newton` on ``n_coefs``
        coefficients (and the intercepts), in coordinate-descent epochs' multiply-adds
        (``BLAS_SPEEDUP``); inf beyond ``EXACT_MAX_COEFS``, or when the columns of
        ``n_coefs`` features would take more than ``EXACT_MAX_BYTES``."""
        m = n_coefs + (self.K - 1 if self.fit_intercept else 0)
        if m > EXACT_MAX_COEFS or 8 * self.store.n * min(n_coefs, self.store.p) > \
                EXACT_MAX_BYTES:
            return np.inf
        # (the Hessian's blocks, class by class: n m^2 (1 + 1/K) / 2 for classes alike)
        return (m ** 3 / 3 + self.store.n * m ** 2 * (1 + 1 / self.K) / 2) / BLAS_SPEEDUP

    def _newton_on_all(self):
        """A ridge alone (LogisticRegression's default: every coefficient non-zero, no
        working set to find) whose exact Newton iteration on every coefficient costs at
        most RIDGE_NEWTON_EPOCHS epochs: Newton's method from the start (measured, C=1 on
        ``make_classification(20000, 30, n_classes=3)``: 0.36 s through the working
        sets, 0.17 s so, 7 steps; scikit-learn's lbfgs 0.06 s). Returns whether it ran."""
        every = np.arange(self.W.size)
        if not self._ridge_alone(every):
            return False
        one = self._exact_cost(every.size) / max(self.store.n * every.size, 1)
        return one <= RIDGE_NEWTON_EPOCHS and self._exact_newton(
            max_newton=RIDGE_NEWTON_STEPS, budget=np.inf, S=every)

    def _switch_epochs(self, ws):
        """The epochs the working set ``ws``'s Newton models may take before Newton's
        method on the support takes over (``EXACT_SWITCH_*``; no limit for a penalty
        the exact step does not take)."""
        if self.info.is_group or orthant_pieces(self.info.spec, np.zeros(0, np.int64),
                                                ridge=True) is None:
            return NO_LIMIT
        one = self._exact_cost(ws.size * self.K) / max(self.store.n * ws.size * self.K, 1)
        if not np.isfinite(one):
            return NO_LIMIT
        return int(max(EXACT_SWITCH_MIN_EPOCHS, EXACT_SWITCH_ITERS * one))

    def _exact_newton(self, max_newton=8, budget=None, S=None):
        """Newton's method on the support ``S`` of ``W``, or the raveled coefficients
        ``S`` given (coefficients ``(j, k)``, their signs and box kept by
        :func:`~._exact.restricted_minimizer`; a singular system through its null space)
        and the intercepts,
        each model minimized by a linear solve with the softmax Hessian

        .. math:: H_{(j,k),(l,k')} = \\sum_i s_i x_{ij} x_{il} p_{ik}(\\delta_{kk'} - p_{ik'})

        (columns centered by the weights, the intercepts reparametrized to match, the last
        class's intercept held: the loss does not change when every intercept moves
        alike), and an Armijo line search on the objective, until the step is at the
        rounding of ``W``. Returns whether it ran (False: a group penalty, a penalty not
        quadratic on an orthant, a system over ``budget``, by default
        :func:`~._exact.exact_budget`, or a first system singular where the model does
        not fall linearly either: a penalty with no L1 part along a direction the loss
        does not see)."""
        from .cd import _dense_columns

        store, info, K = self.store, self.info, self.K
        S = np.flatnonzero(self.W.ravel()) if S is None else S
        pieces = None if info.is_group else orthant_pieces(info.spec, S, ridge=True)
        if pieces is None or not S.size:
            return False
        if self._exact_ended(S, self.W, self.b):
            return True  # (where its last call ended, at the rounding: nothing to do)
        feats, cls = np.unique(S // K), S % K
        loc = np.searchsorted(feats, S // K)
        nb = K - 1 if self.fit_intercept else 0
        m = S.size + nb
        budget = self._exact_budget(2 * self.x_nnz * K) if budget is None else budget
        if self._exact_cost(S.size) > budget:
            return False
        a, beta, lower, upper = pieces
        a, beta = np.concatenate([a, np.zeros(nb)]), np.concatenate([beta, np.zeros(nb)])
        lower = np.concatenate([lower, np.full(nb, -np.inf)])
        upper = np.concatenate([upper, np.full(nb, np.inf)])
        A = np.asarray(_dense_columns(store, feats), dtype=np.float64)
        center = np.zeros(feats.size)
        if self.fit_intercept and self.sw.sum() > 0:
            center = (self.sw @ A) / self.sw.sum()
            A = A - center
        by_class = [np.flatnonzero(cls == k) for k in range(K)]
        A_k = [A[:, loc[ik]] for ik in by_class]  # (class k's support columns)
        sub = self._hessian_rows(m)
        far, moved, last = sub is not None, 0, False
        A_sub = None if sub is None else [np.ascontiguousarray(a[sub]) for a in A_k]
        for _ in range(max_newton + far):
            R = self.datafit._raw_grad(self.yi, self.U, self.sw)
            g = np.concatenate([(A.T @ R)[loc, cls], R.sum(axis=0)[:nb]])
            H = self._softmax_hessian(*((A_sub, sub) if far else (A_k, slice(None))),
                                      by_class, nb)
            v = np.concatenate([self.W.ravel()[S], self.b[:nb]])
            H[np.diag_indices(m)] += beta
            grad = g + a * np.sign(v) + beta * v
            new, _ = restricted_minimizer(H, grad, v, a, lower, upper, singular=True)
            if new is None and far:
                far = False  # (a subsample's singular system: every row)
                continue
            if new is None:
                return moved > 0
            d = new - v
            if np.abs(d[:S.size]).max(initial=0.0) <= 1e-13 * np.abs(v[:S.size]).max():
                last = True
                break  # (at the rounding of W: the point stays as it is)
            # the decrease Newton's model predicts, against the objective's rounding: below
            # it the step is the last one (measured: on X * 10 + 3 the steps stayed above
            # the rounding of W, and Newton's method ran all its steps, 30 on a ridge)
            decrease = -float(grad @ d)
            F0 = self.datafit._value_u(self.yi, self.U, self.sw) + compiled_penalty_value(
                info.spec, self.W.ravel())
            scale = abs(F0)
            if far and decrease <= SUBSAMPLED_FAR * scale:
                far = False  # (near the optimum: this step again, on every row)
                continue
            last = decrease <= 1e-13 * scale
            if last and not moved:
                break  # (already the optimum to the objective's rounding: not moved)
            V = self.W.copy()
            V[feats[loc], cls] = new[:S.size]
            dV = V[feats] - self.W[feats]
            db = np.zeros(K)  # (the centered columns' intercept; the real one moves by
            db[:nb] = d[S.size:]  # db - center @ dV)
            db -= db.mean()  # (the intercepts' sum kept, as the optimal intercept does)
            W, self.b, U = line_search(self.yi, self.sw, self.datafit, info, self.W.ravel(),
                                       self.b, self.U, V.ravel(), self.b + db - center @ dV,
                                       A @ dV + db, R, F0)
            self.W, self.U = W.reshape(-1, K), np.ascontiguousarray(U)
            self.n_epochs += 1  # (n_iter_ counts a linear solve as an epoch)
            self.work += self._exact_cost(S.size)
            moved += 1
            if last:
                break
        if last:
            self._exact_end = (S.tobytes(), self.W.copy(), self.b.copy())
        return True

    def _hessian_rows(self, m):
        """The rows the far steps of :meth:`_exact_newton` build their Hessian on (every
        ``SUBSAMPLED_EVERY``-th row), or None when that would leave fewer than
        ``SUBSAMPLED_MIN_ROWS`` rows per coefficient of the ``m`` (every row, always)."""
        n = self.store.n
        if n // SUBSAMPLED_EVERY < SUBSAMPLED_MIN_ROWS * m:
            return None
        rows = slice(None, None, SUBSAMPLED_EVERY)
        return rows if self.sw[rows].sum() > 0 else None

    def _softmax_hessian(self, A_k, rows, by_class, nb):
        """The softmax Hessian of :meth:`_exact_newton` on the support's columns ``A_k``
        (class by class, on the ``rows``) and the ``nb`` free intercepts, summed over
        ``rows`` (all, or a subsample scaled to the total weight)."""
        K, n_coefs = self.K, sum(ik.size for ik in by_class)
        m = n_coefs + nb
        P = self.datafit._softmax(self.U[rows])
        sw = self.sw[rows]
        if rows != slice(None):
            sw = sw * (self.sw.sum() / sw.sum())
        H = np.zeros((m, m))
        for k in range(K):
            for k2 in range(k, K):
                c = sw * P[:, k] * (float(k == k2) - P[:, k2])
                ik, ik2 = by_class[k], by_class[k2]
                H[np.ix_(ik, ik2)] = A_k[k].T @ (A_k[k2] * c[:, None])
                H[np.ix_(ik2, ik)] = H[np.ix_(ik, ik2)].T
                if k2 < nb:
                    H[ik, n_coefs + k2] = H[n_coefs + k2, ik] = A_k[k].T @ c
                if k < nb:
                    H[ik2, n_coefs + k] = H[n_coefs + k, ik2] = A_k[k2].T @ c
                if k2 < nb:
                    H[n_coefs + k, n_coefs + k2] = H[n_coefs + k2, n_coefs + k] = c.sum()
        return H

    def _newton_on_block(self, ws, tol, max_pn_iter=None, max_cd=None, inner_ratio=0.3,
                         max_epochs=NO_LIMIT):
        """:func:`multinomial_newton` on the working-set columns, taken as a dense block
        (centered when fitting an intercept, the intercept reparametrized to match:
        ``X_ws W_ws + b = (X_ws - c) W_ws + (b + c W_ws)``)."""
        from .cd import _dense_columns

        K = self.K
        if self.info.is_group:
            cols = np.unique(ws_coords(self.info, ws) // K).astype(np.int64)
            units = ws
        else:
            cols, units = ws, np.zeros(0, dtype=np.int64)
        loc = np.full(self.store.p, -1, dtype=np.int64)
        loc[cols] = np.arange(cols.size)
        A = np.asfortranarray(_dense_columns(self.store, cols))
        V = np.ascontiguousarray(self.W[cols])
        c = np.zeros(cols.size)
        if self.fit_intercept:
            c = (self.sw @ A) / self.sw.sum()
            A -= c
        bc = self.b + c @ V
        ep, _ = multinomial_newton(self.info.spec, A, self.sw, self.yi, self.U, V, cols, loc,
                                   units, bc, self.fit_intercept,
                                   max_pn_iter or self.max_pn_iter, max_cd or self.max_cd,
                                   tol, inner_ratio, max_epochs)
        self.W[cols] = V
        self.b = bc - c @ V
        return ep

    def result(self, **outcome):
        return SolverResult(coef=self.W, intercept=self.b if self.fit_intercept
                            else np.zeros(self.K), n_epochs=self.n_epochs, gradient=-self.Xt,
                            **outcome)
