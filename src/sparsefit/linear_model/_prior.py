"""The prior lasso (Jiang, He and Zhang, 2016, JASA): external information that a set of
features matters enters through pseudo-responses, and ``eta`` weighs it against the data."""

from __future__ import annotations

from functools import partial
from numbers import Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval

from ..datafits import Quadratic
from ..penalties import L1
from ..solvers import solve, solve_path
from ._base import (
    PenaltyMaker,
    SparseLinearRegressor,
    check_fit_data,
    finish_penalty,
    solver_options,
    validated_store,
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


def prior_features_index(prior_features, n_features, names=None):
    """``prior_features`` (integer indices, a boolean mask, or column names when the
    estimator was fit on a DataFrame) as sorted unique indices; refused when empty or out
    of range, naming the problem."""
    spec = np.asarray(prior_features)
    if spec.size == 0:
        raise ValueError("prior_features is empty: name at least one feature")
    if spec.dtype.kind in "US":
        if names is None:
            raise ValueError("prior_features holds names, but X has no column names (fit on "
                             "a pandas DataFrame, or give indices)")
        where = {str(n): i for i, n in enumerate(names)}
        missing = [str(n) for n in spec.ravel() if str(n) not in where]
        if missing:
            raise ValueError(f"prior_features: no column {missing[0]!r} in X")
        idx = np.array([where[str(n)] for n in spec.ravel()])
    elif spec.dtype == bool:
        if spec.size != n_features:
            raise ValueError(f"prior_features as a mask needs {n_features} entries, got "
                             f"{spec.size}")
        idx = np.flatnonzero(spec)
    elif spec.dtype.kind in "iu":
        idx = spec.ravel().astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_features):
            raise ValueError(f"prior_features must index the {n_features} features, got "
                             f"{idx.min()} .. {idx.max()}")
    else:
        raise ValueError("prior_features must be integer indices, a boolean mask or column "
                         f"names, got {prior_features!r}")
    idx = np.unique(idx)
    if idx.size == 0:
        raise ValueError("prior_features is empty: name at least one feature")
    return idx


def prior_response(X, y, sw, prior, fit_intercept=True):
    """The pseudo-responses: the (weighted) least-squares fit of ``y`` on the prior
    features' columns (and an intercept), at the rows of ``X``."""
    n = X.shape[0]
    A = X[:, prior].toarray() if sp.issparse(X) else np.asarray(X[:, prior], dtype=np.float64)
    if fit_intercept:
        A = np.column_stack([A, np.ones(n)])
    root = np.sqrt(np.full(n, 1.0 / n) if sw is None else sw / sw.sum())
    beta = np.linalg.lstsq(A * root[:, None], y * root, rcond=None)[0]
    return A @ beta


def prior_moments(moments, prior, eta, fit_intercept=True):
    r"""The :class:`~sparsefit.solvers.moments.Moments` of ``(X, (y + eta * y_prior) /
    (1 + eta))`` from those of ``(X, y)``, with no pass over the rows: the pseudo-responses
    :math:`\hat y^{prior} = X_P \beta + b_0` (:func:`prior_response`) are linear in the
    columns :math:`P`, so with the centered co-moments :math:`C` (``xx``) and :math:`c`
    (``xy``),

    .. math::

        c' = \frac{c + \eta C_{:P}\beta}{1 + \eta},\quad
        yy' = \frac{yy + 2\eta\,\beta^\top c_P + \eta^2 \beta^\top C_{PP}\beta}
        {(1 + \eta)^2},\quad
        \bar y' = \frac{\bar y + \eta(\bar x_P^\top\beta + b_0)}{1 + \eta},

    :math:`\beta` solving the normal equations of the moments' quadratic form on :math:`P`
    (minimum norm when singular; :math:`b_0` the best intercept, 0 without one).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.moments import Moments
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3)); y = X[:, 0] + rng.standard_normal(50)
    >>> m = prior_moments(Moments.from_arrays(X, y), np.array([0]), 1.0)
    >>> y2 = _combined(y, prior_response(X, y, None, np.array([0])), 1.0)
    >>> bool(np.allclose(m.xy, Moments.from_arrays(X, y2).xy))
    True
    """
    from dataclasses import replace

    prior = np.asarray(prior, dtype=np.int64)
    G, c, _ = moments.restrict(prior).quadratic_form(fit_intercept)
    beta = np.linalg.lstsq(G, c, rcond=None)[0]
    b0 = float(moments.y_mean - moments.x_mean[prior] @ beta) if fit_intercept else 0.0
    C_p = moments.xx[:, prior] @ beta
    f = 1.0 + eta
    return replace(moments,
                   y_mean=np.asarray((moments.y_mean + eta * (moments.x_mean[prior] @ beta
                                                              + b0)) / f),
                   xy=(moments.xy + eta * C_p) / f,
                   yy=np.asarray((moments.yy + 2.0 * eta * (beta @ moments.xy[prior])
                                  + eta * eta * (beta @ C_p[prior])) / (f * f)))


def _combined(y, y_prior, eta):
    return (y + eta * y_prior) / (1.0 + eta)


def _scaled_l1(alpha, scale):
    return L1(alpha * scale)


class PriorLasso(SparseLinearRegressor):
    r"""The prior lasso for regression (Jiang, He and Zhang, 2016):

    .. math::

        \frac{1}{2n}\|y - Xw - b\|^2 + \frac{\eta}{2n}\|\hat y^{prior} - Xw - b\|^2
        + \alpha\|w\|_1,

    where the pseudo-responses :math:`\hat y^{prior}` are the least-squares fit of ``y``
    on the features the prior names. ``eta = 0`` is the lasso; a large ``eta`` trusts the
    prior. The problem is the lasso on :math:`(y + \eta\hat y^{prior}) / (1 + \eta)` at
    strength :math:`\alpha / (1 + \eta)`, solved so.

    Parameters
    ----------
    prior_features : array-like
        Integer indices, a boolean mask, or column names (X a DataFrame) of the features
        the external information says matter.
    eta : float >= 0, default=1.0
        The weight of the prior against the data.
    alpha : float, default=1.0
    fit_intercept, tol, max_iter, warm_start, positive, bounds, penalty_factor
        As for :class:`Lasso`.

    Attributes
    ----------
    coef_, intercept_, prior_index_ (the prior features as indices)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import PriorLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 10)); y = X[:, 0] + X[:, 1] + rng.standard_normal(40)
    >>> m = PriorLasso(prior_features=[0, 1], eta=1.0, alpha=0.1).fit(X, y)
    >>> bool(m.coef_[0] > 0.5 and m.coef_[1] > 0.5)
    True
    """

    _parameter_constraints = {
        **LASSO_LIKE,
        "prior_features": ["array-like", str],
        "eta": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, prior_features=(0,), *, eta=1.0, alpha=1.0, fit_intercept=True,
                 tol=1e-6, max_iter=100, warm_start=False, positive=False, bounds=None,
                 penalty_factor=None):
        self._init_common(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                          warm_start=warm_start, positive=positive, bounds=bounds,
                          penalty_factor=penalty_factor)
        self.prior_features = prior_features
        self.eta = eta

    def fit(self, X, y, sample_weight=None):
        """Build the pseudo-responses, then fit the combined lasso."""
        self._validate_params()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        self.prior_index_ = prior_features_index(self.prior_features, X.shape[1],
                                                 getattr(self, "feature_names_in_", None))
        y_prior = prior_response(X, y, sw, self.prior_index_, self.fit_intercept)
        return self._fit_validated(X, _combined(y, y_prior, self.eta), sw,
                                   *self._warm_init(X))

    def _penalty(self, n_features):
        return L1(self.alpha / (1.0 + self.eta))


def _prior_fold(X, y, sw, train, test, prior, make_for, alphas, etas, opts):
    """Test MSE (against the true responses) of every (eta, alpha) on one fold."""
    swtr = None if sw is None else sw[train]
    swte = None if sw is None else sw[test]
    Xtr = X[train]
    y_prior = prior_response(Xtr, y[train], swtr, prior, opts["fit_intercept"])
    out = np.empty((etas.size, alphas.shape[1]))
    Xte, yte = X[test], y[test]
    for e, eta in enumerate(etas):
        path = solve_path(Xtr, _combined(y[train], y_prior, eta), Quadratic(), make_for(eta),
                          alphas=alphas[e], sample_weight=swtr, **opts)
        for a, (c, b) in enumerate(zip(path.coefs, path.intercepts)):
            out[e, a] = weighted_mse(Xte, yte, swte, c, b)
    return out


class PriorLassoCV(CVMixin, SparseLinearRegressor):
    r"""The prior lasso with ``eta`` and ``alpha`` chosen by cross-validation.

    On every fold the pseudo-responses are built from the training rows only, the combined
    lasso path is solved for each ``eta``, and each solution is scored on the test rows
    against the true responses. ``eta = 0`` (the lasso) belongs to the default grid, so an
    uninformative prior is weighed down rather than followed: cross-validation picks a
    small ``eta`` for it.

    Parameters
    ----------
    prior_features : array-like
        As for :class:`PriorLasso`.
    etas : array-like, default=(0, 0.25, 0.5, 1, 2, 4)
    eps, alphas, cv, n_jobs, alpha_rule, selection, random_state, verbose
        As for :class:`LassoCV` (one grid per ``eta``, from the combined responses'
        ``alpha_max``; a given ``alphas`` is used for every ``eta``).
    fit_intercept, tol, max_iter, positive, bounds, penalty_factor

    Attributes
    ----------
    eta_, alpha_ : the selected pair
    alphas_ : ndarray of shape (n_etas, n_alphas)
    mse_path_ : ndarray of shape (n_etas, n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_etas, n_alphas)
    coef_, intercept_, prior_index_

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import PriorLassoCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 20)); y = X[:, :3].sum(1) + rng.standard_normal(60)
    >>> m = PriorLassoCV(prior_features=[0, 1, 2], alphas=10, cv=3).fit(X, y)
    >>> m.eta_ in (0, 0.25, 0.5, 1, 2, 4)
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in SparseLinearRegressor._parameter_constraints.items()
           if k != "warm_start"},
        **{k: v for k, v in CV_CONSTRAINTS.items() if k not in ("dfmax", "pmax")},
        "prior_features": ["array-like", str],
        "etas": ["array-like"],
        "positive": ["boolean"],
    }

    def __init__(self, prior_features=(0,), *, etas=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), eps=1e-3,
                 alphas=100, fit_intercept=True, tol=1e-4, max_iter=100, cv=None,
                 n_jobs=None, positive=False, alpha_rule="min", selection="cyclic",
                 random_state=None, verbose=0, bounds=None, penalty_factor=None,
                 n_alphas="deprecated"):
        self.prior_features = prior_features
        self.etas = etas
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

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate (eta, alpha) and refit on all the data (``params``: see
        :meth:`LassoCV.fit`)."""
        self._validate_params()
        split_params = self._split_params(params)
        grid, n_alphas = self._grid()
        etas = self._eta_grid()
        X, y, sw = check_fit_data(self, X, y, sample_weight)
        prior = prior_features_index(self.prior_features, X.shape[1],
                                     getattr(self, "feature_names_in_", None))
        opts = dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                    **solver_options(self))
        make_for = self._makers(X.shape[1])
        y_prior = prior_response(X, y, sw, prior, self.fit_intercept)
        alphas = np.array([
            path_alphas(X, _combined(y, y_prior, eta), Quadratic(), make_for(eta),
                        eps=self.eps, n_alphas=n_alphas, fit_intercept=self.fit_intercept,
                        sample_weight=sw) if grid is None else grid
            for eta in etas])
        folds = list(check_cv(self.cv).split(X, y, **split_params))
        check_fold_weights(folds, sw)
        jobs = (delayed(_prior_fold)(X, y, sw, tr, te, prior, make_for, alphas, etas, opts)
                for tr, te in folds)
        losses = np.stack(Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(jobs), axis=2)
        self._select(alphas, losses, etas, prior)
        res = solve(validated_store(X), _combined(y, y_prior, self.eta_), Quadratic(),
                    self._refit_penalty(X.shape[1]), sample_weight=sw, **opts)
        self._set_solution(res, X.dtype)
        return self

    def _eta_grid(self):
        etas = np.asarray(self.etas, dtype=np.float64).ravel()
        if etas.size == 0 or np.any(etas < 0) or not np.all(np.isfinite(etas)):
            raise ValueError(f"etas must be a non-empty array of finite numbers >= 0, got "
                             f"{self.etas!r}")
        return etas

    def _makers(self, p):
        """``make_for(eta)``: the penalty maker of the combined problem at ``eta``."""
        def make_for(eta):
            return PenaltyMaker(partial(_scaled_l1, scale=1.0 / (1.0 + eta)), self, p)
        return make_for

    def _select(self, alphas, losses, etas, prior):
        """Store the CV curves (``losses`` of shape (n_etas, n_alphas, n_folds)) and the
        selected (eta, alpha)."""
        self.alphas_, self.mse_path_, self.prior_index_ = alphas, losses, prior
        stats = [select_alpha(alphas[e], losses[e]) for e in range(etas.size)]
        self.cv_mean_ = np.array([s[0] for s in stats])
        self.cv_std_error_ = np.array([s[1] for s in stats])
        e = int(np.argmin([s[0][s[2]] for s in stats]))
        i = self._chosen_alpha(stats[e][2], stats[e][3])
        self.eta_, self.alpha_ = float(etas[e]), float(alphas[e, i])

    def _refit_penalty(self, p):
        return finish_penalty(self, _scaled_l1(self.alpha_, 1.0 / (1.0 + self.eta_)), p)
