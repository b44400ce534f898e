r"""Certificates, references and parameter mappings of the distributed benchmark.

- :class:`Streamed`: sparsefit's duality gap (the certificate of
  :func:`sparsefit.solvers.dual_gap`, same formulas, same compiled penalty terms) computed
  in two streamed passes over the files, never holding ``X``: the first pass forms
  ``u = X w + b`` (an n-vector), the second ``X^T theta``. Also ``alpha_max`` (two passes)
  and the column moments of ``[X y]``, combined pairwise (stable), for the streamed
  covariance-form reference.
- The regularization mappings of the other engines, each derived from that engine's own
  objective and checked by ``tests/test_bench_distributed.py`` with numpy only:

  ================================  ===================================================
  sparsefit (``alpha``)             :math:`\frac1{2n}\|y - Xw - b\|^2 + \alpha\|w\|_1`,
                                    :math:`\frac1n\sum_i\log(1+e^{-y_i(x_i^\top w+b)})
                                    + \alpha\|w\|_1`
  Spark ``LinearRegression``        ``regParam = alpha`` with ``elasticNetParam=1``,
                                    ``standardization=False``: Spark fits
                                    ``y / sigma_y`` with ``regParam / sigma_y`` and scales
                                    back, which is the same problem (see
                                    :func:`spark_linear_internal`)
  Spark ``LogisticRegression``      ``regParam = alpha`` (mean log-loss, no label scaling)
  dask-glm ``Normal``               ``lamduh = 2 n alpha`` (loss ``sum (y - Xb)^2``, no 1/2)
  dask-glm ``Logistic``             ``lamduh = n alpha`` (loss: the summed log-loss)
  dask-ml estimators                ``C = 1 / lamduh``; the intercept is a column of ones
                                    and *is penalized*
  scikit-learn ``Lasso``            ``alpha``
  scikit-learn ``LogisticRegression`` ``C = 1 / (n alpha)``
  ================================  ===================================================
"""

from __future__ import annotations

import threading
import time

import numpy as np

# ----------------------------------------------------------------------------- mappings


def spark_linear_reg_param(alpha):
    """Spark ``LinearRegression(elasticNetParam=1, standardization=False)``'s ``regParam``
    for sparsefit's ``Lasso(alpha)``: the same number (see :func:`spark_linear_internal`)."""
    return float(alpha)


def spark_linear_internal(y, reg_param):
    """The problem Spark's ``LinearRegression`` solves internally: it divides the label by
    its standard deviation ``sigma`` (the sample one, ``ddof=1``) and the L1 strength by
    the same ``sigma`` (``effectiveRegParam = regParam / yStd``), then multiplies the
    coefficients and the intercept back by ``sigma``.

    Returns ``(y / sigma, reg_param / sigma, sigma)``. Since
    ``1/(2n)||y/s - X w/s||^2 + (r/s)||w/s||_1 = (1/s^2)(1/(2n)||y - Xw||^2 + r||w||_1)``,
    the minimizer, scaled back, is the Lasso's at ``alpha = r``, whatever ``sigma``.
    """
    sigma = float(np.std(y, ddof=1))
    return y / sigma, reg_param / sigma, sigma


def spark_logistic_reg_param(alpha):
    """Spark ``LogisticRegression(elasticNetParam=1, standardization=False)``'s
    ``regParam`` for sparsefit's ``SparseLogisticRegression(alpha)``: Spark minimizes the
    mean log-loss plus ``regParam ||w||_1`` (intercept not penalized)."""
    return float(alpha)


def dask_glm_lamduh(alpha, n, family):
    """dask-glm's ``lamduh`` for sparsefit's ``alpha``: dask-glm minimizes
    ``loglike(X b, y) + lamduh ||b||_1`` with ``Normal.loglike = sum (y - Xb)^2`` (no 1/2,
    no 1/n: ``lamduh = 2 n alpha``) and ``Logistic.loglike`` the summed log-loss of 0/1
    labels (``lamduh = n alpha``)."""
    if family == "normal":
        return 2.0 * n * alpha
    if family == "logistic":
        return float(n) * alpha
    raise ValueError(f"family must be 'normal' or 'logistic', got {family!r}")


def dask_ml_C(alpha, n, family):
    """dask-ml's ``C`` (its estimators pass ``lamduh = 1 / C`` to dask-glm)."""
    return 1.0 / dask_glm_lamduh(alpha, n, family)


def sklearn_logistic_C(alpha, n):
    """scikit-learn ``LogisticRegression``'s ``C``: it minimizes ``C sum_i loss_i +
    ||w||_1``, i.e. ``C = 1 / (n alpha)``."""
    return 1.0 / (n * alpha)


# ------------------------------------------------------------------------ the certificate


def _problem(kind, alpha):
    from sparsefit.datafits import Logistic, Quadratic
    from sparsefit.penalties import L1

    if kind == "lasso":
        return Quadratic(), L1(alpha)
    if kind == "logistic":
        return Logistic(), L1(alpha)
    raise ValueError(f"problem must be 'lasso' or 'logistic', got {kind!r}")


def as_signed(t, kind):
    """Targets as the datafit wants them: ``y`` for the Lasso, 0/1 labels as -1/+1."""
    t = np.asarray(t, dtype=np.float64)
    return np.where(t > 0, 1.0, -1.0) if kind == "logistic" else t


class Streamed:
    """One problem (``"lasso"`` or ``"logistic"``) over a chunked dataset.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns a fresh iterator of ``(X, t)`` blocks (dense arrays or sparse
        matrices, and 0/1 labels for the logistic problem); each call is one pass.
    kind : {"lasso", "logistic"}
    p : int
        Number of features.

    Notes
    -----
    The targets (an n-vector) are kept after the first pass; ``X`` never is. Every pass
    is counted in ``passes``.
    """

    def __init__(self, chunks, kind, p):
        self.chunks = chunks
        self.kind = kind
        self.p = int(p)
        self.passes = 0
        self._y = None

    def _iter(self):
        self.passes += 1
        return self.chunks()

    @property
    def y(self):
        if self._y is None:
            self._y = as_signed(np.concatenate([t for _, t in self._iter()]), self.kind)
        return self._y

    @property
    def n(self):
        return self.y.shape[0]

    def xt_times(self, v):
        """``X^T v`` in one pass."""
        out = np.zeros(self.p)
        off = 0
        for X, _ in self._iter():
            m = X.shape[0]
            out += np.asarray(X.T @ v[off:off + m]).ravel()
            off += m
        return out

    def predictor(self, coef, intercept):
        """``X coef + intercept`` (an n-vector) in one pass; keeps the targets too."""
        us, ts = [], []
        for X, t in self._iter():
            us.append(np.asarray(X @ coef).ravel() + intercept)
            ts.append(t)
        if self._y is None:
            self._y = as_signed(np.concatenate(ts), self.kind)
        return np.concatenate(us)

    def grad_at_zero(self):
        """Gradient of the datafit at ``w = 0`` with the best intercept (two passes)."""
        from sparsefit.datafits._validation import normalize_sample_weight

        datafit, _ = _problem(self.kind, 1.0)
        y = self.y
        sw = normalize_sample_weight(None, y.shape[0])
        u = np.zeros(y.shape[0])
        u += datafit._optimal_intercept(y, u, sw)
        return self.xt_times(datafit._raw_grad(y, u, sw))

    def alpha_max(self):
        """The smallest ``alpha`` with the all-zero solution: ``||grad F(0)||_inf``."""
        return float(np.max(np.abs(self.grad_at_zero())))

    def gap(self, coef, intercept, alpha, *, fit_intercept=True):
        """Relative duality gap ``(P - D) / P(0)`` of ``(coef, intercept)`` at ``alpha``:
        :func:`sparsefit.solvers.dual_gap`'s formulas with ``X`` streamed (two passes).

        Returns
        -------
        dict
            ``gap`` (relative), ``primal`` (the objective ``P``), ``P0``.
        """
        from sparsefit.datafits._validation import normalize_sample_weight
        from sparsefit.solvers._common import describe
        from sparsefit.solvers._gap import null_primal
        from sparsefit.solvers._units import compiled_dual_terms, compiled_penalty_value

        datafit, penalty = _problem(self.kind, alpha)
        coef = np.ascontiguousarray(coef, dtype=np.float64).ravel()
        if coef.shape != (self.p,) or not np.all(np.isfinite(coef)):
            raise ValueError(f"coef must be finite with shape ({self.p},)")
        info = describe(penalty, self.p)
        u = self.predictor(coef, float(intercept))
        y = self.y
        sw = normalize_sample_weight(None, y.shape[0])
        P = datafit._value_u(y, u, sw) + compiled_penalty_value(info.spec, coef)
        theta = datafit.dual_point(y, u, sw, fit_intercept)
        Xt = np.ascontiguousarray(self.xt_times(theta))
        s, conj = compiled_dual_terms(info.spec, Xt, info.free_or_empty)
        D = datafit._dual_value(y, s * theta, sw) - conj
        P0 = null_primal(datafit, y, sw, fit_intercept, coef.shape)
        gap = max(P - D, 0.0)
        return {"gap": gap / P0 if P0 > 0 else gap, "primal": float(P), "P0": float(P0)}


# ------------------------------------------------------- the streamed covariance reference


def merge_moments(a, b):
    """Combine ``(n, mean, M)`` of two row blocks, ``M`` the centered co-moment matrix
    ``sum (x - mean)(x - mean)^T`` (Chan, Golub and LeVeque's pairwise update: no raw sums
    of squares, so no cancellation)."""
    na, ma, Ma = a
    nb, mb, Mb = b
    if na == 0:
        return b
    n = na + nb
    delta = mb - ma
    mean = ma + delta * (nb / n)
    M = Ma + Mb + np.outer(delta, delta) * (na * nb / n)
    return n, mean, M


def block_moments(X, t):
    """``(n, mean, M)`` of ``[X t]`` for one dense block."""
    Z = np.column_stack([np.asarray(X), t])
    mean = Z.mean(axis=0)
    Zc = Z - mean
    return Z.shape[0], mean, Zc.T @ Zc


def streamed_moments(chunks):
    """Moments of ``[X y]`` over every block, merged pairwise as a balanced tree (the
    blocks' rounding errors do not pile up along a chain)."""
    stack = []  # (level, moments): merge equal levels, as a binary counter
    for X, t in chunks():
        item = (0, block_moments(X, t))
        while stack and stack[-1][0] == item[0]:
            level, m = stack.pop()
            item = (level + 1, merge_moments(m, item[1]))
        stack.append(item)
    if not stack:
        raise ValueError("no data")
    out = stack.pop()[1]
    while stack:
        out = merge_moments(stack.pop()[1], out)
    return out


def covariance_reference(moments, alpha, tol=1e-12):
    """The Lasso with intercept at ``alpha`` from the moments of ``[X y]`` alone.

    With ``Gc = Xc^T Xc = R^T R`` (Cholesky) and ``z = R^{-T} Xc^T yc``,
    ``||yc - Xc w||^2 = ||z - R w||^2 + const``, so the problem is a Lasso with ``p`` rows:
    ``1/(2p)||z - R w||^2 + (n alpha / p)||w||_1``, solved in memory by sparsefit; then
    ``b = mean(y) - mean(X) . w``.

    Returns
    -------
    coef : ndarray of shape (p,)
    intercept : float
    """
    from scipy.linalg import cholesky, solve_triangular

    from sparsefit.linear_model import Lasso

    n, mean, M = moments
    p = M.shape[0] - 1
    G, c = M[:p, :p], M[:p, p]
    R = cholesky(G, lower=False)
    z = solve_triangular(R, c, trans="T", lower=False)
    est = Lasso(alpha=n * alpha / p, fit_intercept=False, tol=tol, max_iter=100_000)
    est.fit(np.asfortranarray(R), z)
    coef = np.asarray(est.coef_, dtype=np.float64)
    return coef, float(mean[p] - mean[:p] @ coef)


# ------------------------------------------------------------------------------ peak RSS


class PeakRSS:
    """Sample the summed RSS of a process and its descendants (psutil) in a thread.

    Shared pages count once per process, so the sum is an upper bound of the true
    footprint; it includes dask's workers and nannies and Spark's JVM.
    """

    def __init__(self, pid, interval=0.2):
        import psutil

        self._psutil = psutil
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        ps = self._psutil
        try:
            root = ps.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except ps.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except ps.Error:  # ended between the listing and the reading
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def wait_with_rss(proc, timeout, interval=0.2):
    """Wait for a ``subprocess.Popen`` while sampling its tree's RSS; kill the whole
    process group after ``timeout`` seconds. Returns ``(returncode or None, peak_bytes,
    seconds)``."""
    import os
    import signal

    t0 = time.perf_counter()
    with PeakRSS(proc.pid, interval) as rss:
        try:
            rc = proc.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: end it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.wait()
            rc = None
    return rc, rss.peak, time.perf_counter() - t0
