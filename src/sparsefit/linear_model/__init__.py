"""scikit-learn estimators: thin shells over a datafit, a penalty and a solver."""

from ._cv import ElasticNetCV, LassoCV
from ._fused import FusedLasso
from ._logistic import LogisticRegression, SparseLogisticRegression, SparseLogisticRegressionCV
from ._path import enet_path, lasso_path, regularization_path
from ._prior import PriorLasso, PriorLassoCV
from ._regression import (
    AdaptiveLasso,
    ElasticNet,
    GroupLasso,
    Lasso,
    LogSumRegressor,
    MCPRegressor,
    SCADRegressor,
    SparseGroupLasso,
)
from ._relaxed import RelaxedLasso, RelaxedLassoCV

__all__ = [
    "Lasso",
    "ElasticNet",
    "LassoCV",
    "ElasticNetCV",
    "SparseLogisticRegression",
    "SparseLogisticRegressionCV",
    "LogisticRegression",
    "GroupLasso",
    "SparseGroupLasso",
    "AdaptiveLasso",
    "MCPRegressor",
    "SCADRegressor",
    "LogSumRegressor",
    "FusedLasso",
    "PriorLasso",
    "PriorLassoCV",
    "RelaxedLasso",
    "RelaxedLassoCV",
    "regularization_path",
    "lasso_path",
    "enet_path",
    "registry",
]


def registry():
    """``{class name: class}`` of every estimator of :mod:`sparsefit.linear_model`: the
    tests' tables are checked against it, so a new estimator without its rows fails a test."""
    import inspect

    from sklearn.base import BaseEstimator

    return {name: obj for name, obj in globals().items()
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator)}
