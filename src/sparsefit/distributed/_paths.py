"""Regularization paths and cross-validation from moments: after the one pass over the
data, every fold's path and every validation error is a computation on ``p x p``
matrices (:class:`~sparsefit.solvers.moments.Moments`), with no further pass."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits import Quadratic
from ..linear_model._cv import CVPath, check_alphas, degenerate_safe_grid, select_alpha
from ..solvers import solve
from ..solvers._common import describe
from ..solvers.covariance import solve_covariance


def null_gradient(moments, penalty, fit_intercept):
    """The Quadratic datafit's gradient at the null model of ``penalty`` (every penalized
    coefficient zero, the unpenalized ones fitted), as
    :func:`~sparsefit.solvers.path.null_gradient` computes it from the rows."""
    info = describe(penalty, moments.n_features)
    if info.free is None:
        return -moments.quadratic_form(fit_intercept)[1]
    res = solve(moments, None, Quadratic(), penalty.with_strength(1e300),
                fit_intercept=fit_intercept, tol=1e-10, max_iter=200)
    return res.gradient


def alpha_grid_from_moments(moments, make_penalty, *, eps, n_alphas, fit_intercept):
    """The geometric grid from ``alpha_max`` (as :func:`~sparsefit.linear_model._cv.
    path_alphas`)."""
    pen1 = make_penalty(1.0)
    if pen1.strength <= 0:
        raise ValueError("the automatic alpha grid needs a non-zero L1 part (l1_ratio > 0); "
                         "pass alphas explicitly")
    amax = pen1.alpha_max(null_gradient(moments, pen1, fit_intercept)) / pen1.strength
    return degenerate_safe_grid(amax, n_alphas, eps)  # y constant: scikit-learn's grid


def moments_path(moments, make_penalty, alphas, *, fit_intercept, tol, max_iter, dfmax=None,
                 pmax=None):
    """Solutions along ``alphas`` (decreasing) with warm starts: ``(alphas, coefs,
    intercepts)``, shorter than the grid when ``dfmax`` / ``pmax`` stop it (see
    :func:`~sparsefit.solvers.solve_path`)."""
    p = moments.n_features
    ever = np.zeros(p, dtype=bool)
    coefs, intercepts, converged = [], [], []
    w = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for alpha in alphas:
            res = solve_covariance(moments, Quadratic(), make_penalty(float(alpha)),
                                   fit_intercept=fit_intercept, w_init=w, tol=tol,
                                   max_iter=max_iter)
            w = res.coef
            ever |= w != 0
            if (dfmax is not None and np.count_nonzero(w) > dfmax) or (
                    pmax is not None and ever.sum() > pmax):
                break
            coefs.append(w.copy())
            intercepts.append(res.intercept)
            converged.append(res.converged)
    if not coefs:
        raise ValueError(f"dfmax={dfmax} / pmax={pmax} stop the path before its first point: "
                         "raise them (the first alpha already has more non-zero features)")
    if not all(converged):
        warnings.warn(f"{len(converged) - sum(converged)} of {len(converged)} path problems "
                      f"did not reach tol={tol:.1e}", ConvergenceWarning, stacklevel=3)
    return np.asarray(alphas)[:len(coefs)], np.asarray(coefs), np.asarray(intercepts)


def training_moments(total, folds, k):
    """The moments of every row outside fold ``k``: the total minus the fold (the pairwise
    update run backwards), with the column extremes of the other folds."""
    others = [f for i, f in enumerate(folds) if i != k]
    lo = np.min([f.x_min for f in others], axis=0)
    hi = np.max([f.x_max for f in others], axis=0)
    return total.subtract(folds[k], x_min=lo, x_max=hi)


def check_folds(folds):
    for k, f in enumerate(folds):
        if f.weight <= 0:
            raise ValueError(f"cross-validation fold {k} of {len(folds)} has no rows of "
                             "positive weight: use fewer folds (cv) or more groups")


def cv_path_from_moments(folds, total, make_penalty, loss_of, *, alphas, eps, n_alphas,
                         dfmax=None, pmax=None, **opts):
    """:func:`~sparsefit.linear_model._cv.cv_path` from per-fold moments: the grid from the
    total, each fold's path on the total minus the fold, the validation error of fold
    ``k`` at every alpha from fold ``k``'s moments (``loss_of(fold, coefs, intercepts)``
    gives one row of losses per path point)."""
    check_folds(folds)
    if alphas is None:
        alphas = alpha_grid_from_moments(total, make_penalty, eps=eps, n_alphas=n_alphas,
                                         fit_intercept=opts["fit_intercept"])
    else:
        alphas = check_alphas(alphas)  # (already checked by the estimator: idempotent)
    if dfmax is not None or pmax is not None:
        alphas = moments_path(total, make_penalty, alphas, dfmax=dfmax, pmax=pmax, **opts)[0]
    losses = []
    for k, fold in enumerate(folds):
        _, coefs, intercepts = moments_path(training_moments(total, folds, k), make_penalty,
                                            alphas, **opts)
        losses.append(loss_of(fold, coefs, intercepts))
    losses = np.stack(losses, axis=-1)
    mean, se, i_min, i_1se = select_alpha(alphas, losses)
    return CVPath(alphas, losses, mean, se, float(alphas[i_min]), float(alphas[i_1se]))


def fold_mse(fold, coefs, intercepts):
    """Validation mean squared error of every path point on one fold (from its moments)."""
    return np.array([fold.mean_squared_error(c, b) for c, b in zip(coefs, intercepts)])
