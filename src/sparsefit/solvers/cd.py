"""Coordinate descent with working sets (Quadratic datafit) and the common ``solve`` entry."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ..datafits import Quadratic
from ..datafits._validation import (
    as_column_store,
    check_coef,
    linear_predictor,
    normalize_sample_weight,
    xt_times,
)
from ..penalties import _kernels as pk
from ._cd_kernels import (
    center_gram,
    constant_columns,
    gather_block,
    gram_cd,
    kkt_scores,
    outer_pass_separable,
    outer_scores_from_xt,
    penalty_value,
    rank_scores,
    top_free_units,
    weighted_col_moments,
    weighted_col_norms,
    wls_cd,
    xt_dot_cols,
)
from ._common import as_spec, check_datafit, is_convex, is_group, n_units
from ._gap import GAP_STOP_MIN_TOL, StopRule, dual_scaling, null_grad_scale, null_primal


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    coef : ndarray of float64, shape (n_features,) or (n_features, n_classes)
    intercept : float or ndarray (0.0 when not fitted)
    dual_gap : float
        Relative duality gap ``gap / P(0)`` at return (NaN for non-convex penalties).
    n_iter : int
        Outer (working-set) iterations.
    converged : bool
    stop_crit : float
        The quantity compared with ``tol``: the relative gap (convex) or the largest
        optimality violation ``subdiff_distance`` (non-convex).
    kkt_max : float
        Largest optimality violation over all coordinates / groups at return.
    n_epochs : int
        Total inner coordinate-descent epochs.
    history : list of float
        ``stop_crit`` after every outer iteration.
    gradient : ndarray or None
        Gradient of the datafit at the returned solution (same shape as ``coef``), as the
        last optimality check computed it (used by path screening).
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


# Working-set sizing and inner tolerances of the Quadratic solver (tuned on the benchmark
# problems of DESIGN.md):
# - an epoch on a working set of ``n_units / (2 * E_MIN)`` units costs about 1 / E_MIN of a
#   full pass over X (uniform column densities): working sets up to that size are cheap
#   and are used from the start, whatever the support doubling rule says;
# - the first inner solve on a new working set stops at a largest violation of
#   ``inner_tol_ratio * min(1, E_REF / e)`` times the current one, ``e`` being the number
#   of its epochs one full pass costs: tighter when epochs are cheap;
# - inner solves also stop when the working-set gap is GAP_FRAC of the target, for
#   tol >= GAP_STOP_MIN_TOL (see _solve_quadratic).
E_MIN = 20.0
E_REF = 1.0
GAP_FRAC = 0.5


def _check_params(tol, max_iter, p0, anderson):
    if not (np.isscalar(tol) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if int(p0) != p0 or p0 < 1:
        raise ValueError(f"p0 must be an integer >= 1, got {p0!r}")
    if int(anderson) != anderson or anderson < 0:
        raise ValueError(f"anderson must be an integer >= 0, got {anderson!r}")


def _dense_columns(store, cols):
    if store.dense:
        X = store.data.reshape((store.n, store.p), order="F")
        return np.asarray(X[:, cols], dtype=np.float64)
    Xs = sp.csc_matrix((store.data, store.indices, store.indptr), shape=(store.n, store.p))
    return Xs[:, cols].toarray().astype(np.float64)


def group_lipschitz(store, spec, sw, xm=None):
    """``L_g = ||X_g.T diag(sw) X_g||_2`` for every group (exact spectral norm); with the
    weighted column means ``xm`` (filled here, length ``n_features``), of the centered
    columns ``X_g - xm_g`` instead (see wls_cd's centered mode)."""
    n_groups = spec.grp_ptr.shape[0] - 1
    out = np.zeros(n_groups)
    col = np.empty(store.p)
    every = np.arange(store.p, dtype=np.int64)
    if xm is None:
        weighted_col_norms(*store.args, every, sw, col)
    else:
        weighted_col_moments(*store.args, every, sw, xm, col)
    root = np.sqrt(sw)
    for g in range(n_groups):
        idx = spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]
        if idx.size == 1:
            out[g] = col[idx[0]]
        elif idx.size > 1:
            A = _dense_columns(store, idx)
            if xm is not None:
                A -= xm[idx]
            out[g] = np.linalg.norm(A * root[:, None], 2) ** 2
    return out


class GramCache:
    """Inner products ``X_j.T diag(sw) X_k`` (and ``X_j.T sw``) of the columns that entered a
    working set along a path (dense X, fixed sample weights): each pair is computed once
    for the whole path, by BLAS, as the columns first enter (glmnet's covariance updates).
    """

    def __init__(self, store, sw, max_cols=4000):
        self.store = store
        self.root = np.sqrt(sw)
        self.sw = sw
        self.pos = np.full(store.p, -1, dtype=np.int64)
        self.n_cols = 0
        self.max_cols = int(max_cols)
        self.A = np.empty((store.n, 0), order="F")  # sqrt(sw) * X[:, cols]
        self.G = np.empty((0, 0), order="F")
        self.c = np.empty(0)

    def fits(self, ws):
        return self.n_cols + int(np.count_nonzero(self.pos[ws] < 0)) <= self.max_cols

    def get(self, ws):
        """``(G_ws, c_ws)`` for the columns ``ws`` (a fresh Fortran copy of the block)."""
        new = ws[self.pos[ws] < 0]
        if new.size:
            st = self.store
            X = st.data.reshape((st.n, st.p), order="F")
            An = np.asfortranarray(X[:, new] * self.root[:, None], dtype=np.float64)
            k0, k1 = self.n_cols, self.n_cols + new.size
            if k1 > self.G.shape[0]:
                # first guess: a path's working sets rarely outgrow twice the rows (the
                # Lasso support has at most n features); then grow by 1.5x (each growth
                # allocates and copies the whole block)
                first = min(self.max_cols, st.p, 2 * st.n)
                cap = min(max(3 * self.G.shape[0] // 2, k1, first), max(self.max_cols, k1))
                G = np.empty((cap, cap), order="F")
                G[:k0, :k0] = self.G[:k0, :k0]
                A = np.empty((st.n, cap), order="F")
                A[:, :k0] = self.A[:, :k0]
                c = np.empty(cap)
                c[:k0] = self.c[:k0]
                self.G, self.A, self.c = G, A, c
            cross = self.A[:, :k0].T @ An
            self.G[:k0, k0:k1] = cross
            self.G[k0:k1, :k0] = cross.T
            self.G[k0:k1, k0:k1] = An.T @ An
            self.A[:, k0:k1] = An
            self.c[k0:k1] = An.T @ self.root
            self.pos[new] = np.arange(k0, k1)
            self.n_cols = k1
        idx = self.pos[ws]
        return gather_block(self.G, idx), self.c[idx].copy()


def _unit_nonzero(w, spec, grouped):
    if not grouped:
        return w != 0
    nz = np.abs(w) > 0
    counts = np.add.reduceat(nz[spec.grp_idx].astype(np.int64), spec.grp_ptr[:-1]) \
        if spec.grp_idx.size else np.zeros(spec.grp_ptr.shape[0] - 1, dtype=np.int64)
    sizes = np.diff(spec.grp_ptr)
    counts[sizes == 0] = 0
    return counts > 0


def select_working_set(rank, nonzero, p0, ws_hint=None, cheap_size=0):
    """The non-zero units plus the zero units closest to entering the model (largest
    ``rank``, see :func:`~sparsefit.solvers._cd_kernels.rank_scores`), with
    ``size = max(p0, min(max(2 * nnz, cheap_size), nnz + n_violators + nnz / 10))``: at
    most doubling with the support, as in celer and skglm (or ``cheap_size``, a size whose
    epochs cost little next to a full pass), but no larger than the violators need."""
    nu = rank.shape[0]
    nnz = int(np.count_nonzero(nonzero))
    n_viol = int(np.count_nonzero((rank > 0) & ~nonzero))
    # the support, every violator and a 10% margin of the zero units closest to entering
    # (they are the next violators); at most double the support (or cheap_size)
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


def solve(X, y, datafit, penalty, *, fit_intercept=False, sample_weight=None, w_init=None,
          intercept_init=None, tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
          positive=False, ws_hint=None, inner_tol_ratio=None, verbose=0):
    r"""Minimize ``datafit + penalty`` by coordinate descent with working sets.

    .. math::

        \min_{w, b} \; F(Xw + b) + \mathrm{pen}(w)

    Each outer iteration computes the full gradient, the duality gap and every coordinate's
    (or group's) optimality violation ``subdiff_distance``, keeps the non-zero units plus
    the zero units closest to entering (the working set doubles with the support), and
    solves the restricted problem: by coordinate descent with Anderson extrapolation for
    the Quadratic datafit, by proximal Newton (coordinate descent on the Newton model) for
    Logistic and Multinomial (block coordinate descent for a Multinomial group penalty).
    Convex problems stop when the relative duality gap ``gap / P(0) <= tol`` (see
    :func:`~sparsefit.solvers.dual_gap`), non-convex ones (MCP, SCAD) when the largest
    violation ``<= tol``.

    Parameters
    ----------
    X : ndarray or sparse matrix, shape (n_samples, n_features)
        Dense (Fortran order avoids a copy) or sparse (CSC avoids a copy); float32/float64
        (computations accumulate in float64).
    y : ndarray, shape (n_samples,)
        Targets; -1/+1 labels for Logistic, class indices for Multinomial.
    datafit : Quadratic, Logistic or Multinomial
    penalty : penalty object with ``numba_spec()`` or a ``NumbaSpec``
        Separable (L1, L2, L1L2, WeightedL1, MCP, SCAD) or group (GroupL1, SparseGroupL1).
        For Multinomial, coefficient ``(j, k)`` is penalty coordinate ``j * n_classes + k``
        (``GroupL1(alpha, [n_classes] * n_features)`` groups the classes of a feature).
    fit_intercept : bool
        Fit an unpenalized intercept.
    sample_weight : array-like, optional
        Non-negative; normalized to sum to one.
    w_init, intercept_init : optional
        Warm start (not modified).
    tol : float
        Relative duality gap (convex) or largest violation (non-convex) at which to stop.
    max_iter : int
        Outer (working-set) iterations.
    max_epochs : int
        Epochs per inner solve.
    p0 : int
        Smallest working-set size.
    anderson : int
        Anderson extrapolation memory of the primal iterates (0 disables it).
    positive : bool
        Constrain ``coef >= 0`` (separable penalties, Quadratic and Logistic).
    ws_hint : array of int, optional
        A strong-rule set along a path (a warm start that likely holds the support).
        Proximal Newton includes these units in its first working set; coordinate descent
        (Quadratic) already ranks them first, and solves its first working set for the
        target gap at once.
    inner_tol_ratio : float, optional
        The working-set subproblem is solved until its largest violation is below this
        fraction of the current largest violation on the full problem (default 0.3 for
        coordinate descent, 0.1 for proximal Newton, whose inner steps are cheaper than an
        outer iteration).
    verbose : int

    Returns
    -------
    SolverResult

    Warns
    -----
    ConvergenceWarning
        When ``max_iter`` is reached, with the achieved criterion and ``tol``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import solve
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 20)); y = X[:, 0] - 2 * X[:, 3]
    >>> res = solve(X, y, Quadratic(), L1(0.1), tol=1e-8)
    >>> res.converged, np.flatnonzero(res.coef).tolist()
    (True, [0, 3])
    """
    return _solve(as_column_store(X), y, datafit, penalty, fit_intercept=fit_intercept,
                  sample_weight=sample_weight, w_init=w_init, intercept_init=intercept_init,
                  tol=tol, max_iter=max_iter, max_epochs=max_epochs, p0=p0, anderson=anderson,
                  positive=positive, ws_hint=ws_hint, inner_tol_ratio=inner_tol_ratio,
                  verbose=verbose)


def _solve(store, y, datafit, penalty, *, fit_intercept=False, sample_weight=None, w_init=None,
           intercept_init=None, tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
           positive=False, ws_hint=None, inner_tol_ratio=None, verbose=0, col_norms=None,
           gram=None, xt_init=None, stacklevel=3):
    """:func:`solve` on an already validated :class:`ColumnStore` (paths validate ``X``
    once). ``col_norms`` (Quadratic datafit, separable penalty): an array of length
    ``n_features`` holding ``sum_i sw_i X_ij^2`` or -1 where not computed yet, filled in
    place; a path passes the same array to every solve with the same sample weights.
    ``gram``: a :class:`GramCache` shared along a path (dense X, Quadratic datafit): the
    working-set subproblems are then solved in covariance form. ``xt_init``: ``X.T @ theta``
    at ``(w_init, intercept_init)`` (minus the ``gradient`` a previous solve at those
    coefficients returned), which spares the first pass over X."""
    datafit = check_datafit(datafit)
    _check_params(tol, max_iter, p0, anderson)
    y = datafit.check_y(y, store.n)
    sw = normalize_sample_weight(sample_weight, store.n)
    K = datafit.n_classes
    spec = as_spec(penalty, store.p * (K or 1))
    if positive and is_group(spec):
        raise ValueError("positive=True is only supported with separable penalties")
    if K is not None and positive:
        raise ValueError("positive=True is not supported with the Multinomial datafit")
    if w_init is None:
        w = np.zeros(store.p) if K is None else np.zeros((store.p, K))
    else:
        w = check_coef(w_init, store.p, "w_init", n_classes=K).copy()
        if positive and np.any(w < 0):
            raise ValueError("w_init must be non-negative when positive=True")
    if intercept_init is None or not fit_intercept:
        b = 0.0 if K is None else np.zeros(K)
    else:
        b = np.array(intercept_init, dtype=np.float64) if K else float(intercept_init)
    if ws_hint is not None:
        ws_hint = np.asarray(ws_hint, dtype=np.int64)
    common = {"fit_intercept": bool(fit_intercept), "tol": float(tol), "max_iter": int(max_iter),
                  "p0": int(p0), "positive": bool(positive), "verbose": verbose, "ws_hint": ws_hint}
    if isinstance(datafit, Quadratic):
        res = _solve_quadratic(store, y, sw, sample_weight is None, spec, w, b,
                               max_epochs=int(max_epochs), anderson=int(anderson),
                               inner_tol_ratio=0.3 if inner_tol_ratio is None
                               else float(inner_tol_ratio), col_norms=col_norms, gram=gram,
                               xt_init=xt_init, **common)
    else:
        from .prox_newton import prox_newton

        res = prox_newton(store, y, sw, datafit, spec, w, b,
                          inner_tol_ratio=0.1 if inner_tol_ratio is None
                          else float(inner_tol_ratio), **common)
    if fit_intercept:
        _fold_constant_columns(store, sw, res)
    if not res.converged:
        what = "relative duality gap" if is_convex(spec) else "largest optimality violation"
        warnings.warn(
            f"Solver did not converge after max_iter={max_iter} iterations: {what} "
            f"{res.stop_crit:.3e} > tol={tol:.1e}. Increase max_iter or tol, or scale X.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    return res


def _constant_columns(store, sw, cols):
    """The columns among ``cols`` that are constant over the rows with weight > 0, and their
    values."""
    rows = sw > 0
    flags = np.zeros(cols.size, dtype=np.bool_)
    constant_columns(*store.args, cols.astype(np.int64), rows, flags)
    idx = cols[flags].astype(np.int64)
    values = np.empty(idx.size)
    first = int(np.flatnonzero(rows)[0]) if idx.size else 0
    for k, j in enumerate(idx):
        if store.dense:
            values[k] = store.data[j * store.n + first]
        else:
            st, en = store.indptr[j], store.indptr[j + 1]
            hit = np.flatnonzero(rows[store.indices[st:en]])
            values[k] = store.data[st + hit[0]] if hit.size else 0.0
    return idx, values


def _fold_constant_columns(store, sw, res):
    """With an intercept, a constant column only duplicates it: its optimal coefficient is
    exactly 0 (any other value costs penalty for no change in the fit). Solvers leave
    rounding-level values there; fold them into the intercept, which keeps the predictions
    and can only lower the objective. Only the columns with a non-zero coefficient are
    checked (a constant non-zero column is rare; checking all of X at every solve of a path
    cost more than the solves)."""
    nz = np.flatnonzero(res.coef if res.coef.ndim == 1 else np.any(res.coef != 0, axis=1))
    if nz.size == 0:
        return
    idx, values = _constant_columns(store, sw, nz)
    if idx.size == 0:
        return
    shift = values @ res.coef[idx] if res.coef.ndim == 1 else values @ res.coef[idx, :]
    res.intercept = res.intercept + shift
    res.coef[idx] = 0.0


def _solve_quadratic(store, y, sw, uniform, spec, w, b, *, fit_intercept, tol, max_iter, p0,
                     positive, verbose, ws_hint, max_epochs, anderson, inner_tol_ratio,
                     col_norms=None, gram=None, xt_init=None):
    grouped = is_group(spec)
    convex = is_convex(spec)
    nu = n_units(spec, store.p)
    # with an intercept: the columns' weighted means and centered curvatures, for wls_cd's
    # centered mode (separable penalties: filled lazily for the working sets, -1 = not yet)
    centered = fit_intercept and not grouped
    xm = np.zeros(store.p) if fit_intercept else np.zeros(0)
    if grouped:
        lc = group_lipschitz(store, spec, sw, xm if fit_intercept else None)
    else:
        # filled lazily for the columns that enter a working set (-1 = not computed yet):
        # most columns of a sparse problem never do; a path shares one array
        lc = np.full(store.p, -1.0) if col_norms is None else col_norms
    lcc = np.full(store.p, -1.0) if centered else lc
    R = y - linear_predictor(store, w, b)
    b_arr = np.array([b], dtype=np.float64)
    P0 = null_primal(Quadratic(), y, sw, fit_intercept, w.shape)
    rule = StopRule(spec, tol, P0, nu, lambda: null_grad_scale(
        store, y, sw, Quadratic(), fit_intercept, w.shape))
    scores = np.empty(nu)
    rank = np.empty(nu)
    Xt = np.empty(store.p)
    history = []
    n_epochs = 0
    converged = False
    crit = np.inf
    kkt_max = np.inf
    gap = np.nan
    prev_ws = None
    ratio = inner_tol_ratio
    # Inner solves also stop when the working-set duality gap is half the target (L1 /
    # elastic net): more epochs on that working set cannot lower the full gap further.
    # Not for very small tol: who asks for a gap near float64 precision wants the
    # coefficients to many digits, and the gap bounds their error only through its square
    # root, so the violation-based rule below over-solves on purpose there.
    gap_tol_in = 0.0
    if (not grouped and convex and spec.kind in (pk.L1, pk.L1L2) and spec.params[0] > 0
            and P0 > 0 and tol >= GAP_STOP_MIN_TOL):
        gap_tol_in = GAP_FRAC * tol * P0
    x_nnz = store.n * store.p if store.dense else int(store.indptr[-1])
    it = 0
    for it in range(max_iter + 1):
        if fit_intercept:
            c = float(np.dot(sw, R))  # exact minimization in the intercept
            b_arr[0] += c
            R -= c
        theta = sw * R
        if grouped:
            Xt = xt_times(store, theta)
            kkt_scores(w, -Xt, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                       spec.grp_idx, positive, scores)
            rank_scores(w, -Xt, grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                        spec.grp_idx, positive, rank)
            kkt_max = float(scores.max()) if nu else 0.0
        else:
            # one fused pass: X.T theta, violations, ranks and the dual rescaling
            if it == 0 and xt_init is not None:
                Xt[:] = xt_init
                kkt_max, max_ratio, conj_sep = outer_scores_from_xt(
                    w, spec.kind, spec.params, spec.weights, positive, Xt, scores, rank)
            else:
                kkt_max, max_ratio, conj_sep = outer_pass_separable(
                    *store.args, theta, w, spec.kind, spec.params, spec.weights, positive,
                    Xt, scores, rank)
        P = D = None
        if rule.uses_gap:
            pen = penalty_value(w, grouped, spec.kind, spec.params, spec.weights,
                                spec.grp_ptr, spec.grp_idx)
            P = 0.5 * float(np.dot(theta, R)) + pen
            if grouped or spec.params[0] == 0:
                s, conj = dual_scaling(spec, Xt, positive)
            elif spec.kind == pk.L2 or (spec.kind == pk.L1L2 and spec.params[1] > 0):
                s, conj = 1.0, conj_sep
            else:
                s, conj = (min(1.0, 1.0 / max_ratio) if max_ratio > 0 else 1.0), 0.0
            # the dual point is the rescaled residual, exactly as dual_gap() builds it, so
            # the gap reported here is the one benchmarks and tests recompute
            D = s * float(np.dot(theta, y)) - 0.5 * s * s * float(np.dot(theta, R)) - conj
        crit, gap = rule.measure(kkt_max, scores, P, D)
        history.append(crit)
        if verbose:
            print(f"[cd] iter {it:3d}  crit {crit:.3e}  kkt {kkt_max:.3e}  "
                  f"nnz {np.count_nonzero(w)}  epochs {n_epochs}")
        if rule.converged(crit, kkt_max):
            converged = True
            break
        if it == max_iter:
            break
        nonzero = _unit_nonzero(w, spec, grouped)
        # A path's strong-rule set (ws_hint) is the top of ``rank`` at a warm start: the size
        # rule already takes its violators and the next 10%; forcing all of it made working
        # sets of 3x the support late in a path, where each epoch costs O(n |ws|)
        ws = select_working_set(rank, nonzero, p0, cheap_size=int(nu / (2 * E_MIN)))
        # Inner tolerance: a fraction of the current largest violation. When the support
        # and the violators already sit in the previous working set, the outer iterations
        # only re-check the gap, so ask more of each inner solve; for convex problems aim
        # at the violation the target gap needs (the gap falls about linearly with it, the
        # dual point being rescaled by it), by at most 100x at once while far from the
        # target (the support may still move), 1000x when close.
        core = np.flatnonzero(nonzero | (rank > 0))
        if it == 0 and ws_hint is not None:
            # warm start along a path: the strong rule already guessed the support, so the
            # first working set is usually the last; solve it for the target gap at once
            prev_ws = ws
        if prev_ws is not None and np.all(np.isin(core, prev_ws, assume_unique=True)):
            ratio *= inner_tol_ratio
            if gap_tol_in > 0:
                # the working-set gap decides when to stop (it is the full gap once no
                # feature outside the working set violates)
                ratio = 0.0
            elif convex and gap > 0:
                ratio = min(ratio, max(0.1 * tol / gap, 1e-3 if gap < 1e4 * tol else 1e-2))
        else:
            ratio = inner_tol_ratio
            if gap_tol_in > 0:
                # An outer iteration (a pass over all of X) costs `e_ratio` epochs on the
                # working set: when epochs are cheap (a small working set of a large or
                # sparse X), solve more tightly rather than pay for more outer iterations
                if store.dense:
                    ws_nnz = ws.size * store.n
                else:
                    ws_nnz = int(np.sum(store.indptr[ws + 1] - store.indptr[ws]))
                e_ratio = x_nnz / max(2 * ws_nnz, 1)
                ratio = inner_tol_ratio * min(1.0, E_REF / max(e_ratio, 1e-12))
        prev_ws = ws
        tol_in = max(ratio, 1e-4) * kkt_max
        if not convex:
            tol_in = max(tol_in, 0.3 * tol)
        if not grouped and not centered:
            new_cols = ws[lc[ws] < 0]
            if new_cols.size:
                weighted_col_norms(*store.args, new_cols, sw, lc)
        elif centered:
            new_cols = ws[lcc[ws] < 0]
            if new_cols.size:
                weighted_col_moments(*store.args, new_cols, sw, xm, lcc)
        if gram is not None and gap_tol_in > 0 and gram.fits(ws):
            ep = _gram_inner(store, gram, ws, sw, R, w, b_arr, fit_intercept, spec, positive,
                             max_epochs, tol_in, anderson, gap_tol_in)
        else:
            ep, _ = wls_cd(*store.args, sw, uniform, R, w, b_arr, fit_intercept, lcc, xm, ws,
                           grouped, spec.kind, spec.params, spec.weights, spec.grp_ptr,
                           spec.grp_idx, positive, max_epochs, tol_in, anderson, gap_tol_in)
        n_epochs += ep
    return SolverResult(
        coef=w, intercept=float(b_arr[0]) if fit_intercept else 0.0,
        dual_gap=gap if convex else np.nan, n_iter=it, converged=converged, stop_crit=crit,
        kkt_max=kkt_max, n_epochs=n_epochs, history=history, gradient=-Xt,
    )


def _gram_inner(store, gram, ws, sw, R, w, b_arr, fit_intercept, spec, positive, max_epochs,
                tol_in, anderson, gap_tol_in):
    """The working-set solve of :func:`_solve_quadratic` in covariance form (see
    :func:`~sparsefit.solvers._cd_kernels.gram_cd`); ``R`` is brought up to date after."""
    G, cvec = gram.get(ws)
    S = float(sw.sum())
    centered = False
    if fit_intercept and S > 0:
        # eliminate the intercept (see wls_cd's centered mode): optimal now, then moved with
        # every coefficient, which is CD on the centered Gram matrix with no intercept
        # step; unless centering G loses more than half of its digits on a diagonal
        if center_gram(G, cvec, S, 1e-8):  # in place (G is a fresh Fortran block)
            centered = True
            db = float(np.dot(sw, R)) / S
            b_arr[0] += db
            R -= db
    b_old = b_arr[0]  # R is up to date with it; what moves it from here is applied below
    q = xt_times_cols(store, ws, sw * R)
    w_loc = w[ws].copy()
    if centered:
        zero = np.zeros(1)
        ep, _ = gram_cd(G, np.zeros_like(cvec), S, q, w_loc, zero, False, 0.0,
                        float(np.dot(sw * R, R)), ws, spec.kind, spec.params, spec.weights,
                        positive, max_epochs, tol_in, anderson, gap_tol_in)
        b_arr[0] -= float(np.dot(cvec, w_loc - w[ws])) / S
    else:
        ep, _ = gram_cd(G, cvec, S, q, w_loc, b_arr, fit_intercept, float(np.dot(sw, R)),
                        float(np.dot(sw * R, R)), ws, spec.kind, spec.params, spec.weights,
                        positive, max_epochs, tol_in, anderson, gap_tol_in)
    moved = np.flatnonzero(w_loc != w[ws])
    if moved.size:
        cols = ws[moved]
        X = store.data.reshape((store.n, store.p), order="F")
        R -= X[:, cols] @ (w_loc[moved] - w[cols])
        w[cols] = w_loc[moved]
    if b_arr[0] != b_old:
        R -= b_arr[0] - b_old
    return ep


def xt_times_cols(store, cols, v):
    """``X[:, cols].T @ v`` in float64."""
    out = np.zeros(store.p)
    xt_dot_cols(*store.args, cols, np.ascontiguousarray(v, dtype=np.float64), out)
    return out[cols]
