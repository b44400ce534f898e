"""The multi-task regressors on dask input (:class:`~sparsefit.linear_model.MultiTaskLasso`,
``MultiTaskElasticNet`` and their CV versions): one pass for the moments of ``(X, Y)``
(``X'X``, ``X'Y``, ``Y'Y``; per fold for CV), then the row-wise L2,1 problems in
covariance form (:mod:`sparsefit.solvers.covariance_multitask`)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits import MultiTaskQuadratic
from ..linear_model._base import warm_start_point, warn_if_unpenalized
from ..linear_model._cv import CVPath, select_alpha
from ..linear_model._multitask import (
    _L1_RATIO_ZERO,
    MultiTaskElasticNet,
    RowPenalty,
    _fit_rows,
)
from ..solvers import solve
from ..solvers.path import alpha_grid
from ._paths import training_moments


def _n_tasks(est, data):
    """The number of tasks of a 2-D ``y``; a 1-D ``y`` is refused as in memory."""
    if data.n_targets is None:
        name = type(est).__name__
        mono = name[9:].removesuffix("CV") if name.endswith("CV") else (
            "ElasticNet" if type(est) is MultiTaskElasticNet else "Lasso")
        raise ValueError(f"For mono-task outputs, use {mono}")
    return data.n_targets


def fit_multitask(est, mom):
    """``MultiTaskLasso`` / ``MultiTaskElasticNet`` from the moments of all the data."""
    warn_if_unpenalized(est)
    p, T = mom.n_features, mom.n_targets
    w0, _ = warm_start_point(est, (T, p))
    res, P0 = _fit_rows(mom, None, None, RowPenalty(est._l1_ratio(), p, T), float(est.alpha),
                        fit_intercept=est.fit_intercept, tol=est.tol, max_iter=est.max_iter,
                        w0=None if w0 is None else w0.T)
    est._set_solution(res, P0, mom.dtype)


def row_alpha_grid_from_moments(mom, l1_ratio, *, fit_intercept, eps, n_alphas):
    """:func:`~sparsefit.linear_model._multitask.row_alpha_grid` from the moments: the
    null gradient is ``-X'S(Y - b*)``, the cross-term matrix of the quadratic form."""
    if l1_ratio == 0:
        raise ValueError(_L1_RATIO_ZERO)
    p, T = mom.n_features, mom.n_targets
    g = -mom.quadratic_form(fit_intercept)[1].reshape(p * T)
    amax = RowPenalty(l1_ratio, p, T)(1.0).alpha_max(g)
    res = np.finfo(np.float64).resolution
    if not amax > res:
        return np.full(int(n_alphas), res)
    return alpha_grid(amax, int(n_alphas), eps)


def _fold_path_losses(train, fold, make_penalty, alphas, *, fit_intercept, tol, max_iter):
    """Fold ``k``'s path on its training moments (warm starts) and its validation error at
    every alpha from its own moments: the mean squared error averaged over the tasks."""
    T = train.n_targets
    datafit, w, losses = MultiTaskQuadratic(T), None, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for alpha in alphas:
            res = solve(train, None, datafit, make_penalty(float(alpha)),
                        fit_intercept=fit_intercept, w_init=w, tol=tol, max_iter=max_iter)
            w = res.coef
            losses.append(fold.mean_squared_error(res.coef, res.intercept) / T)
    return np.asarray(losses)


def fit_multitask_cv(est, folds, total):
    """``MultiTaskLassoCV`` / ``MultiTaskElasticNetCV`` from the per-fold moments: every
    fold's path on the total minus the fold, validated from the fold's moments, the
    selection and the refit, as the in-memory ``fit``."""
    ratios = est._ratios()
    grid, n_alphas = est._grid()
    p, T = total.n_features, total.n_targets
    if grid is None:
        grids = [row_alpha_grid_from_moments(total, r, fit_intercept=est.fit_intercept,
                                             eps=est.eps, n_alphas=n_alphas) for r in ratios]
    else:
        grids = [grid] * ratios.size
    opts = dict(fit_intercept=est.fit_intercept, tol=float(est.tol), max_iter=est.max_iter)
    trains = [training_moments(total, folds, k) for k in range(len(folds))]
    paths = []
    for r, alphas in zip(ratios, grids, strict=True):
        make = RowPenalty(r, p, T)
        losses = np.stack([_fold_path_losses(train, fold, make, alphas, **opts)
                           for train, fold in zip(trains, folds, strict=True)], axis=-1)
        mean, se, i_min, i_1se = select_alpha(alphas, losses)
        paths.append(CVPath(alphas, losses, mean, se, float(alphas[i_min]),
                            float(alphas[i_1se])))
    est._select_and_refit(ratios, grid, grids, paths, total, None, None)
