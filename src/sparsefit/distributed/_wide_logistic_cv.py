r"""Wide logistic cross-validation on dask input: ``SparseLogisticRegressionCV`` and
``LogisticRegressionCV`` (``penalty`` l1 / elasticnet), binary, with more features than
the Hessian route takes; the same folds and the same answers as in memory.

The narrow route (:func:`~sparsefit.distributed._logistic.fit_logistic_cv`) solves every
fold's path by :class:`~sparsefit.distributed._logistic.DaskNewton` on all ``p`` columns,
one fold after the other. Beyond ``sparsefit.gram_max_features`` this module keeps one
working set of columns, shared by every ``(l1_ratio, fold, strength)`` point, and
certifies it by a KKT pass over every feature, as
:mod:`~sparsefit.distributed._wide_cv` does for least squares:

1. **null pass** — one pass computes, for every fold's training rows and for all the
   rows, the gradient over all ``p`` features at the null model (``w = 0``, the intercept
   at the training rows' class prior): the alpha grid of every ``l1_ratio`` from all the
   rows (``SparseLogisticRegressionCV``, as the narrow route and the in-memory estimator;
   ``LogisticRegressionCV`` has its ``Cs``, at ``alpha = 1 / (C x the fold's training
   weight)``), and the basic strong rule (Tibshirani et al., 2012) at the smallest
   strength of every ``(l1_ratio, fold)``. The working set is the union of the kept
   features, at most half the limit (the furthest into the model first;
   ``FIRST_IN_MEMORY`` columns when the chunks are persisted).
2. **Newton passes** — every ``(l1_ratio, fold)`` path runs on the working set's columns
   by the proximal Newton method of ``DaskNewton`` (its :meth:`~sparsefit.distributed.
   _logistic.DaskNewton.steps`, warm-started along the path: the same iterates as on the
   narrow route), and **one pass serves all the paths at once**: each pass returns, for
   every path's current request, the line-search values, the gradient and the Hessian
   moments of the working set's columns on the fold's training rows (``|W|^2`` numbers
   per path). The logistic loss has no sufficient statistics: a pass per Newton
   iteration is the price, shared by every fold and ratio.
   **Or, with few rows, one gather pass** (:meth:`WideLogisticCV.by_columns`): the
   working set's columns of every row come to the client with the labels, the sample
   weights and the rows' folds (at most ``sparsefit.gather_max_bytes``, 1 GiB by default,
   counted as dense float64, or for sparse chunks as the columns' stored entries, which
   the null pass counts), and every ``(l1_ratio, fold)`` path is solved from its
   training rows in memory as the in-memory estimator solves its folds (the sample
   weights times the class weights, the penalty restricted to the working set):
   ``SparseLogisticRegressionCV`` by :func:`~sparsefit.solvers.solve_path`,
   ``LogisticRegressionCV`` every ``C`` from zero. No Newton pass. It is taken, as for
   least squares (:func:`~sparsefit.distributed._pass.gathers_columns`), when the columns
   fit that budget and hold fewer numbers than the Hessian moments a Newton pass holds
   for every path (``n < K x n_ratios x |W|``: the genomics shape, a few hundred rows and
   10^4-10^6 features), or when those moments would not fit the workers; its first
   working set is then every column the strong rule keeps, up to the budget, so one
   round usually settles it.
3. **KKT pass** — one pass computes, for every ``(l1_ratio, fold, strength)``, the
   gradient over all ``p`` features on the fold's training rows at its solution (a matrix
   product per chunk: ``X^T`` times the residuals of every point), and in the same pass
   the point's score on the fold's held-out rows (the log-loss with the sample and class
   weights for ``SparseLogisticRegressionCV``, as in memory; accuracy or log-loss with
   the sample weights for ``LogisticRegressionCV``, as its scorers). A feature outside
   the working set that violates its optimality condition at any point joins the set
   (back to 2: the points where a feature violated are solved again, warm-started from
   their previous solutions). When none does, every point is the solution of the full
   problem.

Then the selection, and the refit on all the rows by the wide binary route
(:mod:`~sparsefit.distributed._wide_logistic`), or the average of the fold models
(``refit=False``). The refit starts where the CV ends: the labels and the null gradient of
all the rows come from the CV's passes, and the folds' supports at the chosen point join
its first working set (usually its only one: its Newton passes and two KKT passes). After
a round solved from gathered columns, the refit is solved from them too, in memory as the
in-memory estimator refits, and one pass over every feature certifies it (the wide
Newton refit runs only when a feature outside the gathered columns violates).

Passes over ``X``: ``1`` (null) ``+`` per working set, the Newton passes of the longest
path ``+ 1`` (KKT and scores; more when :data:`~sparsefit.distributed._wide_cv.
KKT_PASS_BYTES` splits the points) ``+`` the refit's, whatever the numbers of folds and
``l1_ratios``. Two more passes read ``y`` only (the labels and the folds' class weights).
A Newton pass per iteration is the price of a loss without sufficient statistics, so
unlike least squares the passes grow with the grid: about 3 per strength (warm starts
converge in a few Newton steps; the warm start's own statistics are those of the previous
solution, no pass). After the first working set, only the points where a feature violated
are solved again (the others are solutions of the full problem already). (Measured: a
dense 2000 x 3000, 5 folds, a limit of 1000, ``eps=0.05``: 59 passes for 10 alphas, 103
for 20, three working sets of up to 673 columns; the refit 10 more, one working set.)
With few rows: ``1`` (null) ``+ 2`` per working set (gather, KKT) ``+ 1`` (the refit's
certificate), whatever the grid. (Measured, under load — another engineer's tests on the
same 2 cores, load average 2.5-2.9: a dense 400 x 20,000, ``y`` from a 20-sparse linear
model at its median, 5 ``HashKFold`` folds, chunks of 100 rows, a ``LocalCluster`` of 2
single-threaded workers of 2 GB: ``SparseLogisticRegressionCV()`` (50 alphas) 6.0 s, in
memory 6.4 s; ``LogisticRegressionCV(Cs=10, l1_ratios=[1.0])`` 2.2 s, in memory 4.2 s;
both one round of 20,000 columns, 4 passes, the in-memory coefficients within 1e-15. The
Newton route ran more than 5 minutes without finishing.)

A working set that must hold more than the limit is refused with one line of advice; so
are, before any pass, what has no wide route: an L2 part alone (``l1_ratio=0`` or
``penalty="l2"``, no penalty), unpenalized features (``penalty_factor`` 0), ``dfmax`` /
``pmax``; more than two classes after the label pass (which reads ``y`` only: the chunks
are persisted after it; the KKT and scoring pass is binary, ``X^T r`` and a sigmoid per
point). Those refusals (:class:`~sparsefit.distributed._pass.TooWideError`) fit the
gathered data in memory instead when the client holds them
(:mod:`~sparsefit.distributed._gathered`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import dask
import numpy as np
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from ..solvers._common import describe
from ..solvers._units import compiled_unit_scores
from ._cache import persisted, worker_memory
from ._logistic import (
    DaskNewton,
    NewtonPart,
    chunk_weights,
    normalized,
)
from ._pass import (
    FOLD_MOMENTS_FRACTION,
    TooWideError,
    columns_limit,
    fold_moments_limit,
    gather_columns,
    gather_max_bytes,
    gathers_columns,
    gram_max_features,
    run,
    tree_reduce,
)
from ._wide import MAX_REBUILDS
from ._wide_cv import (
    KKT_PASS_BYTES,
    _restricted_maker,
    add_counts,
    column_counts,
    first_set_cap,
    strong_union,
)

#: Bytes of Hessian moments a Newton pass may hold per chunk (``|W|^2`` float64 per
#: path served; less on workers whose memory_limit holds less, see
#: :func:`~._pass.fold_moments_limit`): more paths are served by several passes, a fold's
#: worth at least (the working sets are capped so that a fold's worth fits).
NEWTON_PASS_BYTES = 2 ** 30


def _fold_weights(sw, ids, k):
    """The training rows' weights of fold ``k`` (all the rows when ``k < 0``)."""
    return sw if k < 0 else sw * (ids != k)


def chunk_newton_many(X, y, sw, groups, index, start, labels, class_weights, rule,
                      requests):
    """One chunk's :class:`NewtonPart` for every request ``(k, (w, b), (d, db), dual)``
    of :meth:`DaskNewton.steps` (``w``, ``d`` on the chunk's columns), on the training
    rows of fold ``k``: the kernel of
    :func:`~sparsefit.distributed._logistic.chunk_newton`, the chunk read once."""
    from ..solvers.moments import Moments
    from ._logistic import TAUS, dual_sum_at

    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    ids = rule.ids(start, X.shape[0], g, y)
    y = np.where(yi == 1, 1.0, -1.0)
    out = []
    for k, (w, b), (d, db), dual in requests:
        s = _fold_weights(sw, ids, k)
        yu0 = y * (np.asarray(X @ w).ravel() + b)
        ydu = y * (np.asarray(X @ d).ravel() + db)
        values = np.array([float(s @ np.logaddexp(0.0, -(yu0 + t * ydu))) for t in TAUS])
        yu = yu0 + ydu
        sig = expit(yu)
        r = -s * y * (1.0 - sig)
        h = s * sig * (1.0 - sig)
        dual_sum, ok = dual_sum_at(yu0, y, s, dual)
        out.append(NewtonPart(float(s.sum()), values, np.asarray(X.T @ r).ravel(),
                              float(r.sum()), Moments.from_arrays(X, np.zeros(X.shape[0]), h),
                              dual_sum, ok))
    return out


def _combine_lists(a, b):
    return [x.combine(z) for x, z in zip(a, b, strict=True)]


@dataclass
class PointSums:
    """Sums over a chunk for ``m`` points ``(k, w, b)``: on fold ``k``'s training rows,
    the weight and the gradient over every feature; on its held-out rows, the scores."""

    weight: np.ndarray  # (m,) training weight (sample x class weights)
    grad: np.ndarray  # (p, m) X' r
    val_weight: np.ndarray  # (m,) held-out weight (the scores' weights)
    val_nll: np.ndarray  # (m,) held-out sum of weighted log-losses
    val_correct: np.ndarray  # (m,) held-out sum of weights of the correct predictions
    counts: np.ndarray | None = None  # (p,) stored entries of sparse chunks (null pass)

    def combine(self, o):
        return PointSums(self.weight + o.weight, self.grad + o.grad,
                         self.val_weight + o.val_weight, self.val_nll + o.val_nll,
                         self.val_correct + o.val_correct, add_counts(self.counts, o.counts))


def chunk_point_sums(X, y, sw, groups, index, start, labels, class_weights, rule, owners,
                     cols, W, B, sklearn_scores, counts=False):
    """One chunk's :class:`PointSums` for the points ``owners[i]`` (a fold, or -1 for all
    the rows, which has no held-out rows), at ``w_i`` (``W[:, i]`` on the columns
    ``cols``, zero elsewhere) and ``B[i]``. ``sklearn_scores``: the held-out scores with
    the sample weights only and the probabilities clipped as ``sklearn.metrics.log_loss``
    does (``LogisticRegressionCV``'s scorers); else with the class weights too
    (``SparseLogisticRegressionCV``'s loss). ``counts``: with the columns' stored entries
    (:func:`~._wide_cv.column_counts`)."""
    from ._pass import as_vector

    raw = np.ones(X.shape[0]) if sw is None else as_vector(sw)
    X, yi, sw = chunk_weights(X, y, sw, index, start, labels, class_weights)
    entries = column_counts(X) if counts else None
    g = None if groups is None else np.asarray(groups).reshape(-1)
    ids = rule.ids(start, X.shape[0], g, y)
    y = np.where(yi == 1, 1.0, -1.0)
    U = (np.asarray(X[:, cols] @ W) if cols.size else np.zeros((X.shape[0], W.shape[1])))
    U = U + B[None, :]
    m = owners.size
    S = np.empty((X.shape[0], m))
    for i, k in enumerate(owners):
        S[:, i] = _fold_weights(sw, ids, k)
    YU = y[:, None] * U
    R = -S * y[:, None] * (1.0 - expit(YU))
    held = (ids[:, None] == owners[None, :])
    vs = held * (raw if sklearn_scores else sw)[:, None]
    if sklearn_scores:
        eps = np.finfo(np.float64).eps
        p1 = expit(U)
        py = np.clip(np.where(yi[:, None] == 1, p1, 1.0 - p1), eps, 1 - eps)
        nll = -np.log(py)
        correct = ((U > 0) == (yi[:, None] == 1)).astype(np.float64)
    else:
        nll = np.logaddexp(0.0, -YU)
        correct = np.zeros_like(U)
    return PointSums(S.sum(axis=0), np.asarray(X.T @ R).reshape(X.shape[1], m),
                     vs.sum(axis=0), (vs * nll).sum(axis=0), (vs * correct).sum(axis=0),
                     entries)


def _combine(a, b):
    return a.combine(b)


class WideLogisticCV:
    """Steps 1-3 of the module docstring for the paths of ``(l1_ratio, fold)``: the
    strengths of every path (``strengths(r, k, g_null)`` gives them from the null
    gradient), the solutions and the held-out scores of every point."""

    def __init__(self, est, data, rule, classes, cw, weights, fold_w, offsets, ratios,
                 sklearn_scores):
        self.est, self.data, self.rule = est, data, rule
        self.classes, self.cw, self.weights, self.fold_w = classes, cw, weights, fold_w
        self.offsets, self.ratios = offsets, list(ratios)
        self.sklearn_scores = sklearn_scores
        self.label = type(est).__name__
        self.p, self.K = data.n_features, rule.n_splits
        # the Hessian moments of a fold's worth of paths in one pass, in the workers' memory
        self.newton_limit = fold_moments_limit(self.K)
        # or the working set's columns of every row on the client, within its budget
        n = data.X.shape[0]
        self.n_rows = int(n) if np.isfinite(n) else (
            None if offsets is None else int(offsets[-1]))
        self.counts = None  # the columns' stored entries, when the chunks are sparse
        self.columns_limit = columns_limit(self.n_rows, self.p)
        self.limit = max(self.newton_limit, self.columns_limit)
        self.gathered = None  # (ws, X[:, ws], class indices, sw) of the last round by rows
        self.makers = [est._make_penalty(self.p, 2, r) for r in self.ratios]
        self.fit_intercept = bool(est.fit_intercept)
        self.tol, self.max_iter = float(est.tol), int(est.max_iter)
        self.n_passes = 0
        self.rounds = 0
        self.rebuilds = 0

    # -- checks before any pass ---------------------------------------------------------

    @staticmethod
    def refusal(est, p, ratios):
        """Why ``est`` has no wide route with these ``l1_ratios`` (None when it has)."""
        name = type(est).__name__
        advice = ("select features first, or fit in memory. The limit is dask.config "
                  "'sparsefit.gram_max_features'.")
        head = (f"{name} on dask input: X has p={p} features, more than the "
                f"{gram_max_features()} of distributed proximal Newton, and")
        if getattr(est, "dfmax", None) is not None or getattr(est, "pmax", None) is not None:
            return f"{head} dfmax / pmax have no wide route; drop them, {advice}"
        for r in ratios:
            pen = est._make_penalty(p, 2, r)(1.0)
            if not (pen.is_separable and pen.is_convex) or float(r) <= 0:
                return (f"{head} l1_ratio={float(r)} (no L1 part) keeps every feature: the "
                        f"wide route needs an L1 part (l1_ratio > 0); {advice}")
            if describe(pen, p).free is not None:
                return (f"{head} unpenalized features (penalty_factor 0) have no wide "
                        f"cross-validation route; {advice}")
        return None

    @staticmethod
    def sklearn_refusal(est, p, penalty, l1_ratios):
        """:meth:`refusal` for ``LogisticRegressionCV`` (``penalty``, ``l1_ratios`` as
        its ``_resolve`` gives them)."""
        Cs, ratios = est._grids(penalty, l1_ratios)
        if penalty is None or not np.all(np.isfinite(Cs)):
            return (f"{type(est).__name__} on dask input: X has p={p} features, more than "
                    f"the {gram_max_features()} of distributed proximal Newton, and no "
                    "penalty (penalty=None or C=inf) keeps every feature; give an L1 "
                    "penalty and finite Cs, select features first, or fit in memory")
        return WideLogisticCV.refusal(est, p, ratios)

    def by_columns(self, k):
        """Whether a round gathers its ``k`` working-set columns of every row and solves
        every path from the rows, in memory (no Newton pass): when they fit the client's
        budget (``sparsefit.gather_max_bytes``) and hold fewer numbers than the ``k x k``
        Hessian moments a Newton pass holds for every path (``n < K x n_ratios x k``: wide
        data, few rows), or when those moments would not fit the workers
        (:func:`~._pass.gathers_columns`, as the least-squares route decides)."""
        return gathers_columns(k, self.n_rows, self.K * len(self.ratios),
                               self.columns_limit, self.newton_limit, self.counts)

    # -- passes ---------------------------------------------------------------------

    def _b_null(self, k):
        """The intercept of the null model on fold ``k``'s training rows (DaskNewton's)."""
        if not self.fit_intercept:
            return 0.0
        w = self.weights - (0.0 if k < 0 else self.fold_w[k])
        s_pos = w[1] / w.sum()
        return float(np.log(s_pos / (1.0 - s_pos)))

    def _point_batches(self, owners, cols, W, B, counts=False):
        """``(points, PointSums)`` per pass, as many passes as :data:`KKT_PASS_BYTES`
        asks (one, unless ``p`` times the points is large); ``counts``: with the columns'
        stored entries."""
        m = owners.size
        nz = np.any(W != 0, axis=1)  # only the columns some point uses travel
        cols, W = cols[nz], W[nz]
        rows = 0 if self.offsets is None else int(np.max(np.diff(self.offsets), initial=0))
        per_point = 8 * (self.p + 8 * rows)
        step = max(1, KKT_PASS_BYTES // per_point)
        for lo in range(0, m, step):
            sl = slice(lo, min(m, lo + step))
            # the points' coefficients as one key of the graph, sent once, not per chunk
            o, w, b = owners[sl], dask.delayed(np.ascontiguousarray(W[:, sl])), B[sl]
            parts = [dask.delayed(chunk_point_sums, pure=True)(
                Xb, yb, wb, gb, i, None if self.offsets is None else int(self.offsets[i]),
                self.classes, self.cw, self.rule, o, cols, w, b, self.sklearn_scores, counts)
                for i, (Xb, yb, wb, gb) in enumerate(self.data.blocks())]
            self.n_passes += 1
            yield np.arange(sl.start, sl.stop), run(tree_reduce(parts, _combine), self.label)

    def null_gradients(self):
        """Step 1: the gradient at the null model of every fold's training rows (columns
        ``0..K-1``) and of all the rows (column ``K``), shape ``(p, K + 1)``."""
        owners = np.r_[np.arange(self.K), -1]
        B = np.array([self._b_null(int(k)) for k in owners])
        (_, st), = self._point_batches(owners, np.zeros(0, dtype=np.int64),
                                       np.zeros((0, owners.size)), B, counts=True)
        self.set_counts(st.counts)
        return st.grad / st.weight[None, :]

    def set_counts(self, counts):
        """The client's budget for gathered columns, from the stored entries of every
        column when the chunks are sparse (the null pass counts them; None: dense)."""
        self.counts = counts
        self.columns_limit = columns_limit(self.n_rows, self.p, counts)
        self.limit = max(self.newton_limit, self.columns_limit)

    def _newton_pass(self, view, requests):
        """One pass serving every request ``(k, (w, b, d, db, dual))``: their normalized
        :class:`NewtonPart`."""
        p = view.n_features
        reqs = []
        for k, (w, b, d, db, dual) in requests:
            reqs.append((k, (w, b), (np.zeros(p) if d is None else d,
                                     0.0 if db is None else db), dual))
        parts = [dask.delayed(chunk_newton_many, pure=True)(
            Xb, yb, wb, gb, i, None if self.offsets is None else int(self.offsets[i]),
            self.classes, self.cw, self.rule, reqs)
            for i, (Xb, yb, wb, gb) in enumerate(view.blocks())]
        self.n_passes += 1
        return [normalized(o) for o in run(tree_reduce(parts, _combine_lists), self.label)]

    def _path(self, view, ws, r, k, alphas, order, starts):
        """The path of ``(l1_ratio r, fold k)`` on the columns ``ws``, along ``order``
        (decreasing strength), as a generator of DaskNewton's requests; returns the
        :class:`SolverResult` of every strength (in the order of ``alphas``). ``starts``
        (after the first working set): per strength, ``(w, b, result or None)``, the
        previous solution on ``ws`` and, when no feature violated there, its result (no
        solve)."""
        make = _restricted_maker(self.makers[r], ws)
        train = self.weights - self.fold_w[k]
        w, b = np.zeros(ws.size), None
        out = [None] * alphas.size
        last = []  # the last pass's point and statistics
        for i in order:
            solver = DaskNewton(self.est, view, self.classes, train, self.cw,
                                make(float(alphas[i])))
            if starts is not None:
                w, b, res = starts[i]
                if res is not None:  # no feature violated at this point: its solution
                    out[i] = res
                    continue
            b0 = solver.b_null if b is None or not self.fit_intercept else b
            res = yield from self._served(solver.steps(
                np.ascontiguousarray(w, dtype=np.float64), b0, self.tol, self.max_iter),
                last)
            w, b = np.asarray(res.coef, dtype=np.float64).copy(), float(res.intercept)
            out[i] = res
        return out

    @staticmethod
    def _served(steps, last):
        """Drive ``steps`` (:meth:`DaskNewton.steps`), passing its requests on, except a
        plain evaluation at a point one of the last two passes evaluated (``last``: ``[(w,
        b, stats)]``; the solution's statistics come from the pass before the one that
        certified it): the warm start of the next strength is the previous solution, whose
        statistics (loss, gradient, Hessian moments) do not depend on the strength. One
        pass per strength saved."""
        try:
            request = next(steps)
            while True:
                w, b, d, db, dual = request
                part = None
                if d is None and dual is None:
                    part = next((st for lw, lb, st in last
                                 if lb == b and np.array_equal(lw, w)), None)
                if part is None:
                    part = yield request
                    # the point evaluated: where the solver lands after a full step
                    at = (w, b) if d is None else (w + 1.0 * d, b + 1.0 * (db or 0.0))
                    last[:] = [*last[-1:], (at[0], at[1], part)]
                request = steps.send(part)
        except StopIteration as stop:
            return stop.value

    def paths_on(self, ws, alphas, starts):
        """Step 2: every ``(r, k)`` path on the columns ``ws``, all served by the same
        passes. ``alphas[r][k]``: the path's strengths; ``starts[(r, k)]``: the previous
        round's solutions (mapped to ``ws``) or None. Returns ``{(r, k): [results]}``.
        With few rows (:meth:`by_columns`), one gather pass and every path solved in
        memory instead (:meth:`_paths_from_rows`)."""
        if self.by_columns(ws.size):
            return self._paths_from_rows(ws, alphas)
        self.gathered = None
        view = replace(self.data, X=self.data.X[:, ws], feature_names=None)
        gens, pending, done = {}, {}, {}
        for r in range(len(self.ratios)):
            for k in range(self.K):
                a = alphas[r][k]
                order = np.argsort(-a, kind="stable")
                gen = self._path(view, ws, r, k, a, order, starts.get((r, k)))
                gens[(r, k)] = gen
                try:
                    pending[(r, k)] = next(gen)
                except StopIteration as stop:
                    done[(r, k)] = stop.value
        # the Hessian moments of every request are held per chunk: beyond NEWTON_PASS_BYTES
        # the requests are split over several passes (a fold's worth at least: the least
        # squares route holds every fold's moments in one pass too)
        budget = min(NEWTON_PASS_BYTES, FOLD_MOMENTS_FRACTION * worker_memory() / 3)
        batch = max(self.K, int(budget // (8 * max(ws.size, 1) ** 2 + 1)))
        while pending:
            keys = list(pending)[:batch]
            results = self._newton_pass(view, [(k[1], pending[k]) for k in keys])
            for key, res in zip(keys, results, strict=True):
                try:
                    pending[key] = gens[key].send(res)
                except StopIteration as stop:
                    del pending[key]
                    done[key] = stop.value
        return done

    def _paths_from_rows(self, ws, alphas):
        """:meth:`paths_on` from the gathered columns (one pass): every ``(r, k)`` path on
        its training rows in memory, solved as the in-memory estimator solves its folds,
        with the sample weights times the class weights and the penalty restricted to
        ``ws``."""
        self.n_passes += 1
        X, yi, sw, ids = gather_columns(self.data, ws, self.rule, self.offsets, self.label,
                                        labels=self.classes)
        self.gathered = (ws, X, yi, sw)
        y = np.where(yi == 1, 1.0, -1.0)
        s = sw * self.cw[yi]
        done = {}
        with warnings.catch_warnings():  # counted and reported once by run()
            warnings.simplefilter("ignore", ConvergenceWarning)
            for r, make in enumerate(self.makers):
                sub = _restricted_maker(make, ws)
                for k in range(self.K):
                    train = ids != k
                    done[(r, k)] = self._solve_rows(X[train], y[train], s[train], sub,
                                                    alphas[r][k])
        return done

    def _solve_rows(self, X, y, s, make, alphas):
        """One path's :class:`SolverResult` at every strength of ``alphas`` (in their
        order) on the rows ``X, y, s`` in memory: ``LogisticRegressionCV`` solves every
        ``C`` from zero (its in-memory folds' :class:`~sparsefit.linear_model.
        LogisticRegression` fits), ``SparseLogisticRegressionCV`` the warm-started path of
        :func:`~sparsefit.solvers.solve_path` (its in-memory folds')."""
        from ..datafits import Logistic
        from ..solvers import solve_path
        from ..solvers._outer import SolverResult

        if self.sklearn_scores:
            template = self.est._template(None)
            return [template._solve(X, y, s, Logistic(), make(float(a))) for a in alphas]
        path = solve_path(X, y, Logistic(), make, alphas=alphas, sample_weight=s,
                          **self.est._path_options())
        out = [None] * alphas.size
        # solve_path's grid is decreasing; its gaps are absolute (null_primal 1 keeps
        # absolute_gap); kkt_max is the KKT pass's, over every feature (see run)
        for j, i in enumerate(np.argsort(-alphas, kind="stable")):
            out[i] = SolverResult(coef=np.asarray(path.coefs[j], dtype=np.float64),
                                  intercept=float(path.intercepts[j]),
                                  dual_gap=float(path.dual_gaps[j]),
                                  n_iter=int(path.n_iters[j]),
                                  converged=bool(path.converged[j]), stop_crit=np.nan,
                                  kkt_max=np.nan, null_primal=1.0)
        return out

    # -- the working set ----------------------------------------------------------------

    def first_set(self, grads, alphas):
        """The basic strong rule at the smallest strength of every ``(r, k)`` path: the
        union of the kept features, the furthest into the model first, capped."""
        keep, rank_max = strong_union(self.p, (
            (make(float(np.min(alphas[r][k]))), np.ascontiguousarray(grads[:, k]))
            for r, make in enumerate(self.makers) for k in range(self.K)))
        first = first_set_cap(self)
        ws = np.flatnonzero(keep)
        if ws.size > first:
            ws = ws[np.argsort(-rank_max[ws], kind="stable")[:first]]
        return np.sort(ws)

    def points(self, alphas):
        """``(r, k, i)`` of every point, ratio by ratio, fold by fold, strength by
        strength."""
        pts = [(r, k, i) for r in range(len(self.ratios)) for k in range(self.K)
               for i in range(alphas[r][k].size)]
        return np.array(pts, dtype=np.int64).reshape(-1, 3)

    def kkt_and_scores(self, ws, alphas, done, pts):
        """Step 3: the largest violation of every feature outside ``ws`` over every point
        (0 where none), the held-out sums ``(weight, nll, correct)`` per point, the points'
        coefficients and intercepts, and which points no feature violates (solutions of
        the full problem: the next working set keeps them)."""
        m = pts.shape[0]
        W = np.empty((ws.size, m))
        B = np.empty(m)
        for j, (r, k, i) in enumerate(pts):
            res = done[(r, k)][i]
            W[:, j] = res.coef
            B[j] = float(res.intercept)
        worst = np.zeros(self.p)
        val = np.zeros((3, m))
        settled = np.zeros(m, dtype=bool)
        kkt = np.zeros(m)
        scores, rank = np.empty(self.p), np.empty(self.p)
        w = np.zeros(self.p)
        outside = np.ones(self.p, dtype=bool)
        outside[ws] = False
        for idx, st in self._point_batches(pts[:, 1].copy(), ws, W, B):
            grads = st.grad / st.weight[None, :]
            val[:, idx] = st.val_weight, st.val_nll, st.val_correct
            for j, q in enumerate(idx):
                r, k, i = pts[q]
                spec = describe(self.makers[r](float(alphas[r][k][i])), self.p).spec
                w[:] = 0.0
                w[ws] = W[:, q]
                compiled_unit_scores(spec, w, np.ascontiguousarray(grads[:, j]), scores, rank)
                settled[q] = not np.any(scores[outside] > 0)
                kkt[q] = scores.max(initial=0.0)
                np.maximum(worst, scores, out=worst)
        worst[ws] = 0.0
        return worst, val, W, B, settled, kkt

    def grow(self, ws, worst, W):
        """The working set with the violators (the worst first, at most as many as the set
        holds, at least 100); at the limit, rebuilt from the paths' supports and the
        violators; refused when they do not fit."""
        violators = np.flatnonzero(worst > 0)
        violators = violators[np.argsort(-worst[violators], kind="stable")]
        violators = violators[:max(ws.size, 100)]
        grown = np.union1d(ws, violators)
        if grown.size <= self.limit:
            return grown
        self.rebuilds += 1
        support = ws[np.any(W != 0, axis=1)]
        room = self.limit - support.size
        if room < 1 or self.rebuilds > MAX_REBUILDS:
            raise TooWideError(self._too_wide(support.size + violators.size))
        return np.union1d(support, violators[:room])

    def _too_wide(self, k):
        what = "give smaller Cs" if self.sklearn_scores else \
            "raise eps, give larger alphas"
        return (f"{self.label} on dask input: the cross-validation paths need {k} features "
                f"(the paths' supports and KKT violators), more than the "
                f"{self.newton_limit} columns whose Hessians the workers hold for {self.K} "
                f"folds (sparsefit.gram_max_features={gram_max_features()} and the workers' "
                f"memory_limit) or the {self.columns_limit} whose "
                f"{self.n_rows or 'unknown number of'} rows the client gathers "
                f"(sparsefit.gather_max_bytes={gather_max_bytes()}); {what} (sparser models "
                "at the end of the path), give the workers more memory, or select features "
                "first")

    def run(self, strengths):
        """Steps 1-3 until no feature violates. ``strengths(r, k, g_all)`` gives the
        strengths of the path ``(r, k)`` (``g_all``: the null gradient on all the rows).
        Returns ``(alphas, results, held-out sums (3, m), points, working set)``:
        ``results[(r, k)][i]`` a :class:`SolverResult` whose ``coef`` has all ``p``
        features."""
        grads = self.null_gradients()
        self.null_grad = np.ascontiguousarray(grads[:, -1])  # all the rows: the refit's
        alphas = [[np.asarray(strengths(r, k, grads[:, -1]), dtype=np.float64)
                   for k in range(self.K)] for r in range(len(self.ratios))]
        ws = self.first_set(grads[:, :self.K], alphas)
        pts = self.points(alphas)
        starts = {}
        while True:
            done = self.paths_on(ws, alphas, starts)
            self.rounds += 1
            worst, val, W, B, settled, kkt = self.kkt_and_scores(ws, alphas, done, pts)
            if not np.any(worst > 0):
                break
            if self.rounds >= max(self.max_iter, MAX_REBUILDS):
                warnings.warn(
                    f"{self.label} on dask input (wide route): KKT violators remain after "
                    f"{self.rounds} working sets (max_iter={self.max_iter}); the paths may "
                    "miss features. Increase max_iter.", ConvergenceWarning, stacklevel=4)
                break
            new = self.grow(ws, worst, W)
            # every point starts from its solution; the settled ones keep it (a rebuilt set
            # drops only columns no point uses)
            keep = np.isin(ws, new)
            at = np.searchsorted(new, ws[keep])
            starts = {}
            for j, (r, k, i) in enumerate(pts):
                res = done[(r, k)][i]
                w = np.zeros(new.size)
                w[at] = np.asarray(res.coef)[keep]
                starts.setdefault((r, k), [None] * alphas[r][k].size)[i] = (
                    w, float(res.intercept), replace(res, coef=w) if settled[j] else None)
            ws = new
        full = {key: [None] * len(results) for key, results in done.items()}
        n_bad = 0
        for j, (r, k, i) in enumerate(pts):
            res = done[(r, k)][i]
            coef = np.zeros(self.p)
            coef[ws] = res.coef
            # a path solved from the rows has no KKT measure of its own: the KKT pass's
            kkt_max = float(kkt[j]) if np.isnan(res.kkt_max) else res.kkt_max
            full[(r, k)][i] = replace(res, coef=coef, kkt_max=kkt_max)
            n_bad += not res.converged
        if n_bad:
            warnings.warn(f"{n_bad} of {pts.shape[0]} cross-validation fits did not reach "
                          f"tol={self.tol:.1e}: increase max_iter or tol, or scale X",
                          ConvergenceWarning, stacklevel=4)
        self.working_set = ws
        return alphas, full, val, pts


def _refit_start(cv, chosen):
    """The wide refit's start: the null gradient of all the rows (from the CV's null
    pass) and the union of the folds' supports at the chosen point."""
    support = np.flatnonzero(np.any([res.coef != 0 for res in chosen], axis=0))
    return cv.null_grad, support


def _refit_from_rows(cv, model, alpha, l1_ratio, **solver_kw):
    """The refit on all the rows from the last round's gathered columns (when its paths
    were solved from the rows): ``model`` solves it in memory as the in-memory estimator
    refits (the penalty restricted to the gathered columns), and one pass over every
    feature certifies it. Returns its :class:`SolverResult` (``coef`` over all ``p``
    features), or None when nothing was gathered or a feature outside the gathered columns
    violates its optimality condition (the wide refit runs then)."""
    from ..datafits import Logistic

    if cv.gathered is None:
        return None
    ws, X, yi, sw = cv.gathered
    pen = cv.est._make_penalty(cv.p, 2, l1_ratio)
    res = model._solve(X, np.where(yi == 1, 1.0, -1.0), sw * cv.cw[yi], Logistic(),
                       _restricted_maker(pen, ws)(alpha), **solver_kw)
    (_, st), = cv._point_batches(np.array([-1]), ws, np.asarray(res.coef)[:, None],
                                 np.array([float(res.intercept)]))
    w = np.zeros(cv.p)
    w[ws] = res.coef
    scores, rank = np.empty(cv.p), np.empty(cv.p)
    compiled_unit_scores(describe(pen(alpha), cv.p).spec, w,
                         np.ascontiguousarray(st.grad[:, 0] / st.weight[0]), scores, rank)
    outside = np.ones(cv.p, dtype=bool)
    outside[ws] = False
    if np.any(scores[outside] > 0):
        return None
    return replace(res, coef=w, kkt_max=float(scores.max(initial=0.0)))


def fit_wide_logistic_cv(est, data, rule):
    """:class:`~sparsefit.linear_model.SparseLogisticRegressionCV` beyond the feature
    limit (binary; see the module docstring). Returns the :class:`WideLogisticCV`."""
    from ..linear_model._base import solver_options
    from ..linear_model._cv import CVPath, check_alphas, select_alpha
    from ..solvers.path import alpha_grid
    from ._logistic import _cv_label_weights, fit_logistic

    name = type(est).__name__
    ratios = est._ratios()
    grid, n_alphas = est._grid(default=50)
    p = data.n_features
    why = WideLogisticCV.refusal(est, p, ratios)
    if why is not None:
        raise TooWideError(why)
    classes, counts, cw, weights, fold_w, offsets = _cv_label_weights(
        est, data, rule, name, wide=True)
    data = persisted(data)  # after the label passes: a refusal there reads no X
    est.classes_ = classes
    cv = WideLogisticCV(est, data, rule, classes, cw, weights, fold_w, offsets, ratios,
                        sklearn_scores=False)
    grids = {}

    def strengths(r, k, g_all):
        if r not in grids:
            if grid is not None:
                grids[r] = check_alphas(grid)
            else:
                pen1 = cv.makers[r](1.0)
                amax = pen1.alpha_max(np.ascontiguousarray(g_all)) / pen1.strength
                grids[r] = alpha_grid(amax if np.isfinite(amax) and amax > 0 else 1.0,
                                      n_alphas, est.eps)
        return grids[r]

    alphas, results, val, pts = cv.run(strengths)
    paths = []
    for r in range(len(ratios)):
        a = alphas[r][0]
        losses = np.empty((a.size, cv.K))
        for j, (rr, k, i) in enumerate(pts):
            if rr == r:
                losses[i, k] = val[1, j] / val[0, j]
        mean, se, i_min, i_1se = select_alpha(a, losses)
        paths.append(CVPath(a, losses, mean, se, float(a[i_min]), float(a[i_1se])))
    est._store_paths(ratios, paths)
    best = int(np.flatnonzero(ratios == est.l1_ratio_)[0])
    i = int(np.flatnonzero(paths[best].alphas == est.alpha_)[0])
    chosen = [results[(best, k)][i] for k in range(cv.K)]
    if est.refit:
        res = _refit_from_rows(cv, est, est.alpha_, est.l1_ratio_,
                               **solver_options(est))
        if res is not None:  # the gathered columns hold it: one pass certifies it
            est._set_solution(res, data.dtype, 2)
            return cv
        # the refit starts from the CV's null pass and the folds' supports at the chosen
        # point: no label pass, no null pass
        fit_logistic(est, data, alpha=est.alpha_, l1_ratio=est.l1_ratio_,
                     labels=(classes, counts), wide_start=_refit_start(cv, chosen))
        return cv
    coefs, intercepts = [], []
    for res in chosen:
        est._set_solution(res, data.dtype, 2)
        coefs.append(est.coef_)
        intercepts.append(est.intercept_)
    est.coef_ = np.mean(coefs, axis=0).astype(data.dtype)
    est.intercept_ = np.mean(intercepts, axis=0).astype(data.dtype)
    est.n_iter_ = int(max(res.n_iter for res in chosen))
    est.dual_gap_ = float("nan")  # an average of solutions solves no single problem
    est.converged_ = True
    return cv


def fit_wide_sklearn_logistic_cv(est, data, rule, refit_on_dask, penalty, l1_ratios,
                                 scoring, legacy):
    """:class:`~sparsefit.linear_model.LogisticRegressionCV` beyond the feature limit
    (binary, ``penalty`` l1 / elasticnet; see the module docstring): every fold's ``Cs``
    as one warm-started path on the working set (the optimum of each ``C`` is the one the
    in-memory estimator's fit from zero reaches); scores from the KKT pass."""
    from ._logistic import _cv_label_weights

    name = type(est).__name__
    Cs, ratios = est._grids(penalty, l1_ratios)
    p = data.n_features
    why = WideLogisticCV.sklearn_refusal(est, p, penalty, l1_ratios)
    if why is not None:
        raise TooWideError(why)
    classes, counts, cw, weights, fold_w, offsets = _cv_label_weights(
        est, data, rule, name, wide=True)
    data = persisted(data)  # after the label passes: a refusal there reads no X
    est.classes_ = classes
    cv = WideLogisticCV(est, data, rule, classes, cw, weights, fold_w, offsets, ratios,
                        sklearn_scores=True)

    def strengths(r, k, g_all):
        total = float((weights - fold_w[k]).sum())
        return 1.0 / (Cs * total)

    alphas, results, val, pts = cv.run(strengths)
    if not np.all(val[0] > 0):
        raise ValueError(f"{name}: a cross-validation fold has sample weights summing to 0: "
                         "use fewer folds (cv) or more groups")
    per_point = (val[2] if scoring in (None, "accuracy") else -val[1]) / val[0]
    n_folds, n_r, n_cs = rule.n_splits, len(ratios), Cs.size
    scratch = est._template(None)
    coefs = np.empty((n_folds, n_r, n_cs), dtype=object)
    iters = np.empty((n_folds, n_r, n_cs), dtype=np.int64)
    scores = np.empty((n_folds, n_r, n_cs))
    for j, (r, k, i) in enumerate(pts):
        res = results[(r, k)][i]
        scratch._set_solution(res, data.dtype, 2)
        w = scratch.coef_
        if est.fit_intercept:
            w = np.column_stack([w, scratch.intercept_])
        coefs[k, r, i] = w
        iters[k, r, i] = scratch.n_iter_
        scores[k, r, i] = per_point[j]
    coefs = np.asarray(coefs.tolist())
    template = est._template(None if est.class_weight is None
                             else dict(zip(classes.tolist(), cw)))

    def refit(C, r):
        from sklearn.base import clone

        ic, ir = int(np.flatnonzero(Cs == C)[0]), ratios.index(r)
        model = clone(template).set_params(C=C, l1_ratio=r)
        alpha = 1.0 / (C * float(weights.sum()))
        res = _refit_from_rows(cv, model, alpha, r, verbose=0)
        if res is not None:  # the gathered columns hold it: one pass certifies it
            model.classes_, model.alpha_ = classes, alpha
            model._set_solution(res, data.dtype, 2)
            model.n_iter_ = np.array([model.n_iter_], dtype=np.int32)
            return model
        chosen = [results[(ir, k)][ic] for k in range(cv.K)]
        return refit_on_dask(model, data, labels=(classes, counts),
                             wide_start=_refit_start(cv, chosen))

    est._select(coefs, iters, scores, Cs, ratios, penalty, l1_ratios is None, legacy, p,
                refit)
    return cv
