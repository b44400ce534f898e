"""Regularization paths: geometric grid from alpha_max, warm starts, strong-rule screening."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits import Quadratic
from ..datafits._validation import as_column_store, normalize_sample_weight
from ..penalties import Box
from ..penalties._interface import canonical_spec
from ._common import check_datafit
from ._gap import grad_at_zero
from ._solve import _solve, coordinate_order
from ._units import compiled_unit_scores
from .cd import gram_cache, takes_gram_route


def alpha_grid(alpha_max, n_alphas=100, eps=1e-3):
    r"""Geometric grid from ``alpha_max`` down to ``eps * alpha_max``.

    .. math:: \alpha_k = \alpha_{\max}\, \epsilon^{k / (n - 1)}, \quad k = 0, \dots, n - 1

    Examples
    --------
    >>> from sparsefit.solvers import alpha_grid
    >>> alpha_grid(1.0, n_alphas=3, eps=1e-2).tolist()
    [1.0, 0.1, 0.01]
    """
    if not (np.isfinite(alpha_max) and alpha_max >= 0):
        raise ValueError(f"alpha_max must be finite and non-negative, got {alpha_max!r}")
    if int(n_alphas) != n_alphas or n_alphas < 1:
        raise ValueError(f"n_alphas must be an integer >= 1, got {n_alphas!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a number > 0, got {eps!r}")
    if n_alphas == 1:
        return np.array([float(alpha_max)])
    # eps >= 1 (accepted, as scikit-learn does) gives strengths >= alpha_max: the zero model
    return np.sort(alpha_max * np.logspace(0, np.log10(eps), int(n_alphas)))[::-1]


@dataclass
class PathResult:
    """Solutions along a path: ``coefs[k]`` and ``intercepts[k]`` at ``alphas[k]``.

    ``n_iters[k]``: the outer (working-set) iterations of the solve at ``alphas[k]`` (what
    ``max_iter`` bounds); ``n_epochs[k]``: its inner coordinate-descent epochs, summed over
    its working sets (:attr:`~._outer.SolverResult.n_epochs`, scikit-learn's ``n_iter``)."""

    alphas: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    dual_gaps: np.ndarray
    n_iters: np.ndarray
    converged: np.ndarray
    n_epochs: np.ndarray | None = None


def _check_cap(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")
    return int(value)


def _positive(make_penalty):
    def make(alpha):
        return Box(make_penalty(alpha), 0.0, np.inf)
    return make


def _strong_set(penalty_new, penalty_old, grad):
    """Sequential strong rule (Tibshirani et al., 2012), asked of the penalty: keep unit
    ``j`` when ``rank_new >= (rank_old - rank_new)``, the ranks being the signed distances
    of ``-grad`` to the subdifferential at zero at the two strengths (for the L1:
    ``|grad_j| >= 2 lam_new - lam_old``). The solver still certifies the solution on all
    features (duality gap), so a wrong discard only costs an extra working-set iteration."""
    ranks = []
    grad = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    for pen in (penalty_new, penalty_old):
        spec = canonical_spec(pen.numba_spec())
        n_units = grad.size if pen.is_separable else spec.grp_ptr.shape[0] - 1
        scores, rank = np.empty(n_units), np.empty(n_units)
        compiled_unit_scores(spec, np.zeros(grad.size), grad, scores, rank)
        ranks.append(rank)
    return np.flatnonzero(2.0 * ranks[0] >= ranks[1])


def solve_path(X, y, datafit, make_penalty, *, alphas=None, n_alphas=100, eps=1e-3,
               fit_intercept=False, sample_weight=None, tol=1e-6, max_iter=100,
               positive=False, screening="strong", verbose=0, progress=None, dfmax=None,
               pmax=None, selection="cyclic", random_state=None, precompute="auto",
               w_init=None, **solver_kw):
    r"""Solve along a decreasing grid of strengths with warm starts.

    ``make_penalty(alpha)`` builds the penalty at strength ``alpha`` (its first parameter
    must scale linearly with ``alpha``, as for ``L1(alpha)``, ``L1L2(alpha * r,
    0.5 * alpha * (1 - r))``, ``GroupL1(alpha, ...)``). Without ``alphas`` the grid is
    :func:`alpha_grid` from

    .. math:: \alpha_{\max} = \frac{\text{critical strength of } \mathrm{pen}_1}
                                  {\text{first parameter of } \mathrm{pen}_1},
              \quad \mathrm{pen}_1 = \texttt{make\_penalty}(1).

    ``selection`` / ``random_state`` / ``precompute`` are :func:`solve`'s (for the path,
    ``precompute="auto"`` fills one Gram cache shared by every solve); ``w_init`` starts
    the first solve.

    With ``screening="strong"`` the strong rule seeds each working set. ``progress``, if
    given, is called with 1 after every solve (a :class:`sparsefit._progress.Progress`).

    ``dfmax`` / ``pmax`` (glmnet's): the path stops, without the solution that broke the
    cap, as soon as more than ``dfmax`` features are non-zero, or more than ``pmax``
    features have been non-zero somewhere along the path (a feature counts once for all
    its classes). The returned arrays are then shorter than the grid.

    Returns
    -------
    PathResult

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import solve_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 10)); y = X[:, 0]
    >>> path = solve_path(X, y, Quadratic(), L1, n_alphas=5)
    >>> bool(np.all(path.coefs[0] == 0)), bool(path.coefs[-1][0] > 0.9)
    (True, True)
    """
    datafit = check_datafit(datafit)
    if screening not in ("strong", None, "none"):
        raise ValueError(f"screening must be 'strong' or None, got {screening!r}")
    # validate and convert X once (Fortran order or CSC, float dtype), not at every alpha
    store = as_column_store(X)
    normalize_sample_weight(sample_weight, store.n)  # validate early
    if store.dense:
        X = store.data.reshape((store.n, store.p), order="F")
    # the Quadratic solver's column norms depend on X and the sample weights only: computed
    # lazily once for the whole path
    col_norms = np.full(store.p, -1.0) if isinstance(datafit, Quadratic) else None
    if positive:  # the constraint is a penalty: Box(penalty, 0, inf)
        make_penalty = _positive(make_penalty)
        positive = False
    pen1 = make_penalty(1.0)
    # dense X: solve the working sets in covariance form, the Gram entries computed once
    # per path as columns enter (the solver uses it for L1 / elastic net at tol >= 1e-9)
    gram = None
    if isinstance(datafit, Quadratic) and takes_gram_route(store) and pen1.is_separable:
        gram = gram_cache(store, normalize_sample_weight(sample_weight, store.n), precompute)
    rng = coordinate_order(selection, random_state)
    g0 = None
    if alphas is None:
        g0 = null_gradient(X, y, datafit, pen1, fit_intercept=fit_intercept,
                           sample_weight=sample_weight)
        scale = pen1.strength
        if scale <= 0:
            raise ValueError("make_penalty(1.0) has a zero strength; cannot build the grid")
        amax = pen1.alpha_max(g0) / scale
        alphas = alpha_grid(amax, n_alphas, eps)
    else:
        alphas = np.asarray(alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or np.any(alphas < 0) or not np.all(np.isfinite(alphas)):
            raise ValueError("alphas must be a non-empty array of non-negative finite numbers")
        alphas = np.sort(alphas)[::-1]
    dfmax = _check_cap(dfmax, "dfmax")
    pmax = _check_cap(pmax, "pmax")
    ever = np.zeros(store.p, dtype=bool)
    coefs, intercepts, gaps, iters, conv, epochs = [], [], [], [], [], []
    w = None if w_init is None else np.array(w_init, dtype=np.float64)
    b = None
    grad = g0
    prev_alpha = alphas[0]
    xt_prev = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k, alpha in enumerate(alphas):
            pen = make_penalty(float(alpha))
            hint = None
            if screening == "strong" and grad is not None and k > 0:
                hint = _strong_set(pen, make_penalty(float(prev_alpha)), grad)
            res = _solve(store, y, datafit, pen, fit_intercept=fit_intercept,
                         sample_weight=sample_weight, w_init=w, intercept_init=b,
                         tol=tol,
                         max_iter=max_iter, positive=positive, ws_hint=hint, verbose=verbose,
                         col_norms=col_norms, gram=gram, xt_init=xt_prev, rng=rng,
                         **solver_kw)
            # the last pass of this solve is the first of the next one (same coefficients)
            xt_prev = -res.gradient if (col_norms is not None and res.gradient is not None
                                        and pen.is_separable) else None
            w, b = res.coef, res.intercept
            active = np.any(w.reshape(store.p, -1) != 0, axis=1)
            ever |= active
            if (dfmax is not None and active.sum() > dfmax) or (
                    pmax is not None and ever.sum() > pmax):
                if progress is not None:
                    progress(len(alphas) - k)  # the rest of the grid is skipped
                break
            coefs.append(w.copy())
            intercepts.append(b)
            gaps.append(res.absolute_gap)
            iters.append(res.n_iter)
            epochs.append(res.n_epochs)
            conv.append(res.converged)
            if screening == "strong" and datafit.n_classes is None:
                grad = res.gradient if res.gradient is not None else \
                    datafit.gradient(X, y, w, b, sample_weight)
            prev_alpha = alpha
            if progress is not None:
                progress(1)
    alphas = np.asarray(alphas)[:len(coefs)]
    if not coefs:
        raise ValueError(f"dfmax={dfmax} / pmax={pmax} stop the path before its first point: "
                         "raise them (the first alpha already has more non-zero features)")
    if not all(conv):
        bad = int(np.sum(~np.asarray(conv)))
        warnings.warn(f"{bad} of {len(alphas)} path problems did not reach tol={tol:.1e}",
                      ConvergenceWarning, stacklevel=2)
    return PathResult(np.asarray(alphas), np.asarray(coefs), np.asarray(intercepts),
                      np.asarray(gaps), np.asarray(iters), np.asarray(conv),
                      np.asarray(epochs, dtype=np.int64))


def null_gradient(X, y, datafit, penalty, *, fit_intercept=False, sample_weight=None):
    """The datafit's gradient at the null model of ``penalty``: every penalized coefficient
    zero, the unpenalized ones (a zero ``penalty_factor``) and the intercept fitted. Without
    unpenalized coefficients this is :func:`grad_at_zero`; with them, the problem is solved
    at a strength that keeps every penalized coefficient at zero (glmnet's lambda_max)."""
    from ._common import describe

    datafit = check_datafit(datafit)
    store = as_column_store(X)
    info = describe(penalty, store.p * (datafit.n_classes or 1))
    if info.free is None:
        return grad_at_zero(X, y, datafit, fit_intercept=fit_intercept,
                            sample_weight=sample_weight)
    res = _solve(store, y, datafit, penalty.with_strength(1e300), fit_intercept=fit_intercept,
                 sample_weight=sample_weight, tol=1e-10, max_iter=200)
    return res.gradient


def alpha_max(X, y, datafit, penalty, *, fit_intercept=False, sample_weight=None):
    r"""Smallest strength giving the all-zero solution.

    The critical value of the penalty's strength (``penalty.strength_name``: ``l1`` for
    ``L1`` and ``L1L2``, ``alpha`` for the others), from the gradient at the null model
    (:func:`null_gradient`): ``penalty.alpha_max(null_gradient(...))``; e.g. for the
    weighted L1

    .. math:: \alpha_{\max} = \max_j |\nabla_j F(0)| / w_j,

    and for the group L1 :math:`\max_g \|\nabla_g F(0)\| / w_g`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import alpha_max
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); y = np.array([2.0, -4.0])
    >>> float(alpha_max(X, y, Quadratic(), L1(1.0)))  # max |X.T y| / n
    2.0
    """
    return float(penalty.alpha_max(null_gradient(X, y, datafit, penalty,
                                                 fit_intercept=fit_intercept,
                                                 sample_weight=sample_weight)))
