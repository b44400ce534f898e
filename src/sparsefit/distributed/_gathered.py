"""What has no route for wide dask data, with data the client holds: gathered, then fitted
in memory.

The covariance and Newton routes refuse more features than their statistics hold
(:func:`~sparsefit.distributed._pass.check_gram_limit`); some estimators have no wide
route beyond that limit (the multinomial CV estimators, ``MultiTaskLassoCV`` /
``MultiTaskElasticNetCV``, ``PriorLassoCV``, ``FusedLasso``; a logistic CV with no L1 part
or with unpenalized features), and the wide routes refuse a working set that outgrows the
limit. Those refusals raise :class:`TooWideError`. When the whole data set fits the
client's budget for gathered columns (``sparsefit.gather_max_bytes``, 1 GiB by default:
dense ``X`` counted as ``8 n p`` bytes, sparse chunks as their stored entries, 12 bytes
each, counted by one pass unless even dense they fit; ``y``, the weights and the groups 8
bytes a value), :func:`fit_gathered` reads every chunk once (checking its values as every
pass does) and fits a clone of the estimator on the rows in memory, with the dask route's
folds (a ``PredefinedSplit`` of them: an integer ``cv`` gives scikit-learn's blocks of the
rows, or with ``groups`` the hashed groups, as on dask), a ``warm_start`` estimator from its
fitted state, and a DataFrame's column names: the in-memory answer. This is the genomics
shape (a few hundred rows, 10^4-10^5 features); beyond the budget the refusal stands, with
the bytes it would take (dense chunks: before any read of ``X``).

The budget counts the gathered data, not the in-memory fit's own working memory: measured
in review, the client's peak was 5-6.5 times the counted bytes for dense data
(``FusedLasso``, which makes ``X`` dense, is counted as dense).
"""

from __future__ import annotations

import dask
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from ._pass import (
    TooWideError,
    as_block,
    as_vector,
    check_chunk,
    gather_max_bytes,
    run,
    stack_rows,
)


def _chunk_entries(X):
    """Stored entries of a chunk (every value for a dense one)."""
    X = as_block(X)
    return int(X.nnz) if sp.issparse(X) else int(X.shape[0] * X.shape[1])


def _chunk_rows(X, y, sw, groups, index, start, rule):
    """One chunk's rows as in memory: ``(X, y, sw, folds)``, their values checked (the
    folds from ``rule``, a :class:`~._pass.FoldRule`, or None)."""
    X, sw = as_block(X), as_vector(sw)
    y = np.asarray(y)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    check_chunk(index, start, X, y, sw, g,
                y_numeric=np.issubdtype(y.dtype, np.number) or y.dtype == bool)
    ids = None if rule is None else rule.ids(start, X.shape[0], g, y.reshape(-1))
    return X, y, sw, ids


def gathered_bytes(data, dense=False):
    """``(bytes, offsets)``: the bytes of ``data`` held on the client (see the module
    docstring; ``dense``: sparse chunks counted as dense, for an estimator that densifies
    ``X``) and the chunks' row offsets. Sparse chunks are read once to count their
    entries, unless even dense they fit the budget."""
    offsets = data.row_offsets(need=True)
    n = int(offsets[-1])
    others = (data.n_targets or 1) + sum(v is not None for v in (data.sample_weight,
                                                                  data.groups))
    rows = 8 * n * others
    x_bytes = 8 * n * data.n_features
    if not dense and sp.issparse(getattr(data.X, "_meta", None)) and \
            x_bytes + rows > gather_max_bytes():
        parts = [dask.delayed(_chunk_entries, pure=True)(Xb) for Xb, _, _, _ in data.blocks()]
        x_bytes = 12 * sum(run(dask.delayed(list)(parts), "counting the entries of X"))
    return x_bytes + rows, offsets


def fit_gathered(est, data, refusal, rule=None):
    """Fit ``est`` on ``data`` gathered on the client, when it fits the budget; else raise
    ``refusal`` (a :class:`TooWideError`) with the bytes it would take. ``rule``: a CV
    estimator's folds on dask (:func:`~._estimators.fold_rule`), given to the in-memory
    fit as a ``PredefinedSplit`` (the same folds, with or without ``groups``). A
    ``warm_start`` estimator starts from its fitted state; a DataFrame's column names
    reach the in-memory fit. Returns ``est`` with the in-memory fit's attributes."""
    from sklearn.model_selection import PredefinedSplit

    from ..linear_model._fused import FusedLasso

    need, offsets = gathered_bytes(data, dense=isinstance(est, FusedLasso))
    budget = gather_max_bytes()
    if need > budget:
        raise TooWideError(
            f"{refusal} Gathering the data to fit in memory would take {need:,} bytes on "
            f"the client, more than sparsefit.gather_max_bytes={budget:,} (raise it if "
            "the client holds them).") from None
    parts = [dask.delayed(_chunk_rows, pure=True)(Xb, yb, wb, gb, i, int(offsets[i]), rule)
             for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
    parts = run(dask.delayed(list)(parts), f"{type(est).__name__}, gathering the rows")
    X = stack_rows([q[0] for q in parts])
    y = np.concatenate([q[1] for q in parts])
    kwargs = {}
    if data.sample_weight is not None:
        kwargs["sample_weight"] = np.concatenate([q[2] for q in parts])
    ids = None if rule is None else np.concatenate([q[3] for q in parts])
    del parts  # (the chunks: one copy of X less while the fit runs)
    if data.feature_names is not None and not sp.issparse(X):
        import pandas as pd

        X = pd.DataFrame(X, columns=data.feature_names, copy=False)
    local = clone(est)
    if ids is not None:
        local.set_params(cv=PredefinedSplit(ids))
    params = set(est.get_params(deep=False))
    if getattr(est, "warm_start", False):
        for name, value in vars(est).items():
            if name not in params:
                setattr(local, name, value)
    local.fit(X, y, **kwargs)
    for name, value in vars(local).items():
        if name not in params:
            setattr(est, name, value)
    return est
