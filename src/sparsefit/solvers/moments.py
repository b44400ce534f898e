r"""Weighted sufficient statistics of a least-squares problem, combined pairwise.

The Quadratic datafit needs only the weighted moments of ``(X, y)``: the total weight,
the means and the centered co-moments

.. math::

    S = \sum_i s_i, \quad \bar x = \frac1S \sum_i s_i x_i, \quad
    C_{xx} = \sum_i s_i (x_i - \bar x)(x_i - \bar x)^\top, \quad
    C_{xy} = \sum_i s_i (x_i - \bar x)(y_i - \bar y), \quad
    C_{yy} = \sum_i s_i (y_i - \bar y)^2 .

Blocks of rows are summarized separately and merged two at a time by the parallel
algorithm of Chan, Golub and LeVeque (1979): for blocks ``a`` and ``b``,

.. math::

    S = S_a + S_b, \quad \delta = \bar x_b - \bar x_a, \quad
    \bar x = \bar x_a + \frac{S_b}{S}\delta, \quad
    C = C_a + C_b + \frac{S_a S_b}{S}\,\delta\delta^\top,

which never forms raw sums of squares (their cancellation loses the digits of a column
whose mean dwarfs its spread). The same formula run backwards removes a block (the
training statistics of a cross-validation fold are the total minus the fold).

This module is plain NumPy: :mod:`sparsefit.distributed` runs :meth:`Moments.from_arrays`
on every chunk of a dask array and :meth:`Moments.combine` in a tree, and
:func:`~sparsefit.solvers.covariance.solve_covariance` solves from the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp


def _gram(A):
    """``A.T @ A`` by BLAS ``syrk`` (one triangle: about half the flops of the product,
    1.8x faster on a 12,500 x 1,000 block), made symmetric."""
    from scipy.linalg import blas

    if A.shape[1] == 0 or A.shape[0] == 0:  # BLAS refuses a zero leading dimension, on stderr
        return np.zeros((A.shape[1], A.shape[1]))
    if A.flags.c_contiguous:
        C = blas.dsyrk(1.0, A.T, trans=0)  # A.T is Fortran-ordered: (A.T)(A.T).T
    else:
        C = blas.dsyrk(1.0, np.asfortranarray(A), trans=1)
    return np.triu(C) + np.triu(C, 1).T

@dataclass(frozen=True)
class Moments:
    """Weighted moments of a block of rows of ``(X, y)`` (see the module docstring).

    Attributes
    ----------
    weight : float
        :math:`S`, the sum of the sample weights (the row count when unweighted).
    count : int
        Number of rows (zero-weight rows included).
    x_mean : ndarray of shape (n_features,)
    y_mean : ndarray of shape () or (n_targets,)
    xx : ndarray of shape (n_features, n_features)
    xy : ndarray of shape (n_features,) or (n_features, n_targets)
    yy : ndarray of shape () or (n_targets, n_targets)
    x_min, x_max : ndarray of shape (n_features,)
        Column extremes over the rows of positive weight (a column with ``x_min ==
        x_max`` is constant there: with an intercept its coefficient is 0).
    dtype : numpy dtype
        Of the ``X`` summarized (float32 or float64): the dtype of fitted coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.moments import Moments
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((10, 3)); y = rng.standard_normal(10)
    >>> whole = Moments.from_arrays(X, y)
    >>> parts = Moments.from_arrays(X[:4], y[:4]).combine(Moments.from_arrays(X[4:], y[4:]))
    >>> bool(np.allclose(parts.xx, whole.xx) and np.allclose(parts.xy, whole.xy))
    True
    """

    weight: float
    count: int
    x_mean: np.ndarray
    y_mean: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: np.ndarray
    x_min: np.ndarray
    x_max: np.ndarray
    dtype: np.dtype = np.dtype(np.float64)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def empty(cls, n_features, y_shape=(), dtype=np.float64):
        """The moments of no rows (the neutral element of :meth:`combine`)."""
        p = int(n_features)
        return cls(0.0, 0, np.zeros(p), np.zeros(y_shape), np.zeros((p, p)),
                   np.zeros((p,) + tuple(y_shape)), np.zeros(tuple(y_shape) * 2),
                   np.full(p, np.inf), np.full(p, -np.inf), np.dtype(dtype))

    @classmethod
    def from_arrays(cls, X, y, sample_weight=None):
        """The moments of the rows of ``X`` (dense or scipy sparse) and ``y`` (1-D, or 2-D
        for several targets), weighted by ``sample_weight`` (default: ones). The inputs are
        assumed finite and of matching lengths (the callers check)."""
        n, p = X.shape
        dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        y = np.asarray(y, dtype=np.float64)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
        S = float(w.sum())
        if n == 0 or S <= 0:
            return replace(cls.empty(p, y.shape[1:], dtype), count=int(n))
        ym = (w @ y) / S
        yc = y - ym
        wyc = yc * (w if y.ndim == 1 else w[:, None])
        pos = w > 0
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float64)
            xm = np.asarray(X.T @ w).ravel() / S
            # raw products, then the means out: centering a sparse block would densify it
            WX = X.multiply(w[:, None]).tocsr()
            xx = np.asarray((X.T @ WX).todense())
            second = np.diag(xx) / S  # (the raw second moments, before the means go out)
            xx -= S * np.outer(xm, xm)
            xy = np.asarray(X.T @ wyc)
            # ... except the columns whose mean dominates their second moment, where that
            # subtraction cancels digits (a mean of 1e6 and spread 1 leaves 4): those are
            # centered densely (such a column is nearly dense anyway)
            big = np.flatnonzero(xm * xm > 0.5 * second)
            if big.size:
                Xc = X[:, big].toarray() - xm[big]
                WXc = Xc * w[:, None]
                cross = np.asarray(X.T @ WXc) - np.outer(xm, w @ Xc)
                cross[big] = Xc.T @ WXc
                xx[:, big] = cross
                xx[big, :] = cross.T
                xy[big] = Xc.T @ wyc
            Xp = X[pos]
            xmin = np.asarray(Xp.min(axis=0).todense()).ravel()
            xmax = np.asarray(Xp.max(axis=0).todense()).ravel()
        else:
            X = np.asarray(X, dtype=np.float64)
            xm = (w @ X) / S
            root = np.sqrt(w)
            Xs = X - xm
            Xs *= root[:, None]  # sqrt(w) (X - xm): one copy of the block
            xx = _gram(Xs)
            xy = Xs.T @ (yc * (root if y.ndim == 1 else root[:, None]))
            xmin, xmax = X[pos].min(axis=0), X[pos].max(axis=0)
        xx = 0.5 * (xx + xx.T)  # exactly symmetric
        yy = np.asarray(yc.T @ wyc)
        return cls(S, int(n), xm, np.asarray(ym), xx, xy.reshape((p,) + y.shape[1:]), yy,
                   xmin, xmax, dtype)

    # -- algebra ---------------------------------------------------------------------------
    def combine(self, other):
        """The moments of the rows of both blocks (Chan et al.'s pairwise update)."""
        a, b = self, other
        dtype = np.promote_types(a.dtype, b.dtype)
        if b.weight <= 0 or a.weight <= 0:
            keep = a if b.weight <= 0 else b
            return replace(keep, count=a.count + b.count, x_min=np.minimum(a.x_min, b.x_min),
                           x_max=np.maximum(a.x_max, b.x_max), dtype=dtype)
        S = a.weight + b.weight
        dx = b.x_mean - a.x_mean
        dy = b.y_mean - a.y_mean
        f = a.weight * b.weight / S
        return Moments(S, a.count + b.count, a.x_mean + dx * (b.weight / S),
                       a.y_mean + dy * (b.weight / S), a.xx + b.xx + f * np.outer(dx, dx),
                       a.xy + b.xy + f * _outer(dx, dy), a.yy + b.yy + f * _outer(dy, dy),
                       np.minimum(a.x_min, b.x_min), np.maximum(a.x_max, b.x_max), dtype)

    def subtract(self, part, x_min=None, x_max=None):
        """The moments of these rows without those of ``part`` (a subset of them): the
        pairwise update solved for the other block. Extremes cannot be subtracted: give
        the remaining rows' ``x_min`` / ``x_max`` (default: these moments')."""
        t, b = self, part
        Sa = t.weight - b.weight
        lo = t.x_min if x_min is None else x_min
        hi = t.x_max if x_max is None else x_max
        if b.weight <= 0:
            return replace(t, count=t.count - b.count, x_min=lo, x_max=hi)
        if Sa <= 1e-12 * t.weight:
            return replace(Moments.empty(t.x_mean.size, t.y_mean.shape, t.dtype),
                           count=t.count - b.count)
        ex = b.x_mean - t.x_mean
        ey = b.y_mean - t.y_mean
        f = b.weight * t.weight / Sa
        xx = t.xx - b.xx - f * np.outer(ex, ex)
        np.fill_diagonal(xx, np.maximum(np.diag(xx), 0.0))  # rounding of a constant column
        return Moments(Sa, t.count - b.count, t.x_mean - ex * (b.weight / Sa),
                       t.y_mean - ey * (b.weight / Sa), xx, t.xy - b.xy - f * _outer(ex, ey),
                       t.yy - b.yy - f * _outer(ey, ey), lo, hi, t.dtype)

    # -- what the solvers read -------------------------------------------------------------
    @property
    def n_features(self):
        return self.x_mean.size

    @property
    def shape(self):
        """``(rows, features)``, as ``X.shape`` (estimators read ``X.shape[1]``)."""
        return (self.count, self.n_features)

    def quadratic_form(self, fit_intercept):
        r"""``(G, c, yy)`` with :math:`\frac12\sum_i \frac{s_i}{S}(y_i - x_i^\top w - b^*)^2
        = \frac12(yy - 2 c^\top w + w^\top G w)`, ``b*`` the best intercept (centered
        moments) or ``b* = 0`` (raw second moments). Fresh arrays."""
        S = self.weight
        if S <= 0:
            raise ValueError("the data have no rows of positive weight")
        G, c, yy = self.xx / S, self.xy / S, self.yy / S
        if not fit_intercept:
            G = G + np.outer(self.x_mean, self.x_mean)
            c = c + _outer(self.x_mean, self.y_mean)
            yy = yy + _outer(self.y_mean, self.y_mean)
        return np.asfortranarray(G), np.array(c), np.array(yy)

    def constant_columns(self):
        """Mask of the columns constant over the rows of positive weight."""
        return self.x_min == self.x_max

    def intercept(self, coef):
        """The best intercept for ``coef``: ``y_mean - x_mean @ coef``."""
        return self.y_mean - self.x_mean @ coef

    def mean_squared_error(self, coef, intercept):
        r"""Weighted mean of :math:`(y_i - x_i^\top w - b)^2` over these rows, from the
        moments alone (summed over the targets when there are several)."""
        if self.weight <= 0:
            return np.nan
        coef = np.asarray(coef, dtype=np.float64)
        if coef.ndim == 1:
            spread = float(self.yy - 2.0 * coef @ self.xy + coef @ self.xx @ coef)
            bias = float(self.y_mean - self.x_mean @ coef - intercept)
            return max(spread, 0.0) / self.weight + bias * bias
        W = coef
        spread = float(np.trace(self.yy - 2.0 * W.T @ self.xy + W.T @ self.xx @ W))
        bias = self.y_mean - self.x_mean @ W - intercept
        return max(spread, 0.0) / self.weight + float(bias @ bias)

    @property
    def n_targets(self):
        """The number of targets (columns of ``y``), or None for one 1-D target."""
        return int(self.y_mean.shape[0]) if self.y_mean.ndim == 1 else None

    def target(self, k):
        """The moments of ``(X, y[:, k])``: one target of several, for a solver that fits
        them one by one (the ``X`` statistics are shared, not copied)."""
        if self.y_mean.ndim != 1:
            raise ValueError("target(k): these moments have a single 1-D target")
        return replace(self, y_mean=self.y_mean[k], xy=np.ascontiguousarray(self.xy[:, k]),
                       yy=self.yy[k, k])

    def restrict(self, cols):
        """The moments of the columns ``cols`` of ``X`` only."""
        cols = np.asarray(cols, dtype=np.int64)
        return replace(self, x_mean=self.x_mean[cols], xx=self.xx[np.ix_(cols, cols)],
                       xy=self.xy[cols], x_min=self.x_min[cols], x_max=self.x_max[cols])


def _outer(a, b):
    """``a b^T`` for vectors, ``a b`` for scalars, mixed as the shapes say."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return np.multiply.outer(a, b)


def combine_all(parts):
    """:meth:`Moments.combine` over a sequence, two at a time in a balanced tree (the
    order a distributed tree reduction uses)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no moments to combine")
    while len(parts) > 1:
        parts = [parts[i].combine(parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]
