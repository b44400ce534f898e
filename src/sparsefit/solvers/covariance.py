r"""Least squares from its sufficient statistics: working-set coordinate descent in
covariance form, with the duality gap as the certificate.

With :math:`G = X^\top S X`, :math:`c = X^\top S y` and :math:`yy = y^\top S y`
(``S`` the normalized sample weights; centered moments when fitting an intercept, which
eliminates it exactly: :math:`b^* = \bar y - \bar x^\top w`), the objective and its pieces
are quadratic forms:

.. math::

    P(w) = \tfrac12 (yy - 2 c^\top w + w^\top G w) + \mathrm{pen}(w), \qquad
    X^\top \theta = c - G w \quad (\theta = S(y - Xw - b^*)),

    D(s\theta) = s\,(yy - c^\top w) - \tfrac{s^2}{2}\,(yy - 2 c^\top w + w^\top G w)
                 - \mathrm{pen}^*(s X^\top\theta),

the same primal, dual point and rescaling :func:`~sparsefit.solvers.dual_gap` computes from
the rows. Each outer iteration costs one product ``G w`` (``O(p^2)``), never a pass over
the data; the working-set subproblems run the covariance-form kernel
:func:`~._gram.gram_cd` (separable penalties) or block coordinate descent on ``G``
(group penalties). The penalty answers through its compiled spec, as for :func:`solve`.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from sklearn.exceptions import ConvergenceWarning

from ..datafits import MultiTaskQuadratic, Quadratic
from ..datafits._kernels import FASTMATH
from ..penalties._interface import block_prox, block_subdiff, coord_update
from ._columns import gather_block
from ._common import check_datafit, describe
from ._exact import Candidate, GroupCandidate, exact_budget, group_pieces, takes_exact_step
from ._gap import GAP_STOP_MIN_TOL, StopRule
from ._gram import gram_cd
from ._outer import SolverResult, holds_core, outer_loop, select_working_set, unit_nonzero
from ._units import (
    compiled_dual_conj,
    compiled_penalty_value,
    max_group_size,
    outer_pass,
)
from .moments import Moments

GAP_FRAC = 0.5  # the working-set gap at which an inner solve stops (as in QuadraticCD)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def group_cov_cd(spec, G, q, w, lc, units, max_epochs, tol):
    """Block coordinate descent in covariance form on the groups ``units``: ``w`` and
    ``q = c - G w`` (all features, ``G`` symmetric) are updated in place. A block step
    with curvature ``lc[g]`` (the spectral norm of ``G_gg``) is the penalty's block prox.
    ``G`` is Fortran-ordered (its columns contiguous). Stops when the largest violation
    seen in an epoch is ``<= tol``. Returns
    ``(n_epochs, last_violation)``."""
    size = max_group_size(spec)
    xg = np.empty(size)
    gg = np.empty(size)
    new = np.empty(size)
    p = q.shape[0]
    viol = np.inf
    epoch = 0
    while epoch < max_epochs:
        viol = 0.0
        for u in units:
            L = lc[u]
            if L <= 0.0:
                continue
            s = spec.grp_ptr[u]
            ln = spec.grp_ptr[u + 1] - s
            for k in range(ln):
                j = spec.grp_idx[s + k]
                xg[k] = w[j]
                gg[k] = -q[j]
            viol = max(viol, block_subdiff(spec, xg[:ln], gg[:ln], u))
            for k in range(ln):
                gg[k] = xg[k] - gg[k] / L
            block_prox(spec, gg[:ln], 1.0 / L, u, new[:ln])
            for k in range(ln):
                delta = new[k] - xg[k]
                if delta != 0.0:
                    j = spec.grp_idx[s + k]
                    w[j] = new[k]
                    col = G[:, j]
                    for i in range(p):
                        q[i] -= delta * col[i]
        epoch += 1
        if viol <= tol:
            break
    return epoch, viol


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sep_cov_cd(spec, G, q, w, units, max_epochs, tol):
    """Coordinate descent in covariance form on the coordinates ``units`` of a separable
    penalty (``w``, ``q = c - G w`` updated in place; ``G`` Fortran-ordered): the kernel
    for the penalties without a duality gap (MCP, SCAD, LogSum), which
    :func:`~._gram.gram_cd` cannot compile. Returns ``(n_epochs, last_violation)``."""
    p = q.shape[0]
    viol = np.inf
    epoch = 0
    while epoch < max_epochs:
        viol = 0.0
        for j in units:
            L = G[j, j]
            if L <= 0.0:
                continue
            old = w[j]
            new, d = coord_update(spec, old, -q[j], L, j)
            viol = max(viol, d)
            if new != old:
                delta = new - old
                w[j] = new
                col = G[:, j]
                for i in range(p):
                    q[i] -= delta * col[i]
        epoch += 1
        if viol <= tol:
            break
    return epoch, viol


def _group_curvatures(G, spec):
    """Spectral norm of every diagonal block ``G_gg``."""
    n_groups = spec.grp_ptr.shape[0] - 1
    out = np.zeros(n_groups)
    for g in range(n_groups):
        idx = spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]
        if idx.size == 1:
            out[g] = G[idx[0], idx[0]]
        elif idx.size > 1:
            out[g] = float(np.linalg.eigvalsh(G[np.ix_(idx, idx)])[-1])
    return out


class CovarianceCD:
    """The state of :func:`~._outer.outer_loop` for ``1/2 (yy - 2 c'w + w'Gw) + pen(w)``
    (see the module docstring). ``yy=None`` skips the primal and dual values (an inner
    problem stopped on its largest violation, as proximal Newton's)."""

    def __init__(self, G, c, yy, info, w, P0, *, tol, p0, max_epochs, anderson,
                 inner_tol_ratio, exact_budget=0):
        self.G, self.c, self.yy, self.info, self.w = G, c, yy, info, w
        self.exact_budget = float(exact_budget)
        self.tol, self.p0, self.max_epochs, self.anderson = tol, p0, max_epochs, anderson
        self.inner_tol_ratio = self.ratio = inner_tol_ratio
        self.scores, self.rank = np.empty(info.n_units), np.empty(info.n_units)
        self.lc = _group_curvatures(G, info.spec) if info.is_group else None
        self.n_epochs, self.prev_ws = 0, None
        self.gap_tol_in = 0.0
        if (not info.is_group and info.is_convex and info.free is None and P0 > 0
                and tol >= GAP_STOP_MIN_TOL and yy is not None):
            self.gap_tol_in = GAP_FRAC * tol * P0

    def optimality(self):
        self.q = np.ascontiguousarray(self.c - self.G @ self.w)
        mx, self.scale = outer_pass(self.info, self.w, self.q, self.scores, self.rank)
        return mx

    def primal_dual(self):
        w, q, spec = self.w, self.q, self.info.spec
        wc = float(w @ self.c)
        f_r = max(float(self.yy) - wc - float(w @ q), 0.0)  # yy - 2 c'w + w'Gw
        P = 0.5 * f_r + compiled_penalty_value(spec, w)
        s = self.scale   # the dual scale at q, from the same pass as the scores
        conj = compiled_dual_conj(spec, q, self.info.free_or_empty, s)
        return P, s * (float(self.yy) - wc) - 0.5 * s * s * f_r - conj

    def nnz(self):
        return int(np.count_nonzero(self.w))

    def step(self, it, gap):
        info = self.info
        nonzero = unit_nonzero(self.w, info)
        ws = select_working_set(self.rank, nonzero, self.p0)
        tol_in = self._inner_tol(nonzero, gap)
        self.prev_ws = ws
        if info.is_group:
            ep, _ = group_cov_cd(info.spec, self.G, self.q, self.w, self.lc, ws,
                                 self.max_epochs, tol_in)
        elif not info.is_convex:
            ep, _ = sep_cov_cd(info.spec, self.G, self.q, self.w, ws, self.max_epochs, tol_in)
        else:
            Gw = gather_block(self.G, ws)
            q = self.q[ws].copy()
            w_loc = self.w[ws].copy()
            f_r = 0.0 if self.yy is None else max(
                float(self.yy) - float(self.w @ self.c) - float(self.w @ self.q), 0.0)
            ep, _ = gram_cd(info.spec, Gw, np.zeros(ws.size), 1.0, q, w_loc, np.zeros(1),
                            False, 0.0, f_r, ws, self.max_epochs, tol_in, self.anderson,
                            self.gap_tol_in)
            self.w[ws] = w_loc
        self.n_epochs += ep

    def _inner_tol(self, nonzero, gap):
        """A fraction of the current largest violation, smaller once the working set holds
        the support and the violators (as :class:`~.cd.QuadraticCD` does)."""
        r0 = self.inner_tol_ratio
        if holds_core(nonzero, self.rank, self.prev_ws):
            self.ratio *= r0
            if self.gap_tol_in > 0:
                self.ratio = 0.0
            elif self.info.is_convex and gap > 0:
                self.ratio = min(self.ratio, max(0.1 * self.tol / gap, 1e-3))
        else:
            self.ratio = r0
        tol_in = max(self.ratio, 1e-4) * float(self.scores.max(initial=0.0))
        if not self.info.is_convex or self.yy is None:
            tol_in = max(tol_in, 0.3 * self.tol)
        return tol_in

    def polish(self):
        """At convergence, the exact step of :mod:`._exact` on the support (and the
        violators) from the Gram block ``G_SS``, when it costs at most
        :func:`~._exact.exact_budget` of ``max(2 products G w, exact_budget)``; for the
        group penalties Newton's method on the non-zero groups
        (:class:`~._exact.GroupCandidate`), as the solver on the rows does. The next check
        (``G w`` again) certifies it. Returns whether it moved."""
        spec, w = self.info.spec, self.w
        if self.yy is None or not np.any(w):
            return False
        if self.info.is_group:
            pieces = group_pieces(spec, w.size)
            if pieces is None:
                return False
            cand = GroupCandidate(pieces, w)
        elif takes_exact_step(spec):
            cand = Candidate(spec, w, self.scores, self.q)
            if not cand.free.any():
                return False
        else:
            return False
        k = cand.S.size
        if not k or k ** 3 / 3 > exact_budget(max(2 * self.G.shape[0] ** 2,
                                                  self.exact_budget), self.tol):
            return False
        G_SS = gather_block(self.G, cand.S)
        new, exact = cand.minimize(G_SS.copy(), self.q)
        if new is None or (self.info.is_group and not exact):
            return False
        d = new - cand.wS
        # the objective's change: -q_S d + d' G_SS d / 2 and the penalty's
        pen_old = compiled_penalty_value(spec, w)
        w[cand.S] = new
        change = (-float(self.q[cand.S] @ d) + 0.5 * float(d @ G_SS @ d)
                  + compiled_penalty_value(spec, w) - pen_old)
        if not change <= 1e-15 * (abs(pen_old) + 0.5 * abs(float(self.yy))):
            w[cand.S] = cand.wS
            return False
        self.n_epochs += getattr(cand, "solves", 1)  # (each linear solve counts as an epoch)
        return True

    def result(self, **outcome):
        return SolverResult(coef=self.w, intercept=0.0, n_epochs=self.n_epochs,
                            gradient=-self.q, **outcome)


class ViolationRule:
    """Stop on the largest optimality violation ``<= tol`` (no duality gap): the stopping
    rule of an inner problem whose constant term is not known (proximal Newton's model)."""

    uses_gap = False

    def __init__(self, tol):
        self.tol = float(tol)

    def measure(self, kkt_max, scores, P=None, D=None):
        return kkt_max, np.nan

    def converged(self, crit, kkt_max):
        return crit <= self.tol


def covariance_cd(G, c, yy, info, w, *, tol, max_iter, rule=None, p0=100, max_epochs=50_000,
                  anderson=5, inner_tol_ratio=0.3, verbose=0, exact_budget=0):
    """Minimize ``1/2 (yy - 2 c'w + w'Gw) + pen(w)`` from ``w`` (updated in place) for the
    :class:`~._common.PenaltyInfo` ``info``; stop by ``rule`` (default: the duality gap
    relative to ``P(0) = yy / 2``, or the violation for non-convex penalties, as
    :func:`solve`); ``exact_budget``: see :func:`solve_covariance`. Returns
    a :class:`SolverResult` (``intercept`` 0)."""
    if rule is None:
        P0 = 0.5 * float(yy)
        rule = StopRule(info, tol, P0, lambda: float(np.max(np.abs(c), initial=0.0)))
    P0 = getattr(rule, "P0", 0.0)
    state = CovarianceCD(G, c, yy, info, w, P0, tol=tol, p0=p0, max_epochs=max_epochs,
                         anderson=anderson, inner_tol_ratio=inner_tol_ratio,
                         exact_budget=exact_budget)
    res = outer_loop(state, rule, max_iter=max_iter, verbose=verbose, label="cov-cd")
    res.null_primal = float(P0) if P0 > 0 else np.nan
    return res


def solve_covariance(moments, datafit, penalty, *, fit_intercept=False, w_init=None,
                     tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
                     positive=False, inner_tol_ratio=None, verbose=0, stacklevel=2,
                     exact_budget=0):
    r"""Minimize the least-squares objective of :func:`solve` from the data's moments.

    .. math::

        \min_{w, b} \; \frac12 \sum_i \frac{s_i}{S} (y_i - x_i^\top w - b)^2
        + \mathrm{pen}(w)
        = \min_w \; \frac12 (yy - 2 c^\top w + w^\top G w) + \mathrm{pen}(w)

    (see the module docstring): the same problem, stopping rule and
    :class:`~sparsefit.solvers.SolverResult` as :func:`solve` on the rows, without them.
    The cost is ``O(p^2)`` memory and ``O(p^2)`` per outer iteration, whatever the number
    of rows.

    Parameters
    ----------
    moments : Moments
        The weighted moments of ``(X, y)`` (:class:`~sparsefit.solvers.moments.Moments`;
        the sample weights are in them).
    datafit : Quadratic
    penalty : Penalty
        Any penalty :func:`solve` takes (separable, group, ``Box``, ``Scaled``).
    fit_intercept : bool
        Eliminate an unpenalized intercept by centering; it is then
        ``y_mean - x_mean @ coef``. Columns constant over the rows of positive weight get
        the coefficient 0 (as :func:`solve` folds them into the intercept).
    w_init : ndarray, optional
        Warm start (not modified).
    tol, max_iter, max_epochs, p0, anderson, positive, inner_tol_ratio, verbose
        As for :func:`solve`.
    exact_budget : float
        Multiply-adds the exact step on the support at convergence may cost, beyond its
        default (two products ``G w``, at least ``2^22``): a caller whose moments stand
        for a restricted problem of larger data (dask's wide route: a working set's
        columns) gives the cost of two passes over those data, as :func:`solve` on them
        would allow.

    Returns
    -------
    SolverResult

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import solve
    >>> from sparsefit.solvers.covariance import solve_covariance
    >>> from sparsefit.solvers.moments import Moments
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 20)); y = X[:, 0] - 2 * X[:, 3] + 1.0
    >>> a = solve_covariance(Moments.from_arrays(X, y), Quadratic(), L1(0.1),
    ...                      fit_intercept=True, tol=1e-10)
    >>> b = solve(X, y, Quadratic(), L1(0.1), fit_intercept=True, tol=1e-10)
    >>> bool(np.allclose(a.coef, b.coef, atol=1e-8)), round(a.intercept, 6) == round(
    ...     b.intercept, 6)
    (True, True)
    """
    from ._solve import _check_params, _project

    if not isinstance(moments, Moments):
        raise ValueError(f"moments must be a Moments object, got {type(moments).__name__}")
    datafit = check_datafit(datafit)
    multitask = isinstance(datafit, MultiTaskQuadratic)
    if not isinstance(datafit, Quadratic) and not multitask:
        raise ValueError("solve_covariance solves the Quadratic and MultiTaskQuadratic "
                         f"datafits only, got {type(datafit).__name__}")
    _check_params(tol, max_iter, p0, anderson)
    p = moments.n_features
    if multitask:
        if moments.n_targets != datafit.n_tasks:
            raise ValueError(f"MultiTaskQuadratic({datafit.n_tasks}) needs the moments of a "
                             f"2-D y of {datafit.n_tasks} columns")
        from .covariance_multitask import solve_covariance_multitask

        res = solve_covariance_multitask(
            moments, penalty, fit_intercept=fit_intercept, w_init=w_init, tol=float(tol),
            max_iter=int(max_iter), max_epochs=int(max_epochs), p0=int(p0),
            anderson=int(anderson), positive=positive, inner_tol_ratio=inner_tol_ratio,
            verbose=verbose)
        info = describe(penalty, p * datafit.n_tasks, positive=positive)
    elif moments.xy.ndim != 1:
        raise ValueError("solve_covariance takes the moments of one target (y 1-D)")
    if not multitask:
        info = describe(penalty, p, positive=positive)
        G, c, yy = moments.quadratic_form(fit_intercept)
        w = np.zeros(p) if w_init is None else _project(
            info, np.array(w_init, dtype=np.float64).reshape(p))
        if fit_intercept:
            const = np.flatnonzero(moments.constant_columns())
            G[const, :] = 0.0
            G[:, const] = 0.0
            c[const] = 0.0
            w[const] = 0.0
        res = covariance_cd(G, c, yy, info, w, tol=float(tol), max_iter=int(max_iter),
                            p0=int(p0), max_epochs=int(max_epochs), anderson=int(anderson),
                            inner_tol_ratio=0.3 if inner_tol_ratio is None else
                            float(inner_tol_ratio), verbose=verbose,
                            exact_budget=exact_budget)
        res.intercept = float(moments.intercept(res.coef)) if fit_intercept else 0.0
    if not res.converged:
        what = "relative duality gap" if info.is_convex and (
            info.free is None or not np.all(info.free)) else "largest optimality violation"
        warnings.warn(
            f"Solver did not converge after max_iter={max_iter} iterations: {what} "
            f"{res.stop_crit:.3e} > tol={tol:.1e}. Increase max_iter or tol, or scale X.",
            ConvergenceWarning, stacklevel=stacklevel)
    return res
