r"""LARS / homotopy: the exact, piecewise-linear Lasso path.

For the scikit-learn scaling

.. math::

    \hat w(\alpha) = \arg\min_w \frac{1}{2n}\|y - Xw\|_2^2 + \alpha\|w\|_1,

:math:`\hat w(\alpha)` is piecewise linear in :math:`\alpha`. Least angle regression with
the Lasso modification (Efron, Hastie, Johnstone and Tibshirani, 2004) follows it from
:math:`\alpha_{\max} = \|X^\top y\|_\infty / n` (where :math:`\hat w = 0`) down to
``alpha_min``, kink by kink. Along a segment the active coefficients move in the
equiangular direction :math:`d_A \propto (X_A^\top X_A)^{-1} s_A` (:math:`s_A` the signs
of the active correlations), keeping every active correlation at :math:`n\alpha`. A kink
is where an inactive correlation reaches :math:`n\alpha` (that variable joins) or where an
active coefficient crosses zero (the Lasso modification: it leaves the active set, so the
sign of every active coefficient matches the sign of its correlation).

The result equals ``sklearn.linear_model.lars_path(X, y, method="lasso")``: the same
alphas, coefficients and final active set. Correlations are recomputed from the residual
at every kink (no accumulated drift), and the equiangular system is solved by a fresh
Cholesky factorization.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning

from .fista import _blas_limit

__all__ = ["LassoPath", "lars_path", "lasso_path_at"]

# scikit-learn stops the path once alpha is within float32 eps of alpha_min (an absolute
# tolerance); the same rule keeps the kinks identical
_EQ_TOL = float(np.finfo(np.float32).eps)


@dataclass
class LassoPath:
    """The exact Lasso path returned by :func:`lars_path`.

    Attributes
    ----------
    alphas : ndarray of shape (n_kinks,)
        The kinks, decreasing: ``alphas[0]`` is alpha_max, the last one is ``alpha_min``
        (or where the path ended).
    coefs : ndarray of shape (n_features, n_kinks)
        The solution at each kink; linear in alpha between kinks.
    active_history : list of lists of int
        ``active_history[k]``: the active variables (in order of entry) after the event
        at kink ``k``, i.e. on the segment from ``alphas[k]`` to ``alphas[k + 1]``. The last
        entry is the final active set (scikit-learn's ``active``).
    events : list of tuples
        ``events[k]`` is what happens at kink ``k``: ``("add", j)`` (``j`` joins; kink 0
        adds the first variable), ``("drop", j)`` (``j`` crossed zero and leaves) or
        ``("end", None)`` (the last kink).
    n_iter : int
        Number of segments (linear pieces) followed.
    """

    alphas: np.ndarray
    coefs: np.ndarray
    active_history: list
    events: list
    n_iter: int

    @property
    def active(self):
        """The final active set, in order of entry."""
        return list(self.active_history[-1]) if self.active_history else []

    def coef_at(self, alphas):
        """The exact Lasso solution(s) at ``alphas``: see :func:`lasso_path_at`."""
        return lasso_path_at(self, alphas)


def _check_data(X, y):
    if X is None:
        raise ValueError("X is required")
    if hasattr(X, "toarray") or type(X).__module__.startswith("torch"):
        raise ValueError("X must be a dense NumPy array for lars_path "
                         f"(got {type(X).__name__}); convert it with np.asarray / .toarray()")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape})")
    X = X.astype(np.float64, copy=False)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if y.dtype.kind not in "fiu":
        raise ValueError(f"y must hold real numbers, got dtype {y.dtype}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows (samples)")
    y = y.astype(np.float64, copy=False)
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity")
    return X, y


def _min_pos(v):
    """Smallest strictly positive entry (inf when none), and its position."""
    pos = np.flatnonzero(v > 0)
    if pos.size == 0:
        return math.inf, -1
    k = pos[np.argmin(v[pos])]
    return float(v[k]), int(k)


def lars_path(X, y, *, max_iter=500, alpha_min=0.0, precompute="auto", blas_threads=1):
    r"""The exact Lasso path by LARS with the Lasso modification.

    Follows :math:`\hat w(\alpha)` for
    :math:`\frac{1}{2n}\|y - Xw\|^2 + \alpha\|w\|_1` from alpha_max down to
    ``alpha_min``, returning every kink. At a kink with active set :math:`A`, signs
    :math:`s_A` and :math:`C = n\alpha`, the direction is :math:`d_A = a_A G_A^{-1}s_A`
    with :math:`G_A = X_A^\top X_A`, :math:`a_A = (s_A^\top G_A^{-1}s_A)^{-1/2}`, and the
    step :math:`\gamma` (``alpha`` falls by :math:`\gamma a_A / n`) is the smallest of

    - :math:`\min^+_{j\notin A}\{(C - c_j)/(a_A - a_j),\ (C + c_j)/(a_A + a_j)\}`, with
      :math:`c = X^\top r`, :math:`a = X^\top X_A d_A` (a variable joins),
    - :math:`\min^+_{j\in A} -w_j/d_j` (a coefficient crosses zero and leaves),
    - :math:`C / a_A` (the residual correlation reaches zero).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Dense design (no intercept is fitted: center ``X`` and ``y`` first if you want one).
    y : ndarray of shape (n_samples,)
    max_iter : int, default=500
        Maximum number of segments.
    alpha_min : float, default=0.0
        Where to stop; the last segment is cut exactly at ``alpha_min``. As in
        scikit-learn, the path also stops at a kink within float32 eps of ``alpha_min``.
    precompute : bool, "auto" or ndarray, default="auto"
        Use the Gram matrix :math:`X^\top X` (given, or computed when True, or when
        ``n_samples > n_features`` for "auto") instead of products with ``X``.
    blas_threads : int or None, default=1
        BLAS threads while the path runs (through threadpoolctl); ``None`` leaves the
        setting alone. The products here are small matrix-vector ones, and OpenBLAS with 2
        threads on shared cores ran a 200x1000 path ~80x slower than with 1 (28 s vs 0.35 s).

    Returns
    -------
    LassoPath
        ``alphas`` (n_kinks,), ``coefs`` (n_features, n_kinks), ``active_history``,
        ``events``, ``n_iter``; ``path.coef_at(alpha)`` interpolates exactly.

    Warns
    -----
    ConvergenceWarning
        When the active columns become linearly dependent (the path stops there).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.lars import lars_path
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([3.0, 1.0, 2.0])
    >>> path = lars_path(X, y)
    >>> path.alphas  # alpha_max = max|X.T y| / n = 5 / 3, then the kinks
    array([1.66666667, 0.33333333, 0.        ])
    >>> path.coefs[:, -1]  # alpha = 0: least squares
    array([2.33333333, 0.33333333])
    >>> path.coef_at(1.0)  # exact, between the first two kinks
    array([1., 0.])
    """
    X, y = _check_data(X, y)
    n, p = X.shape
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    if isinstance(alpha_min, bool) or not isinstance(alpha_min, numbers.Real) or not (
            math.isfinite(alpha_min) and alpha_min >= 0):
        raise ValueError(f"alpha_min must be a finite number >= 0, got {alpha_min!r}")
    alpha_min = float(alpha_min)

    gram = None
    if isinstance(precompute, np.ndarray):
        gram = np.asarray(precompute, dtype=np.float64)
        if gram.shape != (p, p):
            raise ValueError(f"precompute (the Gram matrix) must have shape ({p}, {p}), "
                             f"got {gram.shape}")
        if not np.all(np.isfinite(gram)) or not np.allclose(gram, gram.T, rtol=1e-10,
                                                               atol=1e-12 * np.abs(gram).max()):
            raise ValueError("precompute (the Gram matrix) must be finite and symmetric")
    elif precompute is True or (isinstance(precompute, str) and precompute == "auto"):
        if precompute is True or n > p:
            gram = X.T @ X
    elif precompute is not False:
        raise ValueError(f"precompute must be True, False, 'auto' or a Gram matrix, "
                         f"got {precompute!r}")

    if blas_threads is not None and (isinstance(blas_threads, bool) or not isinstance(
            blas_threads, numbers.Integral) or blas_threads < 1):
        raise ValueError(f"blas_threads must be a positive integer or None, got {blas_threads!r}")
    with _blas_limit(blas_threads):
        return _lars(X, y, gram, max_iter, alpha_min)


def _lars(X, y, gram, max_iter, alpha_min):
    n, p = X.shape
    xty = X.T @ y

    def correlations(w, act):
        if gram is not None:
            return xty - gram[:, act] @ w[act]
        return X.T @ (y - X[:, act] @ w[act])

    w = np.zeros(p)
    c = xty.copy()
    alphas = []
    coefs = []
    history = []
    events = []
    active: list[int] = []
    signs: list[float] = []
    n_iter = 0
    C = float(np.max(np.abs(c)))
    alpha = C / n
    next_event = ("add", int(np.argmax(np.abs(c))))
    barred, barred_sign = -1, 0.0  # the variable that just left (see below)
    while True:
        if alpha <= alpha_min + _EQ_TOL:
            if alpha < alpha_min - _EQ_TOL and coefs:
                # cut the last segment at alpha_min (the path is linear on it)
                frac = (alphas[-1] - alpha_min) / (alphas[-1] - alpha)
                w = coefs[-1] + frac * (w - coefs[-1])
                alpha = alpha_min
            elif alpha < alpha_min - _EQ_TOL:
                alpha = alpha_min
            alphas.append(alpha)
            coefs.append(w.copy())
            history.append(list(active))
            events.append(("end", None))
            break
        alphas.append(alpha)
        coefs.append(w.copy())
        if n_iter >= max_iter or len(active) >= p and next_event[0] == "add":
            history.append(list(active))
            events.append(("end", None))
            break
        kind, j = next_event
        if kind == "add":
            active.append(j)
            signs.append(float(np.sign(c[j])))
        else:
            k = active.index(j)
            del active[k], signs[k]
            w[j] = 0.0
        if n_iter > 0:
            events.append((kind, j))
        else:
            events.append(("add", j))
        history.append(list(active))
        if not active:
            # every coefficient left (only possible with degenerate data); restart there
            events[-1] = ("end", None)
            break

        act = np.asarray(active)
        s = np.asarray(signs)
        g_a = gram[np.ix_(act, act)] if gram is not None else X[:, act].T @ X[:, act]
        try:
            chol = linalg.cho_factor(g_a, lower=True, check_finite=False)
            q = linalg.cho_solve(chol, s, check_finite=False)
            ok = np.all(np.isfinite(q)) and float(s @ q) > 0
            # a near-singular active Gram gives a huge, meaningless direction
            ok = ok and np.min(np.diag(chol[0])) ** 2 > 1e-12 * np.max(np.diag(g_a))
        except linalg.LinAlgError:
            ok = False
        if not ok:
            warnings.warn(
                f"lars_path: the active columns {active} are linearly dependent at "
                f"alpha={alpha:.6g} ({n_iter} segments); the path stops here.",
                ConvergenceWarning, stacklevel=3)
            events.append(("end", None))
            history[-1] = list(active)
            break
        aa = 1.0 / math.sqrt(float(s @ q))
        d = aa * q
        a = gram[:, act] @ d if gram is not None else X.T @ (X[:, act] @ d)

        inactive = np.ones(p, dtype=bool)
        inactive[act] = False
        idx = np.flatnonzero(inactive)
        tiny = np.finfo(np.float32).tiny
        r1 = (C - c[idx]) / (aa - a[idx] + tiny)
        r2 = (C + c[idx]) / (aa + a[idx] + tiny)
        if barred >= 0:
            # the variable that just left sits exactly at |c_j| = C: the root gamma = 0 of
            # the branch of its own sign is that tie (rounding may make it a tiny positive
            # number); only the other branch (re-entry with the opposite sign) is real
            kb = int(np.searchsorted(idx, barred))
            if barred_sign > 0:
                r1[kb] = -1.0
            else:
                r2[kb] = -1.0
        g1, k1 = _min_pos(r1)
        g2, k2 = _min_pos(r2)
        gamma = C / aa
        next_event = ("zero", None)
        if g1 < gamma:
            gamma, next_event = g1, ("add", int(idx[k1]))
        if g2 < gamma:
            gamma, next_event = g2, ("add", int(idx[k2]))
        z, kz = _min_pos(-w[act] / (d + tiny))
        if z < gamma:
            gamma, next_event = z, ("drop", int(act[kz]))

        w[act] += gamma * d
        n_iter += 1
        barred = -1
        if next_event[0] == "drop":
            w[next_event[1]] = 0.0
            barred = next_event[1]
            barred_sign = signs[active.index(barred)]
        C = C - gamma * aa
        alpha = C / n
        c = correlations(w, act)
        if next_event[0] == "zero":
            alpha = max(alpha, 0.0)
    return LassoPath(alphas=np.asarray(alphas), coefs=np.asarray(coefs).T.copy(),
                     active_history=history, events=events, n_iter=n_iter)


def lasso_path_at(path, alphas):
    r"""Evaluate the Lasso path exactly at ``alphas`` by linear interpolation between kinks.

    The solution is linear in :math:`\alpha` between consecutive kinks, so this is exact:
    for :math:`\alpha_{k+1} \le \alpha \le \alpha_k`,
    :math:`\hat w(\alpha) = \hat w_{k+1} + \frac{\alpha - \alpha_{k+1}}
    {\alpha_k - \alpha_{k+1}}(\hat w_k - \hat w_{k+1})`; above alpha_max it is zero.

    Parameters
    ----------
    path : LassoPath
    alphas : float or array-like of floats
        Each >= the last kink of the path.

    Returns
    -------
    ndarray of shape (n_features,) for a scalar alpha, else (n_features, len(alphas)).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.lars import lars_path, lasso_path_at
    >>> path = lars_path(2.0 * np.eye(4), np.array([8.0, 4.0, 0.0, 0.0]))
    >>> lasso_path_at(path, [5.0, 1.0, 0.5])[:2]  # soft-thresholding of X.T y / n = (4, 2)
    array([[0. , 3. , 3.5],
           [0. , 1. , 1.5]])
    """
    if not isinstance(path, LassoPath):
        got = type(path).__name__
        raise ValueError(f"path must be a LassoPath from lars_path, got {got}")  # noqa: TRY004
    scalar = np.ndim(alphas) == 0
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("alphas must be finite and >= 0")
    kinks, coefs = path.alphas, path.coefs
    lo = kinks[-1]
    if np.any(a < lo - 1e-12 * max(1.0, lo)):
        raise ValueError(f"alphas must be >= the end of the path ({lo:.6g}); "
                         "compute the path with a smaller alpha_min")
    out = np.zeros((coefs.shape[0], a.size))
    # kinks are decreasing; search on the reversed (increasing) array
    rev = kinks[::-1]
    for i, ai in enumerate(a):
        if ai >= kinks[0]:
            continue  # above alpha_max: zero
        k = int(np.searchsorted(rev, ai, side="right"))  # rev[k-1] <= ai < rev[k]
        hi_i = len(kinks) - 1 - k          # kinks[hi_i] > ai
        lo_i = hi_i + 1                     # kinks[lo_i] <= ai
        lo_i = min(lo_i, len(kinks) - 1)
        a_hi, a_lo = kinks[hi_i], kinks[lo_i]
        if a_hi == a_lo:
            out[:, i] = coefs[:, lo_i]
        else:
            t = (ai - a_lo) / (a_hi - a_lo)
            out[:, i] = coefs[:, lo_i] + t * (coefs[:, hi_i] - coefs[:, lo_i])
    return out[:, 0] if scalar else out
