"""The relaxed lasso (Meinshausen, 2007; glmnet's ``relax=TRUE``): the lasso selects, least
squares on the selected features estimates, and ``gamma`` blends the two."""

from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval

from ..datafits import Quadratic
from ..penalties import L1, Box
from ..solvers import solve, solve_path
from ..solvers.moments import Moments
from ._base import (
    PenaltyMaker,
    SparseLinearRegressor,
    _check_bounds,
    check_fit_data,
    solver_options,
)
from ._cv import (
    CV_CONSTRAINTS,
    CVMixin,
    check_fold_weights,
    path_alphas,
    select_alpha,
    weighted_mse,
)
from ._regression import LASSO_LIKE


def relax(X, y, sw, coef, intercept, gamma, fit_intercept=True, bounds=None):
    r"""The relaxed fit of a lasso solution: with :math:`S` the support of ``coef`` and
    :math:`\hat w^{LS}` the least-squares fit on the columns :math:`S` (and an intercept),

    .. math:: w(\gamma) = \gamma\, w^{lasso} + (1 - \gamma)\, \hat w^{LS}_S.

    ``gamma=1`` is the lasso, ``gamma=0`` the unpenalized refit (glmnet's convention).
    ``gamma`` may be an array: one fit per value, stacked. Where the support has more
    columns than rows, the minimum-norm least-squares solution is used. With ``bounds``
    (``(lower, upper)`` arrays, one entry per feature) the least-squares fit is bounded
    too, so every blend stays inside them.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([1.0, 2.0, 3.0])
    >>> c, b = relax(X, y, None, np.array([0.5, 0.0]), 1.0, gamma=0.0, fit_intercept=False)
    >>> c.round(3).tolist()  # least squares on feature 0 only: (1 + 3) / 2
    [2.0, 0.0]
    """
    gammas = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    S = np.flatnonzero(coef)
    if isinstance(X, Moments):
        ls, b_ls = _least_squares_from_moments(X, S, fit_intercept, bounds)
        return _blend(gamma, gammas, coef, intercept, ls, b_ls)
    n = X.shape[0]
    s = np.full(n, 1.0 / n) if sw is None else sw / sw.sum()
    root = np.sqrt(s)
    A = X[:, S].toarray() if sp.issparse(X) else np.asarray(X[:, S], dtype=np.float64)
    if fit_intercept:
        A = np.column_stack([A, np.ones(n)])
    ls = np.zeros_like(coef, dtype=np.float64)
    if bounds is not None and S.size:
        res = solve(A[:, :S.size], y, Quadratic(), Box(L1(0.0), bounds[0][S], bounds[1][S]),
                    fit_intercept=fit_intercept, sample_weight=sw, tol=1e-10, max_iter=1000)
        ls[S], b_ls = res.coef, res.intercept
    else:
        sol = np.linalg.lstsq(A * root[:, None], y * root, rcond=None)[0] if A.shape[1] \
            else np.zeros(0)
        ls[S] = sol[:S.size]
        b_ls = sol[-1] if fit_intercept else 0.0
    return _blend(gamma, gammas, coef, intercept, ls, b_ls)


def _blend(gamma, gammas, coef, intercept, ls, b_ls):
    coefs = gammas[:, None] * coef[None, :] + (1.0 - gammas)[:, None] * ls[None, :]
    intercepts = gammas * intercept + (1.0 - gammas) * b_ls
    if np.ndim(gamma) == 0:
        return coefs[0], float(intercepts[0])
    return coefs, intercepts


def _least_squares_from_moments(moments, S, fit_intercept, bounds):
    """:func:`relax`'s least-squares fit on the columns ``S``, from the data's moments:
    the normal equations ``G_SS w = c_S`` (minimum norm when singular), or the bounded
    problem in covariance form."""
    ls = np.zeros(moments.n_features)
    if S.size == 0:
        return ls, float(moments.intercept(ls)) if fit_intercept else 0.0
    sub = moments.restrict(S)
    if bounds is not None:
        res = solve(sub, None, Quadratic(), Box(L1(0.0), bounds[0][S], bounds[1][S]),
                    fit_intercept=fit_intercept, tol=1e-10, max_iter=1000)
        ls[S] = res.coef
        return ls, res.intercept
    G, c, _ = sub.quadratic_form(fit_intercept)
    ls[S] = np.linalg.lstsq(G, c, rcond=None)[0]
    return ls, float(sub.intercept(ls[S])) if fit_intercept else 0.0


def relaxed_bounds(est, n_features):
    """The estimator's ``bounds`` / ``positive`` as per-feature arrays, or None."""
    b = _check_bounds(getattr(est, "bounds", None), n_features)
    if getattr(est, "positive", False):
        b = (np.zeros(1), np.full(1, np.inf)) if b is None else b
    if b is None:
        return None
    return tuple(np.broadcast_to(a, n_features).astype(np.float64) for a in b)


class RelaxedLasso(SparseLinearRegressor):
    r"""The relaxed lasso: the lasso at ``alpha`` selects the features, least squares on
    them estimates, and ``gamma`` blends the two (see :func:`relax`): less shrinkage of
    the selected coefficients than the lasso, the same selection.

    Parameters
    ----------
    alpha : float, default=1.0
    gamma : float in [0, 1], default=0.0
        1 is the lasso, 0 the fully relaxed fit.
    fit_intercept, tol, max_iter, warm_start, positive, bounds, penalty_factor
        Of the lasso that selects (see :class:`Lasso`); the relaxed least-squares fit keeps
        the bounds (glmnet's relaxed fit keeps its limits too).

    Attributes
    ----------
    coef_, intercept_ : the relaxed fit
    lasso_coef_, lasso_intercept_ : the lasso fit that selected the features

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import RelaxedLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 6)); y = 3 * X[:, 0] + 0.01 * rng.standard_normal(60)
    >>> m = RelaxedLasso(alpha=0.5, gamma=0.0).fit(X, y)
    >>> round(float(m.lasso_coef_[0]), 2), round(float(m.coef_[0]), 2)  # the bias removed
    (2.56, 3.0)
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "gamma": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, alpha=1.0, *, gamma=0.0, fit_intercept=True, tol=1e-6, max_iter=100,
                 warm_start=False, positive=False, bounds=None, penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.gamma = gamma

    _several_targets = False  # the relaxed fit keeps lasso_coef_ of one target

    def _penalty(self, n_features):
        return L1(self.alpha)

    def _warm_init(self, X):
        # warm-start the selecting lasso from its own solution, not the relaxed one
        if self.warm_start and hasattr(self, "lasso_coef_") and \
                self.lasso_coef_.shape == (X.shape[1],):
            return self.lasso_coef_.astype(np.float64), float(self.lasso_intercept_)
        return None, None

    def _fit_validated(self, X, y, sw, w0=None, b0=None):
        super()._fit_validated(X, y, sw, w0, b0)
        self.lasso_coef_, self.lasso_intercept_ = self.coef_, self.intercept_
        coef, b = relax(X, y, sw, self.coef_.astype(np.float64), float(self.intercept_),
                        self.gamma, self.fit_intercept, relaxed_bounds(self, X.shape[1]))
        self.coef_ = coef.astype(X.dtype)
        self.intercept_ = X.dtype.type(b)
        return self


def _relaxed_fold(X, y, sw, train, test, make, alphas, gammas, opts, bounds):
    """Test MSE of every (gamma, alpha) on one fold: shape (n_gammas, n_alphas)."""
    swtr = None if sw is None else sw[train]
    swte = None if sw is None else sw[test]
    Xtr, ytr = X[train], y[train]
    path = solve_path(Xtr, ytr, Quadratic(), make, alphas=alphas, sample_weight=swtr, **opts)
    out = np.empty((gammas.size, alphas.size))
    Xte, yte = X[test], y[test]
    for a, (c, b) in enumerate(zip(path.coefs, path.intercepts)):
        coefs, intercepts = relax(Xtr, ytr, swtr, c, b, gammas, opts["fit_intercept"],
                                  bounds)
        for g in range(gammas.size):
            out[g, a] = weighted_mse(Xte, yte, swte, coefs[g], intercepts[g])
    return out


class RelaxedLassoCV(CVMixin, SparseLinearRegressor):
    r"""The relaxed lasso with ``alpha`` and ``gamma`` chosen by cross-validation
    (glmnet's ``cv.glmnet(relax=TRUE)``).

    On every fold the lasso path is solved on the training rows, each solution relaxed at
    every ``gamma`` (:func:`relax`), and scored on the test rows. The pair with the lowest
    mean test error (``alpha_rule="min"``), or the largest alpha within one standard error
    of it at the chosen gamma (``"1se"``), is refit on all the data.

    Parameters
    ----------
    gammas : array-like, default=(0, 0.25, 0.5, 0.75, 1)
    eps, alphas, cv, n_jobs, alpha_rule, selection, random_state, verbose, dfmax, pmax
        As for :class:`LassoCV` (``n_alphas``: deprecated alias of ``alphas=<int>``).
    fit_intercept, tol, max_iter, positive, bounds, penalty_factor
        Of the lasso that selects.

    Attributes
    ----------
    alpha_, gamma_ : the selected pair
    alphas_ : ndarray of shape (n_alphas,)
    mse_path_ : ndarray of shape (n_gammas, n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_gammas, n_alphas)
    coef_, intercept_, lasso_coef_, lasso_intercept_ : the refit (see :class:`RelaxedLasso`)

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sparsefit.linear_model import RelaxedLassoCV
    >>> X, y = make_regression(n_samples=100, n_features=30, n_informative=4, noise=1.0,
    ...                        random_state=0)
    >>> m = RelaxedLassoCV(alphas=20, cv=3).fit(X, y)
    >>> int((m.coef_ != 0).sum()) <= 30, m.gamma_ in (0.0, 0.25, 0.5, 0.75, 1.0)
    (True, True)
    """

    _parameter_constraints = {
        **{k: v for k, v in SparseLinearRegressor._parameter_constraints.items()
           if k != "warm_start"},
        **CV_CONSTRAINTS,
        "gammas": ["array-like"],
        "positive": ["boolean"],
    }

    def __init__(self, *, gammas=(0.0, 0.25, 0.5, 0.75, 1.0), eps=1e-3, alphas=100,
                 fit_intercept=True, tol=1e-4, max_iter=100, cv=None, n_jobs=None,
                 positive=False, alpha_rule="min", selection="cyclic", random_state=None,
                 verbose=0, bounds=None, penalty_factor=None, dfmax=None, pmax=None,
                 n_alphas="deprecated"):
        self.gammas = gammas
        self.eps = eps
        self.n_alphas = n_alphas
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.n_jobs = n_jobs
        self.positive = positive
        self.alpha_rule = alpha_rule
        self.selection = selection
        self.random_state = random_state
        self.verbose = verbose
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.dfmax = dfmax
        self.pmax = pmax

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate (alpha, gamma) and refit on all the data (``params``: see
        :meth:`LassoCV.fit`)."""
        self._validate_params()
        split_params = self._split_params(params)
        grid, n_alphas = self._grid()
        gammas = self._gamma_grid()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        make = PenaltyMaker(L1, self, X.shape[1])
        opts = dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                    **solver_options(self))
        alphas = (path_alphas(X, y, Quadratic(), make, eps=self.eps, n_alphas=n_alphas,
                              fit_intercept=self.fit_intercept, sample_weight=sw)
                  if grid is None else grid)
        if self.dfmax is not None or self.pmax is not None:
            alphas = solve_path(X, y, Quadratic(), make, alphas=alphas, sample_weight=sw,
                                dfmax=self.dfmax, pmax=self.pmax, **opts).alphas
        folds = list(check_cv(self.cv).split(X, y, **split_params))
        check_fold_weights(folds, sw)
        bounds = relaxed_bounds(self, X.shape[1])
        jobs = (delayed(_relaxed_fold)(X, y, sw, tr, te, make, alphas, gammas, opts, bounds)
                for tr, te in folds)
        losses = np.stack(Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(jobs), axis=2)
        self._select(alphas, losses, gammas)
        return self._refit(X, y, sw)

    def _gamma_grid(self):
        gammas = np.asarray(self.gammas, dtype=np.float64).ravel()
        if gammas.size == 0 or np.any((gammas < 0) | (gammas > 1)) or not np.all(
                np.isfinite(gammas)):
            raise ValueError(f"gammas must be a non-empty array of numbers in [0, 1], got "
                             f"{self.gammas!r}")
        return gammas

    def _select(self, alphas, losses, gammas):
        """Store the CV curves (``losses`` of shape (n_gammas, n_alphas, n_folds)) and the
        selected (alpha, gamma)."""
        self.alphas_, self.mse_path_ = alphas, losses
        stats = [select_alpha(alphas, losses[g]) for g in range(gammas.size)]
        self.cv_mean_ = np.array([s[0] for s in stats])
        self.cv_std_error_ = np.array([s[1] for s in stats])
        g = int(np.argmin([s[0][s[2]] for s in stats]))
        i = self._chosen_alpha(stats[g][2], stats[g][3])
        self.gamma_, self.alpha_ = float(gammas[g]), float(alphas[i])

    def _refit(self, X, y, sw, fit=None):
        """The relaxed lasso at the selected pair on all the data (``X`` may be the data's
        :class:`~sparsefit.solvers.moments.Moments`, ``y`` and ``sw`` then None); or by
        ``fit(estimator)`` when given (dask's wide route)."""
        est = RelaxedLasso(self.alpha_, gamma=self.gamma_, fit_intercept=self.fit_intercept,
                           tol=self.tol, max_iter=self.max_iter, positive=self.positive,
                           bounds=self.bounds, penalty_factor=self.penalty_factor)
        if fit is None:
            est._fit_validated(X, y, sw)
        else:
            fit(est)
        for attr in ("coef_", "intercept_", "lasso_coef_", "lasso_intercept_", "n_iter_",
                     "n_outer_iter_", "dual_gap_", "converged_", "kkt_violation_"):
            setattr(self, attr, getattr(est, attr))
        return self
