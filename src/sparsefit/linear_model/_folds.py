r"""Cross-validation folds from a seeded hash: the same folds in memory and on a cluster.

A row's fold is a function of its global position (or of its group) and a seed only,

.. math:: \mathrm{fold}(i) = h(i \oplus h(\mathrm{seed})) \bmod K,

with :math:`h` the splitmix64 finalizer (Steele, Lea and Flood, 2014): every chunk of a
dask array computes the folds of its own rows with no communication, and
:class:`HashKFold` reproduces them on data in memory. Folds are KFold-like in size
(about ``n / K`` rows each, multinomially spread) but not contiguous: a sorted file is not
cut into its first and last fifths.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection._split import GroupsConsumerMixin

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x):
    """The splitmix64 finalizer of an array of uint64 (a bijection that mixes every bit)."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _seed_key(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (Integral, np.integer)) or \
            seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return splitmix64(np.array([seed], dtype=np.uint64))[0]


def _check_splits(n_splits):
    if isinstance(n_splits, (bool, np.bool_)) or not isinstance(n_splits, (Integral,
                                                                            np.integer)) \
            or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    return int(n_splits)


def position_folds(start, stop, n_splits, seed=0):
    """Folds of the rows at global positions ``start .. stop - 1`` (int64 array)."""
    pos = np.arange(start, stop, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (splitmix64(pos ^ _seed_key(seed)) % np.uint64(n_splits)).astype(np.int64)


def block_folds(start, stop, n_splits, n_rows):
    """Folds of the rows at global positions ``start .. stop - 1`` of ``n_rows`` rows as
    scikit-learn's unshuffled ``KFold(n_splits)`` gives them: consecutive blocks, the first
    ``n_rows % n_splits`` one row longer (int64 array).

    Examples
    --------
    >>> block_folds(0, 7, 3, 7).tolist()
    [0, 0, 0, 1, 1, 2, 2]
    """
    sizes = np.full(n_splits, n_rows // n_splits, dtype=np.int64)
    sizes[:n_rows % n_splits] += 1
    return np.searchsorted(np.cumsum(sizes), np.arange(start, stop), side="right")


def stratified_allocation(counts, n_splits):
    """scikit-learn's unshuffled ``StratifiedKFold`` allocation: ``(n_splits, n_classes)``
    rows of each class (classes coded by first appearance, ``counts`` per code) that go
    to each fold, as ``np.bincount(np.sort(codes)[i::n_splits])`` gives them, from the
    counts alone (no array of all the labels)."""
    counts = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    i = np.arange(n_splits)[:, None]

    def upto(x):  # positions j < x with j = i (mod n_splits)
        return np.where(x > i, (x - i + n_splits - 1) // n_splits, 0)

    return upto(ends[None, :]) - upto(starts[None, :])


def stratified_folds(y, start, classes, codes, bounds, prefix):
    """Folds of a chunk's rows (labels ``y``, first row at global position ``start``) as
    scikit-learn's unshuffled ``StratifiedKFold`` gives them: the rows of a class, in
    order, fill fold 0, then 1, ...; ``classes`` sorted, ``codes`` their first-appearance
    codes, ``bounds`` the cumulated allocation (n_classes, n_splits) and ``prefix`` each
    chunk's rows of each code before it (by the chunk's first position)."""
    c = codes[np.searchsorted(classes, np.asarray(y).reshape(-1))]
    rank = np.asarray(prefix[int(start)], dtype=np.int64)[c].copy()
    out = np.empty(c.size, dtype=np.int64)
    for k in np.unique(c):
        rows = np.flatnonzero(c == k)
        r = rank[rows] + np.arange(rows.size)
        out[rows] = np.searchsorted(bounds[k], r, side="right")
    return out


def group_keys(groups):
    """64-bit keys of group labels: integers as they are, floats by their bits, anything
    else (strings, objects) through pandas' stable hash."""
    g = np.asarray(groups)
    if g.dtype.kind in "iub":
        return g.astype(np.int64).view(np.uint64)
    if g.dtype.kind == "f":
        if not np.all(np.isfinite(g)):
            raise ValueError("groups contains NaN or infinity")
        return (g.astype(np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 is 0.0
    import pandas as pd

    return pd.util.hash_array(g.astype(object), categorize=False).astype(np.uint64)


def group_folds(groups, n_splits, seed=0):
    """Folds of rows from their group labels: all rows of a group share a fold."""
    with np.errstate(over="ignore"):
        return (splitmix64(splitmix64(group_keys(groups)) ^ _seed_key(seed))
                % np.uint64(n_splits)).astype(np.int64)


class HashKFold(GroupsConsumerMixin):
    """K-fold cross-validation with folds from a seeded hash of the row positions (or of
    the ``groups`` labels, when given: then no group is split across folds).

    It requests ``groups`` through scikit-learn's metadata routing (as ``GroupKFold``
    does): ``LassoCV(cv=HashKFold(5)).fit(X, y, groups=g)`` under
    ``sklearn.set_config(enable_metadata_routing=True)``. On dask input the groups are
    taken directly.

    The folds of a dask input are computed the same way chunk by chunk, so ``LassoCV(cv=
    HashKFold(5, seed=1))`` selects the same ``alpha_`` in memory and on a cluster, and an
    integer ``cv`` on dask input means ``HashKFold(cv, seed=0)`` (``cv=None``: 5 folds).

    Parameters
    ----------
    n_splits : int, default=5
    seed : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import HashKFold
    >>> folds = HashKFold(3, seed=0)
    >>> [test.size for _, test in folds.split(np.zeros((30, 2)))]
    [8, 12, 10]
    """

    def __init__(self, n_splits=5, seed=0):
        self.n_splits = _check_splits(n_splits)
        _seed_key(seed)
        self.seed = int(seed)

    def fold_ids(self, n_samples, groups=None):
        """The fold of each of ``n_samples`` rows."""
        if groups is not None:
            g = np.asarray(groups)
            if g.shape[:1] != (n_samples,) or g.ndim != 1:
                raise ValueError(f"groups must have one label per row ({n_samples}), got "
                                 f"shape {g.shape}")
            return group_folds(g, self.n_splits, self.seed)
        return position_folds(0, n_samples, self.n_splits, self.seed)

    def split(self, X, y=None, groups=None):
        """``(train, test)`` index arrays of every fold; an empty fold is refused."""
        n = X.shape[0]
        ids = self.fold_ids(n, groups)
        for k in range(self.n_splits):
            test = np.flatnonzero(ids == k)
            if test.size == 0 or test.size == n:
                raise ValueError(f"HashKFold: fold {k} of {self.n_splits} has "
                                 f"{test.size} of {n} rows; use fewer splits (or more "
                                 "groups)")
            yield np.flatnonzero(ids != k), test

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def __repr__(self):
        return f"HashKFold(n_splits={self.n_splits}, seed={self.seed})"
