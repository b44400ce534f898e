"""Solvers: coordinate descent with working sets and proximal Newton (``solve``), paths
(``solve_path``), FISTA with restart, LARS/homotopy, and the subgradient reference method."""

from ._gap import dual_gap, grad_at_zero
from ._outer import SolverResult
from ._solve import solve
from .fista import (
    FistaResult,
    LeastSquares,
    LogisticLoss,
    bind_datafit,
    fista,
    make_smooth,
    quadratic_l1_dual_gap,
)
from .lars import LassoPath, lars_path, lasso_path_at
from .path import alpha_grid, alpha_max, null_gradient, solve_path
from .subgradient import SubgradientResult, subgradient_method

__all__ = [
    "SolverResult",
    "alpha_grid",
    "alpha_max",
    "dual_gap",
    "grad_at_zero",
    "null_gradient",
    "solve",
    "solve_path",
    "FistaResult",
    "LeastSquares",
    "LogisticLoss",
    "bind_datafit",
    "fista",
    "make_smooth",
    "quadratic_l1_dual_gap",
    "LassoPath",
    "lars_path",
    "lasso_path_at",
    "SubgradientResult",
    "subgradient_method",
]
