"""Anderson extrapolation of coordinate-descent iterates (one helper for every solver).

Every ``K + 1`` epochs the last ``K + 1`` iterates ``x_0 .. x_K`` give the differences
``U_a = x_{a+1} - x_a``; the weights ``c = z / sum(z)`` with ``(U U^T + reg) z = 1``
combine ``x_1 .. x_K`` into the extrapolated point (Anderson acceleration as in celer and
skglm). The caller keeps it only when it lowers the objective.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def anderson_point(last, out):
    """Fill ``out`` (length ``m``) with the extrapolation of the rows of ``last`` (``K + 1``
    iterates of length ``m``); returns False when the system is degenerate or the point is
    not finite (``out`` is then meaningless)."""
    K = last.shape[0] - 1
    m = last.shape[1]
    U = np.empty((K, m))
    big = 0.0
    for a in range(K):
        for c in range(m):
            U[a, c] = last[a + 1, c] - last[a, c]
            big = max(big, abs(U[a, c]))
    if not (big > 0.0 and np.isfinite(big)):
        return False
    U /= big  # (the weights z / sum(z) do not change; U U' cannot overflow)
    C = U @ U.T
    tr = 0.0
    for a in range(K):
        tr += C[a, a]
    if not tr > 0.0:
        return False
    for a in range(K):
        C[a, a] += 1e-10 * tr
    z = np.linalg.solve(C, np.ones(K))
    zs = z.sum()
    if not (np.isfinite(zs) and zs != 0.0):
        return False
    out[:] = 0.0
    for a in range(K):
        wa = z[a] / zs
        for c in range(m):
            out[c] += wa * last[a + 1, c]
    return bool(np.all(np.isfinite(out)))


@njit(cache=True, nogil=True)
def record(last, epoch, values):
    """Store ``values`` as iterate number ``epoch`` (1-based) in the ring ``last``; returns
    True when the ring is full (time to extrapolate)."""
    row = (epoch - 1) % last.shape[0]
    for c in range(values.shape[0]):
        last[row, c] = values[c]
    return row == last.shape[0] - 1
