r"""Wide cross-validation on dask input: ``LassoCV`` / ``ElasticNetCV`` (and
``RelaxedLassoCV``: :class:`WideRelaxedCV`, every lasso path point relaxed at every
``gamma``) with more features than the covariance route takes, the same folds and the same
answers as in memory.

The narrow route (:func:`~sparsefit.distributed._estimators._fit_regression_cv`) collects
every fold's moments of all ``p`` columns in one pass. Beyond
``sparsefit.gram_max_features`` this module keeps one working set of columns, shared by
every ``(l1_ratio, fold, alpha)`` point of the paths, and certifies it by a KKT pass over
every feature:

1. **null pass** — one pass computes, for every fold's training rows and for all the
   rows, the gradient over all ``p`` features at the null model (every penalized
   coefficient zero, the intercept fitted): the alpha grid of every ``l1_ratio`` from all
   the rows (as the narrow route and the in-memory estimator), and the basic strong rule
   (Tibshirani et al., 2012) at the grid's smallest alpha for every fold. The working set
   is the union of the kept features, at most half the limit (the features furthest into
   the model first; ``FIRST_IN_MEMORY`` columns when the chunks are persisted). With
   unpenalized features (``penalty_factor`` 0) the null model fits them: one more pass
   for their per-fold moments first.
2. **moments pass** — one pass accumulates every fold's
   :class:`~sparsefit.solvers.moments.Moments` of the working set's columns; every fold's
   path over every alpha is solved in covariance form from the training moments (the
   total minus the fold, :func:`~sparsefit.distributed._paths.training_moments`) with warm
   starts, exactly as the narrow route does on all the columns. The validation errors come
   from the fold's own moments (the coefficients are zero outside the working set).
   **Or, with few rows, a gather pass**: the working set's columns of every row come to
   the client (at most ``sparsefit.gather_max_bytes``, 1 GiB by default, counted as
   dense float64, or for sparse chunks as the columns' stored entries, which the null
   pass counts), and every fold's path is solved from its training rows by
   :func:`~sparsefit.solvers.solve_path`, as the in-memory estimator solves it; the
   validation errors from the held-out rows. This route is taken when the columns fit
   that budget and hold fewer numbers than the per-fold moments (``n < K |W|``: the
   genomics shape, a few hundred rows and 10^4-10^6 features), or when the moments would
   not fit the workers; its first working set is then every column the strong rule keeps,
   up to the budget, so one round usually settles it. (Measured, quiet machine: 400 x
   20,000 dense, 5 folds, 100 alphas to ``1e-3 alpha_max`` on a ``LocalCluster`` of 2
   workers: 8.4 s, 3 passes, one round, the in-memory answer to 1e-15; in memory 3.5 s.
   The moments route refused it after 164 s: the folds' supports need 3,583 columns,
   more than the 2,415 whose 5 per-fold moments 2 GB workers hold.)
3. **KKT pass** — one pass computes, for every ``(l1_ratio, fold, alpha)``, the gradient
   over all ``p`` features on the fold's training rows at its solution (a matrix product
   per chunk: ``X^T`` times the masked residuals of every point). A feature outside the
   working set that violates its optimality condition at any point joins the set (back to
   2). When none does, every path point is the solution of the full problem (the dual
   point's scale, hence the duality gap, is the restricted problem's).

With ``dfmax`` / ``pmax``, the path on all the rows joins the points (its cap cuts the
grid, as on the narrow route): the KKT pass certifies its points up to the first one past
the cap and the folds' points on the kept grid; the working set holds only their supports.

Then the selection (:func:`~sparsefit.linear_model._cv.select_alpha`, as every CV
estimator) and the refit on all the rows at ``alpha_`` by the wide single fit
(:class:`~sparsefit.distributed._wide.WideLasso`), which starts where the CV ends
(:class:`~sparsefit.distributed._wide.WideStart`): the null point of all the rows from
step 1, the last working set and its total moments from step 2 — its first solve needs no
pass, its KKT pass certifies it (the full problem's duality gap), and a feature the folds
did not need but all the rows do costs one more moments pass and KKT pass.

Passes over the data: ``1`` (null; ``2`` with unpenalized features) ``+ 2 x rounds``
(moments + KKT; one round when the first set holds the paths' supports, a few when the
KKT passes add features) ``+`` the refit's (``1``, or ``1 + 2 x its rounds`` when the
working set grows; with unpenalized features its own null pass too), whatever the
numbers of alphas, folds and ratios — except that a KKT pass holds ``p`` gradients per
path point: beyond :data:`KKT_PASS_BYTES` per chunk, the points are split over several
passes. (Measured: 4 passes for 5 or 40 alphas on the tests' data; 12 on a dense
1000 x 5000 with 5 folds, 30 alphas down to ``0.01 alpha_max`` and a limit of 2000, whose
folds' union of supports holds about 950 features: 5 rounds.)

(Position folds on a dask DataFrame of unknown partition lengths count its rows first:
one more pass when the chunks are not persisted, as on the narrow route.)

A working set that must hold more than the limit (the union of the paths' supports and
the violators: the smallest alphas of the grid select too many features), or rebuilt at
the limit more than :data:`~sparsefit.distributed._wide.MAX_REBUILDS` times, is refused
with one line of advice; a set not settled after ``max_iter`` rounds warns
(``ConvergenceWarning``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import dask
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ..datafits import Quadratic
from ..linear_model._base import PenaltyMaker, SparseLinearRegressor, _check_bounds
from ..linear_model._cv import CVPath, check_alphas, degenerate_safe_grid, select_alpha
from ..solvers import solve, solve_path
from ..solvers._common import describe
from ..solvers._units import compiled_unit_scores
from ._pass import (
    TooWideError,
    as_block,
    as_vector,
    check_chunk,
    columns_limit,
    fold_moments_limit,
    gather_columns,
    gather_max_bytes,
    gathers_columns,
    gram_max_features,
    moments_pass,
    run,
    tree_reduce,
)
from ._paths import check_folds, fold_mse, moments_path, training_moments
from ._wide import FIRST_IN_MEMORY, MAX_REBUILDS

#: Bytes a KKT pass may hold per chunk (the gradients over every feature and the masked
#: residuals of its path points): more points are split over several passes.
KKT_PASS_BYTES = 2 ** 27


@dataclass
class FoldSums:
    """Sums over the training rows of every path point ``i`` (the rows outside its fold,
    or all of them), at its ``(w_i, b_i)``, ``r = y - X w_i - b_i``."""

    weight: np.ndarray  # (m,) sum s
    xr: np.ndarray  # (p, m) X' (s r)
    sr: np.ndarray  # (m,) sum s r
    srr: np.ndarray  # (m,) sum s r^2
    xs: np.ndarray | None  # (p, m) X' s, for the intercept of the null point
    counts: np.ndarray | None = None  # (p,) stored entries of sparse chunks (null pass)

    def combine(self, o):
        return FoldSums(self.weight + o.weight, self.xr + o.xr, self.sr + o.sr,
                        self.srr + o.srr, None if self.xs is None else self.xs + o.xs,
                        add_counts(self.counts, o.counts))


def column_counts(X):
    """The stored entries of every column of a sparse chunk (None for a dense one): what
    the client would hold of each column if it gathered them."""
    if not sp.issparse(X):
        return None
    X = X.tocsr()
    return np.bincount(X.indices, minlength=X.shape[1]).astype(np.int64)


def add_counts(a, b):
    """Two chunks' :func:`column_counts` combined (None, dense, wins: every row counts)."""
    return None if a is None or b is None else a + b


def chunk_fold_sums(X, y, sw, groups, index, start, rule, owners, cols, W, B, with_xs,
                    counts=False):
    """One chunk's :class:`FoldSums` for the points whose held-out folds are ``owners``
    (-1: no fold held out), coefficients ``W`` (one column per point, on the columns
    ``cols``) and intercepts ``B``; checks every value of the chunk. ``counts``: with the
    columns' stored entries (:func:`column_counts`)."""
    X, y, sw = as_block(X), as_vector(y), as_vector(sw)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    check_chunk(index, start, X, y, sw, g)
    n = X.shape[0]
    s = np.ones(n) if sw is None else sw
    ids = rule.ids(start, n, g)
    M = (ids[:, None] != owners[None, :]) * s[:, None]  # the training weights of each point
    U = np.asarray(X[:, cols] @ W).reshape(n, W.shape[1]) if cols.size else 0.0
    r = y[:, None] - U - B[None, :]
    R = r * M
    xs = np.asarray(X.T @ M) if with_xs else None
    return FoldSums(M.sum(axis=0), np.asarray(X.T @ R), R.sum(axis=0), (R * r).sum(axis=0),
                    xs, column_counts(X) if counts else None)


def _combine(a, b):
    return a.combine(b)


def strong_union(p, points):
    """The union of the basic strong rule's features (Tibshirani et al., 2012) over the
    ``(penalty, g)`` of ``points`` (``g`` the null gradient of a fold's training rows,
    the penalty at the strength screened for), and every feature's largest rank: ``(keep,
    rank_max)``, the first sets of the wide CV routes."""
    keep = np.zeros(p, dtype=bool)
    rank_max = np.full(p, -np.inf)
    scores, rank = np.empty(p), np.empty(p)
    zero = np.zeros(p)
    for pen, g in points:
        strong = 2 * float(pen.strength) - float(pen.alpha_max(g))
        if strong > 0:
            compiled_unit_scores(describe(pen.with_strength(strong), p).spec, zero, g,
                                 scores, rank)
            keep |= rank >= 0
        else:
            keep[:] = True
        compiled_unit_scores(describe(pen, p).spec, zero, g, scores, rank)
        rank_max = np.maximum(rank_max, rank)
    return keep, rank_max


def first_set_cap(cv):
    """The most columns of a wide CV route's first working set (``cv`` has ``limit``,
    ``columns_limit``, ``by_columns`` and ``data``): every column the client gathers when
    its rounds solve from gathered rows (few rows: one round usually settles it), else half
    the limit (``FIRST_IN_MEMORY`` columns when the chunks are persisted)."""
    if cv.by_columns(cv.columns_limit):
        return cv.columns_limit
    if cv.data.persisted_bytes:
        return min(cv.limit // 2, FIRST_IN_MEMORY)
    return cv.limit // 2


def _restricted_maker(maker, cols):
    """``maker`` (a :class:`PenaltyMaker`) for the problem on the columns ``cols``: its
    ``penalty_factor`` and ``bounds`` restricted to them."""
    p = maker.n_features
    factor = maker.penalty_factor
    bounds = _check_bounds(maker.bounds, p)
    shim = SimpleNamespace(
        positive=maker.positive,
        penalty_factor=None if factor is None else np.asarray(factor, dtype=np.float64)[cols],
        bounds=None if bounds is None else tuple(b if b.size == 1 else b[cols]
                                                 for b in bounds))
    return PenaltyMaker(maker.base, shim, cols.size)


class WideCV:
    """The passes of the module docstring for one ``LassoCV`` / ``ElasticNetCV`` fit.

    Parameters
    ----------
    est : LassoCV or ElasticNetCV
    data : DaskData
        With a 1-D ``y``.
    rule : FoldRule
        The folds (see :func:`~sparsefit.distributed._estimators.fold_rule`).
    grid : tuple, optional
        ``est._grid()`` when the caller has it (its deprecation warning is given once).
    """

    def __init__(self, est, data, rule, grid=None):
        self.est, self.data, self.rule = est, data, rule
        self.label = type(est).__name__
        self.p, self.K = data.n_features, rule.n_splits
        # the per-fold moments of the working set in the workers' memory, within the limit
        self.moments_limit = fold_moments_limit(self.K)
        # or the working set's columns of every row on the client, within its budget
        n = data.X.shape[0]
        self.n_rows = int(n) if np.isfinite(n) else None
        self.counts = None  # the columns' stored entries, when the chunks are sparse
        self.columns_limit = columns_limit(self.n_rows, self.p)
        self.limit = max(self.moments_limit, self.columns_limit)
        self.gathered = None  # (ws, X[:, ws], y, sw, folds) of the last round by columns
        self.ratios, self.makers = self._ratios_and_makers()
        self.grid, self.n_alphas = est._grid() if grid is None else grid
        self.opts = dict(fit_intercept=bool(est.fit_intercept), tol=float(est.tol),
                         max_iter=int(est.max_iter))
        self.offsets = None  # set by use(), once the refusals below have passed
        self.n_passes = 0
        self.rounds = 0  # working sets solved (moments + KKT passes)
        self.rebuilds = 0  # working sets rebuilt at the limit
        self.null_point = None  # (gradient, sum s r^2, sum s, sum s y) of all the rows
        info = describe(self.makers[0](1.0), self.p)
        self.free = np.flatnonzero(info.free) if info.free is not None else \
            np.zeros(0, dtype=np.int64)
        if self.free.size > self.moments_limit:  # before any pass (their moments' pass)
            raise TooWideError(self._too_wide(self.free.size, "unpenalized features"))

    #: The validation losses of a path point: one per variant of its solution (the
    #: relaxed lasso's gammas; one here, the point itself).
    n_variants = 1

    def _ratios_and_makers(self):
        ratios = self.est._l1_ratios()
        return ratios, self.est._makers(ratios, self.p)

    def moments_losses(self, train, fold, coefs, intercepts, ws):
        """The validation losses ``(n_variants, n_alphas)`` of a fold's path from its
        training and held-out moments (of the columns ``ws``)."""
        return fold_mse(fold, coefs, intercepts)[None, :]

    def rows_losses(self, train, test, coefs, intercepts, ws):
        """:meth:`moments_losses` from the gathered rows: ``train`` and ``test`` are
        ``(X[:, ws], y, sample_weight)`` of the fold's training and held-out rows."""
        X, y, s = test
        r = y[:, None] - np.asarray(X @ coefs.T) - intercepts[None, :]
        return ((s @ (r * r)) / s.sum() if s.sum() > 0 else np.full(r.shape[1], np.nan))[None]

    def use(self, data):
        """Work on ``data`` (the same data, persisted or not: decided after the refusals
        of ``__init__``, so a refused fit reads no chunk) and its chunks' row offsets."""
        self.data = data
        # (counted with groups too, a DataFrame's: the client's budget needs the rows)
        self.offsets = data.row_offsets(need=True)
        if self.offsets is not None and self.n_rows is None:  # a DataFrame's rows, counted
            self.n_rows = int(self.offsets[-1])
            self.set_counts(self.counts)

    def set_counts(self, counts):
        """The client's budget for gathered columns, from the stored entries of every
        column when the chunks are sparse (the null pass counts them; None: dense)."""
        self.counts = counts
        self.columns_limit = columns_limit(self.n_rows, self.p, counts)
        self.limit = max(self.moments_limit, self.columns_limit)

    def by_columns(self, k):
        """Whether step 2 gathers ``k`` columns of every row and solves the paths from the
        rows, in memory: when they fit the client's budget (``sparsefit.gather_max_bytes``)
        and hold fewer numbers than the per-fold moments (``n < K k``: wide data, few
        rows), or when the moments would not fit the workers
        (:func:`~._pass.gathers_columns`)."""
        return gathers_columns(k, self.n_rows, self.K, self.columns_limit,
                               self.moments_limit, self.counts)

    # -- passes ---------------------------------------------------------------------

    def _moments(self, cols):
        self.n_passes += 1
        folds = moments_pass(self.data, folds=self.rule, label=self.label, cols=cols,
                             offsets=self.offsets)
        check_folds(folds)
        total = folds[0]
        for f in folds[1:]:
            total = total.combine(f)
        return folds, total

    def _sum_batches(self, owners, cols, W, B, with_xs=False, counts=False):
        """``(points, FoldSums)`` for batches of the points, one pass each: as many as
        :data:`KKT_PASS_BYTES` asks (one, unless ``p`` times the points is large). A
        caller reduces each batch before the next is computed: no more than one batch's
        gradients are held."""
        m = owners.size
        nz = np.any(W != 0, axis=1)  # only the columns some point uses travel
        cols, W = cols[nz], W[nz]
        rows = 0 if self.offsets is None else int(np.max(np.diff(self.offsets), initial=0))
        per_point = 8 * ((2 if with_xs else 1) * self.p + 3 * rows)
        step = max(1, KKT_PASS_BYTES // per_point)
        for lo in range(0, m, step):
            sl = slice(lo, min(m, lo + step))
            # the points' coefficients as one key of the graph, sent once, not per chunk
            o, w, b = owners[sl], dask.delayed(np.ascontiguousarray(W[:, sl])), B[sl]
            parts = [dask.delayed(chunk_fold_sums, pure=True)(
                Xb, yb, wb, gb, i, None if self.offsets is None else int(self.offsets[i]),
                self.rule, o, cols, w, b, with_xs, counts)
                for i, (Xb, yb, wb, gb) in enumerate(self.data.blocks())]
            self.n_passes += 1
            yield np.arange(sl.start, sl.stop), run(tree_reduce(parts, _combine), self.label)

    def _sums(self, owners, cols, W, B, with_xs=False, counts=False):
        """:class:`FoldSums` of a few points (one pass)."""
        parts = [st for _, st in self._sum_batches(owners, cols, W, B, with_xs, counts)]
        if len(parts) == 1:
            return parts[0]
        return FoldSums(np.concatenate([o.weight for o in parts]),
                        np.concatenate([o.xr for o in parts], axis=1),
                        np.concatenate([o.sr for o in parts]),
                        np.concatenate([o.srr for o in parts]),
                        None if not with_xs else np.concatenate([o.xs for o in parts],
                                                                axis=1), parts[0].counts)

    # -- the steps ------------------------------------------------------------------

    def null_gradients(self):
        """Step 1: the gradient at the null model of every fold's training rows (columns
        ``0..K-1``) and of all the rows (column ``K``), shape ``(p, K + 1)``."""
        owners = np.r_[np.arange(self.K), -1]
        fi = self.opts["fit_intercept"]
        if self.free.size == 0:
            zero = np.zeros((0, owners.size))
            st = self._sums(owners, self.free, zero, np.zeros(owners.size), with_xs=fi,
                            counts=True)
            self._check_weights(st.weight)
            self.set_counts(st.counts)
            xr, srr = st.xr, st.srr
            if fi:  # the intercept of the null model: the weighted mean of y
                c = st.sr / st.weight
                xr = xr - st.xs * c[None, :]
                srr = srr - c * st.sr
            grads = -xr / st.weight[None, :]
            # all the rows' null point, for the refit (WideLasso's first pass)
            self.null_point = (np.ascontiguousarray(grads[:, -1]), float(srr[-1]),
                               float(st.weight[-1]), float(st.sr[-1]))
            return grads
        # unpenalized features: the null model fits them (from their per-fold moments)
        folds, total = self._moments(self.free)
        make = _restricted_maker(self.makers[0], self.free)
        W = np.zeros((self.free.size, owners.size))
        B = np.zeros(owners.size)
        for i, k in enumerate(owners):
            mom = total if k < 0 else training_moments(total, folds, k)
            res = solve(mom, None, Quadratic(), make(1.0), fit_intercept=fi, tol=1e-10,
                        max_iter=200)
            W[:, i], B[i] = res.coef, res.intercept if fi else 0.0
        st = self._sums(owners, self.free, W, B, counts=True)
        self._check_weights(st.weight)
        self.set_counts(st.counts)
        return -st.xr / st.weight[None, :]

    def _check_weights(self, weight):
        total = weight[-1]
        if total <= 0:
            raise ValueError("sample_weight: every sample has weight 0")
        for k in range(self.K):
            if weight[k] >= total:  # the fold holds no row of positive weight
                raise ValueError(f"cross-validation fold {k} of {self.K} has no rows of "
                                 "positive weight: use fewer folds (cv) or more groups")

    def alpha_grids(self, g_total):
        """The grid of every ratio, from all the rows (the narrow route's)."""
        grids = []
        for make in self.makers:
            if self.grid is not None:
                grids.append(check_alphas(self.grid))
                continue
            pen1 = make(1.0)
            if pen1.strength <= 0:
                raise ValueError("the automatic alpha grid needs a non-zero L1 part "
                                 "(l1_ratio > 0); pass alphas explicitly")
            amax = pen1.alpha_max(np.ascontiguousarray(g_total)) / pen1.strength
            grids.append(degenerate_safe_grid(amax, self.n_alphas, self.eps))
        return grids

    @property
    def eps(self):
        return float(self.est.eps)

    def first_set(self, grads, grids):
        """The basic strong rule at the smallest alpha of every grid, for every fold: the
        union of the kept features, the furthest into the model first, capped. (Far down
        the grid, below alpha_max / 2, this rule keeps every feature: it orders the work,
        it cannot tell early that the paths will not fit.)"""
        keep, rank_max = strong_union(self.p, (
            (make(float(np.min(alphas))), np.ascontiguousarray(grads[:, k]))
            for make, alphas in zip(self.makers, grids) for k in range(self.K)))
        keep[self.free] = True
        cap = max(first_set_cap(self), self.free.size)
        ws = np.flatnonzero(keep)
        if ws.size > cap:
            order = rank_max[ws].copy()
            order[np.isin(ws, self.free)] = np.inf
            ws = ws[np.argsort(-order, kind="stable")[:cap]]
        return np.sort(ws)

    def paths_on(self, ws, grids):
        """Step 2: every fold's path on the columns ``ws`` (one pass: their per-fold
        moments, or the columns themselves, see :meth:`by_columns`), and with ``dfmax`` /
        ``pmax`` the path on all the rows (which cuts the grid): the coefficients
        ``(|ws|, m)`` and intercepts of the ``m`` points (ratio by ratio, fold by fold then
        all the rows, alpha by alpha), and the validation losses of every ratio
        ``(n_alphas, K)``."""
        if self.by_columns(ws.size):
            return self._paths_from_rows(ws, grids)
        folds, total = self._moments(ws)
        self.total_moments, self.gathered = total, None
        coefs, intercepts, losses = [], [], []
        for make, alphas in zip(self.makers, grids):
            sub = _restricted_maker(make, ws)
            loss = np.empty((self.n_variants, alphas.size, self.K))
            for k in self._owners():
                mom = total if k < 0 else training_moments(total, folds, k)
                _, c, b = moments_path(mom, sub, alphas, **self.opts)
                if k >= 0:
                    loss[:, :, k] = self.moments_losses(mom, folds[k], np.asarray(c),
                                                        np.asarray(b, dtype=np.float64), ws)
                coefs.append(c)
                intercepts.append(np.atleast_1d(b))
            losses.append(loss)
        return np.concatenate(coefs).T, np.concatenate(intercepts), losses

    def _paths_from_rows(self, ws, grids):
        """:meth:`paths_on` from the gathered columns: every path by
        :func:`~sparsefit.solvers.solve_path` on its training rows, as the in-memory
        estimator solves it; the validation losses from the held-out rows."""
        self.n_passes += 1
        X, y, sw, ids = gather_columns(self.data, ws, self.rule, self.offsets, self.label)
        self.total_moments, self.gathered = None, (ws, X, y, sw)
        coefs, intercepts, losses = [], [], []
        for make, alphas in zip(self.makers, grids):
            sub = _restricted_maker(make, ws)
            loss = np.empty((self.n_variants, alphas.size, self.K))
            for k in self._owners():
                train = ids != k
                fit = (X[train], y[train], sw[train])
                path = solve_path(*fit[:2], Quadratic(), sub, alphas=alphas,
                                  sample_weight=fit[2], **self.opts)
                c, b = np.asarray(path.coefs), np.asarray(path.intercepts, dtype=np.float64)
                if k >= 0:
                    test = ~train
                    loss[:, :, k] = self.rows_losses(fit, (X[test], y[test], sw[test]), c, b,
                                                     ws)
                coefs.append(c)
                intercepts.append(np.atleast_1d(b))
            losses.append(loss)
        return np.concatenate(coefs).T, np.concatenate(intercepts), losses

    @property
    def capped(self):
        return self.est.dfmax is not None or self.est.pmax is not None

    def _owners(self):
        """The training rows of the paths: every fold held out, then (with ``dfmax`` /
        ``pmax``) none."""
        return list(range(self.K)) + ([-1] if self.capped else [])

    def points(self, grids):
        """``(ratio, owner, alpha index)`` of every point, in the order of
        :meth:`paths_on`."""
        pts = [(r, k, i) for r, alphas in enumerate(grids) for k in self._owners()
               for i in range(alphas.size)]
        return np.array(pts, dtype=np.int64).reshape(-1, 3)

    def cuts(self, grids, W, pts):
        """How many alphas of every grid ``dfmax`` / ``pmax`` keep, from the path on all
        the rows (as :func:`~sparsefit.distributed._paths.moments_path` stops it)."""
        out = []
        for r, alphas in enumerate(grids):
            if not self.capped:
                out.append(alphas.size)
                continue
            cols = np.flatnonzero((pts[:, 0] == r) & (pts[:, 1] == -1))
            ever = np.zeros(W.shape[0], dtype=bool)
            cut = alphas.size
            for i, col in enumerate(cols):
                w = W[:, col]
                ever |= w != 0
                if (self.est.dfmax is not None and np.count_nonzero(w) > self.est.dfmax) or (
                        self.est.pmax is not None and ever.sum() > self.est.pmax):
                    cut = i
                    break
            out.append(cut)
        return out

    @staticmethod
    def counted(pts, cuts):
        """The points that count: the folds' on the kept grid, the path on all the rows'
        up to the first point past the cap."""
        r, k, i = pts.T
        cut = np.asarray(cuts)[r]
        return np.flatnonzero(np.where(k < 0, i <= cut, i < cut))

    def violations(self, ws, grids, W, B, pts, cuts):
        """Step 3: the KKT pass at every point that counts (the folds' points on the grid
        kept by ``dfmax`` / ``pmax``; the path on all the rows up to the first point past
        the cap); the largest violation of every feature outside ``ws`` over them (0
        where none)."""
        r, k, i = pts.T
        keep = self.counted(pts, cuts)
        specs = {}
        worst = np.zeros(self.p)
        scores, rank = np.empty(self.p), np.empty(self.p)
        w = np.zeros(self.p)
        if keep.size == 0 or ws.size == self.p:  # (every feature in the set: no pass)
            return worst
        for points, st in self._sum_batches(k[keep], ws, W[:, keep], B[keep]):
            grads = -st.xr / st.weight[None, :]
            for j, q in enumerate(keep[points]):
                key = (int(r[q]), int(i[q]))
                if key not in specs:
                    specs[key] = describe(self.makers[key[0]](float(grids[key[0]][key[1]])),
                                          self.p).spec
                w[ws] = W[:, q]
                compiled_unit_scores(specs[key], w, np.ascontiguousarray(grads[:, j]),
                                     scores, rank)
                np.maximum(worst, scores, out=worst)
        worst[ws] = 0.0
        return worst

    def grow(self, ws, worst, W):
        """The working set with the violators (the worst first, at most as many as the set
        holds, at least 100); at the limit, rebuilt from the paths' supports (and the
        unpenalized features) and the violators; refused when they do not fit."""
        violators = np.flatnonzero(worst > 0)
        violators = violators[np.argsort(-worst[violators], kind="stable")]
        violators = violators[:max(ws.size, 100)]
        grown = np.union1d(ws, violators)
        if grown.size <= self.limit:
            return grown
        self.rebuilds += 1
        support = np.union1d(ws[np.any(W != 0, axis=1)], self.free)
        room = self.limit - support.size
        if room < 1 or self.rebuilds > MAX_REBUILDS:
            raise TooWideError(self._too_wide(support.size + violators.size,
                                            "features (the paths' supports and KKT "
                                            "violators)"))
        return np.union1d(support, violators[:room])

    def _too_wide(self, k, what):
        return (f"{self.label} on dask input: the cross-validation paths need {k} {what}, "
                f"more than the {self.moments_limit} columns whose moments the workers hold "
                f"for {self.K} folds (sparsefit.gram_max_features={gram_max_features()} and "
                f"the workers' memory_limit) or the {self.columns_limit} whose "
                f"{self.n_rows or 'unknown number of'} rows the client gathers "
                f"(sparsefit.gather_max_bytes={gather_max_bytes()}); raise eps, give larger "
                "alphas or set dfmax (sparser models at the end of the path), give the "
                "workers more memory, or select features first")

    def run(self):
        """Steps 1-3 until no feature violates: a :class:`CVPath` per ratio."""
        grads = self.null_gradients()
        grids = self.alpha_grids(grads[:, -1])
        self.alpha_grids_ = grids
        ws = self.first_set(grads[:, :self.K], grids)
        pts = self.points(grids)
        while True:
            W, B, losses = self.paths_on(ws, grids)
            self.rounds += 1
            cuts = self.cuts(grids, W, pts)
            worst = self.violations(ws, grids, W, B, pts, cuts)
            if not np.any(worst > 0):
                break
            if self.rounds >= max(self.opts["max_iter"], MAX_REBUILDS):
                warnings.warn(
                    f"{self.label} on dask input (wide route): KKT violators remain after "
                    f"{self.rounds} working sets (max_iter={self.opts['max_iter']}); the "
                    "paths may miss features. Increase max_iter.", ConvergenceWarning,
                    stacklevel=4)
                break
            ws = self.grow(ws, worst, W[:, self.counted(pts, cuts)])
        self.working_set, self.last_points = ws, (W, pts)
        paths = []
        self.cut_losses = []  # (alphas, losses of every variant) of every ratio
        for alphas, loss, cut in zip(grids, losses, cuts):
            if cut == 0:
                raise ValueError(f"dfmax={self.est.dfmax} / pmax={self.est.pmax} stop the "
                                 "path before its first point: raise them (the first alpha "
                                 "already has more non-zero features)")
            alphas, loss = alphas[:cut], loss[:, :cut]
            self.cut_losses.append((alphas, loss))
            loss = loss[0]
            mean, se, i_min, i_1se = select_alpha(alphas, loss)
            paths.append(CVPath(alphas, loss, mean, se, float(alphas[i_min]),
                                float(alphas[i_1se])))
        return paths


def fit_wide_cv(est, data, rule, grid=None):
    """Fit ``LassoCV`` / ``ElasticNetCV`` on wide dask data (see the module docstring);
    sets the attributes the in-memory ``fit`` sets. Returns the :class:`WideCV` (its pass
    and round counts)."""
    from ..linear_model import ElasticNet
    from ._cache import persisted
    from ._wide import WideStart, _run

    cv = WideCV(est, data, rule, grid)  # (its refusals read nothing)
    data = persisted(data)
    cv.use(data)
    est._store_paths(cv.ratios, cv.run())
    final = ElasticNet(alpha=est.alpha_, l1_ratio=est.l1_ratio_,
                       fit_intercept=est.fit_intercept, tol=est.tol, max_iter=est.max_iter,
                       positive=est.positive, bounds=est.bounds,
                       penalty_factor=est.penalty_factor)
    # the refit starts where the CV ends: the null point of all the rows, the working set
    # and the moments of its columns (no pass until its KKT pass)
    start = WideStart(null=cv.null_point, units=cv.working_set, moments=cv.total_moments)
    if cv.gathered is not None:  # the columns in memory: the chosen point's supports
        start = _start_from_rows(cv, est.l1_ratio_, est.alpha_)
    res = _run(final, data, start=start)
    SparseLinearRegressor._set_solution(est, res, data.dtype)
    return cv


def _start_from_rows(cv, ratio, alpha):
    """The refit's start after paths solved from gathered columns: the null point, the
    union of the folds' supports at the chosen point (and the unpenalized features) as the
    first working set, and the gathered rows (the refit solves from them)."""
    from ._wide import WideStart

    ws, X, y, sw = cv.gathered
    W, pts = cv.last_points
    r = int(np.flatnonzero(cv.ratios == ratio)[0])
    i = int(np.flatnonzero(cv.alpha_grids_[r] == alpha)[0])
    at = (pts[:, 0] == r) & (pts[:, 1] >= 0) & (pts[:, 2] == i)
    keep = np.any(W[:, at] != 0, axis=1) | np.isin(ws, cv.free)
    return WideStart(null=cv.null_point, units=ws[keep] if keep.any() else None,
                     rows=(ws, X, y, sw), counts=cv.counts)


class WideRelaxedCV(WideCV):
    """:class:`WideCV` for ``RelaxedLassoCV``: the lasso paths and their KKT passes as for
    ``LassoCV``; every path point relaxed at every ``gamma`` (its least-squares fit on the
    support from the fold's training moments, or rows) and validated."""

    def __init__(self, est, data, rule, grid=None):
        from ..linear_model._relaxed import relaxed_bounds

        self.gammas = est._gamma_grid()
        self.n_variants = self.gammas.size
        self.bounds = relaxed_bounds(est, data.n_features)
        super().__init__(est, data, rule, grid)

    def _ratios_and_makers(self):
        from ..penalties import L1

        return np.array([1.0]), [PenaltyMaker(L1, self.est, self.p)]

    def _relaxed(self, X, y, sw, coefs, intercepts, ws):
        """The relaxed fits ``(n_alphas, n_gammas, |ws|)`` and intercepts of a path."""
        from ..linear_model._relaxed import relax

        bounds = None if self.bounds is None else tuple(b[ws] for b in self.bounds)
        fits = [relax(X, y, sw, c, float(b), self.gammas, self.opts["fit_intercept"], bounds)
                for c, b in zip(coefs, intercepts)]
        return np.array([f[0] for f in fits]), np.array([f[1] for f in fits])

    def moments_losses(self, train, fold, coefs, intercepts, ws):
        cs, bs = self._relaxed(train, None, None, coefs, intercepts, ws)
        return np.array([[fold.mean_squared_error(cs[a, g], bs[a, g])
                          for a in range(cs.shape[0])] for g in range(self.gammas.size)])

    def rows_losses(self, train, test, coefs, intercepts, ws):
        cs, bs = self._relaxed(*train, coefs, intercepts, ws)
        X, y, s = test
        if s.sum() <= 0:
            return np.full((self.gammas.size, cs.shape[0]), np.nan)
        U = np.asarray(X @ cs.reshape(-1, cs.shape[2]).T).reshape(X.shape[0], *cs.shape[:2])
        r = y[:, None, None] - U - bs[None]
        return np.einsum("n,nag->ga", s, r * r) / s.sum()


def fit_wide_relaxed_cv(est, data, rule, grid=None):
    """Fit ``RelaxedLassoCV`` on wide dask data: :class:`WideRelaxedCV`, the selection of
    ``(alpha, gamma)`` as in memory, and the refit by the wide relaxed lasso
    (:func:`~sparsefit.distributed._wide.fit_wide_relaxed`). Returns the CV object."""
    from ._cache import persisted
    from ._wide import WideStart, fit_wide_relaxed

    cv = WideRelaxedCV(est, data, rule, grid)  # (its refusals read nothing)
    data = persisted(data)
    cv.use(data)
    cv.run()
    alphas, losses = cv.cut_losses[0]
    est._select(alphas, losses, cv.gammas)
    if cv.gathered is not None:
        start = _start_from_rows(cv, 1.0, est.alpha_)
    else:
        start = WideStart(null=cv.null_point, units=cv.working_set, moments=cv.total_moments)
    est._refit(None, None, None, fit=lambda refit: fit_wide_relaxed(refit, data, start))
    return cv
