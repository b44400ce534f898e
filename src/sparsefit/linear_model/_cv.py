"""Cross-validated regularization paths: the engine shared by every *CV estimator."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import check_cv
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils._param_validation import Hidden, Interval, InvalidParameterError, StrOptions
from sklearn.utils.extmath import safe_sparse_dot

from ..datafits import Quadratic
from ..solvers import alpha_max, solve, solve_path
from ..solvers.path import alpha_grid
from ._base import (
    SOLVER_OPTIONS,
    SOLVER_OPTIONS_DOC,
    PenaltyMaker,
    SparseInputMixin,
    SparseLinearRegressor,
    check_fit_data,
    sklearn_convergence_message,
    solver_options,
    validated_store,
)
from ._regression import _elastic_net_penalty

CV_CONSTRAINTS = {
    "eps": [Interval(Real, 0, None, closed="neither")],
    "alphas": [Interval(Integral, 1, None, closed="left"), "array-like", None],
    "n_alphas": [Interval(Integral, 1, None, closed="left"),
                 Hidden(StrOptions({"deprecated"}))],
    "cv": ["cv_object"],
    "n_jobs": [Integral, None],
    "alpha_rule": [StrOptions({"min", "1se"})],
    "verbose": ["verbose"],
    "dfmax": [Interval(Integral, 0, None, closed="left"), None],
    "pmax": [Interval(Integral, 0, None, closed="left"), None],
    "random_state": ["random_state"],
    "selection": [StrOptions({"cyclic", "random"})],
}
CV_OPTIONS_DOC = """
    alphas : int or array-like, default=100
        The grid: its size (geometric from the data's ``alpha_max`` down to ``eps *
        alpha_max``), or the strengths themselves.
    n_alphas : int
        Deprecated alias of ``alphas=<int>`` (scikit-learn 1.9 dropped it).
    alpha_rule : {"min", "1se"}, default="min"
        The alpha refit on all the data: the lowest mean CV loss, or the largest alpha
        whose mean loss is within one standard error of it (a sparser model the data
        cannot tell apart). Was ``selection`` before version 0.3.
    selection : {"cyclic", "random"}, default="cyclic"
        Coordinate order of the solver (scikit-learn's ``selection``).
    random_state : int, RandomState instance or None
        Seeds ``selection="random"``."""


class CVMixin:
    """What every cross-validated estimator shares: the grid request (``alphas`` as a size or
    a grid, ``n_alphas`` deprecated), the rule that picks alpha (``alpha_rule``), the
    renamed ``selection``, and grouped folds through scikit-learn's metadata routing
    (``fit(X, y, groups=...)`` with ``sklearn.set_config(enable_metadata_routing=True)``)."""

    def _validate_params(self):
        old = getattr(self, "selection", None)
        if isinstance(old, str) and old in ("min", "1se"):
            raise ValueError(
                f"{type(self).__name__}(selection={old!r}): selection is now the coordinate "
                f"order ('cyclic' or 'random', as in scikit-learn); the rule that picks alpha "
                f"is alpha_rule={old!r}")
        super()._validate_params()

    def _grid(self, default=100):
        """``(alphas, n_alphas)``: the user's grid (largest first) and None, or None and
        the size of the automatic grid."""
        size = None
        if not (isinstance(self.n_alphas, str) and self.n_alphas == "deprecated"):
            warnings.warn(f"{type(self).__name__}: n_alphas is deprecated; alphas=<int> sets "
                          "the grid size (scikit-learn 1.9's spelling)", FutureWarning,
                          stacklevel=3)
            size = int(self.n_alphas)
        a = self.alphas
        if a is None:
            return None, size or default
        if isinstance(a, Integral) and not isinstance(a, bool):
            return None, size or int(a)
        return check_alphas(a), None

    def _chosen_alpha(self, alpha_min, alpha_1se):
        return alpha_min if self.alpha_rule == "min" else alpha_1se

    def _split_params(self, params):
        """The keyword arguments of ``fit`` routed to the splitter (``groups``)."""
        _raise_for_params(params, self, "fit")
        if _routing_enabled():
            return process_routing(self, "fit", **params).splitter.split
        return {}

    def get_metadata_routing(self):
        """The splitter receives ``fit``'s metadata (``groups``) as ``split``'s; the
        estimator's own requests (``sample_weight`` of ``fit`` and ``score``) are part of
        it, as in scikit-learn's CV estimators."""
        return MetadataRouter(owner=self).add_self_request(self).add(
            splitter=check_cv(self.cv),
            method_mapping=MethodMapping().add(caller="fit", callee="split"))


def path_alphas(X, y, datafit, make_penalty, *, eps, n_alphas, fit_intercept, sample_weight):
    """The geometric grid from the data's ``alpha_max`` (strength of ``make_penalty``); as
    scikit-learn's ``_alpha_grid``, ``n_alphas`` copies of float64's resolution (1e-15) when
    ``alpha_max`` is not above it (``y`` constant, or ``X`` all zero): every fit is then the
    zero model."""
    pen1 = make_penalty(1.0)
    if pen1.strength <= 0:
        raise ValueError("Automatic alpha grid generation is not supported for l1_ratio=0. "
                         "Please supply a grid by providing your estimator with the "
                         "appropriate `alphas=` argument.")
    amax = alpha_max(X, y, datafit, pen1, fit_intercept=fit_intercept,
                     sample_weight=sample_weight) / pen1.strength
    return degenerate_safe_grid(amax, n_alphas, eps)


def degenerate_safe_grid(amax, n_alphas, eps):
    """:func:`alpha_grid` from ``amax``, or scikit-learn's grid of ``n_alphas`` copies of
    float64's resolution when ``amax`` is not above it (or not finite)."""
    res = np.finfo(np.float64).resolution
    if not (np.isfinite(amax) and amax > res):
        return np.full(int(n_alphas), res)
    return alpha_grid(amax, n_alphas, eps)


def check_alphas(alphas):
    """The user's grid, largest first: a non-empty 1-D array of finite numbers >= 0 (strings
    and booleans are refused, not converted). The entry at fault is named as scikit-learn
    names it: ``alphas[i] == v, must be >= 0.0.`` (ValueError) or ``alphas[i] must be an
    instance of float, not str`` (scikit-learn's InvalidParameterError, a TypeError and a
    ValueError)."""
    a = np.asarray(alphas, dtype=object) if isinstance(alphas, (list, tuple)) else \
        np.asarray(alphas)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"alphas must be a non-empty 1-D array of numbers >= 0 (or an int, "
                         f"the grid size), got {alphas!r}")
    for i, x in enumerate(a.tolist()):
        if isinstance(x, bool) or not isinstance(x, Real):
            raise InvalidParameterError(f"alphas[{i}] must be an instance of float, not "
                                        f"{type(x).__name__}")
        if not np.isfinite(x):
            raise ValueError(f"alphas[{i}] == {x}, must be finite.")
        if x < 0:
            raise ValueError(f"alphas[{i}] == {x}, must be >= 0.0.")
    a = a.astype(np.float64)
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


def check_fold_weights(folds, sw):
    """Refuse a fold whose training or held-out rows have no positive sample weight (its
    fit or its score is undefined), naming it.

    Examples
    --------
    >>> import numpy as np
    >>> folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    >>> try:
    ...     check_fold_weights(folds, np.array([0.0, 0.0, 1.0, 1.0]))
    ... except ValueError as err:
    ...     print(str(err)[:56])
    cross-validation fold 0 of 2 has no held-out rows of pos
    """
    if sw is None:
        return
    sw = np.asarray(sw)
    for k, (train, test) in enumerate(folds):
        for rows, what in ((train, "training"), (test, "held-out")):
            if not np.any(sw[rows] > 0):
                raise ValueError(f"cross-validation fold {k} of {len(folds)} has no {what} "
                                 "rows of positive weight (sample_weight): use fewer folds "
                                 "(cv) or more groups, or give those rows weight")


def drawn_folds(cv, X, y=None, split_params=None, classifier=False):
    """The ``(train, test)`` splits of ``cv``, drawn once: every ``l1_ratio`` of a fit is
    scored on the same folds, as scikit-learn's (a shuffled splitter without a fixed seed
    draws other folds at each ``split``, and a generator of splits is spent by the first).
    The list is a ``cv`` too: :func:`cv_path` takes it as it is."""
    return list(check_cv(cv, y, classifier=classifier).split(X, y, **(split_params or {})))


def cross_validate_path(X, y, sw, datafit, make_penalty, alphas, loss, *, cv, n_jobs,
                        verbose, stratify_y=None, progress=None, split_params=None, **opts):
    """Per-alpha test losses, shape ``(n_alphas, n_folds)``; folds run through joblib.

    No backend is hard-coded, so ``joblib.parallel_backend("dask")`` (or Ray) spreads the
    folds over a cluster. ``progress`` is called with the number of path problems solved:
    after each one when the folds run in this process, after each fold otherwise.
    ``split_params`` go to the splitter's ``split`` (``groups``).
    """
    folds = list(check_cv(cv, stratify_y, classifier=stratify_y is not None).split(
        X, stratify_y, **(split_params or {})))
    check_fold_weights(folds, sw)
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
            pmax=None, split_params=None, **opts):
    """Grid (from ``alpha_max`` unless ``alphas`` is given), per-fold paths, selection.

    ``make_penalty(alpha)`` builds the penalty at strength ``alpha`` (any family: L1,
    elastic net, group lasso, ...); ``loss(X, y, sw, coef, intercept)`` scores a fold;
    ``opts`` go to the solver (``fit_intercept``, ``tol``, ``max_iter``, ``positive``,
    ``selection``, ``random_state``); ``split_params`` to the splitter (``groups``);
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
                                 progress=progress, split_params=split_params, **opts)
    mean, se, i_min, i_1se = select_alpha(alphas, losses)
    return CVPath(alphas, losses, mean, se, float(alphas[i_min]), float(alphas[i_1se]))


def weighted_mse(X, y, sw, coef, intercept):
    r = y - safe_sparse_dot(X, coef) - intercept
    return float(np.average(r * r, weights=sw))


class _RegressionCV(CVMixin, SparseInputMixin, RegressorMixin, BaseEstimator):
    """The cross-validation engine of :class:`LassoCV` and :class:`ElasticNetCV`."""

    _parameter_constraints = {
        **CV_CONSTRAINTS,
        **{k: v for k, v in SparseLinearRegressor._parameter_constraints.items()
           if k != "warm_start"},
        **SOLVER_OPTIONS,
        "positive": ["boolean"],
    }

    def __init__(self, *, eps=1e-3, alphas=100, fit_intercept=True, precompute="auto",
                 max_iter=100, tol=1e-4, copy_X=True, cv=None, verbose=0, n_jobs=None,
                 positive=False, random_state=None, selection="cyclic", alpha_rule="min",
                 n_alphas="deprecated", bounds=None, penalty_factor=None, dfmax=None,
                 pmax=None):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.alpha_rule = alpha_rule
        self.n_alphas = n_alphas
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.dfmax = dfmax
        self.pmax = pmax

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the paths and refit the selected model on all of ``X, y``.

        ``params`` are routed to the splitter (``groups=`` for a group splitter) when
        scikit-learn's metadata routing is enabled, and refused otherwise, as scikit-learn
        does. On dask input (see :mod:`sparsefit.distributed`) the folds and the whole
        path come from one pass, and ``groups`` (a dask column) is taken directly."""
        self._validate_params()
        split_params = self._split_params(params)
        ratios = self._l1_ratios()
        alphas, n_alphas = self._grid()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        refit_opts = solver_options(self, X, sw)
        opts = self._solver_options()
        fold_pre = refit_opts["precompute"]
        opts["precompute"] = fold_pre if isinstance(fold_pre, (bool, str)) else True
        datafit = Quadratic()
        makers = self._makers(ratios, X.shape[1])
        folds = drawn_folds(self.cv, X, y, split_params)
        paths = [cv_path(X, y, sw, datafit, make, weighted_mse, alphas=alphas,
                         eps=self.eps, n_alphas=n_alphas, cv=folds, n_jobs=self.n_jobs,
                         verbose=self.verbose, dfmax=self.dfmax, pmax=self.pmax,
                         split_params=split_params, **opts)
                 for make in makers]
        best = self._store_paths(ratios, paths)
        with sklearn_convergence_message():
            res = solve(validated_store(X), y, datafit, makers[best](self.alpha_),
                        sample_weight=sw, fit_intercept=self.fit_intercept, tol=self.tol,
                        max_iter=self.max_iter, **refit_opts)
        SparseLinearRegressor._set_solution(self, res, X.dtype)
        return self

    def _solver_options(self):
        return dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                    selection=self.selection, random_state=self.random_state)

    def _makers(self, ratios, n_features):
        """``alpha -> penalty`` for every ``l1_ratio``."""
        return [PenaltyMaker(partial(_elastic_net_penalty, l1_ratio=float(r)), self,
                             n_features) for r in ratios]

    def _store_paths(self, ratios, paths):
        """Set the CV attributes from the :class:`CVPath` of every ratio; returns the index
        of the selected ratio."""
        # scikit-learn's shapes: one l1_ratio drops the leading axis
        squeeze = (lambda a: a[0]) if len(ratios) == 1 else (lambda a: a)
        self.alphas_ = squeeze(_padded([p.alphas for p in paths]))
        given = self.alphas is not None and not isinstance(self.alphas, Integral)
        if given and self.alphas_.ndim == 2 and not (self.dfmax or self.pmax):
            self.alphas_ = self.alphas_[0]  # a given grid is the same for every l1_ratio
        self.mse_path_ = squeeze(_padded([p.losses for p in paths]))
        self.cv_mean_ = squeeze(_padded([p.mean for p in paths]))
        self.cv_std_error_ = squeeze(_padded([p.std_error for p in paths]))
        best = int(np.argmin([p.mean.min() for p in paths]))
        self.l1_ratio_ = float(ratios[best])
        self.alpha_min_ = paths[best].alpha_min
        self.alpha_1se_ = paths[best].alpha_1se
        self.alpha_ = self._chosen_alpha(self.alpha_min_, self.alpha_1se_)
        return best

    predict = SparseLinearRegressor.predict


def _padded(rows):
    """One array of the per-``l1_ratio`` arrays, NaN after the end of the shorter ones
    (``dfmax`` / ``pmax`` cut each ratio's grid where its own path reaches the cap)."""
    n = max(len(r) for r in rows)
    out = np.full((len(rows), n) + np.shape(rows[0])[1:], np.nan)
    for k, r in enumerate(rows):
        out[k, :len(r)] = r
    return out


_CV_DOC = r"""
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the automatic grid.""" + CV_OPTIONS_DOC + r"""
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Every fit (on the folds and the refit) stops at a relative duality gap ``gap /
        P(0) <= tol``, ``P(0)`` being the objective of the null model; scikit-learn's
        ``gap <= tol * ||y - mean(y)||^2 / n`` is the same test at ``tol / 2``.
    max_iter : int, default=100
        The most outer (working-set) iterations of each fit (see :class:`Lasso`; not the
        epochs that scikit-learn's ``max_iter`` and ``n_iter_`` count).
    cv : int, cross-validation generator or iterable, default=None
        5-fold by default; a group splitter takes ``fit(..., groups=...)`` through
        metadata routing.
    n_jobs : int, optional
        Folds in parallel through joblib (``joblib.parallel_backend("dask")`` spreads
        them over a cluster).
    positive : bool, default=False
    verbose : int, default=0""" + SOLVER_OPTIONS_DOC.replace(
    "from this Gram matrix", "from a Gram matrix (checked, then used for the refit; the "
    "folds compute their own)") + r"""
    bounds : tuple (lower, upper), optional
        Box constraints on the coefficients (see :class:`Lasso`).
    penalty_factor : array-like of shape (n_features,), optional
        Per-feature multipliers of the penalty; 0 leaves a feature unpenalized.
    dfmax, pmax : int, optional
        Cap the selected features (glmnet's): the grid stops where the path on all the
        data has more than ``dfmax`` non-zero features, or more than ``pmax`` ever; the
        folds are cross-validated on that shorter grid. With several ``l1_ratio`` each
        grid stops where its own path does: ``alphas_``, ``mse_path_`` and the CV curves
        hold NaN after the end of the shorter ones.

    Attributes
    ----------
    alpha_ : float
        The selected strength.
    alpha_min_, alpha_1se_ : float
        The best alpha and the 1-SE alpha (for the selected ``l1_ratio``).
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
        One ``l1_ratio`` (and :class:`LassoCV`), or a grid given in ``alphas``: 1-D, as
        in scikit-learn.
    mse_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratio, n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_alphas,) or (n_l1_ratio, n_alphas)
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    dual_gap_ : float
        Duality gap ``P - D`` of the refit's objective, as in scikit-learn.
    n_iter_ : int
        Coordinate-descent epochs of the refit, scikit-learn's meaning (see
        :class:`Lasso`).
    n_outer_iter_ : int
        Outer (working-set) iterations of the refit, at most ``max_iter``.
"""


class ElasticNetCV(_RegressionCV):
    __doc__ = r"""Elastic net with the strength (and ``l1_ratio``) chosen by cross-validation.

    For each ``l1_ratio``, a geometric grid of strengths from the data's ``alpha_max`` down
    to ``eps * alpha_max``; on every fold the whole path is solved with warm starts and
    strong-rule screening, and the test mean squared error recorded. The selected model
    (``alpha_rule="min"``: lowest mean error; ``"1se"``: the largest alpha within one
    standard error of it) is refit on all the data.

    Parameters
    ----------
    l1_ratio : float or list of float, default=0.5
        In [0, 1]; a list is searched too. 0 (ridge) needs an explicit ``alphas`` grid.""" \
        + _CV_DOC + r"""    l1_ratio_ : float
        The selected ratio.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sparsefit.linear_model import ElasticNetCV
    >>> X, y = make_regression(n_samples=80, n_features=20, n_informative=3, random_state=0)
    >>> model = ElasticNetCV(l1_ratio=[0.5, 1.0], alphas=20).fit(X, y)
    >>> model.l1_ratio_, int((model.coef_ != 0).sum()) <= 20
    (1.0, True)
    """

    _parameter_constraints = {
        **_RegressionCV._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), "array-like"],
    }

    def __init__(self, *, l1_ratio=0.5, eps=1e-3, alphas=100, fit_intercept=True,
                 precompute="auto", max_iter=100, tol=1e-4, cv=None, copy_X=True, verbose=0,
                 n_jobs=None, positive=False, random_state=None, selection="cyclic",
                 alpha_rule="min", n_alphas="deprecated", bounds=None, penalty_factor=None,
                 dfmax=None, pmax=None):
        super().__init__(eps=eps, alphas=alphas, fit_intercept=fit_intercept,
                         precompute=precompute, max_iter=max_iter, tol=tol, copy_X=copy_X,
                         cv=cv, verbose=verbose, n_jobs=n_jobs, positive=positive,
                         random_state=random_state, selection=selection,
                         alpha_rule=alpha_rule, n_alphas=n_alphas, bounds=bounds,
                         penalty_factor=penalty_factor, dfmax=dfmax, pmax=pmax)
        self.l1_ratio = l1_ratio

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.enet_path` (scikit-learn's ``ElasticNetCV.path``)."""
        from ._path import enet_path

        return enet_path(X, y, **kwargs)

    def _l1_ratios(self):
        r = np.atleast_1d(np.asarray(self.l1_ratio, dtype=np.float64))
        if r.ndim != 1 or r.size == 0 or np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(
                r > 1):
            raise ValueError(f"l1_ratio must be in [0, 1] (or a list of such), got "
                             f"{self.l1_ratio!r}")
        return r


class LassoCV(_RegressionCV):
    __doc__ = r"""Lasso with ``alpha`` chosen by cross-validation (see :class:`ElasticNetCV`).

    :math:`\frac{1}{2n}\|y - Xw - b\|^2 + \alpha\|w\|_1` on a grid of ``alpha``, the
    test mean squared error of every fold's warm-started path, and a refit at the
    selected ``alpha_`` on all the data.

    Parameters
    ----------""" + _CV_DOC + r"""
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sparsefit.linear_model import LassoCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = LassoCV(cv=5, alpha_rule="1se").fit(X, y)
    >>> model.alpha_ == model.alpha_1se_ >= model.alpha_min_
    True
    """

    @staticmethod
    def path(X, y, **kwargs):
        """:func:`~sparsefit.linear_model.lasso_path` (scikit-learn's ``LassoCV.path``)."""
        from ._path import lasso_path

        return lasso_path(X, y, **kwargs)

    def _l1_ratios(self):
        return np.array([1.0])
