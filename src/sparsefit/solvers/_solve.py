"""``solve``: the entry point of the working-set solvers (coordinate descent for the
Quadratic datafit, proximal Newton for Logistic and Multinomial)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits import MultiTaskQuadratic, Quadratic
from ..datafits._validation import as_column_store, check_coef, normalize_sample_weight
from ._columns import constant_columns
from ._common import check_datafit, describe
from ._gap import StopRule, least_squares_gap, null_grad_scale, null_primal
from ._outer import outer_loop
from .cd import QuadraticCD, gram_cache, takes_gram_route
from .covariance import solve_covariance
from .moments import Moments
from .multitask import MultiTaskCD
from .prox_newton import BinaryNewton, MultinomialNewton


def _check_params(tol, max_iter, p0, anderson):
    if not (np.isscalar(tol) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if int(p0) != p0 or p0 < 1:
        raise ValueError(f"p0 must be an integer >= 1, got {p0!r}")
    if int(anderson) != anderson or anderson < 0:
        raise ValueError(f"anderson must be an integer >= 0, got {anderson!r}")


def solve(X, y, datafit, penalty, *, fit_intercept=False, sample_weight=None, w_init=None,
          intercept_init=None, tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
          positive=False, ws_hint=None, inner_tol_ratio=None, selection="cyclic",
          random_state=None, precompute=False, verbose=0):
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
    :func:`~sparsefit.solvers.dual_gap`), non-convex ones (MCP, SCAD, LogSum) when the
    largest violation ``<= tol`` (see :class:`~sparsefit.solvers._gap.StopRule`).

    Parameters
    ----------
    X : ndarray or sparse matrix, shape (n_samples, n_features), or Moments
        Dense (Fortran order avoids a copy) or sparse (CSC avoids a copy); float32/float64
        (computations accumulate in float64). For the Quadratic datafit, the data's
        :class:`~sparsefit.solvers.moments.Moments` instead (``y`` and ``sample_weight``
        None): solved in covariance form by
        :func:`~sparsefit.solvers.covariance.solve_covariance`.
    y : ndarray, shape (n_samples,)
        Targets; -1/+1 labels for Logistic, class indices for Multinomial.
    datafit : Quadratic, Logistic or Multinomial
    penalty : Penalty
        A penalty with compiled kernels: separable (L1, L2, L1L2, WeightedL1, MCP, SCAD,
        LogSum), group (GroupL1, SparseGroupL1), or a Box of one. For Multinomial,
        coefficient ``(j, k)`` is penalty coordinate ``j * n_classes + k``
        (``GroupL1(alpha, [n_classes] * n_features)`` groups the classes of a feature).
    fit_intercept : bool
        Fit an unpenalized intercept.
    sample_weight : array-like, optional
        Non-negative; normalized to sum to one.
    w_init, intercept_init : optional
        Warm start (not modified).
    tol : float
        Relative duality gap (convex) or largest violation (non-convex) at which to stop.
        ``tol=0`` runs ``max_iter`` iterations for a convex penalty (the gap reported
        includes its rounding, never 0), as scikit-learn's ``tol=0`` does.
    max_iter : int
        Outer (working-set) iterations.
    max_epochs : int
        Epochs per inner solve.
    p0 : int
        Smallest working-set size.
    anderson : int
        Anderson extrapolation memory of the primal iterates (0 disables it).
    positive : bool
        Constrain ``coef >= 0``: the penalty becomes ``Box(penalty, 0, inf)``.
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
    selection : {"cyclic", "random"}
        The order in which the inner epochs visit the working set: increasing index, or a
        new random permutation of it at every outer iteration.
    random_state : int, RandomState instance or None
        Seeds ``selection="random"``.
    precompute : bool, "auto" or ndarray of shape (n_features, n_features)
        Quadratic datafit, dense ``X``, separable convex penalty, ``tol >= 1e-9``: solve
        the working sets in covariance form (glmnet's covariance updates), from the Gram
        entries of the columns that enter (True, "auto") or from this Gram matrix ``X.T @
        X`` (of ``X * sqrt(sample_weight)``, the weights rescaled to sum to
        ``n_samples``). Elsewhere it is ignored. The duality gap is always measured on
        ``X``.
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
    if isinstance(X, Moments):  # the data given by their sufficient statistics
        if y is not None or sample_weight is not None:
            raise ValueError("X is a Moments object: y and the sample weights are in it; "
                             "pass y=None and sample_weight=None")
        return solve_covariance(X, datafit, penalty, fit_intercept=fit_intercept,
                                w_init=w_init, tol=tol, max_iter=max_iter,
                                max_epochs=max_epochs, p0=p0, anderson=anderson,
                                positive=positive, inner_tol_ratio=inner_tol_ratio,
                                verbose=verbose, stacklevel=3)
    store = as_column_store(X)
    gram = None
    if (precompute is not False and isinstance(datafit, Quadratic) and takes_gram_route(store)
            and penalty.is_separable):
        gram = gram_cache(store, normalize_sample_weight(sample_weight, store.n), precompute)
    return _solve(store, y, datafit, penalty, fit_intercept=fit_intercept, gram=gram,
                  sample_weight=sample_weight, w_init=w_init, intercept_init=intercept_init,
                  tol=tol, max_iter=max_iter, max_epochs=max_epochs, p0=p0, anderson=anderson,
                  positive=positive, ws_hint=ws_hint, inner_tol_ratio=inner_tol_ratio,
                  rng=coordinate_order(selection, random_state), verbose=verbose)


def coordinate_order(selection, random_state):
    """The random generator of ``selection="random"`` (None for ``"cyclic"``)."""
    if selection == "cyclic":
        return None
    if selection != "random":
        raise ValueError(f"selection must be 'cyclic' or 'random', got {selection!r}")
    from sklearn.utils import check_random_state

    return check_random_state(random_state)


def _start(store, info, datafit, w_init, intercept_init, fit_intercept):
    K = datafit.n_classes
    if w_init is None:
        w = np.zeros(store.p) if K is None else np.zeros((store.p, K))
    else:
        # a start outside the constraints (bounds changed since a warm start) is moved in
        w = _project(info, check_coef(w_init, store.p, "w_init", n_classes=K).copy())
    if intercept_init is None or not fit_intercept:
        b = 0.0 if K is None else np.zeros(K)
    else:
        b = np.array(intercept_init, dtype=np.float64) if K else float(intercept_init)
    return w, b


def _project(info, w):
    """``w`` moved into the penalty's domain (the box of a Box penalty)."""
    spec = info.spec
    if hasattr(spec, "lower"):
        flat = np.clip(w.ravel(), spec.lower if spec.lower.size > 1 else spec.lower[0],
                       spec.upper if spec.upper.size > 1 else spec.upper[0])
        return flat.reshape(w.shape)
    if hasattr(spec, "inner") and info.is_group and type(spec).__name__ == "PositiveGroupSpec":
        return np.maximum(w, 0.0)
    return w


def column_abs_max(store):
    """``max_i |X_ij|`` of every column of the store (no ``X``-sized temporary)."""
    if store.p == 0 or store.n == 0:
        return np.zeros(store.p)
    if store.dense:
        X = store.data.reshape((store.n, store.p), order="F")
        return np.maximum(X.max(axis=0), -X.min(axis=0))
    out = np.zeros(store.p)
    nz = np.flatnonzero(np.diff(store.indptr))
    if nz.size:
        starts = store.indptr[nz]
        out[nz] = np.maximum(np.maximum.reduceat(store.data, starts),
                             -np.minimum.reduceat(store.data, starts))
    return out


def _solve(store, y, datafit, penalty, *, fit_intercept=False, sample_weight=None, w_init=None,
           intercept_init=None, tol=1e-6, max_iter=100, max_epochs=50_000, p0=100, anderson=5,
           positive=False, ws_hint=None, inner_tol_ratio=None, verbose=0, col_norms=None,
           gram=None, xt_init=None, rng=None, stacklevel=3):
    """:func:`solve` on an already validated :class:`ColumnStore` (paths validate ``X``
    once); ``col_norms``, ``gram`` and ``xt_init`` are shared along a path (see
    :class:`~.cd.QuadraticCD`)."""
    datafit = check_datafit(datafit)
    _check_params(tol, max_iter, p0, anderson)
    y = datafit.check_y(y, store.n)
    sw = normalize_sample_weight(sample_weight, store.n)
    K = datafit.n_classes
    info = describe(penalty, store.p * (K or 1), positive=positive)
    w, b = _start(store, info, datafit, w_init, intercept_init, fit_intercept)
    if ws_hint is not None:
        ws_hint = np.asarray(ws_hint, dtype=np.int64)
    P0 = null_primal(datafit, y, sw, fit_intercept, w.shape)
    colmax = functools.cache(lambda: column_abs_max(store))  # (read once, when needed)
    rule = StopRule(info, tol, P0, lambda: null_grad_scale(store, y, sw, datafit,
                                                           fit_intercept, w.shape),
                    x_scale=lambda: float(colmax().max(initial=0.0)))
    common = dict(fit_intercept=bool(fit_intercept), tol=float(tol), p0=int(p0),
                  ws_hint=ws_hint, rng=rng)
    if isinstance(datafit, Quadratic):
        state = QuadraticCD(store, y, sw, sample_weight is None, info, w, b, P0,
                            max_epochs=int(max_epochs), anderson=int(anderson),
                            inner_tol_ratio=0.3 if inner_tol_ratio is None
                            else float(inner_tol_ratio), col_norms=col_norms, gram=gram,
                            xt_init=xt_init, **common)
        label = "cd"
    elif isinstance(datafit, MultiTaskQuadratic):  # block CD over the rows of W
        state, label = MultiTaskCD(store, y, sw, sample_weight is None, info, w, b, P0,
                                   datafit=datafit, max_epochs=int(max_epochs),
                                   anderson=int(anderson), inner_tol_ratio=inner_tol_ratio,
                                   **common), "cd"
    else:
        cls = BinaryNewton if K is None else MultinomialNewton
        state = cls(store, y, sw, datafit, info, w, b, max_pn_iter=20, max_cd=200,
                    inner_tol_ratio=0.1 if inner_tol_ratio is None else float(inner_tol_ratio),
                    **common)
        label = "prox-newton"
    # the predictions' rounding scale, sum_j max_i |X_ij| |w_j| (rows of W summed over
    # their tasks or classes; StopRule._gap_noise)
    rule.coef_scale = lambda: float(colmax() @ np.abs(np.asarray(
        state.W if hasattr(state, "W") else state.w)).reshape(store.p, -1).sum(axis=1))
    res = outer_loop(state, rule, max_iter=int(max_iter), verbose=verbose, label=label)
    res.null_primal = float(P0)
    if info.is_convex and not rule.uses_gap and isinstance(datafit, (Quadratic,
                                                                     MultiTaskQuadratic)):
        # nothing penalized: the gap at the optimal dual point is the exact suboptimality
        gap = least_squares_gap(store, y, sw, res.coef, res.intercept, fit_intercept)
        res.dual_gap = gap / P0 if P0 > 0 else (0.0 if gap == 0 else np.inf)
    if fit_intercept:
        _fold_constant_columns(store, sw, res)
    if not res.converged:
        what = "relative duality gap" if rule.uses_gap else "largest optimality violation"
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
