"""Sparse linear models on Dask: the estimators of :mod:`sparsefit.linear_model` fitted on
dask arrays and dask DataFrames, out of core, with the answers of the in-memory fits.

Give ``fit`` a dask array (dense, or with scipy.sparse chunks) or a dask DataFrame for
``X``, and ``y`` (and ``sample_weight``) as dask arrays or Series with the same rows. The
estimator routes itself here (this module, and dask, are imported only then) and keeps
its class and fitted attributes; ``predict`` / ``decision_function`` / ``predict_proba``
on dask input return dask arrays. Work runs on the active scheduler: a
``distributed.Client`` when one exists.

Routes (see ``docs/distributed.md``):

- least squares (``Lasso``, ``ElasticNet``, ``GroupLasso``, ``SparseGroupLasso``,
  ``AdaptiveLasso``, ``MCPRegressor``, ``SCADRegressor``, ``LogSumRegressor``,
  ``RelaxedLasso``, ``PriorLasso``, ``FusedLasso``; bounds, ``positive``,
  ``penalty_factor``, sample weights, a 2-D ``y``): one pass accumulates the weighted
  moments (count, means, co-moments ``X'WX``, ``X'Wy``, ``y'Wy``), combined pairwise by
  Chan et al.'s update; the solve runs in covariance form
  (:func:`~sparsefit.solvers.covariance.solve_covariance`; FISTA on the quadratic form for
  the fused lasso). Up to ``sparsefit.gram_max_features`` features (``dask.config``,
  default 10,000).
- ``LassoCV`` / ``ElasticNetCV`` / ``RelaxedLassoCV`` / ``PriorLassoCV``: the per-fold
  moments in the same single pass (a row's fold from its global position: an integer
  ``cv`` gives the in-memory folds, scikit-learn's ``KFold`` blocks (``StratifiedKFold``
  for the logistic CV estimators), :class:`~sparsefit.linear_model.HashKFold`
  a seeded hash of the position or of the ``groups`` label); each fold
  trains on the total minus the fold, is validated from its own moments; the whole path
  over every alpha costs one pass.
- ``SparseLogisticRegression`` and ``LogisticRegression`` (binary and multinomial,
  ``class_weight``): distributed proximal Newton, one pass per outer iteration (gradient,
  Hessian statistics, the line search and the duality gap of the previous point), the
  inner coordinate descent local in covariance form. Multinomial counts ``p * n_classes``
  against the limit. ``SparseLogisticRegressionCV``: the same method along the path on
  every fold's training rows (the same hashed folds), one pass for the validation losses;
  ``LogisticRegressionCV`` (scikit-learn's spelling): one fit from zero per (fold, ``C``,
  ``l1_ratio``), one pass for the scores (accuracy or ``'neg_log_loss'``).
- ``Lasso`` / ``ElasticNet`` / ``GroupLasso`` / ``SparseGroupLasso`` / ``MCPRegressor`` /
  ``SCADRegressor`` / ``LogSumRegressor`` (a 1-D ``y``) and ``MultiTaskLasso`` /
  ``MultiTaskElasticNet`` beyond the limit (wide data): strong-rule working sets of units
  (features, whole groups, or rows of ``W``) solved from the moments
  of their columns, a KKT pass over every feature certifying the answer (the full
  problem's duality gap; the largest violation for a non-convex penalty; see
  :mod:`sparsefit.distributed._wide`); L1 / elastic-net logistic regression, binary and
  multinomial (working sets of features, with their ``n_classes`` coefficients), the
  same way, each working set by distributed proximal Newton on its columns (see
  :mod:`sparsefit.distributed._wide_logistic`). ``AdaptiveLasso`` (a wide fit per
  weighting, each from the previous one), ``RelaxedLasso`` (the relaxed fit from the last
  working set's moments) and ``PriorLasso`` (the prior features' fit in one pass, then the
  lasso on the combined responses, a dask expression) go wide too. Still refused beyond
  the limit, with advice: ``FusedLasso``, ``MultiTaskLassoCV`` /
  ``MultiTaskElasticNetCV``, ``PriorLassoCV`` and the multinomial logistic CV.
- ``LassoCV`` / ``ElasticNetCV`` / ``RelaxedLassoCV`` beyond the limit (the relaxed lasso:
  every lasso path point relaxed at every ``gamma``): one working set for every fold's path
  (the per-fold moments of its columns in one pass; with few rows, its columns gathered on
  the client, within ``sparsefit.gather_max_bytes``, and the paths solved from the rows),
  certified by a KKT pass over every feature at every (``l1_ratio``, fold, alpha) point,
  then the wide refit; a few passes whatever the grid (see
  :mod:`sparsefit.distributed._wide_cv`).
- Binary ``SparseLogisticRegressionCV`` / ``LogisticRegressionCV`` (l1, elasticnet)
  beyond the limit: one working set for every path, every (``l1_ratio``, fold) path's
  proximal Newton iteration served by the same pass, a KKT pass over every feature that
  also scores every point on its held-out rows, then the wide refit (see
  :mod:`sparsefit.distributed._wide_logistic_cv`).

The multi-pass routes (proximal Newton and its CV, the wide routes) read each chunk once
and keep it in the workers' memory for the passes of the fit when the data take at most a
quarter of the workers' total ``memory_limit`` (``dask.config`` ``sparsefit.persist``:
"auto", True or False; see :mod:`sparsefit.distributed._cache`); otherwise every pass
reads the source again (out of core).

``fit``'s ``check_input`` is accepted and ignored (dask input is checked chunk by chunk);
``selection`` / ``random_state`` do not apply (the covariance solver visits coordinates
in index order). Options that need the rows in memory are refused with a one-line
:class:`DaskInputError` naming the workaround.

Examples
--------
>>> import dask.array as da
>>> import numpy as np
>>> from sparsefit.linear_model import Lasso
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((1000, 5)); y = X @ [1.0, 0, 0, -2, 0] + 0.1
>>> Xd, yd = da.from_array(X, chunks=(300, 5)), da.from_array(y, chunks=300)
>>> model = Lasso(alpha=0.01).fit(Xd, yd)
>>> bool(np.allclose(model.coef_, Lasso(alpha=0.01).fit(X, y).coef_, atol=1e-8))
True
>>> type(model.predict(Xd)).__name__
'Array'
"""

try:
    import dask  # noqa: F401
except ImportError as err:  # pragma: no cover - the message is the point
    raise ImportError("sparsefit.distributed needs dask: pip install 'sparsefit[dask]'") \
        from err

from ._estimators import DaskInputError, fit_dask, moments, supports
from ._pass import GRAM_MAX_FEATURES, check_gram_limit, gram_max_features
from ._predict import predict_dask

__all__ = [
    "DaskInputError",
    "GRAM_MAX_FEATURES",
    "check_gram_limit",
    "fit_dask",
    "gram_max_features",
    "moments",
    "predict_dask",
    "supports",
]
