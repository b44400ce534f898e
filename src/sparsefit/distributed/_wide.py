r"""Wide least squares on dask input (more features than the covariance route takes):
screened working sets solved from their moments, certified by a KKT pass over every
feature.

For a penalty the coordinate-descent kernels take (``Lasso``, ``ElasticNet``,
``GroupLasso``, ``SparseGroupLasso``, and the non-convex ``MCPRegressor``,
``SCADRegressor``, ``LogSumRegressor``; with ``penalty_factor``, ``positive`` or
``bounds``; and ``MultiTaskLasso`` / ``MultiTaskElasticNet``, whose row-wise penalty
takes the rows of ``W`` as units, ``y`` and the residuals with a column per task) and

.. math:: P(w, b) = \frac{1}{2S}\sum_i s_i (y_i - x_i^\top w - b)^2 + \mathrm{pen}(w),

the work is done per *unit* of the penalty: a feature of a separable penalty, a group of
a group penalty, a row of ``W`` of a multi-task one (the per-unit violations, ranks and
dual terms of :mod:`sparsefit.solvers._units`, as the in-memory solvers use them). A
working set is a set of whole units; the limit counts their columns.

1. one pass at the null point gives the gradient :math:`g^0 = -X^\top s (y - \bar y)/S`
   over all :math:`p` features; the strong rule (Tibshirani et al., 2012) keeps the units
   that violate their optimality condition at zero for the penalty at strength
   :math:`2\lambda - \lambda_{\max}` (for the lasso: :math:`|g^0_j| \ge f_j (2\lambda -
   \lambda_{\max})`), at most half of ``sparsefit.gram_max_features`` columns (the units
   furthest into the model first; the unpenalized ones always);
2. one pass accumulates the :class:`~sparsefit.solvers.moments.Moments` of the kept
   columns only (``|W|^2`` numbers, the route of :mod:`sparsefit.distributed` for narrow
   data), and the problem restricted to them (the estimator with its groups, group
   weights, ``penalty_factor`` and ``bounds`` restricted to the kept units) is solved in
   covariance form;
3. one pass computes, at that solution, the gradient over **all** features, the loss and
   the dual objective: every unit outside the working set whose optimality condition
   fails joins it (back to 2); when none does, the duality gap of the full problem
   certifies the answer (the same stopping rule as :func:`~sparsefit.solvers.solve`);
   when the set is unchanged but not yet solved to enough digits, it is solved again from
   the same moments (no new pass). A non-convex penalty has no dual point: the largest
   violation over every unit stops it, as in :func:`~sparsefit.solvers.solve`.

With ``warm_start`` (and a ``coef_`` of the data's shape), the previous coefficients'
support joins the first working set and its solve starts from them, as the in-memory
solvers start from them.

The strong rule only orders the work; the KKT pass over every feature is what makes the
answer exact. A model whose support (with the violators) does not fit the limit is
refused with advice, after at most :data:`MAX_REBUILDS` rebuilds of the working set.
Several targets (a 2-D ``y``) of a single-task estimator are refused beyond the limit.

Three estimators compose the route: ``AdaptiveLasso`` (:func:`fit_wide_reweighted`: a
run per weighting, each from the previous solution, one null pass), ``RelaxedLasso``
(:func:`fit_wide_relaxed`: the relaxed fit from the last working set's moments) and
``PriorLasso`` (:func:`fit_wide_prior`: the prior features' least-squares fit from their
moments, then a run on the combined responses).
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from ..datafits import Quadratic
from ..linear_model._base import _check_bounds, finish_penalty
from ..solvers import solve
from ..solvers._common import describe
from ..solvers._gap import StopRule
from ..solvers._outer import SolverResult
from ..solvers._units import (
    compiled_dual_conj,
    compiled_penalty_value,
    compiled_unit_scores,
    outer_pass,
)
from ..solvers.covariance import solve_covariance
from ..solvers.moments import Moments
from ._pass import (
    TooWideError,
    as_block,
    as_vector,
    check_chunk,
    columns_limit,
    gather_columns,
    gram_max_features,
    moments_pass,
    one_pass_limit,
    run,
    tree_reduce,
)

#: Multiply-adds the client may spend on the moments of gathered rows (``WideStart.rows``)
#: to solve a working set in covariance form (where the exact step on the support is
#: cheap: the in-memory answer to the last digits); beyond, the set is solved from the rows.
ROWS_MOMENTS_FLOPS = 2 ** 30

#: How many times the working set may be rebuilt at the limit (its zero coefficients and
#: smallest ones replaced by violators) before the model is refused as too wide.
MAX_REBUILDS = 5

#: Columns of the first working set when the chunks are persisted in the workers' memory
#: (a round of moments and KKT passes then reads no file): the screened units beyond it
#: wait for the KKT pass. Reading from files, the first set may take half the limit.
FIRST_IN_MEMORY = 512


@dataclass
class ResidualPart:
    """Sums over a chunk's rows at a point ``(w, b)``: ``r = y - X w - b`` (with several
    targets, ``xr`` and ``sr`` have a column each, ``srr`` and ``sry`` sum over them)."""

    weight: float  # sum s
    xs: np.ndarray  # X' s
    xr: np.ndarray  # X' (s r)
    sr: float | np.ndarray  # sum s r
    srr: float  # sum s r^2
    sry: float  # sum s r y

    def combine(self, o):
        return ResidualPart(self.weight + o.weight, self.xs + o.xs, self.xr + o.xr,
                            self.sr + o.sr, self.srr + o.srr, self.sry + o.sry)


def chunk_residual(X, y, sw, index, start, support, coef, intercept):
    """One chunk's :class:`ResidualPart` (``coef`` the values on the columns ``support``:
    one row each, a column per target, when 2-D); checks every value of the chunk."""
    X, sw = as_block(X), as_vector(sw)
    y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], coef.shape[1]) if coef.ndim == 2 else \
        as_vector(y)
    check_chunk(index, start, X, y, sw)
    sw = np.ones(X.shape[0]) if sw is None else sw
    u = np.asarray(X[:, support] @ coef).reshape(y.shape) if support.size else 0.0
    r = y - u - intercept
    sr = (r.T * sw).T
    return ResidualPart(float(sw.sum()), np.asarray(X.T @ sw).ravel(),
                        np.asarray(X.T @ sr).reshape((X.shape[1],) + y.shape[1:]),
                        sr.sum(axis=0), float(np.sum(sr * r)), float(np.sum(sr * y)))


def _combine(a, b):
    return a.combine(b)


@dataclass
class WideStart:
    """What a caller of :meth:`WideLasso.run` already has, to skip passes: ``null`` the
    null point of all the rows ``(gradient, sum s r^2, sum s, sum s y)`` (``r`` the
    residual of the optimal intercept alone; ``sum s y`` with no intercept), ``units`` a
    first working set and ``moments`` the :class:`~sparsefit.solvers.moments.Moments` of
    its columns (sorted); or ``rows``, ``(cols, X[:, cols], y, sample_weight)`` gathered on
    the client (a wide CV's rows route): the restricted problems are then solved from the
    rows (columns outside ``cols`` gathered in one more pass), and the working set may hold
    what the client's budget does (``sparsefit.gather_max_bytes``; ``counts``, the stored
    entries of every column when the chunks are sparse, measure it)."""

    null: tuple | None = None
    units: np.ndarray | None = None
    moments: object = None
    rows: tuple | None = None
    counts: np.ndarray | None = None


class WideLasso:
    """The working-set loop of the module docstring for a fitted-to-be estimator.

    Its units are the penalty's: the features of a separable penalty, the groups of a
    group penalty, the rows of ``W`` of the multi-task one. Screening, the working set
    and the KKT pass are per unit; the limit counts columns.

    Parameters
    ----------
    est : SparseLinearRegressor or MultiTaskElasticNet
        The estimator to fit (its ``_penalty`` separable or a group penalty; for the
        multi-task ones, the row-wise penalty of
        :class:`~sparsefit.linear_model._multitask.RowPenalty`).
    data : DaskData
        The dask input (see :mod:`sparsefit.distributed._data`).
    n_targets : int, optional
        The tasks of a multi-task estimator (a 2-D ``y``): the coefficients are then the
        rows of ``W`` (n_features, n_tasks), one unit and one column each.
    """

    def __init__(self, est, data, n_targets=None):
        self.est, self.data = est, data
        self.p = data.n_features
        self.T = n_targets
        self.n_coords = self.p * (n_targets or 1)
        self.fit_intercept = bool(est.fit_intercept)
        if n_targets is None:
            self.penalty = finish_penalty(est, est._penalty(self.p), self.p)
        else:
            from ..linear_model._multitask import RowPenalty

            self.penalty = RowPenalty(est._l1_ratio(), self.p, n_targets)(float(est.alpha))
        self.info = describe(self.penalty, self.n_coords)
        self.offsets = data.row_offsets(need=False)
        # the exact step's budget: what solve() on all of a dense X in memory allows (two
        # passes); the default for sparse chunks, whose non-zeros are not counted
        n = data.X.shape[0]
        n = int(n) if np.isfinite(n) else (0 if self.offsets is None else int(self.offsets[-1]))
        dense = not sp.issparse(getattr(data.X, "_meta", None))
        self.exact_budget = 2.0 * n * self.p if dense else 0.0
        self.label = type(est).__name__
        self.limit = one_pass_limit()
        self.n_passes = 0
        self.sy = None  # sum s y, from the first pass
        self.rebuilds = 0
        self.rows = None  # (cols, X[:, cols], y, sw) on the client: see WideStart
        self._init_units()

    def _init_units(self):
        """The units of the penalty: ``seg`` (each coefficient's unit), ``col_unit``
        (each column's), ``sizes`` (each unit's number of columns) and the free
        (unpenalized) units."""
        info = self.info
        self.seg = np.arange(self.n_coords)
        if info.is_group:
            ptr, idx = np.asarray(info.spec.grp_ptr), np.asarray(info.spec.grp_idx)
            self.seg[idx] = np.repeat(np.arange(info.n_units), np.diff(ptr))
        self.col_unit = np.arange(self.p) if self.T is not None else self.seg
        self.sizes = np.bincount(self.col_unit, minlength=info.n_units)
        self.free_units = info.free if info.free is not None else \
            np.zeros(info.n_units, dtype=bool)

    def _cols(self, units):
        """The columns of ``units``, sorted."""
        if not self.info.is_group or self.T is not None:
            return np.sort(np.asarray(units, dtype=np.int64))
        return np.flatnonzero(np.isin(self.col_unit, units))

    def _rows(self, w):
        """The coefficients by column: ``w`` itself, or its rows ``(p, n_targets)``."""
        return w if self.T is None else w.reshape(self.p, self.T)

    def _intercept(self, b):
        if self.T is None:
            return float(b) if self.fit_intercept else 0.0
        if not self.fit_intercept:
            return np.zeros(self.T)
        return np.array(np.broadcast_to(b, (self.T,)), dtype=np.float64)

    def _n_cols(self, units):
        return int(self.sizes[units].sum())

    def _prefix(self, units, budget):
        """The first of ``units`` (in their order) whose columns fit ``budget``."""
        return units[np.cumsum(self.sizes[units]) <= budget]

    def residual_pass(self, w, b):
        """One pass at ``(w, b)``: the sums of :class:`ResidualPart` over all rows, with the
        intercept re-fitted for ``w`` (``b`` plus the weighted mean residual); returns the
        part, the intercept and the total weight."""
        rows = self._rows(w)
        support = np.flatnonzero(rows if rows.ndim == 1 else np.any(rows != 0, axis=1))
        parts = [dask.delayed(chunk_residual, pure=True)(
            Xb, yb, wb, i, None if self.offsets is None else int(self.offsets[i]), support,
            rows[support], b) for i, (Xb, yb, wb, _) in enumerate(self.data.blocks())]
        self.n_passes += 1
        out = run(tree_reduce(parts, _combine), self.label)
        S = out.weight
        if S <= 0:
            raise ValueError("sample_weight: every sample has weight 0")
        if self.sy is None:
            self.sy = out.sr  # the first pass is at w = 0, b = 0: there r = y
        if self.fit_intercept:  # r - c, c the weighted mean residual (one per target)
            c = out.sr / S
            out = ResidualPart(S, out.xs, out.xr - np.multiply.outer(out.xs, c), 0.0 * c,
                               float(out.srr - 2 * np.dot(c, out.sr) + np.dot(c, c) * S),
                               float(out.sry - np.dot(c, self.sy)))
            b = b + c
        return out, b, S

    def run(self, tol, max_iter, w_init=None, start=None):
        """The loop of the module docstring from ``w = 0`` (or ``w_init``): a
        :class:`SolverResult`.

        Parameters
        ----------
        tol : float
            The stopping tolerance of :func:`~sparsefit.solvers.solve` (relative duality
            gap of the full problem; the largest violation for a non-convex penalty).
        max_iter : int
            The most working sets (KKT passes over every feature).
        w_init : ndarray of shape (n_coords,), optional
            A start (``warm_start``: the previous ``coef_``; for the multi-task
            estimators, its rows of ``W`` raveled). Its support joins the first working
            set (the largest first, within the limit) and the first restricted solve starts
            from it. The null pass still runs: it gives the null objective of the stopping
            rule and the strong rule. The intercept follows from ``w`` (covariance form).
        start : WideStart, optional
            What a caller already has (a CV estimator's refit: the null point of all the
            rows, its last working set and the moments of its columns): the passes that
            would compute them are skipped.

        Returns
        -------
        SolverResult
        """
        info = self.info
        w = np.zeros(self.n_coords)
        start = WideStart() if start is None else start
        if start.null is not None:
            grad, srr, S, self.sy = start.null
        else:
            st, b, S = self.residual_pass(w, 0.0)  # the null point (optimal intercept)
            grad, srr = -st.xr.ravel() / S, st.srr
        self.null_point = (grad, srr, S, self.sy)  # (a WideStart's null for another fit)
        g0 = float(np.max(np.abs(grad), initial=0.0))
        rule = StopRule(info, tol, 0.5 * srr / S, lambda: g0)
        self.P0 = rule.P0
        if start.rows is not None and self.T is None:
            self.rows = start.rows
            self.limit = max(self.limit, columns_limit(start.rows[1].shape[0], self.p,
                                                       start.counts))
        if start.units is not None and self._n_cols(start.units) <= self.limit:
            ws = np.asarray(start.units, dtype=np.int64)
            if start.moments is not None:
                self._moments_of = (self._cols(ws), start.moments)
        else:
            ws = self._strong_set(grad)
        if w_init is not None:
            ws = self._with_support(ws, w_init)
            w[np.isin(self.seg, ws)] = w_init[np.isin(self.seg, ws)]
        scores, rank = np.empty(info.n_units), np.empty(info.n_units)
        sub_tol = tol
        crit, gap, converged = np.nan, np.nan, False
        history = []
        self.n_epochs = 0  # summed over the working-set solves (the estimators' n_iter_)
        while len(history) < max_iter:
            w, b_ws = self._solve_on(ws, w, sub_tol, max_iter)
            st, b, S = self.residual_pass(w, b_ws)
            v = np.ascontiguousarray(st.xr.ravel() / S)   # X.T theta: the gradient is -v
            grad = -v
            kkt, s = outer_pass(info, w, v, scores, rank)
            P = 0.5 * st.srr / S + compiled_penalty_value(info.spec, w)
            D = None  # no dual point for a non-convex penalty (stops on the violation)
            if rule.uses_gap:
                conj = compiled_dual_conj(info.spec, v, info.free_or_empty, s)
                D = s * st.sry / S - 0.5 * s * s * st.srr / S - conj
            crit, gap = rule.measure(kkt, scores, P, D)
            history.append(crit)
            stop, converged, ws, sub_tol = self._next_set(ws, w, scores, rule, crit, kkt,
                                                          sub_tol)
            if stop:
                break
        return SolverResult(coef=self._rows(w), intercept=self._intercept(b),
                            dual_gap=gap, n_iter=len(history), converged=converged, stop_crit=crit,
                            kkt_max=float(scores.max(initial=0.0)), history=history,
                            gradient=grad, null_primal=self.P0, n_epochs=self.n_epochs)

    def _next_set(self, ws, w, scores, rule, crit, kkt, sub_tol):
        """After a KKT pass over every unit: ``(stop, converged, ws, sub_tol)``. The
        violators outside the working set join it; when there are none, stop (converged,
        or at float64's floor on the working set) or solve the working set to more digits
        (its gap bounds the full one)."""
        outside = np.ones(self.info.n_units, dtype=bool)
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
        """The basic strong rule at the null point, per unit: keep the units that violate
        their optimality condition at zero for the penalty at strength ``2 a - a_max``
        (``a`` its strength, ``a_max`` the smallest one zeroing every unit at ``grad``):
        for the lasso, ``|g_j| >= f_j (2 a - a_max)``. At most half the limit's columns
        (the units furthest into the model first), with every unpenalized unit."""
        free = self.free_units
        n_free = self._n_cols(np.flatnonzero(free))
        if n_free > self.limit:
            raise TooWideError(self._too_wide(n_free, "unpenalized features"))
        pen, g = self.penalty, np.ascontiguousarray(grad, dtype=np.float64)
        scores, rank = np.empty(self.info.n_units), np.empty(self.info.n_units)
        zero = np.zeros(self.n_coords)
        strong = 2 * float(pen.strength) - float(pen.alpha_max(g))
        keep = np.ones(self.info.n_units, dtype=bool)
        if strong > 0:
            compiled_unit_scores(describe(pen.with_strength(strong), self.n_coords).spec,
                                 zero, g, scores, rank)
            keep = free | (rank >= 0)
        compiled_unit_scores(self.info.spec, zero, g, scores, rank)  # the order: the rank
        ws = np.flatnonzero(keep)
        # room to grow by the KKT violators; when the chunks are in memory (persisted), a
        # round costs little, so start small (the moments of the set cost |ws|^2 per chunk)
        first = self.limit // 2
        if self.data.persisted_bytes:
            first = min(first, FIRST_IN_MEMORY)
        cap = max(first, n_free)
        if self._n_cols(ws) > cap:
            order = np.argsort(-np.where(free[ws], np.inf, rank[ws]), kind="stable")
            ws = np.sort(self._prefix(ws[order], cap))
        return ws

    def _with_support(self, ws, w):
        """``ws`` with the units where ``w`` is non-zero (a warm start): within the limit,
        the unpenalized units, then the largest of ``w``'s, then those of ``ws``."""
        norms = np.sqrt(np.bincount(self.seg, w * w, minlength=self.info.n_units))
        support = np.flatnonzero(norms)
        merged = np.union1d(ws, support)
        if self._n_cols(merged) <= self.limit:
            return merged
        free = np.flatnonzero(self.free_units)
        big = np.setdiff1d(support, free)
        big = self._prefix(big[np.argsort(-norms[big], kind="stable")],
                           self.limit - self._n_cols(free))
        kept = np.union1d(free, big)
        rest = np.setdiff1d(ws, kept)
        return np.union1d(kept, self._prefix(rest, self.limit - self._n_cols(kept)))

    def _too_wide(self, k, what):
        return (f"{self.label} on dask input: the working set needs {k} {what}, more than "
                f"the {self.limit} columns whose moments a pass holds "
                f"(sparsefit.gram_max_features={gram_max_features()} and the workers' "
                "memory_limit); raise alpha (a sparser model), "
                "raise the limit in dask.config if the workers hold its k^2 numbers, or "
                "select features first")

    def _grow(self, ws, violators, scores, w):
        """Add the violating units, the worst first, at most as many as the set holds (at
        least 100). When their columns pass the limit, the set is rebuilt: the unpenalized
        units, the largest ones (by norm) and the worst violators (half the room each, at
        least). Which set is solved changes only the speed: the KKT pass over every
        feature decides when the answer is exact."""
        take = min(max(ws.size, 100), violators.size)
        worst = violators[np.argsort(-scores[violators], kind="stable")[:take]]
        grown = np.union1d(ws, worst)
        if self._n_cols(grown) <= self.limit:
            return grown
        self.rebuilds += 1
        norms = np.sqrt(np.bincount(self.seg, w * w, minlength=self.info.n_units))
        if self.rebuilds > MAX_REBUILDS:
            raise TooWideError(self._too_wide(
                self._n_cols(np.flatnonzero(norms)) + self._n_cols(violators),
                "features (support and KKT violators)"))
        free = np.flatnonzero(self.free_units)
        room = self.limit - self._n_cols(free)
        nz = np.setdiff1d(np.flatnonzero(norms), free)
        budget = min(self._n_cols(worst), max(room // 2, room - self._n_cols(nz)))
        first = int(self.sizes[worst[0]])  # the worst violator at least, when it fits
        new = self._prefix(worst, max(budget, first) if first <= room else budget)
        big = self._prefix(nz[np.argsort(-norms[nz], kind="stable")],
                           room - self._n_cols(new))
        return np.union1d(np.union1d(free, big), new)

    def _solve_on(self, ws, w, tol, max_iter):
        """The problem restricted to the units ``ws``, from the data of their columns
        (:meth:`_restricted_data`): ``(w, b)`` with ``w`` zero outside them."""
        cols = self._cols(ws)
        out = np.zeros(self.n_coords)
        if cols.size == 0:  # nothing fits yet: the KKT pass re-fits the intercept
            return out, self._intercept(0.0)
        datafit, pen = self._sub_problem(ws, cols)
        data = self._restricted_data(cols)
        opts = dict(fit_intercept=self.fit_intercept, w_init=self._rows(w)[cols], tol=tol,
                    max_iter=max(max_iter, 100))
        if isinstance(data, Moments):  # the exact step may cost what it would on all of X
            res = solve_covariance(data, datafit, pen, exact_budget=self.exact_budget, **opts)
        else:
            X, y, sw = data
            res = solve(X, y, datafit, pen, sample_weight=sw, **opts)
        self.n_epochs += int(res.n_epochs)
        self._rows(out)[cols] = res.coef
        return out, self._intercept(res.intercept)

    def _restricted_data(self, cols):
        """The data of the problem on the columns ``cols``: their moments (the previous
        set's when it is the same, solved to more digits: no pass; from the gathered rows
        on the client when that costs at most :data:`ROWS_MOMENTS_FLOPS`; else one pass),
        or ``(X[:, cols], y, sw)`` from the gathered rows when their moments would cost
        more."""
        cached = getattr(self, "_moments_of", None)
        if cached is not None and np.array_equal(cached[0], cols):
            return cached[1]
        if self.rows is not None:
            X, y, sw = self._rows_of(cols)
            if X.shape[0] * cols.size ** 2 > 2 * ROWS_MOMENTS_FLOPS:
                return X, y, sw
            mom = Moments.from_arrays(X, y, sw)
        else:
            mom = moments_pass(self.data, label=self.label, cols=cols)
        self._moments_of = (cols, mom)
        return mom

    def _rows_of(self, cols):
        """``(X[:, cols], y, sw)`` from the gathered rows, gathering them again (one pass)
        when they do not hold every column of ``cols``."""
        held, X, y, sw = self.rows
        if not np.all(np.isin(cols, held)):
            self.n_passes += 1
            X, y, sw, _ = gather_columns(self.data, cols, None, self.offsets, self.label)
            self.rows = held, X, y, sw = cols, X, y, sw
        idx = np.searchsorted(held, cols)
        return (X if idx.size == held.size else X[:, idx]), y, sw

    def _sub_problem(self, ws, cols):
        """The datafit and the penalty of the problem restricted to the units ``ws``."""
        if self.T is not None:  # the rows of W: no per-unit options
            from ..datafits import MultiTaskQuadratic
            from ..linear_model._multitask import RowPenalty

            return MultiTaskQuadratic(self.T), RowPenalty(
                self.est._l1_ratio(), cols.size, self.T)(float(self.est.alpha))
        sub = self._sub_estimator(ws, cols)
        return Quadratic(), finish_penalty(sub, sub._penalty(cols.size), cols.size)

    def _sub_estimator(self, ws, cols=None):
        """The estimator restricted to the units ``ws`` (columns ``cols``): its
        per-unit ``penalty_factor``, its per-feature ``bounds``, and for a group penalty
        the kept groups (indices into ``cols``) with their weights."""
        est = self.est
        cols = self._cols(ws) if cols is None else cols
        params = {}
        if getattr(est, "penalty_factor", None) is not None:  # one per unit
            params["penalty_factor"] = np.asarray(est.penalty_factor, dtype=np.float64)[ws]
        bounds = _check_bounds(getattr(est, "bounds", None), self.p)
        if bounds is not None:
            params["bounds"] = tuple(b if b.size == 1 else b[cols] for b in bounds)
        if self.info.is_group:
            spec = est._penalty(self.p).numba_spec()  # the groups and their weights
            at = np.searchsorted(cols, spec.grp_idx)  # each kept column's place in cols
            params["groups"] = [at[spec.grp_ptr[g]:spec.grp_ptr[g + 1]] for g in ws]
            params["weights"] = np.asarray(spec.weights, dtype=np.float64)[ws]
        sub = clone(est).set_params(**params)
        weights = getattr(est, "_current_weights", None)  # AdaptiveLasso's weighting now
        if weights is not None:
            sub._current_weights = np.asarray(weights, dtype=np.float64)[cols]
        return sub


def _run(est, data, n_targets=None, start=None):
    """:meth:`WideLasso.run` at the estimator's ``tol`` and ``max_iter``, with a
    ConvergenceWarning when it stops short."""
    from ..linear_model._base import warm_start_point

    p = data.n_features
    if n_targets is None:
        w0, _ = warm_start_point(est, (p,))
    else:  # coef_ is (n_tasks, p); the route's coordinates are the rows of W raveled
        w0, _ = warm_start_point(est, (n_targets, p))
        w0 = None if w0 is None else np.ascontiguousarray(w0.T).ravel()
    res = WideLasso(est, data, n_targets).run(float(est.tol), int(est.max_iter), w0, start)
    if not res.converged:
        _warn_not_converged(est, res)
    return res


def _warn_not_converged(est, res):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.warn(f"{type(est).__name__} on dask input (wide route) did not converge after "
                  f"max_iter={est.max_iter} working sets: criterion {res.stop_crit:.3e} > "
                  f"tol={est.tol:.1e}. Increase max_iter.", ConvergenceWarning, stacklevel=6)


def fit_wide(est, data):
    """Fit ``est`` (least squares; a separable or group penalty, see
    :func:`~sparsefit.distributed._estimators.takes_wide_route`) by :class:`WideLasso`;
    sets the fitted attributes as :meth:`~sparsefit.linear_model.Lasso.fit` does.

    Parameters
    ----------
    est : SparseLinearRegressor
    data : DaskData
        With a 1-D ``y``.
    """
    est._set_solution(_run(est, data), data.dtype)


def fit_wide_reweighted(est, data):
    """Fit :class:`~sparsefit.linear_model.AdaptiveLasso` on wide data: its lasso and
    weighted lassos (see its ``_fit_reweighted``), each by :class:`WideLasso` from the
    previous solution (the first from ``coef_`` with ``warm_start``) and the first one's
    null pass.

    Parameters
    ----------
    est : AdaptiveLasso
    data : DaskData
        With a 1-D ``y``.
    """
    from ..linear_model._base import warm_start_point

    w_start, _ = warm_start_point(est, (data.n_features,))
    null = []  # the null point (the intercept alone) is every weighting's: one pass

    def fit_one(w0, b0):  # (the intercept follows from w in covariance form)
        route = WideLasso(est, data)
        res = route.run(float(est.tol), int(est.max_iter), w0, WideStart(*null[:1]))
        null[:] = [route.null_point]
        if not res.converged:
            _warn_not_converged(est, res)
        est._set_solution(res, data.dtype)

    est._fit_reweighted(None, None, None, w_start, None, fit_one=fit_one)


def fit_wide_relaxed(est, data, start=None):
    """Fit :class:`~sparsefit.linear_model.RelaxedLasso` on wide data: the lasso by
    :class:`WideLasso`, then the relaxed least-squares fit on its support from the moments
    of the last working set's columns, or its rows (they hold the support: no pass).

    Parameters
    ----------
    est : RelaxedLasso
    data : DaskData
        With a 1-D ``y``.
    start : WideStart, optional
        What a CV estimator's refit already has.
    """
    from ..linear_model._base import SparseLinearRegressor, warm_start_point
    from ..linear_model._relaxed import relax, relaxed_bounds

    w0, _ = warm_start_point(est, (data.n_features,))
    route = WideLasso(est, data)
    res = route.run(float(est.tol), int(est.max_iter), w0, start)
    if not res.converged:
        _warn_not_converged(est, res)
    SparseLinearRegressor._set_solution(est, res, data.dtype)
    est.lasso_coef_, est.lasso_intercept_ = est.coef_, est.intercept_
    coef = est.coef_.astype(np.float64)
    support = np.flatnonzero(coef)
    if support.size == 0:  # the relaxed fit of the empty model is the intercept alone: itself
        return
    # the last solve's columns hold the support
    if route.rows is not None:
        rows = route._rows_of(support)
    else:
        cols, mom = route._moments_of
        rows = (mom.restrict(np.searchsorted(cols, support)), None, None)
    bounds = relaxed_bounds(est, data.n_features)
    sub_c, b = relax(*rows, coef[support], float(est.intercept_), est.gamma,
                     est.fit_intercept,
                     None if bounds is None else tuple(a[support] for a in bounds))
    coef[support] = sub_c
    est.coef_ = coef.astype(data.dtype)
    est.intercept_ = data.dtype.type(b)


def _combined_responses(X, y, prior, beta, b0, eta):
    """One chunk's combined responses ``(y + eta (X_P beta + b0)) / (1 + eta)``."""
    yp = np.asarray(as_block(X)[:, prior] @ beta).reshape(-1) + b0
    return (np.asarray(y, dtype=np.float64).reshape(-1) + eta * yp) / (1.0 + eta)


def fit_wide_prior(est, data):
    """Fit :class:`~sparsefit.linear_model.PriorLasso` on wide data: the least-squares fit
    of ``y`` on the prior features from their moments (one pass; at most the feature limit
    of them), then the lasso on the combined responses (a dask expression of each chunk,
    never collected) at ``alpha / (1 + eta)`` by :class:`WideLasso`.

    Parameters
    ----------
    est : PriorLasso
    data : DaskData
        With a 1-D ``y``.
    """
    from dataclasses import replace

    import dask.array as da

    from ..linear_model._prior import prior_features_index

    p, fi = data.n_features, bool(est.fit_intercept)
    prior = prior_features_index(est.prior_features, p, data.feature_names)
    if prior.size > one_pass_limit():
        raise ValueError(f"{type(est).__name__} on dask input: {prior.size} prior_features, "
                         f"more than the {one_pass_limit()} whose least-squares fit one "
                         "pass holds (sparsefit.gram_max_features); name fewer prior "
                         "features, or raise the limit if the workers hold k^2 numbers")
    mom = moments_pass(data, label=type(est).__name__, cols=prior)
    G, c, _ = mom.quadratic_form(fi)
    beta = np.linalg.lstsq(G, c, rcond=None)[0]
    b0 = float(mom.y_mean - mom.x_mean @ beta) if fi else 0.0
    y2 = da.blockwise(_combined_responses, "i", data.X, "ij", data.y, "i", dtype=np.float64,
                      concatenate=True, prior=prior, beta=beta, b0=b0, eta=float(est.eta))
    est.prior_index_ = prior
    est._set_solution(_run(est, replace(data, y=y2)), data.dtype)


def fit_wide_multitask(est, data):
    """Fit ``MultiTaskLasso`` / ``MultiTaskElasticNet`` on wide data by :class:`WideLasso`
    over the rows of ``W``; sets the fitted attributes as their ``fit`` does.

    Parameters
    ----------
    est : MultiTaskElasticNet
    data : DaskData
        With a 2-D ``y``.
    """
    from ..linear_model._base import warn_if_unpenalized

    warn_if_unpenalized(est)
    res = _run(est, data, data.n_targets)
    est._set_solution(res, res.null_primal, data.dtype)
