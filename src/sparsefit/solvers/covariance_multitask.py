r"""Multi-output least squares from its sufficient statistics: block coordinate descent
on the rows of ``W`` in covariance form, with the duality gap as the certificate.

With :math:`G = X^\top S X` (``p x p``), the cross-term matrix :math:`C = X^\top S Y`
(``p x T``) and :math:`yy = \mathrm{tr}(Y^\top S Y)` (``S`` the normalized sample weights;
centered moments when fitting the intercepts, which eliminates them exactly:
:math:`b^* = \bar y - W^\top \bar x`), the multi-task objective of
:class:`~sparsefit.datafits.MultiTaskQuadratic` is

.. math::

    P(W) = \tfrac12 \left(yy - 2\,\mathrm{tr}(C^\top W) + \mathrm{tr}(W^\top G W)\right)
    + \mathrm{pen}(W), \qquad X^\top \Theta = C - G W ,

that is the single-output covariance form of :mod:`~.covariance` on the flat coefficients
``w[j * T + t] = W[j, t]`` (the layout the penalty indexes, as
:class:`~.multitask.MultiTaskCD`) with the Gram matrix :math:`G \otimes I_T`, never formed.
The primal, the dual point and its rescaling are those :class:`~.multitask.MultiTaskCD`
computes from the rows (:meth:`CovarianceCD.primal_dual` with traces), so the stopping
rule and the reported gap are the in-memory solver's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..datafits._kernels import FASTMATH
from ..penalties._interface import block_prox, block_subdiff
from ._exact import exact_budget, row_candidate, row_sparse_minimizer, row_step_cost
from ._gap import StopRule
from ._outer import SolverResult, outer_loop, select_working_set, unit_nonzero
from ._units import compiled_penalty_value, max_group_size, outer_pass
from .covariance import CovarianceCD


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def kron_group_cov_cd(spec, G, T, q, w, lc, units, max_epochs, tol):
    """:func:`~.covariance.group_cov_cd` for the Gram matrix ``G kron I_T``: coordinate
    ``j`` is feature ``j // T`` of task ``j % T``; ``w`` and ``q = vec(C - G W)`` (flat,
    length ``p T``) are updated in place; ``G`` (``p x p``, Fortran order) is never
    expanded. Returns ``(n_epochs, last_violation)``."""
    size = max_group_size(spec)
    xg = np.empty(size)
    gg = np.empty(size)
    new = np.empty(size)
    p = G.shape[0]
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
                    r = j // T
                    t = j - r * T
                    col = G[:, r]
                    for i in range(p):
                        q[i * T + t] -= delta * col[i]
        epoch += 1
        if viol <= tol:
            break
    return epoch, viol


def kron_group_curvatures(G, T, spec):
    """Spectral norm of every diagonal block of ``G kron I_T`` on the penalty's groups: a
    row of ``W`` (the multi-task groups) has ``G[j, j]``."""
    n_groups = spec.grp_ptr.shape[0] - 1
    out = np.zeros(n_groups)
    for g in range(n_groups):
        idx = spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]
        if idx.size == 0:
            continue
        rows, tasks = idx // T, idx % T
        if np.all(rows == rows[0]):
            out[g] = G[rows[0], rows[0]]
        else:
            block = G[np.ix_(rows, rows)] * (tasks[:, None] == tasks[None, :])
            out[g] = float(np.linalg.eigvalsh(block)[-1])
    return out


class MultiTaskCovarianceCD(CovarianceCD):
    """The state of :func:`~._outer.outer_loop` for
    ``1/2 (yy - 2 tr(C'W) + tr(W'GW)) + pen(W)`` with a group penalty on the flat
    coefficients (see the module docstring): working sets of groups, solved by
    :func:`kron_group_cov_cd`. Primal, dual and inner tolerances are
    :class:`~.covariance.CovarianceCD`'s on the flat vectors."""

    def __init__(self, G, C, yy, info, w, P0, *, tol, p0, max_epochs, anderson,
                 inner_tol_ratio, exact_budget=0.0):
        if not info.is_group:
            raise ValueError("the multi-task covariance solver takes a group penalty (the "
                             "rows of W, e.g. GroupL1 on [n_tasks] * n_features)")
        self.T = int(C.shape[1])
        self.G, self.c, self.yy, self.info, self.w = G, C.reshape(-1), yy, info, w
        self.tol, self.p0, self.max_epochs, self.anderson = tol, p0, max_epochs, anderson
        self.inner_tol_ratio = self.ratio = inner_tol_ratio
        self.scores, self.rank = np.empty(info.n_units), np.empty(info.n_units)
        self.lc = kron_group_curvatures(G, self.T, info.spec)
        self.n_epochs, self.prev_ws = 0, None
        self.gap_tol_in = 0.0  # the group kernel stops on its violations only
        self.exact_budget = float(exact_budget)

    def optimality(self):
        self.q = np.ascontiguousarray(self.c - (self.G @ self.w.reshape(-1, self.T)).reshape(-1))
        mx, self.scale = outer_pass(self.info, self.w, self.q, self.scores, self.rank)
        return mx

    def step(self, it, gap):
        nonzero = unit_nonzero(self.w, self.info)
        ws = select_working_set(self.rank, nonzero, self.p0)
        tol_in = self._inner_tol(nonzero, gap)
        self.prev_ws = ws
        ep, _ = kron_group_cov_cd(self.info.spec, self.G, self.T, self.q, self.w, self.lc,
                                  ws, self.max_epochs, tol_in)
        self.n_epochs += ep

    def polish(self):
        """At convergence, the multi-task exact step of the solver on the rows
        (:func:`~._exact.row_sparse_minimizer` on the non-zero rows and the violating
        zero rows, Newton's method with ``G_SS`` for the data's Hessian) when it costs at
        most :func:`~._exact.exact_budget` of ``max(2 products G W, exact_budget)``
        (``exact_budget``: two passes over the rows the moments summed, the in-memory
        solver's budget, so the two routes take the step on the same problems); the next
        check certifies it.
        Returns whether it moved. Without it the two routes stop at different points of
        the tolerance ball (MultiTaskElasticNet at the default tol: 5e-4 apart)."""
        T, spec = self.T, self.info.spec
        Q = self.q.reshape(-1, T)
        if self.scores.max(initial=0.0) <= 1e-13 * float(np.abs(Q).max(initial=0.0)):
            return False
        W = self.w.reshape(-1, T)
        cand = row_candidate(spec, W, Q)
        if cand is None:
            return False
        S, a, beta = cand
        p = W.shape[0]
        if row_step_cost(S.size, T) > exact_budget(max(2 * p * p * T, self.exact_budget),
                                                   self.tol):
            return False
        HX = self.G[np.ix_(S, S)]
        V, exact = row_sparse_minimizer(HX, Q[S], W[S], a, beta)
        if not exact:
            return False
        D = V - W[S]
        pen_old = compiled_penalty_value(spec, self.w)
        old = W[S].copy()
        W[S] = V
        change = (-float(np.sum(Q[S] * D)) + 0.5 * float(np.sum(D * (HX @ D)))
                  + compiled_penalty_value(spec, self.w) - pen_old)
        if not change <= 1e-15 * (abs(pen_old) + 0.5 * abs(float(self.yy))):
            W[S] = old
            return False
        self.n_epochs += 1  # (n_iter_ counts an exact step as one epoch)
        return True

    def result(self, **outcome):
        return SolverResult(coef=self.w.reshape(-1, self.T), intercept=0.0,
                            n_epochs=self.n_epochs, gradient=-self.q.reshape(-1, self.T),
                            **outcome)


def solve_covariance_multitask(moments, penalty, *, fit_intercept=False, w_init=None,
                               tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
                               positive=False, inner_tol_ratio=None, verbose=0):
    """The :class:`~sparsefit.datafits.MultiTaskQuadratic` problem of :func:`solve` from
    the moments of ``(X, Y)`` (``Y`` 2-D): ``coef`` of shape ``(n_features, n_tasks)``,
    ``intercept`` of shape ``(n_tasks,)``, the same stopping rule (the relative duality
    gap ``gap / P(0)``, ``P(0) = yy / 2``) and ``null_primal`` as the in-memory solver.
    Called by :func:`~.covariance.solve_covariance`, which validates the arguments and
    warns when the solve did not converge."""
    from ._common import describe
    from ._solve import _project

    p, T = moments.n_features, moments.n_targets
    info = describe(penalty, p * T, positive=positive)
    G, C, YY = moments.quadratic_form(fit_intercept)
    C = np.ascontiguousarray(C)
    yy = float(np.trace(YY))
    w = np.zeros(p * T) if w_init is None else _project(
        info, np.array(w_init, dtype=np.float64).reshape(p * T))
    if fit_intercept:
        const = np.flatnonzero(moments.constant_columns())
        G[const, :] = 0.0
        G[:, const] = 0.0
        C[const, :] = 0.0
        w.reshape(p, T)[const, :] = 0.0
    P0 = 0.5 * yy
    rule = StopRule(info, tol, P0, lambda: float(np.max(np.abs(C), initial=0.0)))
    state = MultiTaskCovarianceCD(G, C, yy, info, w, P0, tol=float(tol), p0=int(p0),
                                  max_epochs=int(max_epochs), anderson=int(anderson),
                                  inner_tol_ratio=0.3 if inner_tol_ratio is None
                                  else float(inner_tol_ratio),
                                  exact_budget=2.0 * moments.count * p * T)
    res = outer_loop(state, rule, max_iter=int(max_iter), verbose=verbose, label="cov-cd")
    res.coef = np.array(res.coef)
    res.intercept = (np.asarray(moments.intercept(res.coef), dtype=np.float64)
                     if fit_intercept else np.zeros(T))
    res.null_primal = float(P0)
    return res
