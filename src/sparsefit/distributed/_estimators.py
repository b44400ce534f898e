"""The estimators of :mod:`sparsefit.linear_model` on dask input: which fits which
route, and the one-line refusal of the others."""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier

from ..datafits import Quadratic
from ..linear_model import (
    _base,
    _cv,
    _fused,
    _logistic,
    _multitask,
    _prior,
    _regression,
    _relaxed,
)
from ..linear_model._folds import HashKFold, _check_splits
from ..solvers import solve
from ._cache import persisted
from ._data import as_dask_data
from ._pass import (
    FoldRule,
    TooWideError,
    check_gram_limit,
    fold_moments_limit,
    moments_pass,
    one_pass_limit,
)
from ._paths import (
    alpha_grid_from_moments,
    check_folds,
    cv_path_from_moments,
    fold_mse,
    moments_path,
    training_moments,
)


class DaskInputError(TypeError):
    """An estimator, or an option of one, that cannot take dask input."""


def _defining_class(cls, name="fit"):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def _handler(est):
    """The function fitting ``est`` on dask data, found by the class that defines its
    ``fit`` (an estimator that overrides ``fit`` has its own handler, or none)."""
    return _HANDLERS.get(_defining_class(type(est)))


def supports(estimator):
    """Whether ``estimator`` (an instance or a class of :mod:`sparsefit.linear_model`)
    can be fitted on dask input."""
    cls = estimator if isinstance(estimator, type) else type(estimator)
    return _HANDLERS.get(_defining_class(cls)) is not None


def fit_dask(est, X, y=None, sample_weight=None, groups=None, **fit_params):
    """``est.fit(X, y, sample_weight)`` on dask input (see :mod:`sparsefit.distributed`):
    the same estimator, the same fitted attributes, ``X`` never collected.

    ``check_input`` (scikit-learn's keyword) is accepted and ignored: dask input is always
    checked, chunk by chunk, during the pass (NaN, infinity, negative weights, lengths)."""
    name = type(est).__name__
    handler = _handler(est)
    if handler is None:
        raise DaskInputError(
            f"{name} does not take dask input: fit it on data in memory (X.compute(), or a "
            "sample that fits), or use an estimator that does (Lasso, ElasticNet, LassoCV, "
            "GroupLasso, SparseLogisticRegression, ...; see sparsefit.distributed)")
    # scikit-learn's check_input=False skips conversions of in-memory arrays; dask input is
    # validated chunk by chunk during the pass whatever it says, so it is accepted and ignored
    check_input = fit_params.pop("check_input", True)
    if not isinstance(check_input, (bool, np.bool_)):
        raise ValueError(f"check_input must be True or False, got {check_input!r}")
    if fit_params:
        raise DaskInputError(f"{name}.fit on dask input takes X, y, sample_weight (and groups "
                             f"for a CV estimator), not {sorted(fit_params)}")
    est._validate_params()
    if groups is not None and handler not in _CV_HANDLERS:
        raise DaskInputError(f"{name}.fit takes no groups")
    multi = "keep" if handler in _MULTI_TASK_HANDLERS else (
        handler is _fit_regressor and est._takes_targets())
    data = as_dask_data(X, y, sample_weight, groups, multi_output=multi,
                        numeric_y=not is_classifier(est))
    refusal = None
    try:
        handler(est, data)
    except TooWideError as err:  # no route for so many features: in memory if it fits
        refusal = err
    if refusal is not None:  # (outside the except: the in-memory fit's errors unchained)
        import warnings

        from ._gathered import fit_gathered

        rule = None
        if handler in _CV_HANDLERS:
            with warnings.catch_warnings():  # (the handler gave the folds' warnings)
                warnings.simplefilter("ignore", UserWarning)
                rule = fold_rule(est, data)
        fit_gathered(est, data, refusal, rule)
    data.set_feature_attributes(est)
    if multi is True and _base.is_one_column(y):  # as in memory
        _base.keep_target_column(est)
    return est


def moments(X, y, sample_weight=None, *, n_splits=None, seed=0, groups=None):
    """The weighted :class:`~sparsefit.solvers.moments.Moments` of dask ``(X, y)``, in one
    pass (pairwise tree reduction on the active scheduler).

    With ``n_splits``, a list of per-fold moments instead: a row's fold is a seeded hash of
    its global position, or of its ``groups`` label (see
    :class:`~sparsefit.linear_model.HashKFold`); their :meth:`~sparsefit.solvers.moments.
    Moments.combine` is the total. ``solve(moments, None, Quadratic(), penalty, ...)``
    then solves any least-squares problem on the data without another pass.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> from sparsefit.distributed import moments
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers import solve
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 4)); y = X[:, 0] + 1.0
    >>> m = moments(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    >>> m.count, solve(m, None, Quadratic(), L1(0.1), fit_intercept=True).coef.round(2)
    (200, array([0.89, 0.  , 0.  , 0.  ]))
    """
    data = as_dask_data(X, y, sample_weight, groups)
    folds = None
    if n_splits is not None:
        cv = HashKFold(n_splits, seed)
        folds = FoldRule(cv.n_splits, cv.seed, groups is not None)
    return moments_pass(data, folds=folds)


def _total_moments(est, data):
    check_gram_limit(est, data.n_features)
    return moments_pass(data, label=type(est).__name__)


def takes_wide_route(est, n_features):
    """Whether ``est`` fits wide dask data (more features than the covariance route takes)
    by :mod:`~sparsefit.distributed._wide`.

    Parameters
    ----------
    est : estimator
    n_features : int

    Returns
    -------
    bool
        True for least squares solved by :class:`SparseLinearRegressor`'s own
        ``_fit_validated`` with a penalty the coordinate-descent kernels take: separable,
        convex or not (Lasso, ElasticNet, MCPRegressor, SCADRegressor, LogSumRegressor), or
        a group penalty (GroupLasso, SparseGroupLasso). ``MultiTaskLasso`` /
        ``MultiTaskElasticNet`` go wide from their own handler.
    """
    if type(est)._fit_validated is not _base.SparseLinearRegressor._fit_validated:
        return False
    return hasattr(est._penalty(n_features), "numba_spec")


def _wide_fitter(est, n_features):
    """The wide route's fit of a least-squares estimator (``fit(est, data)``), or None."""
    from ._wide import fit_wide, fit_wide_relaxed

    if isinstance(est, _relaxed.RelaxedLasso):
        return fit_wide_relaxed
    return fit_wide if takes_wide_route(est, n_features) else None


def _fit_regressor(est, data):
    """Every least-squares estimator whose ``fit`` is :class:`SparseLinearRegressor`'s:
    one pass for the moments, then its own ``_fit_validated`` in covariance form; beyond
    the feature limit, the wide route (see :func:`takes_wide_route`)."""
    if isinstance(getattr(est, "precompute", None), np.ndarray):
        raise DaskInputError(f"{type(est).__name__} on dask input: precompute must be True, "
                             "False or 'auto' (a Gram matrix is computed in the pass)")
    wide = _wide_fitter(est, data.n_features) if data.n_features > one_pass_limit() \
        else None
    if wide is not None:
        if data.n_targets is not None:
            raise DaskInputError(
                f"{type(est).__name__} on dask input: a 2-D y with more features than the "
                f"covariance route's {one_pass_limit()} is not supported; fit one target "
                "(a 1-D y) at a time")
        _base.warn_if_unpenalized(est)
        return wide(est, persisted(data))
    mom = _total_moments(est, data)
    _base.warn_if_unpenalized(est)
    if mom.n_targets is not None:  # several targets: one fit each, from the same moments
        return est._fit_targets(mom, None, None)
    est._fit_validated(mom, None, None, *est._warm_init(mom))


def _fit_adaptive(est, data):
    """:class:`~sparsefit.linear_model.AdaptiveLasso`: its weighted lassos from the moments
    of one pass; beyond the feature limit, each by the wide route (warm-started from the
    previous one: its support in the first working set)."""
    if data.n_features > one_pass_limit():
        from ._wide import fit_wide_reweighted

        _base.warn_if_unpenalized(est)
        return fit_wide_reweighted(est, persisted(data))
    mom = _total_moments(est, data)
    _base.warn_if_unpenalized(est)
    est._fit_reweighted(mom, None, None, *est._warm_init(mom))


def _short(obj):
    """A short description of ``obj`` for a one-line message (a list of splits is not
    printed in full)."""
    if isinstance(obj, (list, tuple)):
        return f"<{type(obj).__name__} of {len(obj)} splits>"
    text = repr(obj)
    return text if len(text) <= 80 and "\n" not in text else f"<{type(obj).__name__}>"


def fold_rule(est, data):
    """The folds of a CV estimator on dask input. ``cv`` None (the default: 5 folds, as
    scikit-learn's) or an int gives the in-memory estimator's folds: a regressor
    scikit-learn's unshuffled ``KFold`` blocks of row positions, a classifier its
    unshuffled ``StratifiedKFold`` (one count of the labels per chunk first). A
    :class:`HashKFold` hashes positions; with ``groups``, the hashed group labels."""
    cv = 5 if est.cv is None else est.cv
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        cv = _check_splits(cv)
        if data.groups is None:
            offsets = data.row_offsets(need=True)
            n_rows = int(offsets[-1])
            if n_rows < cv:
                raise ValueError(f"cv={cv} folds need at least {cv} rows, X has {n_rows}")
            if is_classifier(est):
                return FoldRule(cv, 0, False, None,
                                _strata(data, offsets, cv, type(est).__name__))
            return FoldRule(cv, 0, False, n_rows)
        cv = HashKFold(cv, seed=0)
    if not isinstance(cv, HashKFold):
        raise DaskInputError(
            f"{type(est).__name__} on dask input: cv={_short(cv)} needs the rows in memory; give "
            "cv as an int or sparsefit.linear_model.HashKFold(n_splits, seed) (folds from a "
            "seeded hash of the row positions, or of the groups)")
    return FoldRule(cv.n_splits, cv.seed, data.groups is not None)


def _chunk_label_counts(y):
    """A chunk's labels: sorted, the position of each one's first row, and counts."""
    return np.unique(np.asarray(y).reshape(-1), return_index=True, return_counts=True)


def _strata(data, offsets, n_splits, name):
    """``FoldRule.strata`` of scikit-learn's unshuffled ``StratifiedKFold(n_splits)`` on
    the labels ``data.y``: classes coded by first appearance, the allocation of each
    class's rows to the folds, and each chunk's rows of each class before it."""
    import dask

    from ..linear_model._folds import stratified_allocation
    from ._pass import run

    parts = run(dask.delayed(list)([dask.delayed(_chunk_label_counts, pure=True)(yb)
                                     for (_, yb, _, _) in data.blocks()]),
                f"{name}'s folds")
    classes = np.unique(np.concatenate([u for u, _, _ in parts]))
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(classes)
    if kind not in ("binary", "multiclass"):  # (as the label pass says it, not the folds)
        raise ValueError(f"Unknown label type: {kind}; {name} needs class labels")
    first = np.full(classes.size, np.iinfo(np.int64).max)
    per_chunk = np.zeros((len(parts), classes.size), dtype=np.int64)
    for i, (u, idx, cnt) in enumerate(parts):
        at = np.searchsorted(classes, u)
        first[at] = np.minimum(first[at], int(offsets[i]) + idx)
        per_chunk[i, at] = cnt
    codes = np.empty(classes.size, dtype=np.int64)
    codes[np.argsort(first, kind="stable")] = np.arange(classes.size)
    counts = np.zeros(classes.size, dtype=np.int64)
    counts[codes] = per_chunk.sum(axis=0)
    if n_splits > counts.max():
        raise ValueError(f"n_splits={n_splits} cannot be greater than the number of members "
                         "in each class.")
    if n_splits > counts.min():
        import warnings

        warnings.warn(f"The least populated class in y has only {counts.min()} members, "
                      f"which is less than n_splits={n_splits}.", UserWarning, stacklevel=4)
    bounds = np.cumsum(stratified_allocation(counts, n_splits), axis=0).T.copy()
    before = np.zeros((len(parts), classes.size), dtype=np.int64)
    before[:, codes] = np.cumsum(per_chunk, axis=0) - per_chunk
    prefix = {int(offsets[i]): before[i] for i in range(len(parts))}
    return classes, codes, bounds, prefix


def _fit_regression_cv(est, data):
    """LassoCV / ElasticNetCV: the per-fold moments in one pass, then every fold's path and
    validation error, the selection and the refit, from them."""
    ratios = est._l1_ratios()
    alphas, n_alphas = est._grid()
    rule = fold_rule(est, data)
    # beyond the feature limit, or beyond what the workers hold of every fold's moments
    if data.n_features > fold_moments_limit(rule.n_splits):
        return _fit_wide_regression_cv(est, data, alphas, n_alphas, rule)
    folds = moments_pass(data, folds=rule, label=type(est).__name__)
    total = folds[0]
    for f in folds[1:]:
        total = total.combine(f)
    opts = {k: v for k, v in est._solver_options().items()
            if k in ("fit_intercept", "tol", "max_iter")}  # covariance CD has no order option
    makers = est._makers(ratios, data.n_features)
    paths = [cv_path_from_moments(folds, total, make, fold_mse, alphas=alphas,
                                  eps=est.eps, n_alphas=n_alphas, dfmax=est.dfmax,
                                  pmax=est.pmax, **opts) for make in makers]
    best = est._store_paths(ratios, paths)
    res = solve(total, None, Quadratic(), makers[best](est.alpha_), **opts)
    _base.SparseLinearRegressor._set_solution(est, res, total.dtype)


def _fit_wide_regression_cv(est, data, alphas, n_alphas, rule):
    """LassoCV / ElasticNetCV beyond the feature limit (or the columns whose per-fold
    moments the workers hold, :func:`~._pass.fold_moments_limit`): one working set of
    columns for every fold's path, certified by KKT passes over every feature (see
    :mod:`~sparsefit.distributed._wide_cv`)."""
    from ._wide_cv import fit_wide_cv

    fit_wide_cv(est, data, rule, (alphas, n_alphas))  # (it persists after its refusals)


def _fold_moments(est, data):
    """The per-fold moments of a CV estimator (one pass) and their total."""
    rule = fold_rule(est, data)
    check_gram_limit(est, data.n_features, n_folds=rule.n_splits)
    folds = moments_pass(data, folds=rule, label=type(est).__name__)
    check_folds(folds)
    total = folds[0]
    for f in folds[1:]:
        total = total.combine(f)
    return folds, total


def _path_options(est):
    # the covariance solver visits coordinates in index order: selection / random_state
    # (which only reorder the visits of the in-memory solver) do not apply
    return dict(fit_intercept=est.fit_intercept, tol=est.tol, max_iter=est.max_iter)


def _fit_prior(est, data):
    """:class:`~sparsefit.linear_model.PriorLasso`: the pseudo-responses' moments follow
    from the data's (:func:`~sparsefit.linear_model._prior.prior_moments`): one pass.
    Beyond the feature limit, the prior features' moments (one pass), then the combined
    lasso by the wide route on the combined responses (see
    :func:`~sparsefit.distributed._wide.fit_wide_prior`)."""
    if data.n_features > one_pass_limit():
        from ._wide import fit_wide_prior

        _base.warn_if_unpenalized(est)
        return fit_wide_prior(est, persisted(data))
    mom = _total_moments(est, data)
    est.prior_index_ = _prior.prior_features_index(est.prior_features, data.n_features,
                                                   data.feature_names)
    est._fit_validated(_prior.prior_moments(mom, est.prior_index_, est.eta, est.fit_intercept),
                       None, None, *est._warm_init(mom))


def _fit_prior_cv(est, data):
    """:class:`~sparsefit.linear_model.PriorLassoCV`: per-fold moments in one pass; each
    fold's pseudo-responses from its training moments, its combined path for every
    ``eta``, validated against the true responses from the fold's own moments."""
    grid, n_alphas = est._grid()
    etas = est._eta_grid()
    folds, total = _fold_moments(est, data)
    p, fi = data.n_features, est.fit_intercept
    prior = _prior.prior_features_index(est.prior_features, p, data.feature_names)
    make_for, opts = est._makers(p), _path_options(est)
    alphas = np.array([
        alpha_grid_from_moments(_prior.prior_moments(total, prior, eta, fi), make_for(eta),
                                eps=est.eps, n_alphas=n_alphas, fit_intercept=fi)
        if grid is None else grid for eta in etas])
    losses = np.empty((etas.size, alphas.shape[1], len(folds)))
    for k, fold in enumerate(folds):
        train = training_moments(total, folds, k)
        for e, eta in enumerate(etas):
            _, coefs, intercepts = moments_path(_prior.prior_moments(train, prior, eta, fi),
                                                make_for(eta), alphas[e], **opts)
            losses[e, :, k] = fold_mse(fold, coefs, intercepts)
    est._select(alphas, losses, etas, prior)
    res = solve(_prior.prior_moments(total, prior, est.eta_, fi), None, Quadratic(),
                est._refit_penalty(p), **opts)
    est._set_solution(res, total.dtype)


def _fit_relaxed_cv(est, data):
    """:class:`~sparsefit.linear_model.RelaxedLassoCV`: per-fold moments in one pass; each
    fold's lasso path and its relaxed fits (least squares on the support, from the
    training moments), validated from the fold's own moments."""
    from ..linear_model._base import PenaltyMaker
    from ..penalties import L1

    rule = fold_rule(est, data)
    if data.n_features > fold_moments_limit(rule.n_splits):  # the wide CV route
        from ._wide_cv import fit_wide_relaxed_cv

        return fit_wide_relaxed_cv(est, data, rule)
    grid, n_alphas = est._grid()
    gammas = est._gamma_grid()
    folds, total = _fold_moments(est, data)
    p, opts = data.n_features, _path_options(est)
    make = PenaltyMaker(L1, est, p)
    alphas = alpha_grid_from_moments(total, make, eps=est.eps, n_alphas=n_alphas,
                                     fit_intercept=est.fit_intercept) if grid is None else grid
    if est.dfmax is not None or est.pmax is not None:
        alphas = moments_path(total, make, alphas, dfmax=est.dfmax, pmax=est.pmax, **opts)[0]
    bounds = _relaxed.relaxed_bounds(est, p)
    losses = np.empty((gammas.size, alphas.size, len(folds)))
    for k, fold in enumerate(folds):
        train = training_moments(total, folds, k)
        _, coefs, intercepts = moments_path(train, make, alphas, **opts)
        for a, (c, b) in enumerate(zip(coefs, intercepts)):
            cs, bs = _relaxed.relax(train, None, None, c, b, gammas, est.fit_intercept, bounds)
            losses[:, a, k] = [fold.mean_squared_error(cs[g], bs[g])
                               for g in range(gammas.size)]
    est._select(alphas, losses, gammas)
    est._refit(total, None, None)


def _fit_fused(est, data):
    """:class:`~sparsefit.linear_model.FusedLasso`: FISTA on the quadratic form of the
    moments (its gradient ``G w - c`` needs no rows): one pass."""
    est._fit_moments(_total_moments(est, data))


def _fit_multitask(est, data):
    """:class:`~sparsefit.linear_model.MultiTaskLasso` / ``MultiTaskElasticNet``: the
    moments of ``(X, Y)`` in one pass, the row-wise problem in covariance form; beyond the
    feature limit, the wide route over the rows of ``W``."""
    from ._multitask import _n_tasks, fit_multitask

    _n_tasks(est, data)
    if data.n_features > one_pass_limit():
        from ._wide import fit_wide_multitask

        return fit_wide_multitask(est, persisted(data))
    fit_multitask(est, _total_moments(est, data))


def _fit_multitask_cv(est, data):
    """``MultiTaskLassoCV`` / ``MultiTaskElasticNetCV``: per-fold moments of ``(X, Y)`` in
    one pass, then every fold's path, the selection and the refit from them."""
    from ._multitask import _n_tasks, fit_multitask_cv

    est._ratios()
    _n_tasks(est, data)
    fit_multitask_cv(est, *_fold_moments(est, data))


def _fit_logistic(est, data):
    from ._logistic import fit_logistic

    fit_logistic(est, persisted(data))


def _fit_logistic_cv(est, data):
    from ._logistic import fit_logistic_cv

    rule = fold_rule(est, data)
    if data.n_features > one_pass_limit():  # what has no wide route: before any pass
        from ._wide_logistic_cv import WideLogisticCV

        why = WideLogisticCV.refusal(est, data.n_features, est._ratios())
        if why is not None:
            raise TooWideError(why)
        # the wide route persists after its label passes (which read y only): a refusal
        # there (more than two classes) reads no chunk of X
        return fit_logistic_cv(est, data, rule)
    fit_logistic_cv(est, persisted(data), rule)


def _fit_sklearn_logistic(est, data, **start):
    """:class:`~sparsefit.linear_model.LogisticRegression`: ``alpha = 1 / (C * sum of the
    sample and class weights)``, the sum from the label pass."""
    import warnings

    from ._logistic import fit_logistic

    if est.dual:
        raise ValueError("dual=True: sparsefit solves the primal problem only; use "
                         "dual=False (the result is the same optimum)")
    data = persisted(data)
    no_penalty = est.penalty is None or np.isinf(est.C)
    with warnings.catch_warnings():
        if no_penalty:  # the unpenalized fit is what was asked: no alpha=0 advice
            warnings.simplefilter("ignore", UserWarning)
        est.alpha_ = fit_logistic(est, data, alpha=lambda total: 0.0 if no_penalty
                                  else 1.0 / (est.C * total), l1_ratio=est._ratio(),
                                  **start)
    est.n_iter_ = np.array([est.n_iter_], dtype=np.int32)


def _check_score_routing(est, data):
    """With scikit-learn's metadata routing enabled, the scorer's request for
    ``sample_weight`` as in memory: unset is refused (``UnsetMetadataPassedError``); a
    scorer that declines the weights is refused too, the scores on dask input being
    weighted ones."""
    import warnings

    from sklearn.utils._metadata_requests import _routing_enabled

    if data.sample_weight is None or not _routing_enabled():
        return
    with warnings.catch_warnings():  # the fit resolves them again, with its warnings
        warnings.simplefilter("ignore")
        scoring = est._resolve()[2]
    _, score_params = est._routed({}, scoring, data.sample_weight)
    if "sample_weight" not in score_params:
        raise ValueError(f"{type(est).__name__} on dask input scores the folds with the "
                         "sample weights: a scorer that declines them "
                         "(set_score_request(sample_weight=False)) needs the fit in memory")


def _fit_sklearn_logistic_cv(est, data):
    """:class:`~sparsefit.linear_model.LogisticRegressionCV`: every (fold, C, l1_ratio) by
    distributed proximal Newton on the fold's training rows, one pass for the scores."""
    from ._logistic import fit_sklearn_logistic_cv

    _check_score_routing(est, data)
    rule = fold_rule(est, data)
    if data.n_features > one_pass_limit():  # what has no wide route: before any pass
        import warnings

        from ._wide_logistic_cv import WideLogisticCV

        with warnings.catch_warnings():  # the fit resolves them again, with its warnings
            warnings.simplefilter("ignore")
            penalty, l1_ratios, _, _ = est._resolve()
        why = WideLogisticCV.sklearn_refusal(est, data.n_features, penalty, l1_ratios)
        if why is not None:
            raise TooWideError(why)
    else:  # the wide route persists after its label passes (see _fit_logistic_cv)
        data = persisted(data)

    def refit(final, fitted=None, **start):
        # the data stay persisted (decided once): the wide route passes its own, and what
        # its refit starts from (see fit_logistic)
        _fit_sklearn_logistic(final, data if fitted is None else fitted, **start)
        return final

    fit_sklearn_logistic_cv(est, data, rule, refit)


_HANDLERS = {
    _base.SparseLinearRegressor: _fit_regressor,
    _regression.AdaptiveLasso: _fit_adaptive,
    _cv._RegressionCV: _fit_regression_cv,
    _logistic.SparseLogisticRegression: _fit_logistic,
    _logistic.LogisticRegression: _fit_sklearn_logistic,
    _prior.PriorLasso: _fit_prior,
    _prior.PriorLassoCV: _fit_prior_cv,
    _relaxed.RelaxedLassoCV: _fit_relaxed_cv,
    _fused.FusedLasso: _fit_fused,
    _logistic.SparseLogisticRegressionCV: _fit_logistic_cv,
    _logistic.LogisticRegressionCV: _fit_sklearn_logistic_cv,
    _multitask.MultiTaskElasticNet: _fit_multitask,
    _multitask._MultiTaskCV: _fit_multitask_cv,
}
_CV_HANDLERS = (_fit_regression_cv, _fit_prior_cv, _fit_relaxed_cv, _fit_logistic_cv,
                _fit_sklearn_logistic_cv, _fit_multitask_cv)
_MULTI_TASK_HANDLERS = (_fit_multitask, _fit_multitask_cv)
