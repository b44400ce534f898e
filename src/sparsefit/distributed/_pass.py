"""One pass over the chunks of a dask input: a NumPy kernel per chunk, a pairwise tree
reduction, one ``compute``; chunk checks that name the chunk of a bad value."""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np
import scipy.sparse as sp

from ..linear_model._folds import block_folds, group_folds, position_folds, stratified_folds
from ..solvers.moments import Moments

#: Default for ``dask.config`` key ``sparsefit.gram_max_features``: the most features the
#: one-pass covariance route takes (its statistics are ``p^2`` float64 per fold).
GRAM_MAX_FEATURES = 10_000


def gram_max_features():
    """The feature limit of the covariance route: ``dask.config`` key
    ``sparsefit.gram_max_features`` (default 10,000)."""
    return int(dask.config.get("sparsefit.gram_max_features", GRAM_MAX_FEATURES))


#: A cross-validation pass's per-fold moments may take this fraction of the smallest
#: worker's memory.
FOLD_MOMENTS_FRACTION = 0.35


def fold_moments_limit(n_folds):
    """The most columns whose per-fold moments one pass can reduce: a task combining two
    chunks' partial results holds about three lists of ``n_folds`` matrices of ``k^2``
    float64, within :data:`FOLD_MOMENTS_FRACTION` of the smallest worker's
    ``memory_limit`` (2,415 columns for 5 folds on workers of 2 GB); never more than
    :func:`gram_max_features`.

    Examples
    --------
    >>> fold_moments_limit(5) <= gram_max_features()
    True
    """
    from ._cache import worker_memory

    k = int(np.sqrt(FOLD_MOMENTS_FRACTION * worker_memory() / (3 * 8 * max(n_folds, 1))))
    return max(1, min(gram_max_features(), k))


#: Bytes of working-set columns (every row, as float64) the client may gather to solve the
#: paths of a wide cross-validation in memory, rather than from per-fold moments
#: (``dask.config`` key ``sparsefit.gather_max_bytes``).
GATHER_MAX_BYTES = 2 ** 30


def gather_max_bytes():
    """The client's budget for gathered columns: ``dask.config`` key
    ``sparsefit.gather_max_bytes`` (default 1 GiB)."""
    return int(dask.config.get("sparsefit.gather_max_bytes", GATHER_MAX_BYTES))


def columns_limit(n_rows, p, counts=None):
    """The most columns of ``n_rows`` rows the client gathers within
    :func:`gather_max_bytes` (never more than ``p``, 0 when the number of rows is unknown).
    Dense chunks: each column counted as ``n_rows`` float64. Sparse chunks (``counts``, the
    stored entries of every column, from a pass): each column as its entries (8-byte value
    and 4-byte index), plus the rows' own arrays (the target, the weights, the folds and
    the row pointers, 8 bytes each); any ``k`` columns up to the limit fit, the heaviest
    ``k`` too.

    Examples
    --------
    >>> columns_limit(10 ** 6, 10 ** 5) < 200  # dense: 8 MB a column
    True
    >>> columns_limit(10 ** 6, 10 ** 5, counts=np.full(10 ** 5, 100))  # 1.2 kB a column
    100000
    """
    if n_rows is None:
        return 0
    if counts is None:
        return min(p, gather_max_bytes() // (8 * max(int(n_rows), 1)))
    room = gather_max_bytes() - 32 * int(n_rows)
    if room <= 0:
        return 0
    heaviest = np.cumsum(12 * np.sort(np.asarray(counts, dtype=np.float64))[::-1])
    return min(p, int(np.searchsorted(heaviest, room, side="right")))


def gathered_numbers(k, n_rows, counts=None):
    """The numbers (float64 equivalents) the client holds for ``k`` gathered columns: ``k``
    dense columns of ``n_rows``, or with ``counts`` (sparse chunks) the ``k`` heaviest
    columns' entries and the rows' arrays (see :func:`columns_limit`).

    Examples
    --------
    >>> gathered_numbers(3, 100)
    300
    >>> gathered_numbers(2, 100, counts=np.array([4, 8, 2]))
    418.0
    """
    if counts is None:
        return int(n_rows) * k
    top = np.sort(np.asarray(counts, dtype=np.float64))[::-1][:k]
    return 1.5 * float(top.sum()) + 4 * int(n_rows)


def gathers_columns(k, n_rows, n_held, columns_limit, moments_limit, counts=None):
    """Whether a wide cross-validation round gathers its ``k`` working-set columns of every
    row on the client (and solves the paths there, in memory) rather than reduce per-path
    ``k x k`` moments on the workers: when the columns fit the client's budget
    (``columns_limit``, see :func:`columns_limit`) and either hold fewer numbers than the
    ``n_held`` matrices of ``k^2`` moments a pass of the other route holds (dense:
    ``n_rows < n_held k``, few rows, many features; sparse chunks, with their columns'
    ``counts``: :func:`gathered_numbers`), or those moments would not fit the workers
    (``k > moments_limit``).

    Examples
    --------
    >>> gathers_columns(300, 60, 5, columns_limit=300, moments_limit=40)
    True
    >>> gathers_columns(30, 2000, 5, columns_limit=300, moments_limit=40)
    False
    >>> gathers_columns(30, 2000, 5, columns_limit=300, moments_limit=40,
    ...                 counts=np.full(300, 4))  # sparse: 180 entries + the rows' arrays
    False
    """
    if k > columns_limit or k == 0:
        return False
    return k > moments_limit or gathered_numbers(k, n_rows, counts) <= n_held * k * k


def chunk_columns(X, y, sw, groups, index, start, rule, cols, labels=None):
    """One chunk's columns ``cols`` (dense, or CSR), ``y`` (with ``labels``, the sorted
    class labels: the positions of its labels in them), sample weights (ones when none
    are given) and the rows' folds; checks the values it returns."""
    X, sw = as_block(X), as_vector(sw)
    if labels is None:
        y = as_vector(y)
    else:
        y = np.searchsorted(labels, np.asarray(y).reshape(-1))
    g = None if groups is None else np.asarray(groups).reshape(-1)
    X = X[:, cols]
    check_chunk(index, start, X, y, sw, g, y_numeric=labels is None)
    n = X.shape[0]
    return (X, y, np.ones(n) if sw is None else sw,
            np.zeros(n, dtype=np.int64) if rule is None else rule.ids(
                start, n, g, None if labels is None else np.asarray(labels)[y]))


def gather_columns(data, cols, rule, offsets, label, labels=None):
    """The columns ``cols`` of every row on the client, in one pass: ``(X, y, sw, folds)``
    (``X`` dense, or CSR when the chunks are sparse; ``y`` the class indices in
    ``labels`` when given; the folds all 0 without a ``rule``)."""
    parts = [dask.delayed(chunk_columns, pure=True)(
        Xb, yb, wb, gb, i, None if offsets is None else int(offsets[i]), rule, cols, labels)
        for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
    parts = run(parts, label)
    return (stack_rows([q[0] for q in parts]),) + tuple(
        np.concatenate([q[i] for q in parts]) for i in (1, 2, 3))


def stack_rows(blocks):
    """Chunks of rows stacked: CSR when any chunk is sparse (a dense chunk among sparse
    ones joins as CSR), else dense."""
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
    return np.concatenate(blocks)


def one_pass_limit():
    """The most columns whose moments (or Hessian) one pass reduces: :func:`fold_moments_limit`
    of one fold, i.e. :func:`gram_max_features` unless the smallest worker's
    ``memory_limit`` holds less (5,400 columns on workers of 2 GB).

    Examples
    --------
    >>> one_pass_limit() <= gram_max_features()
    True
    """
    return fold_moments_limit(1)


class TooWideError(ValueError):
    """More features than a route's statistics hold, an estimator with no route for so
    many (both refused before any pass over ``X``), or a wide route's working set grown
    past the limit (after its passes). On dask input the data may still be gathered and
    fitted in memory when they fit the client
    (:func:`~sparsefit.distributed._gathered.fit_gathered`)."""


def check_gram_limit(est, p, what="the one-pass covariance route",
                     advice="fit Lasso, ElasticNet, LassoCV, ElasticNetCV, GroupLasso, "
                     "SparseGroupLasso, MCPRegressor, SCADRegressor, LogSumRegressor, "
                     "AdaptiveLasso, RelaxedLasso, PriorLasso, MultiTaskLasso or "
                     "MultiTaskElasticNet "
                     "(their wide route takes any p), select features first, or fit in "
                     "memory", n_folds=None):
    """Refuse more features than the covariance / Hessian routes take, with the advice;
    ``n_folds``: a cross-validation pass, whose limit is also :func:`fold_moments_limit`."""
    limit = fold_moments_limit(1 if n_folds is None else n_folds)
    if p > limit:
        per = "" if n_folds is None else f" per fold, {n_folds} folds in the workers' memory"
        raise TooWideError(
            f"{type(est).__name__} on dask input: X has p={p} features, more than the "
            f"{limit} of {what} (its statistics hold p^2 = {float(p) ** 2:.1e} numbers"
            f"{per}); {advice}. The limit is dask.config 'sparsefit.gram_max_features' "
            "and the workers' memory_limit.")


def _where(index, start, n):
    if start is None:
        return f"chunk {index}"
    return f"chunk {index} (rows {start}..{start + n - 1})"


def _finite(a):
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(a))) or bool(np.all(np.isfinite(a)))


def check_chunk(index, start, X, y, sw=None, groups=None, y_numeric=True):
    """Refuse a chunk whose values are unusable, naming the chunk (and its rows when the
    chunk offsets are known): NaN or infinity, negative weights, lengths that differ."""
    n = X.shape[0]
    where = _where(index, start, n)
    for name, v in (("y", y), ("sample_weight", sw), ("groups", groups)):
        if v is not None and v.shape[0] != n:
            raise ValueError(f"{where}: X has {n} rows but {name} has {v.shape[0]}")
    data = X.data if sp.issparse(X) else X
    if data.size and not _finite(data):
        raise ValueError(f"Input X contains NaN or infinity in {where}")
    if y is not None and y_numeric and y.size and not _finite(y):
        raise ValueError(f"Input y contains NaN or infinity in {where}")
    if sw is not None and sw.size:
        if not _finite(sw):
            raise ValueError(f"sample_weight contains NaN or infinity in {where}")
        if np.any(sw < 0):
            raise ValueError(f"sample_weight has negative values in {where}")


def as_block(X):
    """A chunk of ``X`` as float64 dense or CSR (a float32 chunk stays float32)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    X = np.asarray(X)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def as_vector(v, dtype=np.float64):
    return None if v is None else np.asarray(v, dtype=dtype).reshape(-1)


@dataclass(frozen=True)
class FoldRule:
    """How a chunk's rows get their folds: from a seeded hash of their global positions,
    or of their ``groups`` labels (see :mod:`sparsefit.linear_model._folds`), or, given
    ``n_rows``, scikit-learn's ``KFold`` blocks of positions, or, given ``strata``, its
    ``StratifiedKFold`` (from the labels ``y`` and each chunk's counts before it)."""

    n_splits: int
    seed: int
    by_groups: bool
    n_rows: int | None = None
    strata: tuple | None = None  # (classes, codes, bounds, {start: counts before})

    def ids(self, start, n, groups, y=None):
        if self.by_groups:
            return group_folds(groups, self.n_splits, self.seed)
        if self.strata is not None:
            return stratified_folds(y, start, *self.strata)
        if self.n_rows is not None:
            return block_folds(start, start + n, self.n_splits, self.n_rows)
        return position_folds(start, start + n, self.n_splits, self.seed)


def chunk_moments(X, y, sw, groups, index, start, folds=None, cols=None):
    """The kernel of the one pass: this chunk's :class:`Moments` (a list, one per fold,
    when ``folds`` is a :class:`FoldRule`), of the columns ``cols`` only when given."""
    y = np.asarray(y, dtype=np.float64)
    X, y, sw = as_block(X), y if y.ndim == 2 else y.reshape(-1), as_vector(sw)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    if cols is not None:
        X = X[:, cols]
    check_chunk(index, start, X, y, sw, g)
    if folds is None:
        return Moments.from_arrays(X, y, sw)
    ids = folds.ids(start, X.shape[0], g)
    return [Moments.from_arrays(X[ids == k], y[ids == k], None if sw is None else
                                sw[ids == k]) for k in range(folds.n_splits)]


def combine_pair(a, b):
    """Chan's pairwise combination, element by element for per-fold lists."""
    if isinstance(a, list):
        return [x.combine(z) for x, z in zip(a, b, strict=True)]
    return a.combine(b)


def tree_reduce(parts, combine=combine_pair):
    """Delayed pairwise tree over ``parts`` (depth ``log2(len(parts))``)."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(parts[i], parts[i + 1])
                 if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def run(graph, label):
    """Compute a delayed object on the active scheduler (a ``distributed.Client`` when one
    exists), with a progress bar when ``dask.config`` key ``sparsefit.progress`` is true.
    A worker lost for good (``KilledWorker``) or a cancelled computation is reported as
    one error: no model is fitted from a partial pass."""
    client = _client()
    try:
        if client is not None and dask.config.get("sparsefit.progress", False):
            from distributed import progress

            future = client.compute(graph)
            progress(future)
            return client.gather(future) if isinstance(future, list) else future.result()
        return dask.compute(graph)[0]
    except Exception as err:
        if type(err).__name__ in ("KilledWorker", "CancelledError", "FutureCancelledError"):
            raise RuntimeError(f"the distributed pass for {label} failed ({type(err).__name__}:"
                               f" {err}); no model was fitted. Check the workers' memory "
                               "and logs, then fit again.") from err
        raise


def _client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def moments_pass(data, folds=None, label="the moments", cols=None, offsets=None):
    """:class:`Moments` of the whole data (or the list of per-fold moments) in one pass;
    of the columns ``cols`` of ``X`` only, when given. ``offsets``: the chunks' row
    offsets when the caller has them (a multi-pass route computes them once)."""
    if offsets is None:
        offsets = data.row_offsets(need=folds is not None and not folds.by_groups)
    parts = [dask.delayed(chunk_moments, pure=True)(
        Xb, yb, wb, gb, i, None if offsets is None else int(offsets[i]), folds, cols)
        for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
    return run(tree_reduce(parts), label)
