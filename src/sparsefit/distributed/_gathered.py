"""What has no route for wide dask data, with data the client holds: gathered, then fitted
in memory.

The covariance and Newton routes refuse more features than their statistics hold
(:func:`~sparsefit.distributed._pass.check_gram_limit`), and some estimators have no wide
route beyond that limit (the multinomial CV estimators, ``MultiTaskLassoCV`` /
``MultiTaskElasticNetCV``, ``PriorLassoCV``, ``FusedLasso``; a logistic CV with no L1 part
or with unpenalized features). Those refusals raise :class:`TooWideError`. When the whole
data set fits the client's budget for gathered columns (``sparsefit.gather_max_bytes``,
1 GiB by default: dense ``X`` counted as ``8 n p`` bytes, sparse chunks as their stored
entries, 12 bytes each, which one pass counts; ``y``, the weights and the groups 8 bytes a
value), :func:`fit_gathered` reads every chunk once (checking its values as every pass
does), and fits a clone of the estimator on the rows in memory: the same folds (an integer
``cv`` is scikit-learn's blocks of the rows in their order, a
:class:`~sparsefit.linear_model.HashKFold` hashes the same positions or groups), hence the
in-memory estimator's answer. This is the genomics shape (a few hundred rows, 10^4-10^5
features); beyond the budget the refusal stands, with the bytes it would take.
"""

from __future__ import annotations

import dask
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from ._pass import TooWideError, as_block, as_vector, check_chunk, gather_max_bytes, run


def _chunk_entries(X):
    """Stored entries of a chunk (every value for a dense one)."""
    X = as_block(X)
    return int(X.nnz) if sp.issparse(X) else int(X.shape[0] * X.shape[1])


def _chunk_rows(X, y, sw, groups, index, start):
    """One chunk's rows as in memory: ``(X, y, sw, groups)``, their values checked."""
    X, sw = as_block(X), as_vector(sw)
    y = np.asarray(y)
    g = None if groups is None else np.asarray(groups).reshape(-1)
    check_chunk(index, start, X, y, sw, g,
                y_numeric=np.issubdtype(y.dtype, np.number) or y.dtype == bool)
    return X, y, sw, g


def gathered_bytes(data):
    """The bytes of ``data`` held on the client (see the module docstring); reads the
    sparse chunks once to count their entries."""
    offsets = data.row_offsets(need=True)
    n = int(offsets[-1])
    meta = getattr(data.X, "_meta", None)
    if sp.issparse(meta):
        parts = [dask.delayed(_chunk_entries, pure=True)(Xb) for Xb, _, _, _ in data.blocks()]
        x_bytes = 12 * sum(run(dask.delayed(list)(parts), "counting the entries of X"))
    else:
        x_bytes = 8 * n * data.n_features
    n_y = data.n_targets or 1
    others = n_y + sum(v is not None for v in (data.sample_weight, data.groups))
    return x_bytes + 8 * n * others, offsets


def fit_gathered(est, data, refusal):
    """Fit ``est`` on ``data`` gathered on the client, when it fits the budget; else raise
    ``refusal`` (a :class:`TooWideError`) with the bytes it would take. Returns ``est``
    with the in-memory fit's attributes."""
    need, offsets = gathered_bytes(data)
    budget = gather_max_bytes()
    if need > budget:
        raise TooWideError(
            f"{refusal} Gathering the data to fit in memory would take {need:,} bytes on "
            f"the client, more than sparsefit.gather_max_bytes={budget:,} (raise it if "
            "the client holds them).") from None
    parts = [dask.delayed(_chunk_rows, pure=True)(Xb, yb, wb, gb, i, int(offsets[i]))
             for i, (Xb, yb, wb, gb) in enumerate(data.blocks())]
    parts = run(dask.delayed(list)(parts), f"{type(est).__name__}, gathering the rows")
    X = [q[0] for q in parts]
    X = sp.vstack(X, format="csr") if sp.issparse(X[0]) else np.concatenate(X)
    y = np.concatenate([q[1] for q in parts])
    kwargs = {}
    if data.sample_weight is not None:
        kwargs["sample_weight"] = np.concatenate([q[2] for q in parts])
    if data.groups is not None:
        kwargs["groups"] = np.concatenate([q[3] for q in parts])
    local = clone(est).fit(X, y, **kwargs)
    params = set(est.get_params(deep=False))
    for name, value in vars(local).items():
        if name not in params:
            setattr(est, name, value)
    return est
