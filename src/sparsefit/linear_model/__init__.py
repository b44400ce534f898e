"""scikit-learn estimators: thin shells over a datafit, a penalty and a solver."""

from ._cv import ElasticNetCV, LassoCV
from ._fused import FusedLasso
from ._logistic import SparseLogisticRegression, SparseLogisticRegressionCV
from ._path import regularization_path
from ._regression import (
    AdaptiveLasso,
    ElasticNet,
    GroupLasso,
    Lasso,
    MCPRegressor,
    SparseGroupLasso,
)

__all__ = [
    "Lasso",
    "ElasticNet",
    "LassoCV",
    "ElasticNetCV",
    "SparseLogisticRegression",
    "SparseLogisticRegressionCV",
    "GroupLasso",
    "SparseGroupLasso",
    "AdaptiveLasso",
    "MCPRegressor",
    "FusedLasso",
    "regularization_path",
]
