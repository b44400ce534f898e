"""Cross-validated regularization paths: the engine shared by every *CV estimator."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot

from ..datafits import Quadratic
from ..solvers import alpha_max, solve, solve_path
from ..solvers.path import alpha_grid
from ._base import (
    PenaltyMaker,
    SparseInputMixin,
    SparseLinearRegressor,
    check_fit_data,
    validated_store,
)
from ._regression import _elastic_net_penalty

CV_CONSTRAINTS = {
    "eps": [Interval(Real, 0, 1, closed="neither")],
    "n_alphas": [Interval(Integral, 1, None, closed="left")],
    "alphas": ["array-like", None],
    "cv": ["cv_object"],
    "n_jobs": [Integral, None],
    "selection": [StrOptions({"min", "1se"})],
    "verbose": ["verbose"],
    "dfmax": [Interval(Integral, 0, None, closed="left"), None],
    "pmax": [Interval(Integral, 0, None, closed="left"), None],
}


def path_alphas(X, y, datafit, make_penalty, *, eps, n_alphas, fit_intercept, sample_weight):
    """The geometric grid from the data's ``alpha_max`` (strength of ``make_penalty``)."""
    pen1 = make_penalty(1.0)
    if pen1.strength <= 0:
        raise ValueError("the automatic alpha grid needs a non-zero L1 part (l1_ratio > 0); "
                         "pass alphas explicitly")
    amax = alpha_max(X, y, datafit, pen1, fit_intercept=fit_intercept,
                     sample_weight=sample_weight) / pen1.strength
    if not np.isfinite(amax) or amax <= 0:
        amax = 1.0  # y constant (or all-zero X): any grid gives the zero model
    return alpha_grid(amax, n_alphas, eps)


def check_alphas(alphas):
    """The user's grid, largest first: a non-empty 1-D array of finite numbers >= 0 (strings
    and booleans are refused, not converted)."""
    msg = "alphas must be a non-empty 1-D array of finite numbers >= 0"
    a = np.asarray(alphas)
    mixed = isinstance(alphas, (list, tuple)) and any(
        isinstance(x, (str, bytes, bool, np.bool_)) for x in alphas)
    if mixed or a.dtype.kind not in "iuf" or a.ndim > 1:
        raise ValueError(f"{msg}, got {alphas!r}")
    a = a.astype(np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{msg}, got {alphas!r}")
    return np.sort(a)[::-1]


def _fold_losses(X, y, sw, train, test, datafit, make_penalty, alphas, loss, opts,
                 progress=None):
    """Fit the path on ``train``; return the loss on ``test`` at every alpha."""
    swtr = None if sw is None else sw[train]
    swte = None if sw is None else sw[test]
    # a Fortran-ordered X keeps its order (the solvers read columns): taking the rows of
    # every column of X.T is one gather, where X[train] makes a C-ordered copy that the
    # solver then copies again
    if isinstance(X, np.ndarray) and X.flags.f_contiguous:
        rows = np.asarray(train)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        X_train = np.take(X.T, rows, axis=1).T
    else:
        X_train = X[train]
    path = solve_path(X_train, y[train], datafit, make_penalty, alphas=alphas,
                      sample_weight=swtr, progress=progress, **opts)
    X_test, y_test = X[test], y[test]  # once, not per alpha (a copy of the test rows)
    return np.array([loss(X_test, y_test, swte, c, b)
                     for c, b in zip(path.coefs, path.intercepts, strict=True)])


def cross_validate_path(X, y, sw, datafit, make_penalty, alphas, loss, *, cv, n_jobs,
                        verbose, stratify_y=None, progress=None, groups=None, **opts):
    """Per-alpha test losses, shape ``(n_alphas, n_folds)``; folds run through joblib.

    No backend is hard-coded, so ``joblib.parallel_backend("dask")`` (or Ray) spreads the
    folds over a cluster. ``progress`` is called with the number of path problems solved:
    after each one when the folds run in this process, after each fold otherwise.
    ``groups`` go to the splitter (``GroupKFold``, :class:`HashKFold`).
    """
    folds = list(check_cv(cv, stratify_y, classifier=stratify_y is not None).split(
        X, stratify_y, groups))
    if n_jobs in (None, 1):
        losses = [_fold_losses(X, y, sw, tr, te, datafit, make_penalty, alphas, loss, opts,
                               progress) for tr, te in folds]
        return np.stack(losses, axis=1)
    jobs = (delayed(_fold_losses)(X, y, sw, tr, te, datafit, make_penalty, alphas, loss, opts)
            for tr, te in folds)
    losses = []
    for fold in Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator")(jobs):
        losses.append(fold)
        if progress is not None:
            progress(len(alphas))
    return np.stack(losses, axis=1)


def select_alpha(alphas, losses):
    """Mean and standard error of the CV loss per alpha; the best and the 1-SE alphas.

    ``alpha_1se`` is the largest alpha whose mean loss is within one standard error of the
    minimum (the sparser model the data cannot tell apart from the best).
    """
    mean = losses.mean(axis=1)
    k = losses.shape[1]
    se = losses.std(axis=1, ddof=1) / np.sqrt(k) if k > 1 else np.zeros_like(mean)
    i_min = int(np.argmin(mean))
    ok = np.flatnonzero(mean <= mean[i_min] + se[i_min])
    i_1se = int(ok[np.argmax(alphas[ok])])
    return mean, se, i_min, i_1se


@dataclass
class CVPath:
    """A cross-validated path: test losses per alpha and fold, their mean and standard
    error, and the selected alphas (``alpha_min``, ``alpha_1se``)."""

    alphas: np.ndarray
    losses: np.ndarray
    mean: np.ndarray
    std_error: np.ndarray
    alpha_min: float
    alpha_1se: float


def cv_path(X, y, sw, datafit, make_penalty, loss, *, alphas=None, eps=1e-3, n_alphas=100,
            cv=5, n_jobs=None, verbose=0, stratify_y=None, progress=None, dfmax=None,
            pmax=None, groups=None, **opts):
    """Grid (from ``alpha_max`` unless ``alphas`` is given), per-fold paths, selection.

    ``make_penalty(alpha)`` builds the penalty at strength ``alpha`` (any family: L1,
    elastic net, group lasso, ...); ``loss(X, y, sw, coef, intercept)`` scores a fold;
    ``opts`` go to the solver (``fit_intercept``, ``tol``, ``max_iter``, ``positive``);
    ``progress`` is called with the number of path problems solved (see
    :func:`cross_validate_path`). ``dfmax`` / ``pmax`` cap the non-zero features as
    glmnet does: the path on all the data stops where a cap is passed, and the folds are
    cross-validated on that shorter grid.

    Examples
    --------
    >>> from functools import partial
    >>> from sklearn.datasets import load_diabetes
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.penalties import GroupL1
    >>> X, y = load_diabetes(return_X_y=True)
    >>> res = cv_path(X, y, None, Quadratic(), partial(GroupL1, groups=[2] * 5),
    ...               weighted_mse, n_alphas=10, fit_intercept=True)
    >>> res.losses.shape, res.alpha_1se >= res.alpha_min
    ((10, 5), True)
    """
    if alphas is None:
        alphas = path_alphas(X, y, datafit, make_penalty, eps=eps, n_alphas=n_alphas,
                             fit_intercept=opts.get("fit_intercept", False), sample_weight=sw)
    else:
        alphas = check_alphas(alphas)
    if dfmax is not None or pmax is not None:
        alphas = solve_path(X, y, datafit, make_penalty, alphas=alphas, sample_weight=sw,
                            dfmax=dfmax, pmax=pmax, **opts).alphas
    losses = cross_validate_path(X, y, sw, datafit, make_penalty, alphas, loss, cv=cv,
                                 n_jobs=n_jobs, verbose=verbose, stratify_y=stratify_y,
                                 progress=progress, groups=groups, **opts)
    mean, se, i_min, i_1se = select_alpha(alphas, losses)
    return CVPath(alphas, losses, mean, se, float(alphas[i_min]), float(alphas[i_1se]))


def weighted_mse(X, y, sw, coef, intercept):
    r = y - safe_sparse_dot(X, coef) - intercept
    return float(np.average(r * r, weights=sw))


class _RegressionCV(SparseInputMixin, RegressorMixin, BaseEstimator):
    """The cross-validation engine of :class:`LassoCV` and :class:`ElasticNetCV`."""

    _parameter_constraints = {
        **CV_CONSTRAINTS,
        **{k: v for k, v in SparseLinearRegressor._parameter_constraints.items()
           if k != "warm_start"},
        "positive": ["boolean"],
    }

    def __init__(self, *, eps=1e-3, n_alphas=100, alphas=None, fit_intercept=True, tol=1e-4,
                 max_iter=100, cv=5, n_jobs=None, positive=False, selection="min", verbose=0,
                 bounds=None, penalty_factor=None, dfmax=None, pmax=None):
        self.dfmax = dfmax
        self.pmax = pmax
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.eps = eps
        self.n_alphas = n_alphas
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.n_jobs = n_jobs
        self.positive = positive
        self.selection = selection
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None, groups=None):
        """Cross-validate the paths and refit the selected model on all of ``X, y``.

        ``groups`` (one label per row) go to the splitter: :class:`HashKFold` or
        ``GroupKFold`` keep each group in one fold. On dask input (see
        :mod:`sparsefit.distributed`) the folds and the whole path come from one pass."""
        self._validate_params()
        ratios = self._l1_ratios()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        opts = self._solver_options()
        makers = self._makers(ratios, X.shape[1])
        paths = [cv_path(X, y, sw, Quadratic(), make, weighted_mse, alphas=self.alphas,
                         eps=self.eps, n_alphas=self.n_alphas, cv=self.cv, n_jobs=self.n_jobs,
                         verbose=self.verbose, dfmax=self.dfmax, pmax=self.pmax,
                         groups=groups, **opts)
                 for make in makers]
        best = self._store_paths(ratios, paths)
        res = solve(validated_store(X), y, Quadratic(), makers[best](self.alpha_),
                    sample_weight=sw, **opts)
        SparseLinearRegressor._set_solution(self, res, X.dtype)
        return self

    def _solver_options(self):
        return dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter)

    def _makers(self, ratios, n_features):
        """``alpha -> penalty`` for every ``l1_ratio``."""
        return [PenaltyMaker(partial(_elastic_net_penalty, l1_ratio=float(r)), self,
                             n_features) for r in ratios]

    def _store_paths(self, ratios, paths):
        """Set the CV attributes from the :class:`CVPath` of every ratio; returns the index
        of the selected ratio."""
        # scikit-learn's shapes: one l1_ratio drops the leading axis
        squeeze = (lambda a: a[0]) if len(ratios) == 1 else (lambda a: a)
        self.alphas_ = squeeze(np.asarray([p.alphas for p in paths]))
        self.mse_path_ = squeeze(np.asarray([p.losses for p in paths]))
        self.cv_mean_ = squeeze(np.asarray([p.mean for p in paths]))
        self.cv_std_error_ = squeeze(np.asarray([p.std_error for p in paths]))
        best = int(np.argmin([p.mean.min() for p in paths]))
        self.l1_ratio_ = float(ratios[best])
        self.alpha_min_ = paths[best].alpha_min
        self.alpha_1se_ = paths[best].alpha_1se
        self.alpha_ = self.alpha_min_ if self.selection == "min" else self.alpha_1se_
        return best

    predict = SparseLinearRegressor.predict


class ElasticNetCV(_RegressionCV):
    r"""Elastic net with the strength (and ``l1_ratio``) chosen by cross-validation.

    For each ``l1_ratio``, a geometric grid of ``n_alphas`` strengths from the data's
    ``alpha_max`` down to ``eps * alpha_max``; on every fold the whole path is solved with
    warm starts and strong-rule screening, and the test mean squared error recorded. The
    selected model (``selection="min"``: lowest mean error; ``"1se"``: the largest alpha
    within one standard error of it) is refit on all the data.

    Parameters
    ----------
    l1_ratio : float or list of float, default=0.5
        In (0, 1]; a list is searched too.
    eps : float, default=1e-3
    n_alphas : int, default=100
    alphas : array-like, optional
        The grid to use instead (the same for every ``l1_ratio``).
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Relative duality gap of every fit.
    max_iter : int, default=100
    cv : int, cross-validation generator or iterable, default=5
    n_jobs : int, optional
        Folds in parallel through joblib.
    positive : bool, default=False
    selection : {"min", "1se"}, default="min"
    verbose : int, default=0
    bounds : tuple (lower, upper), optional
        Box constraints on the coefficients (see :class:`Lasso`).
    penalty_factor : array-like of shape (n_features,), optional
        Per-feature multipliers of the penalty; 0 leaves a feature unpenalized.
    dfmax, pmax : int, optional
        Cap the selected features (glmnet's): the grid stops where the path on all the
        data has more than ``dfmax`` non-zero features, or more than ``pmax`` ever; the
        folds are cross-validated on that shorter grid.

    Attributes
    ----------
    alpha_, l1_ratio_ : float
        The selected strength and ratio.
    alpha_min_, alpha_1se_ : float
        The best alpha and the 1-SE alpha (for the selected ``l1_ratio``).
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        One ``l1_ratio`` (and :class:`LassoCV`): 1-D, as in scikit-learn.
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
    coef_, intercept_, dual_gap_, n_iter_ :
        Of the final fit.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sparsefit.linear_model import ElasticNetCV
    >>> X, y = make_regression(n_samples=80, n_features=20, n_informative=3, random_state=0)
    >>> model = ElasticNetCV(l1_ratio=[0.5, 1.0], n_alphas=20).fit(X, y)
    >>> model.l1_ratio_, int((model.coef_ != 0).sum()) <= 20
    (1.0, True)
    """

    _parameter_constraints = {
        **_RegressionCV._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="right"), "array-like"],
    }

    def __init__(self, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, alphas=None,
                 fit_intercept=True, tol=1e-4, max_iter=100, cv=5, n_jobs=None,
                 positive=False, selection="min", verbose=0, bounds=None, penalty_factor=None,
                 dfmax=None, pmax=None):
        super().__init__(eps=eps, n_alphas=n_alphas, alphas=alphas,
                         fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, cv=cv,
                         n_jobs=n_jobs, positive=positive, selection=selection,
                         verbose=verbose, bounds=bounds, penalty_factor=penalty_factor,
                         dfmax=dfmax, pmax=pmax)
        self.l1_ratio = l1_ratio

    def _l1_ratios(self):
        r = np.atleast_1d(np.asarray(self.l1_ratio, dtype=np.float64))
        if r.ndim != 1 or r.size == 0 or np.any(~np.isfinite(r)) or np.any(r <= 0) or np.any(
                r > 1):
            raise ValueError(f"l1_ratio must be in (0, 1] (or a list of such), got "
                             f"{self.l1_ratio!r}")
        return r


class LassoCV(_RegressionCV):
    r"""Lasso with ``alpha`` chosen by cross-validation (see :class:`ElasticNetCV`).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sparsefit.linear_model import LassoCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = LassoCV(cv=5, selection="1se").fit(X, y)
    >>> model.alpha_ == model.alpha_1se_ >= model.alpha_min_
    True
    """

    def _l1_ratios(self):
        return np.array([1.0])
