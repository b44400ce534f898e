"""Keep the chunks of a multi-pass fit in the workers' memory when they fit there.

The one-pass routes (covariance, CV paths) read every chunk once. Proximal Newton
(logistic), the wide route (screening, working sets, KKT passes) and the logistic CV read
them once per pass: from Parquet or libsvm files, each pass parses the files again. When
the data fit in a fraction of the workers' memory, they are read once and persisted for
the passes of the fit (as Spark caches its input), then released with the fit.

``dask.config`` key ``sparsefit.persist``: ``"auto"`` (default: persist when the estimated
size is at most :data:`PERSIST_FRACTION` of the workers' total ``memory_limit``), ``True``
(always) or ``False`` (never: every pass reads the source again).
"""

from __future__ import annotations

from dataclasses import replace

import dask
import numpy as np
import scipy.sparse as sp

#: "auto" persists data estimated at most this fraction of the workers' total memory.
PERSIST_FRACTION = 0.25


def persist_setting():
    """``dask.config`` key ``sparsefit.persist``: "auto", True or False (strings "true" /
    "false" from an environment variable are accepted)."""
    value = dask.config.get("sparsefit.persist", "auto")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if value not in ("auto", True, False):
        raise ValueError(f"dask.config 'sparsefit.persist' must be 'auto', True or False, "
                         f"got {value!r}")
    return value


def _chunk_bytes(block):
    """Bytes a computed chunk of ``X`` holds (a sparse chunk: its three arrays)."""
    if sp.issparse(block):
        block = block.tocsr()
        return int(block.data.nbytes + block.indices.nbytes + block.indptr.nbytes)
    return int(np.asarray(block).nbytes)


def estimated_bytes(data):
    """The bytes of ``X`` (plus ``y`` and the weights) once read: from the shape of a dense
    dask array of known chunks; otherwise the first chunk is read and scaled by the number
    of chunks (sparse chunks, or a DataFrame's unknown partition lengths)."""
    return _estimate(data)[0]


def _estimate(data):
    """``(bytes, X)``: :func:`estimated_bytes`, and ``X`` with its first chunk persisted
    when that chunk had to be read for the estimate (a sparse ``X`` of known chunks: then
    persisting ``X`` reads it no more), else None."""
    X = data.X
    dense = not sp.issparse(getattr(X, "_meta", None))
    known = all(np.isfinite(c) for c in X.chunks[0])
    if dense and known:
        per_row = X.dtype.itemsize * X.shape[1] + 16  # y and the weight
        return float(X.shape[0]) * per_row, None
    kept = None
    # the first chunk with rows (an empty one says nothing of the others' size)
    at = next((i for i, m in enumerate(X.chunks[0]) if m > 0), 0) if known else 0
    if known and X.numblocks[1] == 1 and at == 0:
        import dask.array as da

        first = X.blocks[0].persist()  # read once: for the estimate, and kept
        kept = da.concatenate([first, X.blocks[1:]], axis=0) if X.numblocks[0] > 1 \
            else first
        block = first.to_delayed().ravel()[0]
    else:
        block = X.to_delayed().ravel()[at]
    size = dask.delayed(_chunk_bytes, pure=True)(block).compute()
    rows = X.chunks[0][at]
    extra = 16.0 * rows if np.isfinite(rows) else 0.0
    return (size + extra) * X.numblocks[0], kept


def _memory_limits():
    """The ``memory_limit`` of every worker of the distributed client, or None (no client,
    or a worker without a limit)."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return None
    limits = [w.get("memory_limit", 0) or 0
              for w in client.scheduler_info()["workers"].values()]
    return limits if limits and all(limits) else None


def workers_memory():
    """The total ``memory_limit`` of the distributed client's workers, or the memory
    available on this machine (no client, or workers without a limit)."""
    import psutil

    limits = _memory_limits()
    return float(sum(limits)) if limits else float(psutil.virtual_memory().available)


def worker_memory():
    """The smallest worker's ``memory_limit`` (what one task may hold), or the memory
    available on this machine (no client, or workers without a limit)."""
    import psutil

    limits = _memory_limits()
    return float(min(limits)) if limits else float(psutil.virtual_memory().available)


def persisted(data):
    """``data`` with its collections persisted (see the module docstring), or ``data``
    itself. The decision is made once and stored on the result as ``persisted_bytes``
    (None: not decided yet; 0.0: not persisted; else the estimated size): a route calling
    another (a CV estimator's refit) does not decide again."""
    if data.persisted_bytes is not None:
        return data
    setting = persist_setting()
    if setting is False:
        return replace(data, persisted_bytes=0.0)
    size, kept = _estimate(data)
    if setting == "auto" and size > PERSIST_FRACTION * workers_memory():
        return replace(data, persisted_bytes=0.0)  # (the first chunk kept is released)
    cols = [data.X if kept is None else kept, data.y, data.sample_weight, data.groups]
    present = [c for c in cols if c is not None]
    done = iter(dask.persist(*present))
    X, y, sw, groups = (None if c is None else next(done) for c in cols)
    # frame=None: the partition lengths come from the persisted X, not from a new read
    return replace(data, X=X, y=y, sample_weight=sw, groups=groups, frame=None,
                   persisted_bytes=size)
