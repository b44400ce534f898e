"""Coordinate descent with working sets for the Quadratic datafit (the state of the
shared outer loop, :func:`~._outer.outer_loop`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..datafits._validation import linear_predictor, xt_times
from ._columns import (
    center_gram,
    gather_block,
    weighted_col_moments,
    weighted_col_norms,
    xt_dot_cols,
)
from ._epochs import wls_cd
from ._exact import (
    MAX_INEXACT,
    Candidate,
    GroupCandidate,
    exact_budget,
    group_pieces,
    orthant_pieces,
    support_moments,
    support_product,
    takes_exact_step,
)
from ._gap import GAP_STOP_MIN_TOL
from ._gram import gram_cd
from ._outer import SolverResult, holds_core, select_working_set, unit_nonzero, ws_coords
from ._units import compiled_dual_conj, compiled_penalty_value, outer_pass

# Working-set sizing and inner tolerances of the Quadratic solver (tuned on the benchmark
# problems of DESIGN.md):
# - an epoch on a working set of ``n_units / (2 * E_MIN)`` units costs about 1 / E_MIN of a
#   full pass over X (uniform column densities): working sets up to that size are cheap
#   and are used from the start, whatever the support doubling rule says;
# - the first inner solve on a new working set stops at a largest violation of
#   ``inner_tol_ratio * min(1, E_REF / e)`` times the current one, ``e`` being the number
#   of its epochs one full pass costs: tighter when epochs are cheap;
# - inner solves also stop when the working-set gap is GAP_FRAC of the target, for
#   tol >= GAP_STOP_MIN_TOL (see QuadraticCD).
E_MIN = 20.0
E_REF = 1.0
GAP_FRAC = 0.5


def _dense_columns(store, cols):
    if store.dense:
        X = store.data.reshape((store.n, store.p), order="F")
        return np.asarray(X[:, cols], dtype=np.float64)
    Xs = sp.csc_matrix((store.data, store.indices, store.indptr), shape=(store.n, store.p))
    return Xs[:, cols].toarray().astype(np.float64)


def group_lipschitz(store, spec, sw, xm=None, col=None):
    """``L_g = ||X_g.T diag(sw) X_g||_2`` for every group (exact spectral norm); with the
    weighted column means ``xm`` (filled here, length ``n_features``), of the centered
    columns ``X_g - xm_g`` instead (see wls_cd's centered mode). ``col`` (optional, length
    ``n_features``) receives the columns' (centered) weighted sums of squares."""
    n_groups = spec.grp_ptr.shape[0] - 1
    out = np.zeros(n_groups)
    col = np.empty(store.p) if col is None else col
    every = np.arange(store.p, dtype=np.int64)
    if xm is None:
        weighted_col_norms(*store.args, every, sw, col)
    else:
        weighted_col_moments(*store.args, every, sw, xm, col)
    root = np.sqrt(sw)
    for g in range(n_groups):
        idx = spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]
        if idx.size == 1:
            out[g] = col[idx[0]]
        elif idx.size > 1:
            A = _dense_columns(store, idx)
            if xm is not None:
                A -= xm[idx]
            out[g] = np.linalg.norm(A * root[:, None], 2) ** 2
    return out


def _check_spread(cols, mean, cvar, S):
    """Refuse a column whose spread is below 1e-7 of its mean (and not constant: the
    moments call a spread below 1e-12 of the mean zero): float64 keeps fewer than 8
    digits of its variation around the mean, and coordinate descent with an intercept
    diverged there (measured: mean 1e8, unit spread)."""
    v, m2 = cvar[cols], mean[cols] ** 2 * S
    bad = np.flatnonzero((v > 0) & (v < 1e-14 * m2))
    if bad.size:
        j = int(cols[bad[0]])
        raise ValueError(
            f"X column {j} has mean {mean[j]:.3g} and spread {np.sqrt(cvar[j] / S):.3g}: "
            "float64 keeps too few digits of its variation around the mean to fit an "
            "intercept; center X first (X - X.mean(axis=0)) or use fit_intercept=False")


class GramCache:
    """Inner products ``X_j.T diag(sw) X_k`` (and ``X_j.T sw``) of the columns that entered a
    working set along a path (dense X, fixed sample weights): each pair is computed once
    for the whole path, by BLAS, as the columns first enter (glmnet's covariance updates).
    """

    def __init__(self, store, sw, max_cols=4000):
        self.store = store
        self.root = np.sqrt(sw)
        self.sw = sw
        self.pos = np.full(store.p, -1, dtype=np.int64)
        self.n_cols = 0
        self.max_cols = int(max_cols)
        self.A = np.empty((store.n, 0), order="F")  # sqrt(sw) * X[:, cols]
        self.G = np.empty((0, 0), order="F")
        self.c = np.empty(0)

    @classmethod
    def from_gram(cls, store, sw, G):
        """A cache holding every column's products already: ``G = X.T diag(sw) X``."""
        cache = cls(store, sw, max_cols=store.p)
        cache.G = np.asfortranarray(G)
        cache.c = xt_times(store, np.ascontiguousarray(sw, dtype=np.float64))
        cache.pos = np.arange(store.p, dtype=np.int64)
        cache.n_cols = store.p
        return cache

    def fits(self, ws):
        return self.n_cols + int(np.count_nonzero(self.pos[ws] < 0)) <= self.max_cols

    def get(self, ws):
        """``(G_ws, c_ws)`` for the columns ``ws`` (a fresh Fortran copy of the block)."""
        new = ws[self.pos[ws] < 0]
        if new.size:
            st = self.store
            An = np.asfortranarray(_dense_columns(st, new) * self.root[:, None])
            k0, k1 = self.n_cols, self.n_cols + new.size
            if k1 > self.G.shape[0]:
                # first guess: a path's working sets rarely outgrow twice the rows (the
                # Lasso support has at most n features); then grow by 1.5x (each growth
                # allocates and copies the whole block)
                first = min(self.max_cols, st.p, 2 * st.n)
                cap = min(max(3 * self.G.shape[0] // 2, k1, first), max(self.max_cols, k1))
                G = np.empty((cap, cap), order="F")
                G[:k0, :k0] = self.G[:k0, :k0]
                A = np.empty((st.n, cap), order="F")
                A[:, :k0] = self.A[:, :k0]
                c = np.empty(cap)
                c[:k0] = self.c[:k0]
                self.G, self.A, self.c = G, A, c
            cross = self.A[:, :k0].T @ An
            self.G[:k0, k0:k1] = cross
            self.G[k0:k1, :k0] = cross.T
            self.G[k0:k1, k0:k1] = An.T @ An
            self.A[:, k0:k1] = An
            self.c[k0:k1] = An.T @ self.root
            self.pos[new] = np.arange(k0, k1)
            self.n_cols = k1
        idx = self.pos[ws]
        return gather_block(self.G, idx), self.c[idx].copy()


#: A sparse ``X`` takes the Gram route along a path when its working-set columns, made
#: dense, fit in this many entries (``n_samples * min(n_features, 2 n_samples)``): then
#: sparse and dense ``X`` follow the same arithmetic (scikit-learn's tests compare them to
#: 1e-7), and beyond it the dense copies would cost more than they save.
SPARSE_GRAM_MAX_ENTRIES = 2 ** 22


def takes_gram_route(store):
    """Whether the working sets of a least-squares fit on ``store`` are solved in covariance
    form (a path's, and a single fit's unless ``precompute=False``)."""
    return store.dense or store.n * min(store.p, 2 * store.n) <= SPARSE_GRAM_MAX_ENTRIES


def gram_cache(store, sw, precompute="auto"):
    """The :class:`GramCache` of a dense ``X`` for scikit-learn's ``precompute``: None for
    False; filled as columns enter for True or "auto"; for an array, that Gram matrix
    ``X.T @ X`` (of ``X * sqrt(sw)`` with the weights summing to ``n_samples``, as
    scikit-learn scales it), used as given: the outer iterations still measure the
    duality gap on ``X`` itself, so a wrong matrix cannot pass as a solution."""
    if isinstance(precompute, str) or isinstance(precompute, (bool, np.bool_)):
        return GramCache(store, sw) if precompute in (True, "auto") else None
    G = np.asarray(precompute, dtype=np.float64)
    if G.shape != (store.p, store.p) or not np.all(np.isfinite(G)):
        raise ValueError(f"precompute: a Gram matrix must be a finite ({store.p}, "
                         f"{store.p}) array (X.T @ X), got shape {G.shape}")
    return GramCache.from_gram(store, sw, G / store.n)


class QuadraticCD:
    """Working-set coordinate descent on ``1/(2) sum_i sw_i (y_i - x_i w - b)^2 + pen(w)``
    (``sum sw = 1``): the state of :func:`~._outer.outer_loop`.

    With an intercept and a separable penalty, the inner solves run in wls_cd's centered
    mode (weighted means and centered curvatures filled lazily for the working sets).
    ``col_norms``: an array of length ``n_features`` holding ``sum_i sw_i X_ij^2`` or -1
    where not computed yet, filled in place (a path shares it). ``gram``: a
    :class:`GramCache` shared along a path (dense X): the working-set subproblems are then
    solved in covariance form. ``xt_init``: ``X.T @ theta`` at the start point, which
    spares the first pass over X.
    """

    def __init__(self, store, y, sw, uniform, info, w, b, P0, *, fit_intercept, tol, p0,
                 ws_hint, max_epochs, anderson, inner_tol_ratio, col_norms=None, gram=None,
                 xt_init=None, rng=None):
        self.store, self.y, self.sw, self.uniform, self.info = store, y, sw, uniform, info
        self.w, self.fit_intercept, self.tol, self.p0 = w, fit_intercept, tol, p0
        self.max_epochs, self.anderson, self.inner_tol_ratio = max_epochs, anderson, \
            inner_tol_ratio
        self.ws_hint, self.gram, self.xt_init, self.rng = ws_hint, gram, xt_init, rng
        spec, nu = info.spec, info.n_units
        self.centered = fit_intercept and not info.is_group
        self.xm = np.zeros(store.p) if fit_intercept else np.zeros(0)
        if info.is_group:
            # (with an intercept, the columns' centered moments, for _check_spread)
            self.spread = np.empty(store.p) if fit_intercept else None
            self.lc = group_lipschitz(store, spec, sw, self.xm if fit_intercept else None,
                                      self.spread)
        else:
            # filled lazily for the columns that enter a working set (-1 = not computed
            # yet): most columns of a sparse problem never do; a path shares one array
            self.lc = np.full(store.p, -1.0) if col_norms is None else col_norms
        self.lcc = np.full(store.p, -1.0) if self.centered else self.lc
        self.R = y - linear_predictor(store, w, b)
        self.b_arr = np.array([b], dtype=np.float64)
        self.scores, self.rank = np.empty(nu), np.empty(nu)
        self.Xt = np.empty(store.p)
        self.n_epochs, self.prev_ws, self.ratio, self.first = 0, None, inner_tol_ratio, True
        # Inner solves also stop when the working-set duality gap is half the target
        # (convex separable penalties penalizing every coordinate): more epochs on that
        # working set cannot lower the full gap further. Not for very small tol: who asks
        # for a gap near float64 precision wants the coefficients to many digits, and the
        # gap bounds their error only through its square root.
        self.gap_tol_in = 0.0
        if (not info.is_group and info.is_convex and info.free is None and P0 > 0
                and tol >= GAP_STOP_MIN_TOL):
            self.gap_tol_in = GAP_FRAC * tol * P0
        self.x_nnz = store.n * store.p if store.dense else int(store.indptr[-1])
        # the exact step on a settled support (see ._exact): the last support tried, and
        # the tries left that did not end exact
        self.exact_ok = takes_exact_step(info.spec)
        # (not along a path, ws_hint given: there its extra passes cost more than the
        # epochs they save, measured on bench_cv's LassoCV; the polish at convergence
        # stays)
        self.exact_tries = MAX_INEXACT if self.exact_ok and ws_hint is None else 0
        self.exact_key = None
        # the group penalties' exact step at convergence (Newton's method on the groups)
        self.group_pieces = group_pieces(info.spec, store.p) if info.is_group else None

    def optimality(self):
        if self.fit_intercept:
            c = float(np.dot(self.sw, self.R))  # exact minimization in the intercept
            self.b_arr[0] += c
            self.R -= c
        self.theta = self.sw * self.R
        if self.first and self.xt_init is not None:
            self.Xt[:] = self.xt_init
        else:
            self.Xt = xt_times(self.store, self.theta)
        self.first = False
        mx, self.scale = outer_pass(self.info, self.w, self.Xt, self.scores, self.rank)
        return mx

    def primal_dual(self):
        theta, R = self.theta, self.R
        P = 0.5 * float(np.dot(theta, R)) + compiled_penalty_value(self.info.spec, self.w)
        s = self.scale   # the dual scale at X.T theta, from the same pass as the scores
        conj = compiled_dual_conj(self.info.spec, self.Xt, self.info.free_or_empty, s)
        # the dual point is the rescaled residual, exactly as dual_gap() builds it, so the
        # gap reported here is the one benchmarks and tests recompute
        D = s * float(np.dot(theta, self.y)) - 0.5 * s * s * float(np.dot(theta, R)) - conj
        return P, D

    def nnz(self):
        return int(np.count_nonzero(self.w))

    def step(self, it, gap):
        if self.exact_tries > 0 and self._exact_step():
            return
        info, store = self.info, self.store
        nonzero = unit_nonzero(self.w, info)
        # A path's strong-rule set (ws_hint) is the top of ``rank`` at a warm start: the
        # size rule already takes its violators and the next 10%; forcing all of it made
        # working sets of 3x the support late in a path, where each epoch costs O(n |ws|)
        ws = select_working_set(self.rank, nonzero, self.p0,
                                cheap_size=int(info.n_units / (2 * E_MIN)), rng=self.rng)
        if it == 0 and self.ws_hint is not None:
            # warm start along a path: the strong rule already guessed the support, so the
            # first working set is usually the last; solve it for the target gap at once
            self.prev_ws = ws
        self._fill_curvatures(ws)
        tol_in = self._inner_tol(ws, nonzero, gap)
        self.prev_ws = ws
        ep = None
        if self.gram is not None and self.gap_tol_in > 0 and self.gram.fits(ws):
            ep = self._gram_inner(ws, tol_in)
        if ep is not None:
            self.n_epochs += ep
        else:
            ep, _ = wls_cd(info.spec, *store.args, self.sw, self.uniform, self.R, self.w,
                           self.b_arr, self.fit_intercept, self.lcc, self.xm, ws,
                           self.max_epochs, tol_in, self.anderson, self.gap_tol_in)
            self.n_epochs += ep

    def _exact_step(self):
        """The exact step of :mod:`._exact` on the support, once its zero coordinates
        satisfy their optimality conditions at least as well as the support does; returns
        whether it was taken (the outer iteration is then spent: its check comes next)."""
        nonzero = self.w != 0
        if not nonzero.any() or (self.scores[~nonzero].max(initial=0.0)
                                 > self.scores[nonzero].max()):
            return False
        outcome = self._exact_move(settled=False)
        if outcome is None or not outcome[1]:
            self.exact_tries -= 1
        return outcome is not None

    def polish(self):
        """At convergence, the exact step (when cheap): the minimizer over the support
        and signs reached (:meth:`_exact_move`; for the group penalties Newton's method on
        the non-zero groups, :meth:`_group_move`), which the next check certifies.
        Returns whether it moved."""
        if not np.any(self.w):
            return False
        if self.exact_ok:
            return self._exact_move(settled=True) is not None
        return self.group_pieces is not None and self._group_move()

    def _exact_move(self, settled):
        """Move to the minimizer of the objective over the points supported on ``S`` (the
        support and the coordinates violating their optimality condition, these entering
        on the side their gradient points to) with those signs
        (:func:`~._exact.restricted_minimizer`), when it costs at most two passes over X
        (:data:`~._exact.EXACT_MIN_BUDGET` at least; ``settled``, at convergence: the
        larger budget of :func:`~._exact.exact_budget` at a small ``tol``; during the outer
        loop a step on a large, unsettled set may land where coordinate descent crawls)
        and lowers the objective. Returns ``(objective, exact)``, or None when not
        moved."""
        if self._holds_to_rounding():
            return None
        cand = Candidate(self.info.spec, self.w, self.scores, self.Xt)
        if cand.key == self.exact_key or not cand.free.any():
            return None
        gram = self._affordable(cand.S, settled)
        if gram is None:
            return None
        self.exact_key = cand.key
        H, xm = self._support_hessian(cand.S, gram)
        if H is None:
            return None
        # (the gradient on S from the last check's X.T (sw R): the intercept is optimal
        # there, so it is that of the centered columns too)
        new, exact = cand.minimize(H, self.Xt)
        if new is None:
            return None
        P_new = self._move(cand.S, cand.wS, new, xm)
        if P_new is None:
            return None
        self.n_epochs += cand.solves  # (n_iter_ counts each linear solve as an epoch)
        return P_new, exact

    def _group_move(self):
        """At convergence, for a group penalty (:func:`~._exact.group_pieces`): Newton's
        method on the non-zero groups (:class:`~._exact.GroupCandidate`) under the budget
        of :meth:`_exact_move`, kept when it converged and lowers the objective. Returns
        whether it moved."""
        if self._holds_to_rounding():
            return False
        cand = GroupCandidate(self.group_pieces, self.w)
        gram = self._affordable(cand.S, True) if cand.S.size else None
        if gram is None:
            return False
        H, xm = self._support_hessian(cand.S, gram)
        if H is None:
            return False
        new, exact = cand.minimize(H, self.Xt)
        if not exact or self._move(cand.S, cand.wS, new, xm) is None:
            return False
        self.n_epochs += 1  # (n_iter_ counts an exact step as one epoch)
        return True

    def _holds_to_rounding(self):
        """Every optimality condition holds to the rounding of the gradients."""
        return self.scores.max(initial=0.0) <= 1e-13 * float(np.abs(self.Xt).max(initial=0.0))

    def _affordable(self, S, settled):
        """Whether the system on ``S`` fits :func:`~._exact.exact_budget` (two passes over
        X, more when ``settled`` at a small ``tol``): None when not, else whether the
        working sets' Gram entries hold it (no pass over X then)."""
        k = S.size
        gram = self.gram is not None and bool(np.all(self.gram.pos[S] >= 0))
        cost = k ** 3 / 3 + (0 if gram else self.store.n * k * (k + 1) / 2)
        if cost > exact_budget(2 * self.x_nnz, self.tol if settled else None):
            return None
        return gram

    def _support_hessian(self, S, gram):
        """``(H, xm)``: the weighted Gram matrix of the columns ``S`` (centered by their
        weighted means ``xm`` with an intercept), from the working sets' entries when
        ``gram``; ``H`` None when centering would lose half its digits."""
        sw, k = self.sw, S.size
        S_w = float(sw.sum())
        centered = self.fit_intercept and S_w > 0
        if not gram:
            return support_moments(self.store, S, sw, centered)
        H, cvec = self.gram.get(S)
        xm = cvec / S_w if centered else np.zeros(k)
        if centered and not center_gram(H, cvec, S_w, 1e-8):
            H = None
        return H, xm

    def _move(self, S, wS, new, xm):
        """Set ``w[S] = new`` (and the residual and intercept with it) when the objective
        does not increase; returns the new objective, or None (``w`` unchanged)."""
        w, sw, spec = self.w, self.sw, self.info.spec
        d = new - wS
        R_new = self.R - support_product(self.store, S, d)
        R_new += float(xm @ d)
        P_old = 0.5 * float(np.dot(sw * self.R, self.R)) + compiled_penalty_value(spec, w)
        w[S] = new
        P_new = 0.5 * float(np.dot(sw * R_new, R_new)) + compiled_penalty_value(spec, w)
        if not P_new <= P_old + 1e-15 * abs(P_old):
            w[S] = wS
            return None
        self.R = R_new
        if self.fit_intercept and float(sw.sum()) > 0:
            self.b_arr[0] -= float(xm @ d)
        return P_new

    def _inner_tol(self, ws, nonzero, gap):
        """A fraction of the current largest violation. When the support and the violators
        already sit in the previous working set, the outer iterations only re-check the
        gap, so ask more of each inner solve; for convex problems aim at the violation the
        target gap needs (the gap falls about linearly with it), by at most 100x at once
        while far from the target (the support may still move), 1000x when close."""
        r0 = self.inner_tol_ratio
        if holds_core(nonzero, self.rank, self.prev_ws):
            self.ratio *= r0
            if self.gap_tol_in > 0:
                self.ratio = 0.0  # the working-set gap decides when to stop
            elif self.info.is_convex and gap > 0:
                self.ratio = min(self.ratio, max(0.1 * self.tol / gap,
                                                 1e-3 if gap < 1e4 * self.tol else 1e-2))
        else:
            self.ratio = r0
            if self.gap_tol_in > 0:
                # An outer iteration (a pass over all of X) costs `e_ratio` epochs on the
                # working set: when epochs are cheap (a small working set of a large or
                # sparse X), solve more tightly rather than pay for more outer iterations
                st = self.store
                ws_nnz = ws.size * st.n if st.dense else int(
                    np.sum(st.indptr[ws + 1] - st.indptr[ws]))
                e_ratio = self.x_nnz / max(2 * ws_nnz, 1)
                self.ratio = r0 * min(1.0, E_REF / max(e_ratio, 1e-12))
        tol_in = max(self.ratio, 1e-4) * float(self.scores.max(initial=0.0))
        # no lower than float64 resolves: a violation of 1e-13 of the gradients' scale,
        # nor the rounding of a coordinate update, eps (L_j + beta_j) |w_j| (an inner solve
        # asked for less runs to max_epochs, at tol=0 in particular)
        tol_in = max(tol_in, 1e-13 * float(np.abs(self.Xt).max(initial=0.0)),
                     self._update_resolution(ws))
        if not self.info.is_convex:
            tol_in = max(tol_in, 0.3 * self.tol)
        return tol_in

    def _update_resolution(self, ws):
        """About the rounding of what the inner solve measures on ``ws``: ``4 eps`` times
        ``max_j (L_j + beta_j) |w_j|`` (``L`` the columns' curvatures, ``beta`` the
        penalty's, 0 when it is not quadratic on the orthants), and times ``sum_i sw_i
        |R_i|`` with an intercept (its gradient, in the units of ``y``: with ``X`` scaled
        by 1e-8 it is resolved 1e8 times more coarsely than the coefficients')."""
        eps4 = 4 * np.finfo(np.float64).eps
        out = eps4 * float(np.dot(self.sw, np.abs(self.R))) if self.fit_intercept else 0.0
        if self.info.is_group or not ws.size:
            return out
        curv = (self.lcc if self.centered else self.lc)[ws]
        pieces = orthant_pieces(self.info.spec, ws)
        beta = 0.0 if pieces is None else pieces[1]
        scale = np.maximum(curv, 0.0) + beta
        return max(out, eps4 * float(np.max(scale * np.abs(self.w[ws]))))

    def _fill_curvatures(self, ws):
        if self.info.is_group:
            if self.spread is not None:  # (as the separable penalties' columns below: a
                # group lasso with mean 5 and spread 1e-8 ran over 40 s at tol=1e-10)
                _check_spread(np.unique(ws_coords(self.info, ws)), self.xm, self.spread,
                              float(self.sw.sum()))
            return
        if self.centered:
            new_cols = ws[self.lcc[ws] < 0]
            if new_cols.size:
                weighted_col_moments(*self.store.args, new_cols, self.sw, self.xm, self.lcc)
                _check_spread(new_cols, self.xm, self.lcc, float(self.sw.sum()))
        else:
            new_cols = ws[self.lc[ws] < 0]
            if new_cols.size:
                weighted_col_norms(*self.store.args, new_cols, self.sw, self.lc)

    def _gram_inner(self, ws, tol_in):
        """The working-set solve in covariance form (see :func:`~._gram.gram_cd`); ``R``
        is brought up to date after. Returns the epochs, or None when the covariance form
        would lose the digits (the caller then solves on ``X``)."""
        store, sw, R, w, b_arr = self.store, self.sw, self.R, self.w, self.b_arr
        G, cvec = self.gram.get(ws)
        S = float(sw.sum())
        centered = False
        if self.fit_intercept and S > 0:
            # eliminate the intercept (see wls_cd's centered mode): optimal now, then moved
            # with every coefficient, which is CD on the centered Gram matrix with no
            # intercept step; unless centering G loses more than half of its digits (a
            # column's mean above 1e4 times its spread): then this working set is solved
            # on X, whose centered mode keeps them (the uncentered covariance form would
            # alternate coefficient and intercept steps, which crawl there)
            if not center_gram(G, cvec, S, 1e-8):  # in place (G is a fresh Fortran block)
                return None
            centered = True
            db = float(np.dot(sw, R)) / S
            b_arr[0] += db
            R -= db
        b_old = b_arr[0]  # R is up to date with it; what moves it from here is applied below
        q = xt_times_cols(store, ws, sw * R)
        w_loc = w[ws].copy()
        spec = self.info.spec
        if centered:
            ep, _ = gram_cd(spec, G, np.zeros_like(cvec), S, q, w_loc, np.zeros(1), False,
                            0.0, float(np.dot(sw * R, R)), ws, self.max_epochs, tol_in,
                            self.anderson, self.gap_tol_in)
            b_arr[0] -= float(np.dot(cvec, w_loc - w[ws])) / S
        else:
            ep, _ = gram_cd(spec, G, cvec, S, q, w_loc, b_arr, self.fit_intercept,
                            float(np.dot(sw, R)), float(np.dot(sw * R, R)), ws,
                            self.max_epochs, tol_in, self.anderson, self.gap_tol_in)
        moved = np.flatnonzero(w_loc != w[ws])
        if moved.size:
            cols = ws[moved]
            R -= _dense_columns(store, cols) @ (w_loc[moved] - w[cols])
            w[cols] = w_loc[moved]
        if b_arr[0] != b_old:
            R -= b_arr[0] - b_old
        return ep

    def result(self, **outcome):
        return SolverResult(coef=self.w, intercept=float(self.b_arr[0]) if self.fit_intercept
                            else 0.0, n_epochs=self.n_epochs, gradient=-self.Xt, **outcome)


def xt_times_cols(store, cols, v):
    """``X[:, cols].T @ v`` in float64."""
    out = np.zeros(store.p)
    xt_dot_cols(*store.args, cols, np.ascontiguousarray(v, dtype=np.float64), out)
    return out[cols]
