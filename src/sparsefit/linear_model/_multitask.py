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
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ..datafits import MultiTaskQuadratic
from ..datafits._validation import normalize_sample_weight
from ..penalties import GroupL1, GroupL1L2
from ..penalties._base import check_strength
from ..solvers import solve, solve_path
from ..solvers._gap import null_primal
from ..solvers.path import null_gradient
from ._base import (
    FLOATS,
    SparseInputMixin,
    check_predict_data,
    check_sample_weight,
    check_scale,
    checked_cast,
    validated_store,
    warm_start_point,
    warn_if_unpenalized,
)

# What scikit-learn's own tests match in its convergence warning (ours adds the numbers).
NOT_CONVERGED = ("Objective did not converge. You might want to increase the number of "
                 "iterations.")
# tol=0 runs to max_iter, as in scikit-learn; the solver needs a positive tolerance
_TINY_TOL = float(np.finfo(np.float64).tiny)

_DIFFERENCES_DOC = """
    Notes
    -----
    Where the numbers mean something else than scikit-learn's: ``tol`` bounds the relative
    duality gap ``gap / P(0)`` (``P(0)``: the objective at ``W = 0`` with the best
    intercepts; scikit-learn compares the gap with ``tol * ||Y||_F^2 / n``, which is
    ``2 tol P(0)`` for centered ``Y``: ours is the tighter of the two). ``max_iter`` counts
    outer working-set iterations (each a pass over all of ``X`` plus a block coordinate
    descent solve on the working set), not epochs, and ``n_iter_`` is their number.
    ``dual_gap_`` is the relative gap ``gap / P(0)`` at return, the quantity compared with
    ``tol``, and ``eps_`` the absolute gap ``tol * P(0)`` that it certifies. ``X`` is never
    modified, so ``copy_X`` changes nothing; the solver visits features in a deterministic
    order, so ``selection`` and ``random_state`` are accepted and change nothing either
    (scikit-learn's ``"random"`` reaches the same solution)."""


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


class _MultiTaskMixin(SparseInputMixin, MultiOutputMixin, RegressorMixin):
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

    def predict(self, X):
        """Predict ``X @ coef_.T + intercept_``, shape (n_samples, n_tasks)."""
        X = check_predict_data(self, X)
        return safe_sparse_dot(X, self.coef_.T.astype(X.dtype, copy=False)) + self.intercept_

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy sparse matrix (only the non-zeros are stored)."""
        import scipy.sparse as sp

        check_is_fitted(self, "coef_")
        return sp.csr_matrix(self.coef_)


def _fit_rows(X, y, sw, make_penalty, alpha, *, fit_intercept, tol, max_iter, w0=None,
              b0=None):
    """The solver on validated data: ``(result, P0)``, with scikit-learn's convergence
    warning in place of the solver's."""
    store = validated_store(X)
    T = y.shape[1]
    datafit = MultiTaskQuadratic(T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve(store, y, datafit, make_penalty(alpha), fit_intercept=fit_intercept,
                    sample_weight=sw, w_init=w0, intercept_init=b0,
                    tol=max(float(tol), _TINY_TOL), max_iter=max_iter)
    if not res.converged:
        what = ("relative duality gap" if np.isfinite(res.dual_gap)
                else "relative optimality violation")
        warnings.warn(f"{NOT_CONVERGED} After max_iter={max_iter} working-set iterations "
                      f"the {what} is {res.stop_crit:.3e} > tol={tol:.1e}. Increase "
                      "max_iter or tol, or scale X.", ConvergenceWarning, stacklevel=3)
    y64 = datafit.check_y(y, store.n)
    P0 = null_primal(datafit, y64, normalize_sample_weight(sw, store.n), fit_intercept,
                     (store.p, T))
    return res, P0


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
        Outer (working-set) iterations; a ConvergenceWarning states the achieved gap.
    tol : float, default=1e-4
        Stop when the relative duality gap ``gap / P(0)`` is at most ``tol`` (0 runs to
        ``max_iter``).
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_``.
    random_state : int, RandomState instance or None, default=None
        Accepted for compatibility (see Notes).
    selection : {"cyclic", "random"}, default="cyclic"
        Accepted for compatibility (see Notes).

    Attributes
    ----------
    coef_ : ndarray of shape (n_tasks, n_features)
        :math:`W^\top`, as in scikit-learn.
    intercept_ : ndarray of shape (n_tasks,), or 0.0 without an intercept
    n_iter_ : int
    dual_gap_ : float
        Relative duality gap at return.
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
    array([0.0872, 0.0872])
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
                            b0=b0 if self.fit_intercept else None)
        self._set_solution(res, P0, X.dtype)
        return self

    def _set_solution(self, res, P0, dtype):
        self.coef_ = checked_cast(res.coef.T, dtype)
        self.intercept_ = checked_cast(res.intercept, dtype) if self.fit_intercept else 0.0
        self.n_iter_ = int(res.n_iter)
        self.dual_gap_ = float(res.dual_gap)
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


# -- cross-validation ---------------------------------------------------------------------
_L1_RATIO_ZERO = ("Automatic alpha grid generation is not supported for l1_ratio=0. Please "
                  "supply a grid by providing your estimator with the appropriate `alphas=` "
                  "argument.")


def row_alpha_grid(X, y, sw, l1_ratio, *, fit_intercept, eps, n_alphas):
    """scikit-learn's grid: ``n_alphas`` values from ``alpha_max`` (the smallest strength
    giving ``W = 0``, ``max_j ||grad_j|| / l1_ratio`` at the null model) down to ``eps *
    alpha_max``, geometrically; all equal to float64's resolution when ``alpha_max`` is below
    it (``Y`` constant)."""
    if l1_ratio == 0:
        raise ValueError(_L1_RATIO_ZERO)
    make = RowPenalty(l1_ratio, X.shape[1], y.shape[1])
    pen = make(1.0)
    g = null_gradient(validated_store(X), y, MultiTaskQuadratic(y.shape[1]), pen,
                      fit_intercept=fit_intercept, sample_weight=sw)
    amax = pen.alpha_max(g)
    res = np.finfo(np.float64).resolution
    if not amax > res:
        return np.full(n_alphas, res)
    return np.geomspace(amax, amax * eps, num=n_alphas)


def _fold_mse(X, y, sw, train, test, l1_ratio, alphas, opts):
    """Fit the path on ``train``; the test mean squared error (weighted by the test
    samples' weights, averaged over the tasks) at every alpha."""
    rows = np.asarray(train)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    if isinstance(X, np.ndarray) and X.flags.f_contiguous:
        X_train = np.take(X.T, rows, axis=1).T  # keeps the Fortran order
    else:
        X_train = X[rows]
    sw_train = None if sw is None else sw[rows]
    make = RowPenalty(l1_ratio, X.shape[1], y.shape[1])
    path = solve_path(X_train, y[rows], MultiTaskQuadratic(y.shape[1]), make, alphas=alphas,
                      sample_weight=sw_train, **opts)
    X_test, y_test = X[test], y[test]
    sw_test = None if sw is None else sw[test]
    out = np.empty(len(alphas))
    for k, (W, b) in enumerate(zip(path.coefs, path.intercepts, strict=True)):
        r = safe_sparse_dot(X_test, W) + b - y_test
        out[k] = float(np.average(r * r, axis=0, weights=sw_test).mean())
    return out


class _MultiTaskCV(_MultiTaskMixin, BaseEstimator):
    """The cross-validation engine of :class:`MultiTaskElasticNetCV` and
    :class:`MultiTaskLassoCV` (scikit-learn's procedure: one grid per ``l1_ratio``, the
    mean test error over the folds, the refit on all the data)."""

    _parameter_constraints: dict = {
        "eps": [Interval(Real, 0, None, closed="neither")],
        "alphas": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, np.inf, closed="left")],
        "copy_X": ["boolean"],
        "cv": ["cv_object"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "selection": [StrOptions({"cyclic", "random"})],
    }

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the paths and refit the selected model on all of ``X, y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_tasks)
        sample_weight : float or array-like of shape (n_samples,), optional
            Used in the fits and in the (weighted) test errors of the folds.
        **params : dict
            Passed to the CV splitter (e.g. ``groups``); only with
            ``sklearn.set_config(enable_metadata_routing=True)``.

        Returns
        -------
        self
        """
        _raise_for_params(params, self, "fit")
        self._validate_params()
        mono = self.__class__.__name__[9:]
        X, y, sw = self._check_fit_data(X, y, sample_weight, mono)
        ratios = np.atleast_1d(np.asarray(self._l1_ratio(), dtype=np.float64))
        if ratios.ndim != 1 or ratios.size == 0 or not np.all((ratios >= 0) & (ratios <= 1)):
            raise ValueError(f"l1_ratio must be in [0, 1] (or a list of such), got "
                             f"{self.l1_ratio!r}")
        if isinstance(self.alphas, Integral):
            grids = [row_alpha_grid(X, y, sw, r, fit_intercept=self.fit_intercept,
                                    eps=self.eps, n_alphas=int(self.alphas)) for r in ratios]
        else:
            grid = _check_alphas(self.alphas)
            grids = [grid] * ratios.size
        routed = (process_routing(self, "fit", sample_weight=sample_weight, **params).splitter
                  .split if _routing_enabled() else {})
        folds = list(check_cv(self.cv).split(X, y, **routed))
        opts = dict(fit_intercept=self.fit_intercept, tol=max(float(self.tol), _TINY_TOL),
                    max_iter=self.max_iter)
        jobs = (delayed(_fold_mse)(X, y, sw, train, test, r, grid, opts)
                for r, grid in zip(ratios, grids) for train, test in folds)
        mse = Parallel(n_jobs=self.n_jobs, verbose=self.verbose, prefer="threads")(jobs)
        mse = np.reshape(mse, (ratios.size, len(folds), -1))
        mean = mse.mean(axis=1)
        self.mse_path_ = np.squeeze(np.moveaxis(mse, 2, 1))
        best_mse, best = np.inf, (0, 0)
        for k, m in enumerate(mean):
            i = int(np.argmin(m))
            if m[i] < best_mse:
                best_mse, best = m[i], (k, i)
        self.l1_ratio_ = ratios[best[0]]
        self.alpha_ = grids[best[0]][best[1]]
        if isinstance(self.alphas, Integral):
            self.alphas_ = np.asarray(grids)
            if ratios.size == 1:
                self.alphas_ = self.alphas_[0]
        else:
            self.alphas_ = np.asarray(grids[0])
        model = MultiTaskElasticNet(
            alpha=self.alpha_, l1_ratio=self.l1_ratio_, fit_intercept=self.fit_intercept,
            copy_X=self.copy_X, max_iter=self.max_iter, tol=self.tol,
            random_state=self.random_state, selection=self.selection)
        n, p = X.shape
        res, P0 = _fit_rows(X, y, sw, RowPenalty(float(self.l1_ratio_), p, y.shape[1]),
                            float(self.alpha_), fit_intercept=self.fit_intercept,
                            tol=self.tol, max_iter=self.max_iter)
        model._set_solution(res, P0, X.dtype)
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        self.dual_gap_, self.n_iter_ = model.dual_gap_, model.n_iter_
        self.converged_ = model.converged_
        if not hasattr(self, "l1_ratio"):
            del self.l1_ratio_
        return self

    def get_metadata_routing(self):
        """The routing of ``fit``'s extra parameters to the CV splitter (scikit-learn's
        metadata routing)."""
        return (MetadataRouter(owner=self).add_self_request(self)
                .add(splitter=check_cv(self.cv),
                     method_mapping=MethodMapping().add(caller="fit", callee="split")))


def _check_alphas(alphas):
    """The user's grid, largest first: a non-empty 1-D array of finite numbers >= 0."""
    msg = "alphas must be a non-empty 1-D array of finite numbers >= 0"
    mixed = isinstance(alphas, (list, tuple)) and any(
        isinstance(x, (str, bytes, bool, np.bool_)) for x in alphas)
    a = np.asarray(alphas)
    if mixed or a.dtype.kind not in "iuf" or a.ndim != 1 or a.size == 0:
        raise ValueError(f"{msg}, got {alphas!r}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{msg}, got {alphas!r}")
    return np.sort(a)[::-1]


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
        Length of the grid, ``alpha_min / alpha_max``.
    alphas : int or array-like, default=100
        The number of strengths of the automatic grid, or the grid itself.
    fit_intercept : bool, default=True
    max_iter : int, default=1000
        Outer (working-set) iterations of every fit.
    tol : float, default=1e-4
        Relative duality gap of every fit.
    cv : int, cross-validation generator or iterable, default=None
        5-fold when None.
    copy_X : bool, default=True
        Accepted for compatibility: ``X`` is never modified.
    verbose : bool or int, default=0
    n_jobs : int, default=None
        Folds (and ``l1_ratio`` values) in parallel through joblib (threads preferred:
        the solvers release the GIL).
    random_state : int, RandomState instance or None, default=None
        Accepted for compatibility.
    selection : {"cyclic", "random"}, default="cyclic"
        Accepted for compatibility.

    Attributes
    ----------
    alpha_ : float
        The selected strength.%s
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        The grid (one per ``l1_ratio`` when automatic and several are searched).
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
        Test mean squared error of every fold (size-1 axes dropped, as in scikit-learn).
    coef_ : ndarray of shape (n_tasks, n_features)
    intercept_ : ndarray of shape (n_tasks,), or 0.0 without an intercept
    dual_gap_ : float
        Relative duality gap of the final fit.
    n_iter_ : int
        Working-set iterations of the final fit.
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
                 random_state=None, selection="cyclic"):
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

    def _l1_ratio(self):
        return self.l1_ratio


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
                 selection="cyclic"):
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

    def _l1_ratio(self):
        return 1.0
