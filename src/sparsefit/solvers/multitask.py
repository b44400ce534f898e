"""Block coordinate descent with working sets for multi-output least squares (the state of
the shared outer loop, :func:`~._outer.outer_loop`, for the
:class:`~sparsefit.datafits.MultiTaskQuadratic` datafit)."""

from __future__ import annotations

import numpy as np

from ..datafits._validation import linear_predictor
from ._columns import weighted_col_moments, weighted_col_norms
from ._exact import (
    MAX_INEXACT,
    exact_budget,
    row_candidate,
    row_sparse_minimizer,
    row_step_cost,
    support_moments,
    support_product,
)
from ._gap import GAP_STOP_MIN_TOL
from ._multitask_kernels import group_curvatures, multitask_cd, xt_tasks
from ._outer import SolverResult, holds_core, select_working_set, unit_nonzero, ws_coords
from ._units import compiled_dual_conj, compiled_penalty_value, outer_pass
from .cd import _check_spread

# Working-set sizing and inner tolerances, as for the single-output solver (see .cd): an
# epoch on n_features / (2 E_MIN) features costs about 1 / E_MIN of a full pass over X, so
# working sets up to that size are taken from the start; inner solves also stop when the
# working-set gap is GAP_FRAC of the target.
E_MIN = 20.0
GAP_FRAC = 0.5


class MultiTaskCD:
    """Working-set block coordinate descent on
    ``1/2 sum_i sw_i ||Y_i - x_i W - b||^2 + pen(W)`` (``sum sw = 1``, ``W`` of shape
    ``(n_features, n_tasks)``, coefficient ``(j, t)`` at penalty coordinate
    ``j * n_tasks + t``): the state of :func:`~._outer.outer_loop`.

    The units of the working sets are the penalty's groups (a group penalty, e.g.
    ``GroupL1`` on ``[n_tasks] * n_features``: the rows of ``W``) or the features (a
    separable penalty: a feature enters when any of its tasks does). Each outer iteration
    computes ``X.T Theta`` for all tasks (``Theta = sw * R``, the dual point), the units'
    violations, the duality gap from the datafit's pieces (as
    :func:`~sparsefit.solvers.dual_gap` computes it), and solves the working set by
    :func:`~._multitask_kernels.multitask_cd`. Column curvatures (centered ones and the
    weighted means when fitting an intercept) are computed lazily for the features that
    enter a working set.
    """

    def __init__(self, store, y, sw, uniform, info, W, b, P0, *, datafit, fit_intercept, tol,
                 p0, ws_hint, max_epochs, anderson, inner_tol_ratio, rng=None):
        self.store, self.y, self.sw, self.uniform, self.info = store, y, sw, uniform, info
        self.datafit = datafit
        self.fit_intercept, self.tol, self.p0 = fit_intercept, tol, p0
        self.max_epochs, self.anderson = max_epochs, anderson
        self.inner_tol_ratio = 0.3 if inner_tol_ratio is None else float(inner_tol_ratio)
        self.ws_hint = ws_hint
        self.rng = rng  # selection="random": the working set in a random order
        p, T = store.p, y.shape[1]
        self.T = T
        self.W = np.ascontiguousarray(W, dtype=np.float64).reshape(p, T)
        self.w = self.W.reshape(-1)  # the flat view the penalty indexes
        self.b = (np.array(b, dtype=np.float64).reshape(T) if fit_intercept
                  else np.zeros(T))
        self.R = np.ascontiguousarray((y - linear_predictor(store, self.W, self.b)).T)
        # per-feature curvatures, -1 until a feature enters a working set
        self.lcol = np.full(p, -1.0)
        self.xm = np.zeros(p) if fit_intercept else np.zeros(0)
        self.lc = np.zeros(info.n_units) if info.is_group else self.lcol
        self.scores, self.rank = np.empty(info.n_units), np.empty(info.n_units)
        self.Xt = np.empty((p, T))
        self.n_epochs, self.prev_ws, self.ratio = 0, None, self.inner_tol_ratio
        self.exact_tries = MAX_INEXACT if ws_hint is None else 0
        self.gap_tol_in = 0.0
        if info.is_convex and info.free is None and P0 > 0 and tol >= GAP_STOP_MIN_TOL:
            self.gap_tol_in = GAP_FRAC * tol * P0

    # -- what the outer loop asks ----------------------------------------------------------
    def optimality(self):
        if self.fit_intercept:
            c = self.R @ self.sw  # exact minimization in the intercepts
            self.b += c
            self.R -= c[:, None]
        self.Theta = self.sw * self.R
        xt_tasks(*self.store.args, self.store.p, self.Theta, self.Xt)
        mx, self.scale = outer_pass(self.info, self.w, self.Xt.reshape(-1), self.scores,
                                    self.rank)
        return mx

    def primal_dual(self):
        # the datafit's own pieces at the dual point Theta = sw * R (the intercepts are
        # optimal): what sparsefit.solvers.dual_gap computes, without another pass over X
        spec = self.info.spec
        U = self.y - self.R.T
        P = self.datafit._value_u(self.y, U, self.sw) + compiled_penalty_value(spec, self.w)
        s = self.scale   # the dual scale, from the pass of the scores
        conj = compiled_dual_conj(spec, self.Xt.reshape(-1), self.info.free_or_empty, s)
        D = self.datafit._dual_value(self.y, s * self.Theta.T, self.sw) - conj
        return P, D

    def nnz(self):
        return int(np.count_nonzero(self.W))

    def _units(self):
        """Working-set ranks and non-zero flags per unit."""
        if self.info.is_group:
            return self.rank, unit_nonzero(self.w, self.info)
        return self.rank.reshape(-1, self.T).max(axis=1), np.any(self.W != 0, axis=1)

    def step(self, it, gap):
        # the exact step (polish) once no zero unit violates its condition more than the
        # support does: on an ill-conditioned support the epochs' last digits cost most
        # (a near-lasso with more active rows than samples ran 18M epochs); a few tries
        # that do not end exact, none along a path (as the single-task solver)
        if self.exact_tries > 0 and self._settled():
            if self.polish():
                return
            self.exact_tries -= 1
        rank, nonzero = self._units()
        ws = select_working_set(rank, nonzero, self.p0,
                                cheap_size=int(rank.size / (2 * E_MIN)), rng=self.rng)
        if it == 0 and self.ws_hint is not None:
            # warm start along a path: the first working set is usually the last; solve it
            # for the target gap at once
            self.prev_ws = ws
        tol_in = self._inner_tol(rank, nonzero, gap)
        self.prev_ws = ws
        feats = self._fill_curvatures(ws)
        # below the rounding of the gradients (~1e-16 sqrt(L_j) ||R||_sw) epochs go on
        # forever: a violation of 1e-14 of that scale is what float64 can certify
        scale = np.sqrt(float(self.lcol[feats].max(initial=0.0))
                        * float(np.dot(self.R.ravel() ** 2, np.tile(self.sw, self.T))))
        tol_in = max(tol_in, 1e-14 * scale)
        st = self.store
        ep, _ = multitask_cd(self.info.spec, *st.args, self.sw, self.uniform, self.R, self.w,
                             self.b, self.fit_intercept, self.lc, self.xm, ws,
                             self.max_epochs, tol_in, self.anderson, self.gap_tol_in)
        self.n_epochs += ep

    def _settled(self):
        nonzero = self._units()[1]
        return bool(nonzero.any()) and (self.scores[~nonzero].max(initial=0.0)
                                        <= self.scores[nonzero].max())

    def polish(self):
        """At convergence, the minimizer over the rows reached and the zero rows that
        violate their condition (Newton's method on them, the entering rows started at
        their block soft-threshold step, see :func:`~._exact.row_sparse_minimizer`) for
        the row-wise penalties,
        when it costs at most :func:`~._exact.exact_budget` of two passes over ``X``
        (:func:`~._exact.row_step_cost`); the next check certifies it. Returns whether it
        moved."""
        store, T, sw = self.store, self.T, self.sw
        if self.scores.max(initial=0.0) <= 1e-13 * float(np.abs(self.Xt).max(initial=0.0)):
            return False  # (every condition holds to rounding already)
        cand = row_candidate(self.info.spec, self.W, self.Xt)
        if cand is None:
            return False
        S, a, beta = cand
        k = S.size
        x_nnz = store.n * store.p if store.dense else int(store.indptr[-1])
        if row_step_cost(k, T) + store.n * k * (k + 1) / 2 > exact_budget(2 * x_nnz * T,
                                                                            self.tol):
            return False
        HX, xm = support_moments(store, S, sw, self.fit_intercept and float(sw.sum()) > 0)
        if HX is None:
            return False
        V, exact = row_sparse_minimizer(HX, self.Xt[S], self.W[S], a, beta)
        if not exact:
            return False
        D = V - self.W[S]
        R_new = self.R - (support_product(store, S, D) - xm @ D).T
        spec = self.info.spec
        P_old = 0.5 * float(np.sum(sw * self.R * self.R)) + compiled_penalty_value(spec, self.w)
        old = self.W[S].copy()
        self.W[S] = V
        P_new = 0.5 * float(np.sum(sw * R_new * R_new)) + compiled_penalty_value(spec, self.w)
        if not P_new <= P_old + 1e-15 * abs(P_old):
            self.W[S] = old
            return False
        self.R = np.ascontiguousarray(R_new)
        if self.fit_intercept:
            self.b -= xm @ D
        self.n_epochs += 1  # (n_iter_ counts an exact step as one epoch)
        return True

    def result(self, **outcome):
        return SolverResult(coef=self.W, intercept=self.b if self.fit_intercept
                            else np.zeros(self.T), n_epochs=self.n_epochs,
                            gradient=-self.Xt, **outcome)

    # -- helpers -------------------------------------------------------------------------------
    def _inner_tol(self, rank, nonzero, gap):
        """A fraction of the current largest violation; smaller each time the previous
        working set already held the support and the violators (the outer iterations then
        only re-check the gap), and left to the working-set gap when that applies."""
        r0 = self.inner_tol_ratio
        if holds_core(nonzero, rank, self.prev_ws):
            self.ratio *= r0
            if self.gap_tol_in > 0:
                self.ratio = 0.0
            elif self.info.is_convex and gap > 0:
                self.ratio = min(self.ratio, max(0.1 * self.tol / gap,
                                                 1e-3 if gap < 1e4 * self.tol else 1e-2))
            elif self.info.is_convex and np.isnan(gap):
                # no dual point (every row unpenalized: least squares): the violation is
                # the only criterion, so the inner solve aims well below it at once
                self.ratio = min(self.ratio, 1e-3)
        else:
            self.ratio = r0
        tol_in = max(self.ratio, 1e-4) * float(self.scores.max(initial=0.0))
        if not self.info.is_convex:
            tol_in = max(tol_in, 0.3 * self.tol)
        return tol_in

    def _fill_curvatures(self, ws):
        info = self.info
        if info.is_group:
            feats = np.unique(ws_coords(info, ws) // self.T).astype(np.int64)
        else:
            feats = ws
        new = feats[self.lcol[feats] < 0]
        if new.size:
            if self.fit_intercept:
                weighted_col_moments(*self.store.args, new, self.sw, self.xm, self.lcol)
                # (as the single-task solver: a spread below 1e-7 of the mean is refused;
                # the outer gradient of X' Theta then lost the digits, and the solver ran
                # its max_iter: over 300 s for 60 x 8, mean 5, spread 1e-8, tol=1e-10)
                _check_spread(new, self.xm, self.lcol, float(self.sw.sum()))
            else:
                weighted_col_norms(*self.store.args, new, self.sw, self.lcol)
        if info.is_group:
            group_curvatures(info.spec, self.T, self.lcol, ws, self.lc)
        return feats
