"""The outer loop every working-set solver shares (coordinate descent for the Quadratic
datafit, proximal Newton for Logistic and Multinomial), its result, and the working-set
rule.

Each outer iteration asks its *state* (one class per datafit, in :mod:`.cd` and
:mod:`.prox_newton`) for the optimality check on all units, measures the stopping
criterion (:class:`~._gap.StopRule`), and, unless done, lets the state pick a working set
and solve it. The states hold what differs: the data's representation, the inner solver
and its tolerance policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._columns import top_free_units


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    coef : ndarray of float64, shape (n_features,) or (n_features, n_classes)
    intercept : float or ndarray (0.0 when not fitted)
    dual_gap : float
        Relative duality gap ``gap / P(0)`` at return (:attr:`absolute_gap` is ``P - D``);
        NaN for non-convex penalties, and for an unpenalized fit too large for
        :func:`~._gap.least_squares_gap`.
    n_iter : int
        Outer (working-set) iterations.
    converged : bool
    stop_crit : float
        The quantity compared with ``tol`` (see :class:`~sparsefit.solvers._gap.StopRule`).
    kkt_max : float
        Largest optimality violation over all coordinates / groups at return.
    n_epochs : int
        Total inner coordinate-descent epochs.
    history : list of float
        ``stop_crit`` after every outer iteration.
    gradient : ndarray or None
        Gradient of the datafit (same shape as ``coef``) as the last optimality check
        computed it at the returned solution (used by path screening).
    primal, null_primal : float
        The objective at return and at the null model ``P(0)`` (NaN when no duality gap
        is measured).
    """

    coef: np.ndarray
    intercept: object
    dual_gap: float
    n_iter: int
    converged: bool
    stop_crit: float
    kkt_max: float
    n_epochs: int = 0
    history: list = field(default_factory=list)
    gradient: np.ndarray | None = None
    primal: float = np.nan
    null_primal: float = np.nan

    @property
    def absolute_gap(self):
        """``dual_gap * null_primal``: the duality gap ``P - D`` of the objective itself,
        what scikit-learn's ``dual_gap_`` holds (NaN when no gap was measured)."""
        return float(self.dual_gap) * float(self.null_primal)


#: Polishes per solve (each follows a converged check; see outer_loop).
MAX_POLISH = 3


def outer_loop(state, rule, *, max_iter, verbose=0, label="cd"):
    """Run the working-set iterations of ``state`` until ``rule`` says converged or
    ``max_iter`` iterations; returns a :class:`SolverResult`.

    ``state`` provides ``optimality() -> largest violation`` (refreshing its ``scores``),
    ``primal_dual() -> (P, D)``, ``step(it, gap)`` (pick and solve a working set),
    ``nnz()`` and ``result(**outcome)``; optionally ``polish() -> moved``, a move at
    convergence that lowers the objective (then checked like any other point, along a
    path too: a point is returned certified, as a single fit's), at most
    :data:`MAX_POLISH` times per solve.
    """
    history = []
    converged = False
    polishes = 0
    crit = gap = kkt_max = P = np.nan
    it = 0
    while True:
        kkt_max = state.optimality()
        P, D = state.primal_dual() if rule.uses_gap else (None, None)
        crit, gap = rule.measure(kkt_max, state.scores, P, D)
        history.append(crit)
        if verbose:
            print(f"[{label}] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}  "
                  f"nnz {state.nnz()}")
        if rule.converged(crit, kkt_max):
            # (a start that already holds, it == 0, is returned as it is; a polish that
            # changed the support may be followed by another on the new one)
            if polishes < MAX_POLISH and it > 0 and rule.uses_gap and hasattr(state,
                                                                              "polish"):
                polishes += 1
                if state.polish():
                    continue  # checked again where it moved: what is returned is certified
            converged = True
            break
        if it == max_iter:
            break
        state.step(it, gap)
        it += 1
    res = state.result(n_iter=it, converged=converged, stop_crit=crit, dual_gap=gap,
                       kkt_max=kkt_max, history=history,
                       primal=np.nan if P is None else float(P))
    return res


def unit_nonzero(w, info):
    """Which units (coordinates or groups) of ``w`` are non-zero."""
    if not info.is_group:
        return w != 0
    spec = info.spec
    nz = np.abs(w) > 0
    counts = np.add.reduceat(nz[spec.grp_idx].astype(np.int64), spec.grp_ptr[:-1]) \
        if spec.grp_idx.size else np.zeros(spec.grp_ptr.shape[0] - 1, dtype=np.int64)
    counts[np.diff(spec.grp_ptr) == 0] = 0
    return counts > 0


def ws_coords(info, ws):
    """The coordinates of the units ``ws``: ``ws`` itself for a separable penalty, the
    groups' members (concatenated, int64) for a group penalty."""
    if not info.is_group:
        return ws
    spec = info.spec
    return np.concatenate([spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]] for g in ws]
                          + [np.zeros(0, dtype=np.int64)]).astype(np.int64)


def select_working_set(rank, nonzero, p0, ws_hint=None, cheap_size=0, rng=None):
    """The non-zero units plus the zero units closest to entering the model (largest
    ``rank``), with ``size = max(p0, min(max(2 * nnz, cheap_size), nnz + n_violators +
    nnz / 10))``: at most doubling with the support, as in celer and skglm (or
    ``cheap_size``, a size whose epochs cost little next to a full pass), but no larger
    than the violators need. In increasing order, the order the inner epochs visit them;
    with ``rng`` (``selection="random"``) in a random order drawn from it instead."""
    ws = _working_set(rank, nonzero, p0, ws_hint, cheap_size)
    return ws if rng is None else rng.permutation(ws)


def _working_set(rank, nonzero, p0, ws_hint, cheap_size):
    nu = rank.shape[0]
    nnz = int(np.count_nonzero(nonzero))
    n_viol = int(np.count_nonzero((rank > 0) & ~nonzero))
    size = max(p0, min(max(2 * nnz, cheap_size), nu, nnz + n_viol + nnz // 10))
    forced = nonzero.copy()
    if ws_hint is not None and len(ws_hint):
        forced[ws_hint] = True
    n_forced = int(np.count_nonzero(forced))
    if size >= nu:
        return np.arange(nu, dtype=np.int64)
    if size <= n_forced:
        return np.flatnonzero(forced).astype(np.int64)
    top = top_free_units(rank, forced, size - n_forced)
    return np.sort(np.concatenate([np.flatnonzero(forced), top])).astype(np.int64)


def holds_core(nonzero, rank, prev_ws):
    """Whether the previous working set already held the support and every violator (the
    outer iterations then only re-check the gap, so inner solves may be tighter)."""
    if prev_ws is None:
        return False
    core = np.flatnonzero(nonzero | (rank > 0))
    return bool(np.all(np.isin(core, prev_ws, assume_unique=True)))
