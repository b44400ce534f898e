"""Multi-task regressors: MultiTaskLasso, MultiTaskElasticNet and their CV versions.

Drop-in for scikit-learn's classes of the same names (parameters, defaults, attributes and
shapes): the :class:`~sparsefit.datafits.MultiTaskQuadratic` datafit, the row-wise
:class:`~sparsefit.penalties.GroupL1` (``GroupL1L2`` with a ridge part) on the groups
``[n_tasks] * n_features``, solved by working-set block coordinate descent
(:class:`~sparsefit.solvers.multitask.MultiTaskCD`) and stopped on the duality gap.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_consistent_length, validate_data

from ..datafits import MultiTaskQuadratic
from ..datafits._validation import normalize_sample_weight
from ..penalties import GroupL1, GroupL1L2
from ..penalties._base import check_strength
from ..solvers import alpha_grid, solve, solve_path
from ..solvers._gap import null_primal
from ..solvers.moments import Moments
from ..solvers.path import null_gradient
from ._base import (
    FLOATS,
    LinearPredictionMixin,
    SparseInputMixin,
    check_sample_weight,
    check_scale,
    checked_cast,
    validated_store,
    warm_start_point,
    warn_if_unpenalized,
)
from ._cv import CV_CONSTRAINTS, CV_OPTIONS_DOC, CVMixin, check_alphas, cv_path, drawn_folds

# What scikit-learn's own tests match in its convergence warning (ours adds the numbers).
NOT_CONVERGED = ("Objective did not converge. You might want to increase the number of "
                 "iterations.")

_DIFFERENCES_DOC = """
    Notes
    -----
    Where the numbers mean something else than scikit-learn's: ``tol`` bounds the relative
    duality gap ``gap / P(0)`` (``P(0)``: the objective at ``W = 0`` with the best
    intercepts; scikit-learn compares the gap with ``tol * ||Y||_F^2 / n``, which is
    ``2 tol P(0)`` for centered ``Y``: ours is the tighter of the two). ``max_iter`` bounds
    the outer working-set iterations (each a pass over all of ``X`` plus, unless converged,
    a block coordinate descent solve on the working set), ``n_outer_iter_``, not epochs;
    ``n_iter_`` counts the block coordinate-descent epochs (scikit-learn's meaning: passes
    updating every row of the working set, summed over the working sets; the gap checks
    are not counted), which ``max_iter`` does not bound.
    ``dual_gap_`` is the duality gap ``P - D`` of the objective at return (scikit-learn's
    meaning), and ``eps_`` the gap ``tol * P(0)`` that the fit was asked for. ``X`` is never
    modified, so ``copy_X`` changes nothing. ``selection="random"`` visits the rows of the
    working set in a new random order at every outer iteration (scikit-learn draws a
    feature at every step); both orders reach the same solution."""


class RowPenalty:
    """``alpha -> penalty at alpha`` for the rows of ``W`` (n_features, n_tasks):
    ``GroupL1(alpha r)`` plus, when ``r < 1``, the ridge part (``GroupL1L2(alpha, r)``) on
    the groups ``[n_tasks] * n_features``, weights 1. The groups are built once (about 20 ms
    for 2000 features): each call copies the first penalty with the new strength.
    Picklable, so folds can run in other processes."""

    def __init__(self, l1_ratio, n_features, n_tasks):
        groups, weights = [int(n_tasks)] * int(n_features), np.ones(int(n_features))
        self.base = (GroupL1(1.0, groups, weights) if l1_ratio == 1.0
                     else GroupL1L2(1.0, float(l1_ratio), groups, weights))

    def __call__(self, alpha):
        pen = copy.copy(self.base)
        pen.alpha = check_strength(alpha, "alpha")
        return pen


class _MultiTaskMixin(LinearPredictionMixin, SparseInputMixin, MultiOutputMixin,
                      RegressorMixin):
    """Validation, prediction and tags shared by the four estimators."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def _check_fit_data(self, X, y, sample_weight, mono):
        """``X`` (Fortran or CSC, float32/float64, finite, of a scale the solvers can
        square), ``y`` 2-D finite float, validated weights (a number means none, as in
        scikit-learn). ``mono`` names the estimator a 1-D ``y`` needs."""
        X, y = validate_data(
            self, X, y, validate_separately=(
                dict(accept_sparse="csc", dtype=FLOATS, order="F", copy=False,
                     ensure_all_finite=False),
                dict(ensure_2d=False, dtype=FLOATS, copy=False)))
        check_consistent_length(X, y)
        check_scale(X, y)
        if y.ndim == 1:
            raise ValueError(f"For mono-task outputs, use {mono}")
        if y.ndim != 2 or y.shape[1] == 0:
            raise ValueError(f"y must have shape (n_samples, n_tasks), got {y.shape}")
        if isinstance(sample_weight, numbers.Number):
            sample_weight = None
        return X, y, check_sample_weight(sample_weight, X)


def _fit_rows(X, y, sw, make_penalty, alpha, *, fit_intercept, tol, max_iter, w0=None,
              b0=None, selection="cyclic", random_state=None):
    """The solver on validated data: ``(result, P0)``, with scikit-learn's convergence
    warning in place of the solver's. ``X`` may be the
    :class:`~sparsefit.solvers.moments.Moments` of ``(X, Y)`` (dask input, ``y`` and ``sw``
    None): the covariance-form solver, which eliminates the intercepts (``b0`` unused)
    and visits the rows in index order (``selection`` unused)."""
    if isinstance(X, Moments):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = solve(X, None, MultiTaskQuadratic(X.n_targets), make_penalty(alpha),
                        fit_intercept=fit_intercept, w_init=w0, tol=float(tol),
                        max_iter=max_iter)
        _warn_not_converged(res, max_iter, tol)
        return res, res.null_primal
    store = validated_store(X)
    T = y.shape[1]
    datafit = MultiTaskQuadratic(T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve(store, y, datafit, make_penalty(alpha), fit_intercept=fit_intercept,
                    sample_weight=sw, w_init=w0, intercept_init=b0,
                    tol=float(tol), max_iter=max_iter, selection=selection,
                    random_state=random_state)
    _warn_not_converged(res, max_iter, tol)
    y64 = datafit.check_y(y, store.n)
    P0 = null_primal(datafit, y64, normalize_sample_weight(sw, store.n), fit_intercept,
                     (store.p, T))
    return res, P0


def _warn_not_converged(res, max_iter, tol):
    if not res.converged:
        what = ("relative duality gap" if np.isfinite(res.dual_gap)
                else "relative optimality violation")
        warnings.warn(f"{NOT_CONVERGED} After max_iter={max_iter} working-set iterations "
                      f"the {what} is {res.stop_crit:.3e} > tol={tol:.1e}. Increase "
                      "max_iter or tol, or scale X.", ConvergenceWarning, stacklevel=4)


class MultiTaskElasticNet(_MultiTaskMixin, BaseEstimator):
    __doc__ = r"""Multi-task elastic net: one sparsity pattern shared by every task.

    .. math::

        \frac{1}{2n}\|Y - XW - b\|_F^2 + \alpha r \sum_j \|W_j\|_2
        + \frac{\alpha (1 - r)}{2}\|W\|_F^2,

    :math:`W_j` the row of feature ``j`` across the tasks: a feature is selected for all
    tasks or for none. The same objective as :class:`sklearn.linear_model.
    MultiTaskElasticNet` (with sample weights ``s``, :math:`\sum_i s_i \|Y_i - x_i W -
    b\|^2 / (2 \sum_i s_i)`), solved by block coordinate descent with working sets and
    Anderson extrapolation, stopped on the duality gap.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength, >= 0.
    l1_ratio : float, default=0.5
        :math:`r \in [0, 1]`; 1 is :class:`MultiTaskLasso`, 0 the ridge.
    fit_intercept : bool, default=True
        Fit one unpenalized intercept per task.
    copy_X : bool, default=True
        Accepted for compatibility: ``X`` is never modified.
    max_iter : int, default=1000
        The most outer (working-set) iterations, ``n_outer_iter_`` (not the epochs of
        ``n_iter_``, see Notes); a ConvergenceWarning states the achieved gap.
    tol : float, default=1e-4
        Stop when the relative duality gap ``gap / P(0)`` is at most ``tol`` (0 runs to
        ``max_iter``).
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``selection="random"``.
    selection : {"cyclic", "random"}, default="cyclic"
        Order of the block coordinate steps (see Notes).

    Attributes
    ----------
    coef_ : ndarray of shape (n_tasks, n_features)
        :math:`W^\top`, as in scikit-learn.
    intercept_ : ndarray of shape (n_tasks,), or 0.0 without an intercept
    n_iter_ : int
        Block coordinate-descent epochs, summed over the working sets (see Notes); the
        exact step at convergence (Newton's method on the rows of the support, when
        cheap) counts as one. 0 when the start already meets ``tol``.
    n_outer_iter_ : int
        Outer (working-set) iterations, at most ``max_iter``.
    dual_gap_ : float
        Duality gap ``P - D`` of the objective at return (at most ``eps_`` when
        converged; the exact suboptimality when nothing is penalized).
    eps_ : float
        The absolute duality gap the fit was asked for, ``tol * P(0)``.
    converged_ : bool
    kkt_violation_ : float
        Largest optimality violation (over the rows of ``W``) at return.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
""" + _DIFFERENCES_DOC + r"""

    Examples
    --------
    >>> from sparsefit.linear_model import MultiTaskElasticNet
    >>> clf = MultiTaskElasticNet(alpha=0.1, tol=1e-10)  # two equal columns share the weight
    >>> clf.fit([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 1], [2, 2]]).coef_.round(4)
    array([[0.4564, 0.4564],
           [0.4564, 0.4564]])
    >>> clf.intercept_.round(4)
    array([0.0873, 0.0873])
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, np.inf, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, np.inf, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "selection": [StrOptions({"cyclic", "random"})],
    }

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, copy_X=True,
                 max_iter=1000, tol=1e-4, warm_start=False, random_state=None,
                 selection="cyclic"):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.selection = selection

    def _l1_ratio(self):
        return float(self.l1_ratio)

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.enet_path`, scikit-learn's ``MultiTaskElasticNet.path``
        (a 2-D ``y`` is the multi-task path)."""
        from ._path import enet_path

        return enet_path(X, y, **kwargs)

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Dense (Fortran order avoids a copy) or sparse (CSC is used as is); float32 or
            float64.
        y : array-like of shape (n_samples, n_tasks)
        sample_weight : float or array-like of shape (n_samples,), optional
            Non-negative weights; integer weights are equivalent to repeating rows. A
            number means no weights.

        Returns
        -------
        self
        """
        self._validate_params()
        mono = "ElasticNet" if type(self) is MultiTaskElasticNet else "Lasso"
        X, y, sw = self._check_fit_data(X, y, sample_weight, mono)
        warn_if_unpenalized(self)
        n, p = X.shape
        T = y.shape[1]
        w0, b0 = warm_start_point(self, (T, p))
        res, P0 = _fit_rows(X, y, sw, RowPenalty(self._l1_ratio(), p, T), float(self.alpha),
                            fit_intercept=self.fit_intercept, tol=self.tol,
                            max_iter=self.max_iter, w0=None if w0 is None else w0.T,
                            b0=b0 if self.fit_intercept else None, selection=self.selection,
                            random_state=self.random_state)
        self._set_solution(res, P0, X.dtype)
        return self

    def _set_solution(self, res, P0, dtype):
        self.coef_ = checked_cast(res.coef.T, dtype)
        self.intercept_ = checked_cast(res.intercept, dtype) if self.fit_intercept else 0.0
        self.n_iter_ = int(res.n_epochs)
        self.n_outer_iter_ = int(res.n_iter)
        self.dual_gap_ = float(res.dual_gap) * float(P0)
        self.eps_ = float(self.tol) * float(P0)
        self.converged_ = bool(res.converged)
        self.kkt_violation_ = float(res.kkt_max)


class MultiTaskLasso(MultiTaskElasticNet):
    __doc__ = r"""Multi-task lasso: the row-wise :math:`\ell_{2,1}` penalty.

    .. math::

        \frac{1}{2n}\|Y - XW - b\|_F^2 + \alpha \sum_j \|W_j\|_2,

    :math:`W_j` the row of feature ``j`` across the tasks (scikit-learn's
    :class:`~sklearn.linear_model.MultiTaskLasso`): the
    :class:`~sparsefit.datafits.MultiTaskQuadratic` datafit and ``GroupL1(alpha, [n_tasks] *
    n_features, weights=1)``. Parameters and attributes as :class:`MultiTaskElasticNet`
    without ``l1_ratio``.
""" + _DIFFERENCES_DOC + r"""

    Examples
    --------
    >>> from sparsefit.linear_model import MultiTaskLasso
    >>> clf = MultiTaskLasso(alpha=0.1, tol=1e-10)
    >>> clf.fit([[0, 1], [1, 2], [2, 4]], [[0, 0], [1, 1], [2, 3]]).coef_.round(4)
    array([[0.    , 0.6081],
           [0.    , 0.9459]])
    """

    _parameter_constraints = {k: v for k, v in MultiTaskElasticNet._parameter_constraints.items()
                              if k != "l1_ratio"}

    def __init__(self, alpha=1.0, *, fit_intercept=True, copy_X=True, max_iter=1000, tol=1e-4,
                 warm_start=False, random_state=None, selection="cyclic"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.selection = selection

    def _l1_ratio(self):
        return 1.0


# -- paths and cross-validation -----------------------------------------------------------
_L1_RATIO_ZERO = ("Automatic alpha grid generation is not supported for l1_ratio=0. Please "
                  "supply a grid by providing your estimator with the appropriate `alphas=` "
                  "argument.")


def row_alpha_grid(X, y, sw, l1_ratio, *, fit_intercept, eps, n_alphas):
    """scikit-learn's grid: ``n_alphas`` values from ``alpha_max`` (the smallest strength
    giving ``W = 0``, ``max_j ||grad_j|| / l1_ratio`` at the null model) down to ``eps *
    alpha_max``, geometrically; all equal to float64's resolution when ``alpha_max`` is below
    it (``Y`` constant), as scikit-learn's ``_alpha_grid``."""
    if l1_ratio == 0:
        raise ValueError(_L1_RATIO_ZERO)
    pen = RowPenalty(l1_ratio, X.shape[1], y.shape[1])(1.0)
    g = null_gradient(validated_store(X), y, MultiTaskQuadratic(y.shape[1]), pen,
                      fit_intercept=fit_intercept, sample_weight=sw)
    amax = pen.alpha_max(g)
    res = np.finfo(np.float64).resolution
    if not amax > res:
        return np.full(int(n_alphas), res)
    return alpha_grid(amax, int(n_alphas), eps)


def multitask_path(X, Y, *, l1_ratio=1.0, eps=1e-3, n_alphas=100, alphas=None,
                   fit_intercept=False, sample_weight=None, tol=1e-4, max_iter=100,
                   verbose=0, selection="cyclic", random_state=None, w_init=None):
    r"""The multi-task elastic net along a decreasing grid of strengths.

    .. math::

        \frac{1}{2n}\|Y - XW - b\|_F^2 + \alpha r \sum_j \|W_j\|_2
        + \frac{\alpha (1 - r)}{2}\|W\|_F^2

    for every ``alpha`` of ``alphas`` (or of scikit-learn's grid of ``n_alphas`` values from
    ``alpha_max = max_j ||X_j^T (Y - mean)|| / (n r)`` down to ``eps * alpha_max``), each
    solve warm-started from the previous one and certified by its duality gap. This is
    what :func:`~sparsefit.linear_model.enet_path` and
    :func:`~sparsefit.linear_model.lasso_path` compute for a 2-D ``y``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_tasks)
    l1_ratio : float, default=1.0
        :math:`r \in [0, 1]` (0 needs an explicit ``alphas``).
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the automatic grid.
    n_alphas : int, default=100
        Size of the automatic grid.
    alphas : array-like, optional
        The grid (sorted largest first).
    fit_intercept : bool, default=False
    sample_weight : array-like of shape (n_samples,), optional
    tol : float, default=1e-4
        Relative duality gap ``gap / P(0)`` of every solve.
    max_iter : int, default=100
        Outer (working-set) iterations of every solve.
    verbose : int, default=0
    selection : {"cyclic", "random"}, default="cyclic"
    random_state : int, RandomState instance or None
    w_init : array-like of shape (n_tasks, n_features), optional
        Starting point of the first solve (scikit-learn's ``coef_init``).

    Returns
    -------
    PathResult
        ``alphas`` (n_alphas,), ``coefs`` (n_alphas, n_tasks, n_features) (each as
        ``coef_``), ``intercepts`` (n_alphas, n_tasks), ``dual_gaps`` (``P - D``),
        ``n_iters`` (outer working-set iterations), ``n_epochs`` (block coordinate-descent
        epochs), ``converged``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model._multitask import multitask_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 6)); Y = X[:, :2] @ [[1.0, 2.0], [-1.0, 1.0]]
    >>> path = multitask_path(X, Y, n_alphas=4)
    >>> path.coefs.shape, bool(np.all(path.coefs[0] == 0))
    ((4, 2, 6), True)
    """
    from sklearn.utils.validation import check_array

    X = check_array(X, accept_sparse="csc", dtype=FLOATS, order="F")
    Y = check_array(Y, dtype=np.float64, ensure_2d=True, input_name="Y")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows, X has {X.shape[0]}")
    r = float(l1_ratio)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    sw = check_sample_weight(sample_weight, X)
    check_scale(X, Y)
    p, T = X.shape[1], Y.shape[1]
    if alphas is None:
        alphas = row_alpha_grid(X, Y, sw, r, fit_intercept=fit_intercept, eps=eps,
                                n_alphas=n_alphas)
    else:
        alphas = check_alphas(alphas)
    if w_init is not None:
        w_init = np.asarray(w_init, dtype=np.float64)
        if w_init.shape != (T, p):
            raise ValueError(f"coef_init must have shape (n_tasks, n_features) = ({T}, {p}), "
                             f"got {w_init.shape}")
        w_init = w_init.T
    path = solve_path(X, Y, MultiTaskQuadratic(T), RowPenalty(r, p, T), alphas=alphas,
                      fit_intercept=fit_intercept, sample_weight=sw,
                      tol=float(tol), max_iter=max_iter, verbose=verbose,
                      selection=selection, random_state=random_state, w_init=w_init)
    path.coefs = np.swapaxes(path.coefs, 1, 2)
    return path


def _task_mse(X, y, sw, coef, intercept):
    """Test error of a fold: the (weighted) mean squared error, averaged over the tasks
    (scikit-learn's ``mse_path_``)."""
    r = y - safe_sparse_dot(X, coef) - intercept
    return float(np.average(r * r, axis=0, weights=sw).mean())


class _MultiTaskCV(CVMixin, _MultiTaskMixin, BaseEstimator):
    """The cross-validation engine of :class:`MultiTaskElasticNetCV` and
    :class:`MultiTaskLassoCV`: scikit-learn's procedure (one grid per ``l1_ratio``, the mean
    test error over the folds, the refit on all the data) through the shared
    :func:`~sparsefit.linear_model._cv.cv_path` and :class:`~._cv.CVMixin` (grid request,
    ``alpha_rule``, grouped folds through metadata routing)."""

    _parameter_constraints: dict = {
        **{k: CV_CONSTRAINTS[k] for k in ("eps", "alphas", "n_alphas", "cv", "n_jobs",
                                          "alpha_rule", "verbose", "random_state",
                                          "selection")},
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, np.inf, closed="left")],
        "copy_X": ["boolean"],
    }

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the paths and refit the selected model on all of ``X, y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_tasks)
        sample_weight : float or array-like of shape (n_samples,), optional
            Used in the fits and in the (weighted) test errors of the folds. A number
            means no weights.
        **params : dict
            Passed to the CV splitter (e.g. ``groups``); only with
            ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        self
        """
        self._validate_params()
        split_params = self._split_params(params)
        ratios = self._ratios()
        grid, n_alphas = self._grid()
        X, y, sw = self._check_fit_data(X, y, sample_weight, type(self).__name__[9:])
        p, T = X.shape[1], y.shape[1]
        if grid is None:
            grids = [row_alpha_grid(X, y, sw, r, fit_intercept=self.fit_intercept,
                                    eps=self.eps, n_alphas=n_alphas) for r in ratios]
        else:
            grids = [grid] * ratios.size
        opts = dict(fit_intercept=self.fit_intercept, tol=float(self.tol),
                    max_iter=self.max_iter, selection=self.selection,
                    random_state=self.random_state)
        folds = drawn_folds(self.cv, X, y, split_params)
        paths = [cv_path(X, y, sw, MultiTaskQuadratic(T), RowPenalty(r, p, T), _task_mse,
                         alphas=g, cv=folds, n_jobs=self.n_jobs, verbose=self.verbose,
                         split_params=split_params, **opts)
                 for r, g in zip(ratios, grids, strict=True)]
        return self._select_and_refit(ratios, grid, grids, paths, X, y, sw)

    def _ratios(self):
        ratios = np.atleast_1d(np.asarray(self._l1_ratio(), dtype=np.float64))
        if ratios.ndim != 1 or ratios.size == 0 or not np.all((ratios >= 0) & (ratios <= 1)):
            raise ValueError(f"l1_ratio must be in [0, 1] (or a list of such), got "
                             f"{self.l1_ratio!r}")
        return ratios

    def _select_and_refit(self, ratios, grid, grids, paths, X, y, sw):
        """The CV attributes from every ``l1_ratio``'s :class:`~._cv.CVPath`, the selection
        and the refit on all the data (``X`` the data's
        :class:`~sparsefit.solvers.moments.Moments` on dask input, ``y`` and ``sw`` None)."""
        p, T = X.shape[1], (X.n_targets if isinstance(X, Moments) else y.shape[1])
        # scikit-learn's shapes: size-1 axes dropped from mse_path_, one l1_ratio (or a
        # given grid) gives 1-D alphas_
        self.mse_path_ = np.squeeze(np.asarray([q.losses for q in paths]))
        self.alphas_ = (np.asarray(grids) if grid is None and ratios.size > 1
                        else np.asarray(grids[0]))
        squeeze = (lambda a: a[0]) if ratios.size == 1 else (lambda a: a)
        self.cv_mean_ = squeeze(np.asarray([q.mean for q in paths]))
        self.cv_std_error_ = squeeze(np.asarray([q.std_error for q in paths]))
        best = int(np.argmin([q.mean.min() for q in paths]))
        self.l1_ratio_ = float(ratios[best])
        self.alpha_min_, self.alpha_1se_ = paths[best].alpha_min, paths[best].alpha_1se
        self.alpha_ = self._chosen_alpha(self.alpha_min_, self.alpha_1se_)
        res, P0 = _fit_rows(X, y, sw, RowPenalty(self.l1_ratio_, p, T), self.alpha_,
                            fit_intercept=self.fit_intercept, tol=self.tol,
                            max_iter=self.max_iter, selection=self.selection,
                            random_state=self.random_state)
        MultiTaskElasticNet._set_solution(self, res, P0, X.dtype)
        if not hasattr(self, "l1_ratio"):
            del self.l1_ratio_
        return self


_CV_DOC = r"""
    The strength (and ``l1_ratio``) is chosen by cross-validation, as scikit-learn's
    class does: for each ``l1_ratio`` a grid of ``alphas`` strengths from ``alpha_max`` (the
    smallest giving ``W = 0``) down to ``eps * alpha_max``; on every fold the path is solved
    with warm starts, and the test mean squared error (weighted by ``sample_weight``,
    averaged over the tasks) recorded; the lowest mean over the folds wins and is refit on
    all the data.

    Parameters
    ----------%s
    eps : float, default=1e-3
        Length of the grid, ``alpha_min / alpha_max``.""" + CV_OPTIONS_DOC + r"""
    fit_intercept : bool, default=True
    max_iter : int, default=1000
        The most outer (working-set) iterations of every fit (not epochs).
    tol : float, default=1e-4
        Relative duality gap of every fit.
    cv : int, cross-validation generator or iterable, default=None
        5-fold when None; a group splitter takes ``fit(..., groups=...)`` through
        metadata routing.
    copy_X : bool, default=True
        Accepted for compatibility: ``X`` is never modified.
    verbose : bool or int, default=0
    n_jobs : int, default=None
        Folds in parallel through joblib (no backend hard-coded).

    Attributes
    ----------
    alpha_ : float
        The selected strength.%s
    alpha_min_, alpha_1se_ : float
        The best alpha and the 1-SE alpha (for the selected ``l1_ratio``).
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        The grid (one per ``l1_ratio`` when automatic and several are searched).
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
        Test mean squared error of every fold (size-1 axes dropped, as in scikit-learn).
    cv_mean_, cv_std_error_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
    coef_ : ndarray of shape (n_tasks, n_features)
    intercept_ : ndarray of shape (n_tasks,), or 0.0 without an intercept
    dual_gap_ : float
        Duality gap ``P - D`` of the final fit's objective.
    n_iter_ : int
        Block coordinate-descent epochs of the final fit (scikit-learn's meaning).
    n_outer_iter_ : int
        Outer (working-set) iterations of the final fit, at most ``max_iter``.
    converged_ : bool
"""


class MultiTaskElasticNetCV(_MultiTaskCV):
    __doc__ = r"""Multi-task elastic net (see :class:`MultiTaskElasticNet`) with built-in
    cross-validation, drop-in for :class:`sklearn.linear_model.MultiTaskElasticNetCV`.
""" + _CV_DOC % ("""
    l1_ratio : float or list of float, default=0.5
        In [0, 1]; a list is searched too (0 needs an explicit ``alphas`` grid).""", """
    l1_ratio_ : float
        The selected ``l1_ratio``.""") + _DIFFERENCES_DOC + r"""

    Examples
    --------
    >>> from sparsefit.linear_model import MultiTaskElasticNetCV
    >>> clf = MultiTaskElasticNetCV(cv=3).fit([[0, 0], [1, 1], [2, 2]],
    ...                                       [[0, 0], [1, 1], [2, 2]])
    >>> clf.coef_.shape, clf.mse_path_.shape
    ((2, 2), (100, 3))
    """

    _parameter_constraints = {
        **_MultiTaskCV._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), "array-like"],
    }

    def __init__(self, *, l1_ratio=0.5, eps=1e-3, alphas=100, fit_intercept=True,
                 max_iter=1000, tol=1e-4, cv=None, copy_X=True, verbose=0, n_jobs=None,
                 random_state=None, selection="cyclic", alpha_rule="min",
                 n_alphas="deprecated"):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.selection = selection
        self.alpha_rule = alpha_rule
        self.n_alphas = n_alphas

    def _l1_ratio(self):
        return self.l1_ratio

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.enet_path`, scikit-learn's ``MultiTaskElasticNetCV.path``
        (a 2-D ``y`` is the multi-task path)."""
        from ._path import enet_path

        return enet_path(X, y, **kwargs)


class MultiTaskLassoCV(_MultiTaskCV):
    __doc__ = r"""Multi-task lasso (see :class:`MultiTaskLasso`) with built-in
    cross-validation, drop-in for :class:`sklearn.linear_model.MultiTaskLassoCV`.
""" + _CV_DOC % ("", "") + _DIFFERENCES_DOC + r"""

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sparsefit.linear_model import MultiTaskLassoCV
    >>> X, y = make_regression(n_targets=2, noise=4, random_state=0)
    >>> reg = MultiTaskLassoCV(cv=5).fit(X, y)
    >>> round(reg.score(X, y), 4), reg.coef_.shape
    (0.9996, (2, 100))
    """

    def __init__(self, *, eps=1e-3, alphas=100, fit_intercept=True, max_iter=1000, tol=1e-4,
                 copy_X=True, cv=None, verbose=False, n_jobs=None, random_state=None,
                 selection="cyclic", alpha_rule="min", n_alphas="deprecated"):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.selection = selection
        self.alpha_rule = alpha_rule
        self.n_alphas = n_alphas

    def _l1_ratio(self):
        return 1.0

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.lasso_path`, scikit-learn's ``MultiTaskLassoCV.path``
        (a 2-D ``y`` is the multi-task path)."""
        from ._path import lasso_path

        return lasso_path(X, y, **kwargs)
